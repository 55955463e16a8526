//! The systemd units in `deploy/systemd` load cleanly in systemd's own
//! checker (`systemd-analyze verify`, every warning counted as a failure)
//! with the real binaries in their `ExecStart`, and keep the hardening an
//! operator relies on: a dedicated user, a read-only system, no privilege
//! gain, secrets as credentials, a restart policy.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd")
}

fn analyze_bin() -> PathBuf {
    std::env::var_os("OUTPOST_SYSTEMD_ANALYZE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/systemd-analyze"))
}

/// Copies of the units with `ExecStart` pointing at the binaries built
/// for this test run (the checker wants them to exist).
fn staged() -> Result<(tempfile::TempDir, Vec<String>)> {
    let dir = tempfile::tempdir()?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(units_dir())? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".service") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path)?;
        for bin in ["outpost-coordinator", "outpost-worker"] {
            let built = outpost_tests::fleet_bin(bin)?;
            text = text.replace(
                &format!("/usr/local/bin/{bin}"),
                built.to_str().context("binary path is not UTF-8")?,
            );
        }
        let nats = outpost_tests::nats::server_bin()?;
        text = text.replace(
            "/usr/sbin/nats-server",
            nats.to_str().context("nats-server path is not UTF-8")?,
        );
        std::fs::write(dir.path().join(name), text)?;
        names.push(name.to_string());
    }
    names.sort();
    Ok((dir, names))
}

#[test]
fn the_units_pass_systemd_analyze_verify_without_a_warning() -> Result<()> {
    let (dir, names) = staged()?;
    assert!(
        names.contains(&"outpost-coordinator.service".to_string())
            && names.contains(&"outpost-worker@.service".to_string())
            && names.contains(&"outpost-leaf.service".to_string()),
        "{names:?}"
    );
    // A template is checked as an instance, the way it runs.
    let mut targets: Vec<String> = names
        .iter()
        .map(|n| n.replace("@.service", "@alpha.service"))
        .collect();
    targets.retain(|t| !t.contains("@.service"));
    let bin = analyze_bin();
    let out = Command::new(&bin)
        .arg("verify")
        .arg("--man=no")
        .args(targets.iter().map(|t| dir.path().join(t)))
        .current_dir(dir.path())
        .output()
        .with_context(|| {
            format!(
                "running {} (Debian's systemd package; deploy/test.sh installs it)",
                bin.display()
            )
        })?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !said.trim().is_empty() {
        bail!("systemd-analyze verify {targets:?}: {}\n{said}", out.status);
    }
    Ok(())
}

#[test]
fn the_units_run_hardened_as_a_dedicated_user_with_secrets_as_credentials() -> Result<()> {
    for name in ["outpost-coordinator.service", "outpost-worker@.service"] {
        let text = std::fs::read_to_string(units_dir().join(name))?;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for needed in [
            "User=outpost",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=",
            "Environment=OUTPOST_NATS_CREDS=%d/nats.creds",
        ] {
            assert!(lines.contains(&needed), "{name} lacks {needed}");
        }
        assert!(
            lines.iter().any(|l| l.starts_with("Restart=")),
            "{name} has no restart policy"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("LoadCredential=nats.creds:")),
            "{name} does not take its NATS identity as a credential"
        );
        // Secrets reach the process as credential files only: never on
        // its command line, never as a path it could read outside them.
        for l in &lines {
            if l.starts_with("ExecStart=") {
                for word in ["creds", "pass", "token", "seed"] {
                    assert!(!l.contains(word), "{name}: {word} on the command line: {l}");
                }
            }
            if let Some(var) = l.strip_prefix("Environment=")
                && ["_CREDS=", "PASS_FILE=", "TOKEN_FILE="]
                    .iter()
                    .any(|k| var.contains(k))
            {
                let value = var.split_once('=').map(|(_, v)| v).unwrap_or_default();
                assert!(
                    value.starts_with("%d/"),
                    "{name}: a secret read from outside the credentials: {l}"
                );
            }
        }
    }
    let sysusers = std::fs::read_to_string(units_dir().join("outpost.sysusers.conf"))?;
    assert!(sysusers.lines().any(|l| l.starts_with("u outpost ")));
    Ok(())
}

#[test]
fn the_leaf_unit_runs_hardened_and_reloads_its_conf() -> Result<()> {
    let text = std::fs::read_to_string(units_dir().join("outpost-leaf.service"))?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for needed in [
        "User=outpost",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ReadOnlyPaths=/etc/outpost/nats",
    ] {
        assert!(
            lines.contains(&needed),
            "outpost-leaf.service lacks {needed}"
        );
    }
    // The unit `outpost site init` puts in a site's bundle is this one.
    assert_eq!(outpost_nats::setup::LEAF_UNIT, text);
    Ok(())
}
