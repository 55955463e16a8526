//! Smoke tests of the `outpost-coordinator` binary that need no NATS:
//! help and version, and start-up errors that name what is wrong. (They
//! also make `cargo nextest run --workspace` build the binary that the
//! whole-fleet tests in `tests/` start.)

use std::process::{Command, Output};

const COORDINATOR: &str = env!("CARGO_BIN_EXE_outpost-coordinator");

fn run(args: &[&str]) -> Output {
    Command::new(COORDINATOR)
        .args(args)
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_NATS_URL")
        .env_remove("OUTPOST_API_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("run outpost-coordinator")
}

#[test]
fn help_lists_the_flags() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--listen", "--nats"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let out = run(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("outpost-coordinator "));
}

#[test]
fn missing_config_file_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let out = run(&["--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("absent.toml"), "{err}");
    assert_eq!(
        last.matches("No such file or directory").count(),
        1,
        "the cause is repeated: {last}"
    );
}

#[test]
fn invalid_zone_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("[[zone]]\nname = \"a.b\"\n", "a.b"),
        ("[[zone]]\nname = \"a\"\n[[zone]]\nname = \"a\"\n", "twice"),
        (
            "[[zone]]\nname = \"a\"\ncidrs = [\"10.0.0.0/33\"]\n",
            "cidrs",
        ),
        ("[jetstream]\nlease_ttl_secs = 1\n", "lease_ttl_secs"),
        ("nats_url = 5\n", "nats_url"),
    ] {
        let path = dir.path().join("zones.toml");
        std::fs::write(&path, text).unwrap();
        let out = run(&["--config", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{text:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("zones.toml") && err.contains(needle),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn invalid_listen_address_is_named() {
    let out = run(&["--listen", "nonsense", "--nats", "nats://127.0.0.1:1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"nonsense\""), "{err}");
}
