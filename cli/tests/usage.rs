//! The `outpost` binary's usage errors exit with 2 and say what is wrong,
//! without reaching any coordinator. (Integration tests here also make
//! cargo build the `outpost` binary that the whole-fleet tests run.)

use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_outpost");

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(CLI)
        .args(["jobs", "--status", "done"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown status \"done\""), "{err}");
    let out = Command::new(CLI)
        .args(["--api", "ftp://x", "jobs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `outpost nats setup --config CONFIG`: its exit code and stderr.
fn nats_setup(config: &std::path::Path, out: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new(CLI)
        .args(["nats", "setup", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn nats_setup_reads_the_zones_of_the_coordinator_config() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none.toml");
    std::fs::write(&none, "[api]\nlisten = \"127.0.0.1:8080\"\n").unwrap();
    let (code, err) = nats_setup(&none, &dir.path().join("bundle"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("none.toml") && err.contains("[[zone]]"),
        "{err}"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[zone]]\ncidrs = []\n").unwrap();
    let (code, err) = nats_setup(&bad, &dir.path().join("bundle"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml") && err.contains("name"), "{err}");
}
