//! `docker-compose.yml` at the top of the repository is a valid Compose
//! file (Debian's docker-compose checks it: these machines have no Docker
//! engine to run it) with the whole topology: a 3-node hub, two
//! coordinators, two sites each with a leaf node, a worker and simulated
//! devices, and the observability stack; each site's network is internal.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

fn compose(args: &[&str]) -> Result<String> {
    let bin = std::env::var("OUTPOST_DOCKER_COMPOSE").unwrap_or_else(|_| "docker-compose".into());
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yml");
    let out = Command::new(&bin)
        .arg("-f")
        .arg(&file)
        .args(args)
        .output()
        .with_context(|| {
            format!("running {bin} (Debian's docker-compose; deploy/test.sh installs it)")
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("docker-compose {args:?}: {}\n{text}", out.status);
    }
    Ok(text)
}

#[test]
fn the_compose_file_is_valid_and_holds_the_whole_topology() -> Result<()> {
    let quiet = compose(&["config", "-q"])?;
    assert!(quiet.trim().is_empty(), "config -q said: {quiet}");
    let services = compose(&["config", "--services"])?;
    let services: Vec<&str> = services.lines().map(str::trim).collect();
    for needed in [
        "outpost-init",
        "hub-1",
        "hub-2",
        "hub-3",
        "coordinator-1",
        "coordinator-2",
        "leaf-a",
        "leaf-b",
        "worker-a",
        "worker-b",
        "prometheus",
        "grafana",
        "otel-collector",
        "jaeger",
    ] {
        assert!(
            services.contains(&needed),
            "no service {needed}: {services:?}"
        );
    }
    // Each site's devices: at least one iDRAC and one switch.
    for site in ["a", "b"] {
        assert!(
            services
                .iter()
                .any(|s| s.starts_with(&format!("idrac-{site}"))),
            "{services:?}"
        );
        assert!(
            services
                .iter()
                .any(|s| s.starts_with(&format!("sw-{site}"))),
            "{services:?}"
        );
    }
    let full = compose(&["config"])?;
    // The sites' networks reach nothing outside (internal).
    for site in ["site-a", "site-b"] {
        let own = block(&full, "networks", site);
        assert!(
            own.contains("internal: true"),
            "network {site} is not internal:\n{own}"
        );
    }
    // A site's worker and devices are on the site's network alone: only
    // the leaf (also on the site's WAN network) leaves the site.
    for (site, members) in [
        ("site-a", ["worker-a", "sw-a1", "idrac-a1"]),
        ("site-b", ["worker-b", "sw-b1", "idrac-b1"]),
    ] {
        for service in members {
            let svc = block(&full, "services", service);
            let nets: Vec<String> = svc
                .lines()
                .skip_while(|l| l.trim_end() != "    networks:")
                .skip(1)
                .take_while(|l| l.starts_with("      "))
                .filter(|l| !l.starts_with("       "))
                .map(|l| {
                    l.trim()
                        .trim_start_matches("- ")
                        .trim_end_matches(':')
                        .to_string()
                })
                .collect();
            assert_eq!(nets, vec![site.to_string()], "{service}'s networks:\n{svc}");
        }
    }
    Ok(())
}

/// The lines of `name` under top-level `section` of `docker-compose config`.
fn block(full: &str, section: &str, name: &str) -> String {
    full.lines()
        .skip_while(|l| l.trim_end() != format!("{section}:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .skip_while(|l| l.trim_end() != format!("  {name}:"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect::<Vec<_>>()
        .join("\n")
}
