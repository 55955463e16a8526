//! Inputs the fuzz targets (`fuzz/`) found crashing a parser of files the
//! coordinator reads, kept as tests so the crash cannot come back.

use outpost_coordinator::collect::inventory::{InventorySource, SourceKind, load};

/// An `assets.db` whose view has a column name that is not UTF-8:
/// rusqlite's `column_names` panicked on it (found by `inventory_sqlite`;
/// the file's first byte is the target's selector).
#[test]
fn a_non_utf8_column_name_is_read_without_a_panic() {
    let input = include_bytes!("../../fuzz/regressions/inventory_sqlite-non-utf8-column-name");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("assets.db");
    std::fs::write(&path, &input[1..]).expect("written");
    // Read with the name made readable: its rows have no usable name and
    // are skipped, each reported with the file.
    let inv = load(&[InventorySource {
        kind: SourceKind::AssetsDb,
        path,
    }])
    .expect("the file is read");
    assert!(inv.devices.is_empty(), "{inv:?}");
    assert!(!inv.skipped.is_empty(), "{inv:?}");
    assert!(
        inv.skipped.iter().all(|s| s.contains("assets.db")),
        "{inv:?}"
    );
}
