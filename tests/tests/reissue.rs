//! Re-issuing and revoking one zone's NATS identity with the CLI
//! (`outpost nats setup --reissue-zone` / `--revoke-zone`, then a server
//! reload) while workers of both zones run: from the reload on, the zone's
//! old creds are refused, its running worker is disconnected and takes no
//! more tasks, and (after a re-issue) a worker with the new creds runs the
//! zone's jobs. The other zone's creds file stays byte for byte the same
//! and its worker keeps running jobs throughout.

use anyhow::{Context as _, Result, ensure};
use async_nats::jetstream;
use outpost_nats::connect::ClientSecurity;
use outpost_proto::layout;
use outpost_tests::api::tasks;
use outpost_tests::attacker::{connect_once, is_auth_refusal};
use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::{fleet_bin, wait_until};
use serde_json::{Value, json};
use std::path::Path;

fn diag(zone: &str, count: u32, ms: u64) -> Value {
    json!({"type": "diag.sleep", "zone": zone, "params": {"count": count, "ms": ms}})
}

/// The job succeeded, every task on `worker`.
fn assert_ran_on(job: &Value, worker: &str) {
    assert_eq!(job["status"], "succeeded", "{job:#}");
    for t in tasks(job) {
        assert_eq!(t["status"], "succeeded", "{t:#}");
        assert_eq!(t["worker_id"], worker, "{t:#}");
    }
}

