//! The worker binary refuses bad flags with an error that names them.
//! (This also makes cargo build `outpost-worker` for the fleet tests.)

use std::process::Command;

const WORKER: &str = env!("CARGO_BIN_EXE_outpost-worker");

fn refused(args: &[&str]) -> String {
    let out = Command::new(WORKER)
        .args(args)
        .args(["--nats", "nats://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn hostile_zone_is_refused() {
    for zone in ["bad zone", "a.b", "a*", ">"] {
        let err = refused(&["--zone", zone]);
        assert!(err.contains("invalid zone") && err.contains(zone), "{err}");
    }
}

#[test]
fn unknown_kind_and_bad_limits_are_named() {
    let err = refused(&["--zone", "alpha", "--kinds", "net.reach,ssh.colect"]);
    assert!(
        err.contains("ssh.colect") && err.contains("net.reach"),
        "{err}"
    );
    let err = refused(&["--zone", "alpha", "--concurrency", "0"]);
    assert!(err.contains("--concurrency"), "{err}");
}
