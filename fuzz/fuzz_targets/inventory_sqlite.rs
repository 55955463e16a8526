//! VelocityCMDB `assets.db` and VelocityCollector `dcim.db` files: the
//! first byte picks the reader, the rest is the database file.
#![no_main]
use outpost_coordinator::collect::inventory::{InventorySource, SourceKind, load};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("inventory.db");
    if std::fs::write(&path, body).is_err() {
        return;
    }
    let kind = if which % 2 == 0 {
        SourceKind::AssetsDb
    } else {
        SourceKind::DcimDb
    };
    let _ = load(&[InventorySource { kind, path }]);
});
