//! Import of a VelocityCollector vault built by Python's `cryptography`
//! package exactly as VelocityCollector builds it (`OUTPOST_PYTHON` names
//! the interpreter; CI provides one with `cryptography`).

use outpost_vault::vcollector::import_vcollector;
use std::path::Path;
use std::process::Command;

fn build(db: &Path, password: &str, creds: &[&str]) {
    let python = std::env::var("OUTPOST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_vcollector_db.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(db)
        .arg(password)
        .args(creds)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "{python} could not build the VelocityCollector vault (is the `cryptography` package installed? .ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn imports_passwords_and_default_and_skips_key_only_sets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("collector.db");
    build(
        &db,
        "vc-master",
        &[
            "lab:admin:s3cr3t-lab:default",
            "prod:netops:pr0d ü pass",
            "keyonly:root:-key-",
        ],
    );
    let got = import_vcollector(&db, "vc-master").expect("import");
    let names: Vec<&str> = got.credentials.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["lab", "prod"]);
    let lab = &got.credentials[0];
    assert_eq!(lab.username, "admin");
    assert_eq!(lab.password.expose(), "s3cr3t-lab");
    assert!(lab.is_default);
    assert_eq!(got.credentials[1].password.expose(), "pr0d ü pass");
    assert!(!got.credentials[1].is_default);
    assert_eq!(got.skipped.len(), 1);
    assert!(got.skipped[0].starts_with("keyonly"), "{:?}", got.skipped);
}

#[test]
fn wrong_password_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("collector.db");
    build(&db, "vc-master", &["lab:admin:x:default"]);
    let e = import_vcollector(&db, "not-it").unwrap_err().to_string();
    assert!(e.contains("wrong VelocityCollector vault password"), "{e}");
    assert!(!e.contains("vc-master"));
}