/// Runs `outpost nats setup --config <coordinator.toml> --out <bundle> <change...>`.
async fn nats_setup(fleet: &Fleet, change: &[&str]) -> Result<String> {
    let config = fleet.dir.path().join("coordinator.toml");
    let bundle = fleet.nats.bundle().context("a secure server")?;
    let out = tokio::process::Command::new(fleet_bin("outpost")?)
        .args(["nats", "setup", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(bundle)
        .args(change)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        out.status.success(),
        "outpost nats setup {change:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// Waits until a new connection with `creds` as zone `zone` is refused
/// for its identity (the server has reloaded).
async fn wait_refused(fleet: &Fleet, zone: &str, creds: &Path) -> Result<()> {
    let security = ClientSecurity {
        creds: Some(creds.to_path_buf()),
        ca: Some(fleet.nats.ca()),
        insecure: false,
    };
    let inbox = layout::inbox_prefix(zone)?;
    let url = fleet.nats.url();
    wait_until(
        &format!("{} refused", creds.display()),
        SETTLE,
        async || match connect_once(&url, &security, Some(&inbox)).await {
            Ok(Err(e)) if is_auth_refusal(&e) => Ok(()),
            Ok(Err(e)) => Err(format!("refused, but not for its identity: {e}")),
            Ok(Ok(_)) => Err("still admitted".into()),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
}

/// Waits until worker `index` says it lost NATS and its reconnects are refused.
async fn wait_cut_off(fleet: &Fleet, index: usize) -> Result<()> {
    let worker = &fleet.workers[index];
    wait_until("the worker cut off", SETTLE, async || {
        let lines = worker.stderr();
        let said = |what: &str| lines.iter().any(|l| l.to_lowercase().contains(what));
        if said("disconnected from nats") && said("authorization violation") {
            Ok(())
        } else {
            Err(format!("{} lines", lines.len()))
        }
    })
    .await
}

/// Beta's job of `count` tasks has not started: they all wait in beta's
/// queue, none taken, none attempted.
async fn assert_untouched(fleet: &Fleet, job: &str, count: u64) -> Result<()> {
    let js = jetstream::new(fleet.nats.client().await?);
    let consumer = layout::consumer_name("beta", "diag.sleep")?;
    wait_until("beta's tasks queued", SETTLE, async || {
        let info = js
            .get_stream(layout::TASKS_STREAM)
            .await
            .map_err(|e| e.to_string())?
            .consumer_info(&consumer)
            .await
            .map_err(|e| e.to_string())?;
        if (info.num_pending, info.num_ack_pending) == (count, 0) {
            Ok(())
        } else {
            Err(format!(
                "{} pending, {} taken",
                info.num_pending, info.num_ack_pending
            ))
        }
    })
    .await?;
    let doc = fleet.api.job(job).await?;
    for t in tasks(&doc) {
        ensure!(t["attempts"] == 0 && t["worker_id"].is_null(), "{t:#}");
    }
    Ok(())
}

/// Submits a long alpha job and waits until it runs: it spans what follows.
async fn long_alpha_job(fleet: &Fleet) -> Result<String> {
    let id = fleet.api.submit_ok(&diag("alpha", 6, 8000)).await?;
    fleet
        .api
        .wait_job(&id, SETTLE, |j| {
            tasks(j).iter().any(|t| t["status"] == "running")
        })
        .await?;
    Ok(id)
}

#[tokio::test]
async fn a_reissued_zone_runs_only_with_its_new_creds() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    let alpha_1 = fleet.worker("alpha", "alpha-1", &[]).await?;
    let beta_1 = fleet.worker("beta", "beta-1", &[]).await?;
    for (zone, worker) in [("alpha", "alpha-1"), ("beta", "beta-1")] {
        let id = fleet.api.submit_ok(&diag(zone, 3, 10)).await?;
        assert_ran_on(&fleet.api.wait_finished(&id, SETTLE).await?, worker);
    }
    let keep = tempfile::tempdir()?;
    let old_beta = keep.path().join("zone-beta.creds");
    std::fs::copy(fleet.nats.zone_creds("beta"), &old_beta)?;
    let alpha_creds = std::fs::read(fleet.nats.zone_creds("alpha"))?;
    let coordinator_creds = std::fs::read(fleet.nats.coordinator_creds())?;
    // Alpha's job runs across the re-issue and the reload.
    let across = long_alpha_job(&fleet).await?;

    nats_setup(&fleet, &["--reissue-zone", "beta"]).await?;
    ensure!(
        std::fs::read(fleet.nats.zone_creds("beta"))? != std::fs::read(&old_beta)?,
        "zone beta's creds were not re-issued"
    );
    assert_eq!(std::fs::read(fleet.nats.zone_creds("alpha"))?, alpha_creds);
    assert_eq!(
        std::fs::read(fleet.nats.coordinator_creds())?,
        coordinator_creds
    );
    fleet.nats.reload()?;

    // The old creds no longer connect, and the running beta worker is cut off.
    wait_refused(&fleet, "beta", &old_beta).await?;
    wait_cut_off(&fleet, beta_1).await?;
    let queued = fleet.api.submit_ok(&diag("beta", 8, 10)).await?;
    assert_untouched(&fleet, &queued, 8).await?;

    // A worker with the new creds runs beta's job, alone.
    fleet.worker("beta", "beta-2", &[]).await?;
    assert_ran_on(&fleet.api.wait_finished(&queued, SETTLE).await?, "beta-2");

    // Alpha never noticed.
    assert_ran_on(&fleet.api.wait_finished(&across, SETTLE).await?, "alpha-1");
    let after = fleet.api.submit_ok(&diag("alpha", 3, 10)).await?;
    assert_ran_on(&fleet.api.wait_finished(&after, SETTLE).await?, "alpha-1");
    let alpha_lines = fleet.workers[alpha_1].stderr();
    assert!(
        !alpha_lines
            .iter()
            .any(|l| l.to_lowercase().contains("disconnected from nats")),
        "zone alpha's worker lost NATS"
    );
    assert_eq!(std::fs::read(fleet.nats.zone_creds("alpha"))?, alpha_creds);
    Ok(())
}

#[tokio::test]
async fn a_revoked_zone_is_refused() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    let alpha_1 = fleet.worker("alpha", "alpha-1", &[]).await?;
    let beta_1 = fleet.worker("beta", "beta-1", &[]).await?;
    let baseline = fleet.api.submit_ok(&diag("beta", 3, 10)).await?;
    assert_ran_on(&fleet.api.wait_finished(&baseline, SETTLE).await?, "beta-1");
    let keep = tempfile::tempdir()?;
    let old_beta = keep.path().join("zone-beta.creds");
    std::fs::copy(fleet.nats.zone_creds("beta"), &old_beta)?;
    let alpha_creds = std::fs::read(fleet.nats.zone_creds("alpha"))?;
    let across = long_alpha_job(&fleet).await?;

    nats_setup(&fleet, &["--revoke-zone", "beta"]).await?;
    assert!(
        !fleet.nats.zone_creds("beta").exists(),
        "zone beta's creds file is still there"
    );
    assert_eq!(std::fs::read(fleet.nats.zone_creds("alpha"))?, alpha_creds);
    fleet.nats.reload()?;

    wait_refused(&fleet, "beta", &old_beta).await?;
    wait_cut_off(&fleet, beta_1).await?;
    let refused = fleet.api.submit_ok(&diag("beta", 4, 10)).await?;
    let alpha_after = fleet.api.submit_ok(&diag("alpha", 3, 10)).await?;
    // Alpha's jobs run to the end; beta's has not started by then.
    assert_ran_on(&fleet.api.wait_finished(&across, SETTLE).await?, "alpha-1");
    assert_ran_on(
        &fleet.api.wait_finished(&alpha_after, SETTLE).await?,
        "alpha-1",
    );
    assert_untouched(&fleet, &refused, 4).await?;
    let alpha_lines = fleet.workers[alpha_1].stderr();
    assert!(
        !alpha_lines
            .iter()
            .any(|l| l.to_lowercase().contains("disconnected from nats")),
        "zone alpha's worker lost NATS"
    );
    Ok(())
}
