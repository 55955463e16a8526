//! The coordinator binary refuses bad settings with an error that names
//! them, before it touches NATS. (Integration tests here also make cargo
//! build the `outpost-coordinator` binary that the whole-fleet tests in
//! `tests/` run.)

use std::process::Command;

const COORDINATOR: &str = env!("CARGO_BIN_EXE_outpost-coordinator");

#[test]
fn unknown_config_key_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\ncolour = \"red\"\n",
    )
    .unwrap();
    let out = Command::new(COORDINATOR)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("colour"), "{err}");
}

#[test]
fn open_address_without_token_is_refused() {
    let out = Command::new(COORDINATOR)
        .args(["--listen", "0.0.0.0:0", "--nats", "nats://127.0.0.1:1"])
        .env("OUTPOST_API_TOKEN", "")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OUTPOST_API_TOKEN"), "{err}");
}
