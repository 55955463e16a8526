//! `outpost vault`: a vault file managed through the real binary; secrets
//! come from stdin, never show in the output, and a wrong vault password
//! is a clear error with exit code 2.

use std::io::Write;
use std::process::{Command, Stdio};

fn vault(path: &std::path::Path, pass: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .arg("vault")
        .arg("--vault")
        .arg(path)
        .args(args)
        .env("OUTPOST_VAULT_PASS", pass)
        .env("OUTPOST_VAULT_KDF_COST", "test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("outpost runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn vault_round_trip_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("zone-alpha.json");
    assert_eq!(vault(&p, "vp", &["init"], "").0, 0);
    let (code, out, err) = vault(
        &p,
        "vp",
        &[
            "add",
            "lab",
            "--username",
            "admin",
            "--password-stdin",
            "--enable-secret-stdin",
        ],
        "Lab-Secret-1\nEnable-Secret-1\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, _) = vault(
        &p,
        "vp",
        &["add", "prod", "--username", "netops", "--password-stdin"],
        "Prod-Secret-2\n",
    );
    assert_eq!(code, 0);
    let (code, out, err) = vault(&p, "vp", &["list"], "");
    assert_eq!(code, 0);
    assert!(
        out.contains("lab")
            && out.contains("admin")
            && out.contains("prod")
            && out.contains("netops"),
        "{out}"
    );
    for s in ["Lab-Secret-1", "Enable-Secret-1", "Prod-Secret-2"] {
        assert!(!out.contains(s) && !err.contains(s), "{s} shown");
        assert!(
            !std::fs::read_to_string(&p).unwrap().contains(s),
            "{s} in the file in clear"
        );
    }
    // The first credential became the default; move it.
    let lab_line = out
        .lines()
        .find(|l| l.starts_with("lab"))
        .unwrap()
        .to_string();
    assert!(lab_line.contains('*'), "{out}");
    assert_eq!(vault(&p, "vp", &["set-default", "prod"], "").0, 0);
    let (_, out, _) = vault(&p, "vp", &["list"], "");
    assert!(
        out.lines()
            .find(|l| l.starts_with("prod"))
            .unwrap()
            .contains('*'),
        "{out}"
    );
    assert_eq!(vault(&p, "vp", &["remove", "lab"], "").0, 0);
    let (_, out, _) = vault(&p, "vp", &["list"], "");
    assert!(!out.contains("lab"), "{out}");
    let (code, _, err) = vault(&p, "vp", &["remove", "nope"], "");
    assert_eq!(code, 2);
    assert!(err.contains("prod"), "the error lists the names: {err}");
    let (code, out, err) = vault(&p, "wrong", &["list"], "");
    assert_eq!(code, 2);
    assert!(err.contains("wrong vault password"), "{err}");
    assert!(!out.contains("netops"));
}
