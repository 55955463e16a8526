//! Dell firmware catalogs (`Catalog.xml`, UTF-8 or UTF-16 with a BOM) as
//! the bridge reads them for the app's "Dell online catalog" source:
//! parsed, then a package chosen for a component and a model.
#![no_main]
use outpost_coordinator::dsm::catalog;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(cat) = catalog::parse(data) else {
        return;
    };
    for component in ["BIOS", "iDRAC", "NIC", "RAID", "PSU", "FRMW"] {
        let _ = catalog::select(&cat, component, &["PowerEdge R650".to_string()], "https");
    }
});
