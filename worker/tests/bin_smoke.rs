//! Smoke tests of the `outpost-worker` binary that need no NATS: help and
//! version, and flags refused with an error that names them. (They also
//! make `cargo nextest run --workspace` build the binary that the
//! whole-fleet tests in `tests/` start.)

use std::process::{Command, Output};

const WORKER: &str = env!("CARGO_BIN_EXE_outpost-worker");

fn run(args: &[&str]) -> Output {
    Command::new(WORKER)
        .args(args)
        .env_remove("OUTPOST_ZONE")
        .env_remove("OUTPOST_KINDS")
        .env_remove("OUTPOST_CONCURRENCY")
        .env_remove("OUTPOST_NATS_URL")
        .env_remove("OUTPOST_WORKER_ID")
        .env("NO_COLOR", "1")
        .output()
        .expect("run outpost-worker")
}

#[test]
fn help_lists_the_flags() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--zone",
        "--kinds",
        "--concurrency",
        "--nats",
        "--worker-id",
        "--drain-timeout-secs",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let out = run(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("outpost-worker "));
}

#[test]
fn zone_is_required() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--zone"));
}

#[test]
fn bad_values_are_refused_before_connecting() {
    for (args, needle) in [
        (&["--zone", "bad zone"][..], "bad zone"),
        (&["--zone", "alpha", "--worker-id", "a b"][..], "a b"),
        (&["--zone", "alpha", "--worker-id", "w.1"][..], "w.1"),
        (
            &["--zone", "alpha", "--concurrency", "0"][..],
            "--concurrency",
        ),
        (&["--zone", "alpha", "--kinds", "diag.nap"][..], "diag.nap"),
    ] {
        // An unreachable NATS: a refused value must fail before it matters.
        let mut all = args.to_vec();
        all.extend(["--nats", "nats://127.0.0.1:1"]);
        let out = run(&all);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_vault_that_cannot_be_unlocked_stops_the_worker_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let m = missing.to_string_lossy().into_owned();
    let out = Command::new(WORKER)
        .args([
            "--zone",
            "alpha",
            "--vault",
            &m,
            "--nats",
            "nats://127.0.0.1:1",
        ])
        .env("OUTPOST_VAULT_PASS", "whatever")
        .env_remove("OUTPOST_VAULT")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.json") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("whatever"), "the password leaked: {err}");

    let out = Command::new(WORKER)
        .args([
            "--zone",
            "alpha",
            "--vault",
            &m,
            "--nats",
            "nats://127.0.0.1:1",
        ])
        .env_remove("OUTPOST_VAULT_PASS")
        .env_remove("OUTPOST_VAULT")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OUTPOST_VAULT_PASS"));
}
