//! Discovery loses no iDRAC silently: an address warming up after a reset
//! (`503` with `Retry-After`) is waited for within the discovery's
//! `warmup_wait_s`; one that answers broken JSON, an oversized body or
//! stays unavailable is reported in `errors` with a class; a credential
//! set naming nothing in the zone's vault is refused at submit, naming it
//! (the workers report their credential names), instead of reporting
//! every iDRAC `locked`; no credential sets at all means the vault's
//! default.

use outpost_sim::redfish::{Malformed, Stats};
use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::SETTLE;
use serde_json::{Value, json};
use std::time::Duration;

const PASS: &str = "calvin-discovery";

fn creds() -> Vec<Cred<'static>> {
    vec![
        Cred {
            name: "other",
            username: "admin",
            password: "nope",
            enable_secret: None,
            default: false,
        },
        Cred {
            name: "idrac",
            username: "root",
            password: PASS,
            enable_secret: None,
            default: true,
        },
    ]
}

fn by_address<'a>(list: &'a Value, addr: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e["address"] == addr)
}

#[tokio::test]
async fn every_address_that_answered_is_found_or_reported_with_a_class() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ips: Vec<String> = (1..=5).map(|i| format!("127.1.64.{i}")).collect();
    let sim = outpost_tests::idracs::start(&ips, "root", PASS, 500, 0.01).await?;
    let a = sim.addrs();
    let port = a[0].port();
    // .1 warms up for 2.5 s: its Retry-After is honoured and it is found.
    sim.device(a[0])
        .unwrap()
        .warm_up(Duration::from_millis(2500));
    // .2 answers truncated JSON, .3 a body of 8 MB.
    for (i, kind) in [(1, Malformed::BadJson), (2, Malformed::HugeBody)] {
        let d = sim.device(a[i]).unwrap();
        let mut f = d.faults();
        f.malformed_root = Some(kind);
        d.set_faults(f);
    }
    // .4 warms up for two minutes: longer than the discovery waits.
    sim.device(a[3]).unwrap().warm_up(Duration::from_secs(120));
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let id = f
        .fleet
        .api
        .submit_ok(&json!({
            "type": "redfish.discover",
            "targets": ["127.1.64.1-127.1.64.6"],
            "params": {"port": port, "connect_timeout_ms": 1000, "warmup_wait_s": 10,
                       "credentials": ["idrac"]},
        }))
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let out = &tasks(&job)[0]["output"];
    let found = &out["found"];
    for ip in ["127.1.64.1", "127.1.64.5"] {
        assert!(by_address(found, ip).is_some(), "{ip} found: {out:#}");
    }
    assert!(
        Stats::get(&sim.device(a[0]).unwrap().stats.requests) >= 2,
        "the warming iDRAC was asked again"
    );
    let errors = &out["errors"];
    for (ip, class) in [
        ("127.1.64.2", "malformed"),
        ("127.1.64.3", "response_too_large"),
        ("127.1.64.4", "unavailable"),
    ] {
        let e = by_address(errors, ip);
        assert_eq!(
            e.map(|e| e["class"].clone()),
            Some(json!(class)),
            "{ip}: {out:#}"
        );
    }
    let warming = by_address(errors, "127.1.64.4").unwrap();
    assert!(
        warming["error"]
            .as_str()
            .is_some_and(|e| e.contains("Retry-After") && e.contains("warmup_wait_s")),
        "{warming:#}"
    );
    // .6 has nothing listening: closed, not an error.
    assert_eq!(out["closed"], 1, "{out:#}");
    assert_eq!(out["scanned"], 6, "{out:#}");
    Ok(())
}

#[tokio::test]
async fn credential_sets_are_checked_before_any_probe() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ips = vec!["127.1.64.17".to_string()];
    let sim = outpost_tests::idracs::start(&ips, "root", PASS, 500, 0.01).await?;
    let port = sim.addrs()[0].port();
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let discover = |credentials: Value| {
        json!({"type": "redfish.discover", "targets": ["127.1.64.16/30"],
               "params": {"port": port, "connect_timeout_ms": 1000, "credentials": credentials}})
    };
    // A typo: refused at submit, naming it and what the zone's vault has
    // (its worker reports the names it holds).
    let r = f
        .fleet
        .api
        .submit(&discover(json!(["idrac", "idarc"])))
        .await?;
    assert_eq!(r.status, 400, "{:#}", r.body);
    let err = r.body.to_string();
    assert!(
        err.contains("params.credentials") && err.contains("idarc") && err.contains("idrac"),
        "{err}"
    );
    let d = sim.device(sim.addrs()[0]).unwrap();
    assert_eq!(Stats::get(&d.stats.requests), 0, "no probe was sent");
    // An empty name is refused at submit.
    let r = f.fleet.api.submit(&discover(json!([""]))).await?;
    assert_eq!(r.status, 400, "{:#}", r.body);
    assert!(
        r.body.to_string().contains("params.credentials[0]"),
        "{:#}",
        r.body
    );
    // No credential sets: the vault's default opens the iDRAC.
    let id = f.fleet.api.submit_ok(&discover(json!([]))).await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    let out = &tasks(&job)[0]["output"];
    let found = by_address(&out["found"], "127.1.64.17");
    assert_eq!(
        found.map(|e| e["credential"].clone()),
        Some(json!("idrac")),
        "{out:#}"
    );
    assert_eq!(out["locked"], json!([]), "{out:#}");
    Ok(())
}
