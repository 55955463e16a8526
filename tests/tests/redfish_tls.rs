//! Old iDRACs' TLS through the whole fleet (coordinator, workers, NATS)
//! against the iDRAC simulator serving through OpenSSL: a 1024-bit RSA
//! factory certificate is inventoried with its pin recorded, accepted by
//! that pin afterwards and refused as `cert_changed` once it changes; a
//! TLS-1.0-only iDRAC fails at once without the opt-in (one attempt, class
//! `tls`, the message naming `legacy_tls`) and is inventoried with the
//! job's `legacy_tls` or its zone's `redfish_legacy_tls`, pin included;
//! a discovery finds it with either opt-in and otherwise reports it in its
//! errors, naming `legacy_tls`, instead of losing it.

use outpost_sim::redfish::{IdracSpec, RedfishSim, TlsProfile};
use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::SETTLE;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PASS: &str = "calvin-tls";

/// `alpha` as by default; `beta` opted in to legacy TLS.
const ZONES: &str = r#"[[zone]]
name = "alpha"
cidrs = ["127.1.0.0/16"]
[[zone]]
name = "beta"
cidrs = ["127.2.0.0/16"]
redfish_legacy_tls = true
"#;

fn creds() -> Vec<Cred<'static>> {
    Cred::idrac(PASS)
}

async fn idrac(ip: &str, tls: TlsProfile, index: u64) -> anyhow::Result<RedfishSim> {
    let mut s = IdracSpec::new(format!("{ip}:0").parse()?, "root", PASS, index);
    s.timings.scale = 0.01;
    s.tls = tls;
    Ok(RedfishSim::start(vec![s]).await?)
}

async fn fleet(dir: &std::path::Path) -> anyhow::Result<CollectFleet> {
    let mut f = CollectFleet::start_with_zones(dir, &creds(), &[], ZONES).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    f.worker("beta", "beta-1", &[]).await?;
    Ok(f)
}

/// Runs `redfish.inventory` on `a` with `params` and returns its one task.
async fn inventory(f: &CollectFleet, a: SocketAddr, params: Value) -> anyhow::Result<Value> {
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.inventory", "targets": [a.to_string()], "params": params}),
        )
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    Ok(tasks(&job).first().cloned().unwrap_or(job))
}

/// The pin the coordinator's inventory holds for `a`.
async fn pin(f: &CollectFleet, a: SocketAddr) -> anyhow::Result<Value> {
    let inv = f.fleet.api.get("/api/v1/inventory/redfish").await?;
    let entry = inv
        .body
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|e| e["address"] == a.ip().to_string() && e["port"] == a.port())
                .cloned()
        })
        .unwrap_or_default();
    Ok(entry["cert_sha256"].clone())
}

#[tokio::test]
async fn a_1024_bit_idrac_is_pinned_and_a_changed_certificate_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sim = idrac("127.1.62.1", TlsProfile::WeakKey, 620).await?;
    let a = sim.addrs()[0];
    let f = fleet(dir.path()).await?;

    // First contact: read, and the weak certificate's fingerprint pinned.
    let t = inventory(&f, a, json!({})).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    let fp = sim.fingerprint(a).unwrap_or_default();
    assert_eq!(pin(&f, a).await?, json!(fp));

    // Pinned: the same certificate is accepted by its pin.
    let t = inventory(&f, a, json!({})).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["attempts"], 1, "{t:#}");

    // A replaced board with another 1024-bit certificate: refused, once.
    sim.rotate_certificate(a)?;
    let t = inventory(&f, a, json!({})).await?;
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["error_kind"], "cert_changed", "{t:#}");
    assert_eq!(t["attempts"], 1, "{t:#}");
    let err = t["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&fp) && err.contains(&sim.fingerprint(a).unwrap_or_default()),
        "{err}"
    );
    assert_eq!(pin(&f, a).await?, json!(fp), "the pin is untouched");
    Ok(())
}

