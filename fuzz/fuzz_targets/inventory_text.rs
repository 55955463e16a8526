//! CSV and TOML inventories (`[[inventory]]` of type `csv` / `toml`), and
//! the rolling update's server CSV: the first byte picks the reader, the
//! rest is written to a file it reads.
#![no_main]
use outpost_coordinator::collect::inventory::{InventorySource, SourceKind, load};
use outpost_coordinator::rolling::servers::{ServerSource, read};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("inventory");
    if std::fs::write(&path, body).is_err() {
        return;
    }
    match which % 3 {
        0 => {
            let _ = load(&[InventorySource {
                kind: SourceKind::Csv,
                path,
            }]);
        }
        1 => {
            let _ = load(&[InventorySource {
                kind: SourceKind::Toml,
                path,
            }]);
        }
        _ => {
            let _ = read(&[ServerSource { path }]);
        }
    }
});
