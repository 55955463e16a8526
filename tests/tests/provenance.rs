//! The coordinator believes a worker event only when it fits: published
//! on the subject of the task's own zone and job, with an attempt a
//! delivery can have, a result of the task's own kind; a capture goes only
//! where the coordinator planned it for that task. A peer on NATS forging
//! events (as one zone's worker could) finishes, fails or rewrites nothing
//! of another zone's jobs, writes no file, and is counted; the real
//! results still land.

use anyhow::Result;
use outpost_proto::pb;
use outpost_tests::api::tasks;
use outpost_tests::attacker::forged_result;
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE};
use serde_json::json;

fn forged(
    zone: &str,
    job: &str,
    task: &str,
    attempt: u32,
    kind: &str,
    output: serde_json::Value,
) -> Vec<u8> {
    forged_result(
        zone,
        job,
        task,
        attempt,
        pb::Outcome::Succeeded,
        kind,
        &output,
    )
}

#[tokio::test]
async fn forged_events_change_nothing_and_are_counted() -> Result<()> {
    let captures = tempfile::tempdir()?;
    let mut fleet = Fleet::start_with(FleetOptions {
        extra_config: Some(format!(
            "capture_dir = {:?}",
            captures.path().display().to_string()
        )),
        ..Default::default()
    })
    .await?;
    // Zone beta's job runs for a while; another waits for 2099.
    let real = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 2, "ms": 1500}}),
        )
        .await?;
    let later = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1},
                           "schedule_at": "2099-01-01T00:00:00Z"}),
        )
        .await?;
    let doc = fleet.api.job(&real).await?;
    let t0 = tasks(&doc)[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let later_task = tasks(&fleet.api.job(&later).await?)[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let nc = fleet.nats.client().await?;
    let js = async_nats::jetstream::new(nc);
    let forged_output = json!({"forged": true, "slept_ms": 0, "attempt": 1});
    let attempts = [
        // Zone beta's task, reported on zone alpha's subject.
        (
            format!("outpost.event.alpha.{real}"),
            forged("beta", &real, &t0, 1, "diag.sleep", forged_output.clone()),
        ),
        // Consistent with zone alpha's subject, but the task is beta's.
        (
            format!("outpost.event.alpha.{real}"),
            forged("alpha", &real, &t0, 1, "diag.sleep", forged_output.clone()),
        ),
        // Beta's subject, with an attempt no delivery can have.
        (
            format!("outpost.event.beta.{real}"),
            forged(
                "beta",
                &real,
                &t0,
                4_000_000_000,
                "diag.sleep",
                forged_output.clone(),
            ),
        ),
        // A result of another kind for the task.
        (
            format!("outpost.event.beta.{real}"),
            forged("beta", &real, &t0, 1, "ssh.collect", forged_output.clone()),
        ),
        // The job scheduled for 2099, finished from zone alpha.
        (
            format!("outpost.event.alpha.{later}"),
            forged(
                "alpha",
                &later,
                &later_task,
                1,
                "diag.sleep",
                forged_output.clone(),
            ),
        ),
    ];
    for (subject, payload) in attempts {
        js.publish(subject, payload.into()).await?.await?;
    }
    // A capture for a job that does not exist, naming a file of its choice.
    let store = js
        .get_object_store(outpost_proto::layout::captures_store("beta")?)
        .await?;
    let ghost = "0123456789abcdef0123456789abcdef";
    let object = outpost_proto::layout::capture_object(ghost, &format!("{ghost}-000"))?;
    store
        .put(object.as_str(), &mut &b"hostname pwned\n"[..])
        .await?;
    js.publish(
        format!("outpost.event.beta.{ghost}"),
        forged(
            "beta",
            ghost,
            &format!("{ghost}-000"),
            1,
            "ssh.collect",
            json!({"device": "x", "address": "127.2.0.1:22", "bytes": 15, "sha256": "0",
                   "capture": object, "file": "configs/b-core-sw1.txt", "commands": 1,
                   "prompt": "#", "credential": "c", "username": "u", "elapsed_ms": 1}),
        )
        .into(),
    )
    .await?
    .await?;

    // The forgeries are counted, and nothing moved.
    let until = tokio::time::Instant::now() + SETTLE;
    loop {
        if fleet.api.metric("outpost_events_dropped_total").await? >= 5 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "drops were not counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let doc = fleet.api.job(&real).await?;
    assert_ne!(doc["status"], "succeeded", "finished by a forgery: {doc:#}");
    assert_eq!(fleet.api.job(&later).await?["status"], "pending");

    // The real worker then runs the job; its own results land.
    fleet.worker("beta", "beta-1", &[]).await?;
    let done = fleet.api.wait_finished(&real, SETTLE).await?;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    for t in tasks(&done) {
        assert_eq!(t["worker_id"], "beta-1", "{t:#}");
        assert!(t["output"].get("forged").is_none(), "{t:#}");
    }
    assert_eq!(fleet.api.job(&later).await?["status"], "pending");
    let written: Vec<_> = outpost_tests::files_under(captures.path());
    assert!(
        written.is_empty(),
        "files written from forged events: {written:?}"
    );
    Ok(())
}

#[tokio::test]
async fn inventory_entries_are_for_the_planned_device_whatever_a_result_claims() -> Result<()> {
    let fleet = Fleet::start().await?;
    // No worker: the tasks wait, as planned, for a result.
    let inv = fleet
        .api
        .submit_ok(&json!({"type": "redfish.inventory", "targets": ["127.2.0.5"]}))
        .await?;
    let disc = fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.discover", "targets": ["127.2.1.0/30"],
                           "params": {"credentials": ["idrac"]}}),
        )
        .await?;
    let task_of = |job: serde_json::Value| {
        tasks(&job)[0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (inv_task, disc_task) = (
        task_of(fleet.api.job(&inv).await?),
        task_of(fleet.api.job(&disc).await?),
    );
    let js = async_nats::jetstream::new(fleet.nats.client().await?);
    // Results that fit their tasks but claim other devices.
    let component = json!({"id": "Installed-159-6.6.6", "name": "BIOS", "version": "6.6.6",
                           "updateable": true, "software_id": "159"});
    js.publish(
        format!("outpost.event.beta.{inv}"),
        forged(
            "beta",
            &inv,
            &inv_task,
            1,
            "redfish.inventory",
            json!({"address": "127.2.9.9", "port": 443, "components": [component]}),
        )
        .into(),
    )
    .await?
    .await?;
    js.publish(
        format!("outpost.event.beta.{disc}"),
        forged(
            "beta",
            &disc,
            &disc_task,
            1,
            "redfish.discover",
            json!({"scanned": 4, "found": [
                   {"address": "127.2.200.1", "port": 443, "service_tag": "EVIL"},
                   {"address": "127.2.1.2", "port": 8443, "service_tag": "OWN"}]}),
        )
        .into(),
    )
    .await?
    .await?;
    fleet.api.wait_finished(&inv, SETTLE).await?;
    fleet.api.wait_finished(&disc, SETTLE).await?;
    let entries = fleet.api.get("/api/v1/inventory/redfish").await?.body;
    let list = entries.as_array().cloned().unwrap_or_default();
    let at = |a: &str| list.iter().find(|e| e["address"] == a).cloned();
    assert!(at("127.2.9.9").is_none(), "{entries:#}");
    assert!(
        at("127.2.200.1").is_none(),
        "outside the slice: {entries:#}"
    );
    // What the tasks were planned for is what got written, on the planned port.
    assert_eq!(
        at("127.2.0.5").map(|e| e["bios_version"].clone()),
        Some(json!("6.6.6")),
        "{entries:#}"
    );
    let own = at("127.2.1.2").unwrap_or_default();
    assert_eq!(
        (own["service_tag"].clone(), own["port"].clone()),
        (json!("OWN"), json!(443)),
        "{entries:#}"
    );
    Ok(())
}