#[tokio::test]
async fn a_tls_1_0_idrac_fails_at_once_without_the_opt_in_and_is_read_with_it() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let old = idrac("127.1.62.2", TlsProfile::Tls10, 621).await?;
    let in_legacy_zone = idrac("127.2.62.2", TlsProfile::Tls10, 622).await?;
    let a = old.addrs()[0];
    let b = in_legacy_zone.addrs()[0];
    let f = fleet(dir.path()).await?;

    // No opt-in: refused at once, saying why and what to do.
    let started = Instant::now();
    let t = inventory(&f, a, json!({})).await?;
    let took = started.elapsed();
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["error_kind"], "tls", "{t:#}");
    assert_eq!(t["attempts"], 1, "no retry can fix it: {t:#}");
    let err = t["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&a.to_string()) && err.contains("TLS 1.0/1.1") && err.contains("legacy_tls"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(60),
        "failed at once, not after the 120 s of retries: {took:?}"
    );
    assert_eq!(pin(&f, a).await?, Value::Null, "nothing pinned");

    // The job's opt-in: read over TLS 1.0, and pinned.
    let t = inventory(&f, a, json!({"legacy_tls": true})).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(
        pin(&f, a).await?,
        json!(old.fingerprint(a).unwrap_or_default())
    );
    // The pin holds over legacy TLS too.
    let t = inventory(&f, a, json!({"legacy_tls": true})).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    old.rotate_certificate(a)?;
    let t = inventory(&f, a, json!({"legacy_tls": true})).await?;
    assert_eq!(t["error_kind"], "cert_changed", "{t:#}");
    assert_eq!(t["attempts"], 1, "{t:#}");

    // The zone's opt-in: no job parameter needed.
    let t = inventory(&f, b, json!({})).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(
        pin(&f, b).await?,
        json!(in_legacy_zone.fingerprint(b).unwrap_or_default())
    );
    Ok(())
}

/// Runs `redfish.discover` on `a`'s address and port and returns the
/// result of its one task.
async fn discover(f: &CollectFleet, a: SocketAddr, legacy: Option<bool>) -> anyhow::Result<Value> {
    let mut params =
        json!({"port": a.port(), "connect_timeout_ms": 2000, "credentials": ["idrac"]});
    if let Some(l) = legacy {
        params["legacy_tls"] = json!(l);
    }
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.discover", "targets": [a.ip().to_string()], "params": params}),
        )
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    Ok(tasks(&job)[0]["output"].clone())
}

#[tokio::test]
async fn discovery_finds_a_tls_1_0_idrac_with_the_opt_in_and_reports_it_without()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let old = idrac("127.1.62.3", TlsProfile::Tls10, 623).await?;
    let in_legacy_zone = idrac("127.2.62.3", TlsProfile::Tls10, 624).await?;
    let (a, b) = (old.addrs()[0], in_legacy_zone.addrs()[0]);
    let f = fleet(dir.path()).await?;

    // Without the opt-in it answered but could not be read: an error
    // naming what to do, not an address that silently vanishes.
    let out = discover(&f, a, None).await?;
    assert_eq!(out["found"], json!([]), "{out:#}");
    let errors = out["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{out:#}");
    assert_eq!(errors[0]["address"], a.ip().to_string(), "{out:#}");
    let e = errors[0]["error"].as_str().unwrap_or_default();
    assert!(e.contains("TLS 1.0/1.1") && e.contains("legacy_tls"), "{e}");

    // The job's opt-in, then the zone's: found, with the pin recorded.
    for (sim, addr, legacy) in [(&old, a, Some(true)), (&in_legacy_zone, b, None)] {
        let out = discover(&f, addr, legacy).await?;
        let found = out["found"].as_array().cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "{out:#}");
        let tag = sim.device(addr).map(|d| d.spec.service_tag.clone());
        assert_eq!(found[0]["service_tag"].as_str(), tag.as_deref(), "{out:#}");
        let fp = sim.fingerprint(addr).unwrap_or_default();
        assert_eq!(found[0]["cert_sha256"], json!(fp), "{out:#}");
        assert_eq!(pin(&f, addr).await?, json!(fp));
    }
    Ok(())
}
