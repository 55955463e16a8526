//! Zone isolation under attack. A peer holding only zone alpha's NATS
//! identity (its creds file and the CA, what a stolen worker host gives)
//! tries to read, forge, cancel, inject, steal and destroy across the trust
//! boundary while real workers of zones alpha and beta run jobs:
//!
//! - reading another zone's tasks, the job state and beta's keys;
//! - getting beta's device credentials used for a host of its choosing
//!   (an injected `ssh.collect` task, a trusted host key);
//! - forging results, verdicts and cancels, registering a fake worker,
//!   writing files under the coordinator's capture directory;
//! - pulling and acking beta's tasks, creating or re-pointing consumers;
//! - rewriting job documents, purging, updating and deleting streams;
//! - aiming the replies of requests it may send at subjects it may not
//!   publish on (JetStream answers any reply subject it is given);
//! - connecting without an identity, without TLS, or as zone beta.
//!
//! Each attempt must be refused: the server reports a permissions violation
//! on the attacker's connection (a denied request gets no answer), and the
//! coordinator's identity finds no trace of it. The real jobs of both zones
//! end `succeeded` with their own workers' outputs.

use anyhow::{Context as _, Result, ensure};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::StreamExt;
use outpost_proto::{Message, layout, pb};
use outpost_tests::api::tasks;
use outpost_tests::attacker::{
    ASK, Attacker, Op, arrived, connect_once, forged_result, is_auth_refusal,
};
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, START};
use outpost_tests::{fleet_bin, inspect, wait_until};
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::time::Duration;

/// A job id no job has.
const GHOST: &str = "0123456789abcdef0123456789abcdef";

fn diag(zone: &str, count: u32, ms: u64) -> Value {
    json!({"type": "diag.sleep", "zone": zone, "params": {"count": count, "ms": ms}})
}

fn task_ids(job: &Value) -> Vec<String> {
    tasks(job)
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

fn forged_output() -> Value {
    json!({"forged": true, "slept_ms": 0, "attempt": 1})
}

/// A forged `diag.sleep` result with [`forged_output`].
fn forged_sleep(zone: &str, job: &str, task: &str, attempt: u32, outcome: pb::Outcome) -> Vec<u8> {
    forged_result(
        zone,
        job,
        task,
        attempt,
        outcome,
        "diag.sleep",
        &forged_output(),
    )
}

/// A task as the coordinator would publish it.
fn forged_task(zone: &str, kind: &str, target: &str, params: &Value) -> Vec<u8> {
    pb::Task {
        task_id: format!("{GHOST}-000"),
        job_id: GHOST.into(),
        zone: zone.into(),
        kind: kind.into(),
        target: target.into(),
        params_json: params.to_string().into_bytes(),
        credential_ref: "default".into(),
        dispatched_at_ms: outpost_proto::now_ms(),
        cleanup: false,
    }
    .encode_to_vec()
}

/// The output of an `ssh.collect` result naming the capture `object` and
/// a file of the coordinator's capture directory.
fn collect_output(object: &str) -> Value {
    json!({"device": "b-core-sw1", "address": "127.2.0.1:22", "bytes": 15, "sha256": "0",
           "capture": object, "file": "configs/b-core-sw1.txt", "commands": 1,
           "prompt": "#", "credential": "default", "username": "u", "elapsed_ms": 1})
}

/// The job ended `succeeded`, every task run by a worker of `zone` with a
/// real `diag.sleep` output of at least `ms`.
fn assert_really_slept(job: &Value, zone: &str, ms: u64) {
    assert_eq!(job["status"], "succeeded", "{job:#}");
    for t in tasks(job) {
        assert_eq!(t["status"], "succeeded", "{t:#}");
        let worker = t["worker_id"].as_str().unwrap_or_default();
        assert!(worker.starts_with(zone), "run by {worker}: {t:#}");
        assert!(t["output"].get("forged").is_none(), "forged output: {t:#}");
        assert!(
            t["output"]["slept_ms"].as_u64().unwrap_or(0) >= ms,
            "not a real output: {t:#}"
        );
    }
}

/// `(delivered, pending, ack pending)` of a task consumer, as the coordinator sees it.
async fn consumer_state(js: &Context, consumer: &str) -> Result<(u64, u64, usize)> {
    let stream = js.get_stream(layout::TASKS_STREAM).await?;
    let info = stream
        .consumer_info(consumer)
        .await
        .with_context(|| format!("consumer {consumer}"))?;
    Ok((
        info.delivered.consumer_sequence,
        info.num_pending,
        info.num_ack_pending,
    ))
}

/// Nothing ever entered the task consumer `consumer`.
async fn assert_never_fed(js: &Context, consumer: &str) -> Result<()> {
    let state = consumer_state(js, consumer).await?;
    ensure!(
        state == (0, 0, 0),
        "tasks reached {consumer}: (delivered, pending, ack pending) = {state:?}"
    );
    Ok(())
}

/// The live value of `key` in `bucket`, as the coordinator reads it.
async fn kv_entry(
    js: &Context,
    bucket: &str,
    key: &str,
) -> Result<Option<async_nats::jetstream::kv::Entry>> {
    let kv = js.get_key_value(bucket).await?;
    Ok(kv
        .entry(key)
        .await?
        .filter(|e| e.operation == async_nats::jetstream::kv::Operation::Put))
}

async fn assert_no_key(js: &Context, bucket: &str, key: &str) -> Result<()> {
    let e = kv_entry(js, bucket, key).await?;
    ensure!(
        e.is_none(),
        "{bucket} holds {key}: {:?}",
        e.map(|e| String::from_utf8_lossy(&e.value).to_string())
    );
    Ok(())
}

/// A request to send: subject and body.
fn ask(subject: impl Into<String>, body: impl Into<Bytes>) -> (String, Bytes) {
    (subject.into(), body.into())
}

/// Sends every request of `requests` (subject, body): each must be
/// refused. They go at once, as each waits up to [`ASK`] for an answer
/// that must not come.
async fn requests_refused(mallory: &Attacker, requests: Vec<(String, Bytes)>) -> Result<()> {
    // Each JetStream API request is also tried as the zone's account
    // reaches the API (under its prefix).
    let mut requests = requests;
    let prefixed: Vec<(String, Bytes)> = requests
        .iter()
        .filter_map(|(subject, body)| {
            subject.strip_prefix("$JS.API.").map(|rest| {
                (
                    format!("{}.{rest}", layout::permissions::ZONE_JS_API_PREFIX),
                    body.clone(),
                )
            })
        })
        .collect();
    requests.extend(prefixed);
    futures::future::try_join_all(
        requests
            .iter()
            .map(|(subject, body)| mallory.request_refused(subject, body.clone())),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn another_zones_tasks_state_and_keys_cannot_be_read() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    fleet.worker("beta", "beta-1", &[]).await?;
    let mallory = Attacker::connect(&fleet.nats, "alpha").await?;
    // The control: what zone alpha may ask is answered at once.
    mallory
        .answered(
            &format!(
                "{}.CONSUMER.INFO.OUTPOST_TASKS.alpha_diag-sleep",
                layout::permissions::ZONE_JS_API_PREFIX
            ),
            "",
        )
        .await?;

    // Listening in on tasks, events, verdicts, cancels and other inboxes.
    let mut subs = Vec::new();
    for subject in [
        "outpost.task.beta.>",
        "outpost.task.>",
        "outpost.event.>",
        "outpost.verdict.>",
        "outpost.cancel.beta.*",
        "_INBOX_beta.>",
        "_INBOX.>",
        "$KV.outpost_jobs.>",
        ">",
    ] {
        subs.push((subject, mallory.subscribe_refused(subject).await?));
    }

    // Beta's 50 tasks (stream sequences 1 to 50) and alpha's job run meanwhile.
    let beta = fleet.api.submit_ok(&diag("beta", 50, 200)).await?;
    let alpha = fleet.api.submit_ok(&diag("alpha", 10, 200)).await?;
    let beta_tasks = task_ids(&fleet.api.job(&beta).await?);
    let t0 = beta_tasks.first().context("beta's tasks")?.clone();

    // The job state: by key, by subject, by sequence.
    let job_key = layout::job_key(&beta)?;
    let jobs_stream = layout::kv_stream(layout::JOBS_BUCKET);
    let mut reads = vec![
        ask(
            format!("$JS.API.DIRECT.GET.{jobs_stream}.$KV.outpost_jobs.{job_key}"),
            "",
        ),
        ask(
            format!("$JS.API.DIRECT.GET.{jobs_stream}"),
            json!({"last_by_subj": format!("$KV.outpost_jobs.{job_key}")}).to_string(),
        ),
        ask(
            format!("$JS.API.STREAM.MSG.GET.{jobs_stream}"),
            json!({"seq": 1}).to_string(),
        ),
    ];
    // Beta's keys in the shared buckets, and the buckets' settings.
    let keys = [
        (
            layout::HOSTKEYS_BUCKET,
            layout::hostkey_key("beta", "127.2.0.1", 22)?,
        ),
        (layout::LEASES_BUCKET, layout::lease_key("beta", &t0)?),
        (
            layout::CHECKPOINTS_BUCKET,
            layout::checkpoint_key("beta", &t0)?,
        ),
        (
            layout::WORKERS_BUCKET,
            layout::worker_key("beta", "beta-1")?,
        ),
        (
            layout::PINS_BUCKET,
            layout::pin_key("beta", "redfish", "127.2.0.5", 443)?,
        ),
        (layout::CANCELS_BUCKET, layout::cancel_key("beta", &beta)?),
    ];
    for (bucket, key) in &keys {
        let stream = layout::kv_stream(bucket);
        reads.push(ask(
            format!("$JS.API.DIRECT.GET.{stream}.$KV.{bucket}.{key}"),
            "",
        ));
        reads.push(ask(
            format!("$JS.API.DIRECT.GET.{stream}"),
            json!({"last_by_subj": format!("$KV.{bucket}.{key}")}).to_string(),
        ));
        reads.push(ask(format!("$JS.API.STREAM.INFO.{stream}"), ""));
    }
    // The streams, their messages and consumers, beta's captures.
    let beta_captures = layout::object_stream(&layout::captures_store("beta")?);
    let first = json!({"seq": 1}).to_string();
    reads.extend([
        ask("$JS.API.INFO", ""),
        ask("$JS.API.STREAM.NAMES", ""),
        ask("$JS.API.STREAM.LIST", ""),
        ask("$JS.API.STREAM.INFO.OUTPOST_TASKS", ""),
        ask("$JS.API.STREAM.MSG.GET.OUTPOST_TASKS", first.clone()),
        ask("$JS.API.STREAM.INFO.OUTPOST_EVENTS", ""),
        ask("$JS.API.DIRECT.GET.OUTPOST_EVENTS", first.clone()),
        ask("$JS.API.CONSUMER.NAMES.OUTPOST_TASKS", ""),
        ask("$JS.API.CONSUMER.LIST.OUTPOST_TASKS", ""),
        ask("$JS.API.CONSUMER.INFO.OUTPOST_TASKS.beta_diag-sleep", ""),
        ask(format!("$JS.API.STREAM.INFO.{beta_captures}"), ""),
        ask(format!("$JS.API.DIRECT.GET.{beta_captures}"), first),
        // Pulling beta's tasks from its durable consumer.
        ask(
            "$JS.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.beta_diag-sleep",
            json!({"batch": 10, "expires": 1_000_000_000u64}).to_string(),
        ),
    ]);
    requests_refused(&mallory, reads).await?;

    // The bucket handle, as a client library opens it.
    let mut js = outpost_tests::nats::NatsServer::zone_jetstream(mallory.client.clone());
    js.set_timeout(ASK);
    ensure!(
        js.get_key_value(layout::JOBS_BUCKET).await.is_err(),
        "the job state bucket opened"
    );
    mallory
        .refused(
            Op::Publish,
            &format!(
                "{}.STREAM.INFO.KV_outpost_jobs",
                layout::permissions::ZONE_JS_API_PREFIX
            ),
        )
        .await?;

    // Acking, terminating and naking beta's messages by guessing their ack subjects.
    let ts = outpost_proto::now_ms() * 1_000_000;
    for (seq, verb) in [(1, "+ACK"), (25, "+TERM"), (50, "-NAK")] {
        let subject = format!("$JS.ACK.OUTPOST_TASKS.beta_diag-sleep.1.{seq}.{seq}.{ts}.0");
        mallory.publish_refused(&subject, verb).await?;
    }

    let done = fleet.api.wait_finished(&beta, SETTLE).await?;
    assert_really_slept(&done, "beta", 200);
    assert_eq!(done["counts"]["succeeded"], 50, "{done:#}");
    for t in tasks(&done) {
        assert_eq!(t["attempts"], 1, "an attempt lost to an ack or nak: {t:#}");
    }
    assert_really_slept(
        &fleet.api.wait_finished(&alpha, SETTLE).await?,
        "alpha",
        200,
    );
    // Everything beta's job and alpha's job published went elsewhere.
    for (subject, sub) in &mut subs {
        if let Some(m) = arrived(sub) {
            panic!("{subject} delivered {} to zone alpha", m.subject);
        }
    }
    Ok(())
}

#[tokio::test]
async fn forged_tasks_results_cancels_and_captures_change_nothing() -> Result<()> {
    let captures = tempfile::tempdir()?;
    let mut fleet = Fleet::start_with(FleetOptions {
        extra_config: Some(format!(
            "capture_dir = {:?}",
            captures.path().display().to_string()
        )),
        ..Default::default()
    })
    .await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    fleet.worker("beta", "beta-1", &[]).await?;
    let coord = jetstream::new(fleet.nats.client().await?);
    let open = tokio::net::TcpListener::bind("127.2.0.9:0").await?;
    let port = open.local_addr()?.port();

    let beta = fleet.api.submit_ok(&diag("beta", 3, 3000)).await?;
    let alpha = fleet.api.submit_ok(&diag("alpha", 3, 3000)).await?;
    let reach = fleet
        .api
        .submit_ok(&json!({"type": "net.reach", "targets": [format!("127.2.0.9:{port}")]}))
        .await?;
    let later = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1},
                           "schedule_at": "2099-01-01T00:00:00Z"}),
        )
        .await?;
    // The attacks land while the real tasks run.
    let running = |j: &Value| tasks(j).iter().any(|t| t["status"] == "running");
    let bt0 = task_ids(&fleet.api.wait_job(&beta, SETTLE, running).await?)[0].clone();
    let at0 = task_ids(&fleet.api.wait_job(&alpha, SETTLE, running).await?)[0].clone();
    let lt0 = task_ids(&fleet.api.job(&later).await?)[0].clone();

    let mallory = Attacker::connect(&fleet.nats, "alpha").await?;
    let mut ajs = outpost_tests::nats::NatsServer::zone_jetstream(mallory.client.clone());
    ajs.set_timeout(ASK);

    // Beta's device credentials: an ssh.collect task for beta, aimed at a
    // host of the attacker's choosing, whose host key beta would trust.
    let steal = forged_task(
        "beta",
        "ssh.collect",
        "127.2.0.66",
        &json!({"device_name": "b-core-sw1", "commands": ["show running-config"]}),
    );
    mallory
        .publish_refused("outpost.task.beta.ssh.collect", steal.clone())
        .await?;
    let hostkey = layout::hostkey_key("beta", "127.2.0.66", 22)?;
    mallory
        .publish_refused(
            &format!("$KV.{}.{hostkey}", layout::HOSTKEYS_BUCKET),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMallory mallory",
        )
        .await?;
    // Tasks of its own zone are the coordinator's to publish too.
    mallory
        .publish_refused(
            "outpost.task.alpha.net.reach",
            forged_task("alpha", "net.reach", "127.1.0.66:22", &json!({})),
        )
        .await?;
    mallory
        .publish_refused(
            "outpost.task.alpha.diag.sleep",
            forged_task("alpha", "diag.sleep", "", &json!({"ms": 1})),
        )
        .await?;
    // And as JetStream publishes, waiting for the stream's acknowledgement.
    requests_refused(
        &mallory,
        vec![
            ask("outpost.task.beta.ssh.collect", steal),
            ask(
                "outpost.task.alpha.net.reach",
                forged_task("alpha", "net.reach", "127.1.0.66:22", &json!({})),
            ),
        ],
    )
    .await?;

    // Results on zone alpha's own subject reach the coordinator, which
    // must not believe them; beta's subject and verdicts are refused.
    let believed_nowhere = [
        (
            format!("outpost.event.alpha.{beta}"),
            forged_sleep("beta", &beta, &bt0, 4_000_000_000, pb::Outcome::Succeeded),
        ),
        (
            format!("outpost.event.alpha.{beta}"),
            forged_sleep("alpha", &beta, &bt0, 4_000_000_000, pb::Outcome::Succeeded),
        ),
        (
            format!("outpost.event.alpha.{beta}"),
            forged_sleep("alpha", &beta, &bt0, 1, pb::Outcome::Succeeded),
        ),
        (
            format!("outpost.event.alpha.{later}"),
            forged_sleep("alpha", &later, &lt0, 1, pb::Outcome::Failed),
        ),
    ];
    for (subject, payload) in believed_nowhere {
        ajs.publish(subject, payload.into()).await?.await?;
    }
    for (subject, payload) in [
        (
            format!("outpost.event.beta.{beta}"),
            forged_sleep("beta", &beta, &bt0, 1, pb::Outcome::Succeeded),
        ),
        (
            format!("outpost.event.beta.{later}"),
            forged_sleep("beta", &later, &lt0, 1, pb::Outcome::Failed),
        ),
        (
            format!("outpost.verdict.alpha.{beta}"),
            forged_sleep("alpha", &beta, &bt0, 0, pb::Outcome::Failed),
        ),
        (
            format!("outpost.verdict.beta.{later}"),
            forged_sleep("beta", &later, &lt0, 0, pb::Outcome::Failed),
        ),
    ] {
        mallory.publish_refused(&subject, payload).await?;
    }

    // Cancels: signals are the coordinator's, records too.
    for subject in [
        layout::cancel_subject("beta", &beta)?,
        layout::cancel_subject("alpha", &alpha)?,
        format!(
            "$KV.{}.{}",
            layout::CANCELS_BUCKET,
            layout::cancel_key("alpha", &alpha)?
        ),
        format!(
            "$KV.{}.{}",
            layout::CANCELS_BUCKET,
            layout::cancel_key("beta", &beta)?
        ),
    ] {
        mallory.publish_refused(&subject, "").await?;
    }

    // A fake worker of zone beta.
    mallory
        .publish_refused(
            &format!(
                "$KV.{}.{}",
                layout::WORKERS_BUCKET,
                layout::worker_key("beta", "fake")?
            ),
            json!({"worker_id": "fake", "zone": "beta"}).to_string(),
        )
        .await?;

    // Files under the capture directory: beta's captures store is closed;
    // alpha's own takes objects, but results naming them must fit a task.
    let beta_store = layout::captures_store("beta")?;
    mallory
        .publish_refused(&format!("$O.{beta_store}.C.mallory"), "hostname pwned\n")
        .await?;
    ensure!(
        ajs.get_object_store(&beta_store).await.is_err(),
        "beta's captures store opened"
    );
    mallory
        .refused(
            Op::Publish,
            &format!(
                "{}.STREAM.INFO.{}",
                layout::permissions::ZONE_JS_API_PREFIX,
                layout::object_stream(&beta_store)
            ),
        )
        .await?;
    let own = ajs
        .get_object_store(layout::captures_store("alpha")?)
        .await?;
    let ghost_task = format!("{GHOST}-000");
    for (job, task) in [(GHOST, ghost_task.as_str()), (alpha.as_str(), at0.as_str())] {
        let object = layout::capture_object(job, task)?;
        own.put(object.as_str(), &mut &b"hostname pwned\n"[..])
            .await?;
        ajs.publish(
            layout::event_subject("alpha", job)?,
            forged_result(
                "alpha",
                job,
                task,
                1,
                pb::Outcome::Succeeded,
                "ssh.collect",
                &collect_output(&object),
            )
            .into(),
        )
        .await?
        .await?;
    }

    // The five forgeries that reached the coordinator are dropped and counted.
    wait_until("the forgeries counted", SETTLE, async || {
        let n = fleet
            .api
            .metric("outpost_events_dropped_total")
            .await
            .map_err(|e| e.to_string())?;
        if n >= 5 {
            Ok(())
        } else {
            Err(format!("{n} dropped"))
        }
    })
    .await?;

    // The real jobs end with their real results.
    assert_really_slept(&fleet.api.wait_finished(&beta, SETTLE).await?, "beta", 3000);
    assert_really_slept(
        &fleet.api.wait_finished(&alpha, SETTLE).await?,
        "alpha",
        3000,
    );
    let reached = fleet.api.wait_finished(&reach, SETTLE).await?;
    assert_eq!(reached["status"], "succeeded", "{reached:#}");
    for t in tasks(&reached) {
        assert_eq!(t["worker_id"], "beta-1", "{t:#}");
        assert!(t["output"]["latency_ms"].as_f64().is_some(), "{t:#}");
    }
    let waiting = fleet.api.job(&later).await?;
    assert_eq!(waiting["status"], "pending", "{waiting:#}");
    for t in tasks(&waiting) {
        assert_eq!(t["status"], "pending", "{t:#}");
        assert_eq!(t["attempts"], 0, "{t:#}");
    }

    // No trace behind: no task queued, no key, no worker, no object, no file.
    assert_never_fed(&coord, &layout::consumer_name("beta", "ssh.collect")?).await?;
    assert_never_fed(&coord, &layout::consumer_name("alpha", "net.reach")?).await?;
    assert_no_key(&coord, layout::HOSTKEYS_BUCKET, &hostkey).await?;
    assert_no_key(
        &coord,
        layout::CANCELS_BUCKET,
        &layout::cancel_key("alpha", &alpha)?,
    )
    .await?;
    assert_no_key(
        &coord,
        layout::CANCELS_BUCKET,
        &layout::cancel_key("beta", &beta)?,
    )
    .await?;
    assert_no_key(
        &coord,
        layout::WORKERS_BUCKET,
        &layout::worker_key("beta", "fake")?,
    )
    .await?;
    let workers = fleet.api.workers().await?;
    assert!(
        !workers.iter().any(|w| w["worker_id"] == "fake"),
        "{workers:#?}"
    );
    let (held, ever) =
        inspect::stream_state(&fleet.nats, &layout::object_stream(&beta_store)).await?;
    assert_eq!((held, ever), (0, 0), "beta's captures store was written");
    let written = outpost_tests::files_under(captures.path());
    assert!(written.is_empty(), "files written: {written:?}");
    Ok(())
}

/// The names of the consumers on the tasks stream, sorted.
async fn consumer_names(js: &Context) -> Result<Vec<String>> {
    let stream = js.get_stream(layout::TASKS_STREAM).await?;
    let mut names: Vec<String> = stream
        .consumer_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    names.sort();
    Ok(names)
}

/// The names of the streams, sorted.
async fn stream_names(js: &Context) -> Result<Vec<String>> {
    let mut names: Vec<String> = js
        .stream_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn job_state_streams_and_consumers_cannot_be_rewritten_or_removed() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let coord = jetstream::new(fleet.nats.client().await?);
    let done = fleet.api.submit_ok(&diag("alpha", 2, 10)).await?;
    let before_doc = fleet.api.wait_finished(&done, SETTLE).await?;
    assert_really_slept(&before_doc, "alpha", 10);
    let job_key = layout::job_key(&done)?;
    let stored = kv_entry(&coord, layout::JOBS_BUCKET, &job_key)
        .await?
        .context("the job's document in KV")?;
    // Beta has no worker yet: its tasks wait in the queue, where a purge,
    // a deleted stream or consumer would lose them.
    let queued = fleet.api.submit_ok(&diag("beta", 10, 10)).await?;
    let beta_consumer = layout::consumer_name("beta", "diag.sleep")?;
    let alpha_consumer = layout::consumer_name("alpha", "diag.sleep")?;
    wait_until(
        "beta's tasks queued",
        SETTLE,
        async || match consumer_state(&coord, &beta_consumer).await {
            Ok((0, 10, 0)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;
    let streams_before = stream_names(&coord).await?;
    let consumers_before = consumer_names(&coord).await?;
    let tasks_config = coord
        .get_stream(layout::TASKS_STREAM)
        .await?
        .info()
        .await?
        .config
        .clone();

    let mallory = Attacker::connect(&fleet.nats, "alpha").await?;
    // Rewriting a job document, or marking it (or a task) deleted.
    let mut forged_doc: Value = serde_json::from_slice(&stored.value)?;
    forged_doc["status"] = json!("failed");
    mallory
        .publish_refused(
            &format!("$KV.{}.{job_key}", layout::JOBS_BUCKET),
            forged_doc.to_string(),
        )
        .await?;
    let mut purge = HeaderMap::new();
    purge.insert("KV-Operation", "PURGE");
    purge.insert("Nats-Rollup", "sub");
    mallory
        .publish_with_headers_refused(
            &format!(
                "$KV.{}.{}",
                layout::JOBS_BUCKET,
                layout::task_chunk_key(&done, 0)?
            ),
            purge,
            "",
        )
        .await?;

    let tasks_stream = layout::TASKS_STREAM;
    let evil_consumer = |name: Option<&str>, filter: &str| {
        let mut config = json!({"ack_policy": "explicit", "filter_subject": filter,
                                "deliver_policy": "all"});
        if let Some(n) = name {
            config["durable_name"] = json!(n);
        }
        json!({"stream_name": tasks_stream, "config": config}).to_string()
    };
    let beta_filter = "outpost.task.beta.>";
    let requests = vec![
        // The job state's stream and its messages.
        ask(
            "$JS.API.STREAM.MSG.DELETE.KV_outpost_jobs",
            json!({"seq": stored.revision}).to_string(),
        ),
        ask("$JS.API.STREAM.PURGE.KV_outpost_jobs", "{}"),
        ask("$JS.API.STREAM.DELETE.KV_outpost_jobs", ""),
        // The tasks and events streams.
        ask(format!("$JS.API.STREAM.DELETE.{tasks_stream}"), ""),
        ask(format!("$JS.API.STREAM.PURGE.{tasks_stream}"), "{}"),
        ask(
            format!("$JS.API.STREAM.PURGE.{tasks_stream}"),
            json!({"filter": beta_filter}).to_string(),
        ),
        ask(
            format!("$JS.API.STREAM.MSG.DELETE.{tasks_stream}"),
            json!({"seq": 3}).to_string(),
        ),
        ask(
            format!("$JS.API.STREAM.UPDATE.{tasks_stream}"),
            json!({"name": tasks_stream, "subjects": ["outpost.task.>", "mallory.>"],
                   "retention": "workqueue", "storage": "file", "max_age": 1_000_000_000u64})
            .to_string(),
        ),
        ask("$JS.API.STREAM.DELETE.OUTPOST_EVENTS", ""),
        ask("$JS.API.STREAM.PURGE.OUTPOST_EVENTS", "{}"),
        ask(
            "$JS.API.STREAM.CREATE.MALLORY",
            json!({"name": "MALLORY", "subjects": ["mallory.>"], "storage": "memory"}).to_string(),
        ),
        // Consumers: deleting beta's and its own, creating new ones on
        // beta's tasks, re-pointing its own at beta's.
        ask(
            format!("$JS.API.CONSUMER.DELETE.{tasks_stream}.{beta_consumer}"),
            "",
        ),
        ask(
            format!("$JS.API.CONSUMER.DELETE.{tasks_stream}.{alpha_consumer}"),
            "",
        ),
        ask(
            format!("$JS.API.CONSUMER.CREATE.{tasks_stream}"),
            evil_consumer(None, beta_filter),
        ),
        ask(
            format!("$JS.API.CONSUMER.CREATE.{tasks_stream}.mallory"),
            evil_consumer(Some("mallory"), beta_filter),
        ),
        ask(
            format!("$JS.API.CONSUMER.CREATE.{tasks_stream}.mallory.{beta_filter}"),
            evil_consumer(Some("mallory"), beta_filter),
        ),
        ask(
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{tasks_stream}.mallory"),
            evil_consumer(Some("mallory"), beta_filter),
        ),
        ask(
            format!("$JS.API.CONSUMER.CREATE.{tasks_stream}.{alpha_consumer}"),
            evil_consumer(Some(&alpha_consumer), "outpost.task.beta.diag.sleep"),
        ),
        ask(
            format!(
                "$JS.API.CONSUMER.CREATE.{tasks_stream}.{alpha_consumer}.outpost.task.beta.diag.sleep"
            ),
            evil_consumer(Some(&alpha_consumer), "outpost.task.beta.diag.sleep"),
        ),
    ];
    requests_refused(&mallory, requests).await?;

    // Nothing moved: the streams, their settings, the consumers and their
    // filters, the queued tasks, the job's document.
    assert_eq!(stream_names(&coord).await?, streams_before);
    assert_eq!(consumer_names(&coord).await?, consumers_before);
    let config = coord
        .get_stream(layout::TASKS_STREAM)
        .await?
        .info()
        .await?
        .config
        .clone();
    assert_eq!(config.subjects, tasks_config.subjects);
    assert_eq!(config.max_age, tasks_config.max_age);
    let own = coord
        .get_stream(layout::TASKS_STREAM)
        .await?
        .consumer_info(&alpha_consumer)
        .await?;
    let filters: Vec<String> = own
        .config
        .filter_subjects
        .iter()
        .cloned()
        .chain(Some(own.config.filter_subject.clone()).filter(|f| !f.is_empty()))
        .collect();
    assert_eq!(
        filters,
        ["outpost.task.alpha.diag.sleep"],
        "{:?}",
        own.config
    );
    assert_eq!(consumer_state(&coord, &beta_consumer).await?, (0, 10, 0));
    let after = kv_entry(&coord, layout::JOBS_BUCKET, &job_key)
        .await?
        .context("the job's document in KV")?;
    assert_eq!(after.revision, stored.revision);
    assert_eq!(after.value, stored.value);

    // A coordinator started anew reads the same document.
    fleet.restart_coordinator().await?;
    let reread = fleet.api.job(&done).await?;
    assert_eq!(reread, before_doc);

    // The queued tasks run once beta has a worker; alpha's queue still works.
    fleet.worker("beta", "beta-1", &[]).await?;
    assert_really_slept(&fleet.api.wait_finished(&queued, SETTLE).await?, "beta", 10);
    let again = fleet.api.submit_ok(&diag("alpha", 3, 10)).await?;
    assert_really_slept(&fleet.api.wait_finished(&again, SETTLE).await?, "alpha", 10);
    Ok(())
}

/// Speaks NATS in plaintext to the TLS-only port: the server announces
/// TLS and never answers the plaintext `PING`.
async fn plaintext_refused(url: &str) -> Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let addr = url.strip_prefix("tls://").context("a tls:// URL")?;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let mut reader = BufReader::new(stream);
    let mut info = String::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut info))
        .await
        .context("no INFO")??;
    ensure!(info.starts_with("INFO "), "{info}");
    ensure!(info.contains("\"tls_required\":true"), "{info}");
    reader
        .get_mut()
        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"lang\":\"raw\",\"version\":\"0\",\"protocol\":1}\r\nPING\r\nSUB > 1\r\nPING\r\n")
        .await?;
    // The server closes the connection; whatever it sends is no PONG.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(SETTLE, reader.read_to_end(&mut rest)).await;
    ensure!(read.is_ok(), "the plaintext connection stayed open");
    let text = String::from_utf8_lossy(&rest);
    ensure!(!text.contains("PONG"), "answered in plaintext: {text}");
    Ok(())
}

#[tokio::test]
async fn no_identity_no_tls_or_another_zones_name_gets_nothing() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    let url = fleet.nats.url();

    // TLS with the CA, but no identity.
    let anonymous = outpost_nats::connect::ClientSecurity {
        creds: None,
        ca: Some(fleet.nats.ca()),
        insecure: true,
    };
    match connect_once(&url, &anonymous, None).await? {
        Ok(_) => panic!("an anonymous client was admitted"),
        Err(e) => assert!(
            is_auth_refusal(&e),
            "refused, but not for its identity: {e}"
        ),
    }
    // Plaintext to the TLS port.
    plaintext_refused(&url).await?;
    // Zone alpha's identity in a client that does not trust the CA's
    // server certificate (system roots only) gets no connection either.
    let no_ca = outpost_nats::connect::ClientSecurity {
        creds: Some(fleet.nats.zone_creds("alpha")),
        ca: None,
        insecure: false,
    };
    assert!(
        connect_once(&url, &no_ca, Some("_INBOX_alpha"))
            .await?
            .is_err(),
        "connected without checking the server against the CA"
    );

    // Zone alpha's creds on a worker that says it is of zone beta.
    let beta = fleet.api.submit_ok(&diag("beta", 3, 10)).await?;
    let creds = fleet.nats.zone_creds("alpha");
    let ca = fleet.nats.ca();
    let args: Vec<&OsStr> = vec![
        "--zone".as_ref(),
        "beta".as_ref(),
        "--worker-id".as_ref(),
        "impostor".as_ref(),
        "--nats".as_ref(),
        url.as_ref(),
        "--nats-creds".as_ref(),
        creds.as_os_str(),
        "--nats-ca".as_ref(),
        ca.as_os_str(),
    ];
    let impostor =
        outpost_tests::procs::Proc::spawn("impostor", fleet_bin("outpost-worker")?, &args, &[])?;
    // It connects (the identity is valid) and is refused beta's names.
    wait_until("the impostor refused", START, async || {
        let lines = impostor.stderr();
        if lines
            .iter()
            .any(|l| l.to_lowercase().contains("permissions violation"))
        {
            Ok(())
        } else {
            Err(format!("{} lines", lines.len()))
        }
    })
    .await?;
    let coord = jetstream::new(fleet.nats.client().await?);
    let beta_consumer = layout::consumer_name("beta", "diag.sleep")?;
    assert_eq!(
        consumer_state(&coord, &beta_consumer).await?,
        (0, 3, 0),
        "the impostor took beta's tasks"
    );
    let waiting = fleet.api.job(&beta).await?;
    for t in tasks(&waiting) {
        assert_eq!(t["attempts"], 0, "{t:#}");
        assert!(t["worker_id"].is_null(), "{t:#}");
    }
    assert_no_key(
        &coord,
        layout::WORKERS_BUCKET,
        &layout::worker_key("beta", "impostor")?,
    )
    .await?;
    fleet.workers.push(impostor);

    // A real beta worker runs the job.
    fleet.worker("beta", "beta-1", &[]).await?;
    let done = fleet.api.wait_finished(&beta, SETTLE).await?;
    assert_really_slept(&done, "beta", 10);
    for t in tasks(&done) {
        assert_eq!(t["worker_id"], "beta-1", "{t:#}");
    }
    Ok(())
}

/// Zone alpha writes `payload` under its own checkpoint key `name`, then
/// reads it back by direct get with `aim` as the reply subject: the
/// server answers there, whoever may publish on it.
async fn reflect(
    client: &async_nats::Client,
    name: &str,
    payload: Vec<u8>,
    aim: String,
) -> Result<()> {
    let key = layout::checkpoint_key("alpha", name)?;
    let bucket = layout::CHECKPOINTS_BUCKET;
    client
        .request(format!("$KV.{bucket}.{key}"), payload.into())
        .await?;
    // The zone's own key, through its account's JetStream prefix.
    let get = format!(
        "{}.DIRECT.GET.{}.$KV.{bucket}.{key}",
        layout::permissions::ZONE_JS_API_PREFIX,
        layout::kv_stream(bucket)
    );
    client.publish_with_reply(get, aim, Bytes::new()).await?;
    client.flush().await?;
    Ok(())
}

#[tokio::test]
async fn replies_cannot_be_aimed_at_subjects_the_identity_may_not_publish() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    fleet.worker("beta", "beta-1", &[]).await?;
    let coord = jetstream::new(fleet.nats.client().await?);
    let done = fleet.api.submit_ok(&diag("alpha", 1, 10)).await?;
    let done_doc = fleet.api.wait_finished(&done, SETTLE).await?;
    assert_really_slept(&done_doc, "alpha", 10);
    let job_key = layout::job_key(&done)?;
    let stored = kv_entry(&coord, layout::JOBS_BUCKET, &job_key)
        .await?
        .context("the job's document")?;
    let beta = fleet.api.submit_ok(&diag("beta", 4, 3000)).await?;
    let later = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1},
                           "schedule_at": "2099-01-01T00:00:00Z"}),
        )
        .await?;
    let running = |j: &Value| tasks(j).iter().any(|t| t["status"] == "running");
    let bt0 = task_ids(&fleet.api.wait_job(&beta, SETTLE, running).await?)[0].clone();
    let lt0 = task_ids(&fleet.api.job(&later).await?)[0].clone();

    let mallory = Attacker::connect(&fleet.nats, "alpha").await?;
    let client = &mallory.client;
    let reflect =
        |name: &'static str, payload: Vec<u8>, aim: String| reflect(client, name, payload, aim);
    // The control: aimed at its own inbox, the reflected value arrives.
    let mut mirror = client.subscribe("_INBOX_alpha.mirror").await?;
    reflect("mirror", b"mirrored".to_vec(), "_INBOX_alpha.mirror".into()).await?;
    let echo = tokio::time::timeout(SETTLE, mirror.next())
        .await
        .context("no reflected answer")?
        .context("mirror closed")?;
    assert_eq!(&echo.payload[..], b"mirrored");

    let injected_job = GHOST;
    let tasks_for_beta = [
        (
            "inject-collect",
            forged_task(
                "beta",
                "ssh.collect",
                "127.2.0.66",
                &json!({"device_name": "b-core-sw1", "commands": ["show running-config"]}),
            ),
            "outpost.task.beta.ssh.collect",
        ),
        (
            "inject-sleep",
            forged_task("beta", "diag.sleep", "", &json!({"ms": 1})),
            "outpost.task.beta.diag.sleep",
        ),
    ];
    for (name, payload, aim) in tasks_for_beta {
        reflect(name, payload, aim.into()).await?;
    }
    reflect(
        "verdict",
        forged_sleep("beta", &later, &lt0, 0, pb::Outcome::Failed),
        layout::verdict_subject("beta", &later)?,
    )
    .await?;
    reflect(
        "result",
        forged_sleep("beta", &beta, &bt0, 1, pb::Outcome::Succeeded),
        layout::event_subject("beta", &beta)?,
    )
    .await?;
    let mut doc: Value = serde_json::from_slice(&stored.value)?;
    doc["status"] = json!("failed");
    reflect(
        "doc",
        doc.to_string().into_bytes(),
        format!("$KV.{}.{job_key}", layout::JOBS_BUCKET),
    )
    .await?;
    let cancel_record = layout::cancel_key("beta", &beta)?;
    reflect(
        "cancel",
        b"now".to_vec(),
        format!("$KV.{}.{cancel_record}", layout::CANCELS_BUCKET),
    )
    .await?;
    let fake = layout::worker_key("beta", "fake")?;
    reflect(
        "fake",
        json!({"worker_id": "fake", "zone": "beta"})
            .to_string()
            .into_bytes(),
        format!("$KV.{}.{fake}", layout::WORKERS_BUCKET),
    )
    .await?;
    // A publish on its own event subject: the stream's acknowledgement
    // goes to the reply subject, a cancel signal for beta's job.
    client
        .publish_with_reply(
            layout::event_subject("alpha", "reflector")?,
            layout::cancel_subject("beta", &beta)?,
            "x".into(),
        )
        .await?;
    client.flush().await?;

    // What the aimed replies did, if anything: one line per breach.
    let mut breaches: Vec<String> = Vec::new();
    match fleet.api.wait_finished(&beta, SETTLE).await {
        Ok(job) => {
            let forged = tasks(&job)
                .iter()
                .any(|t| t["output"].get("forged").is_some());
            if job["status"] != "succeeded" || forged {
                breaches.push(format!(
                    "beta's job was cancelled or finished by a forgery: {job:#}"
                ));
            }
        }
        Err(e) => breaches.push(format!("beta's job did not finish: {e}")),
    }
    if fleet.api.job(&later).await?["status"] != "pending" {
        breaches.push("a forged verdict ended the job scheduled for 2099".into());
    }
    if consumer_state(&coord, &layout::consumer_name("beta", "ssh.collect")?).await? != (0, 0, 0) {
        breaches.push("an ssh.collect task reached zone beta's queue".into());
    }
    if !inspect::events(&fleet.nats, injected_job).await?.is_empty() {
        breaches.push("zone beta ran a task the coordinator never published".into());
    }
    match kv_entry(&coord, layout::JOBS_BUCKET, &job_key).await? {
        Some(e) if e.revision == stored.revision => {}
        other => breaches.push(format!(
            "the job document was rewritten: {:?}",
            other.map(|e| String::from_utf8_lossy(&e.value).to_string())
        )),
    }
    if kv_entry(&coord, layout::CANCELS_BUCKET, &cancel_record)
        .await?
        .is_some()
    {
        breaches.push("a cancel record was written for beta".into());
    }
    if kv_entry(&coord, layout::WORKERS_BUCKET, &fake)
        .await?
        .is_some()
    {
        breaches.push("a fake beta worker was registered".into());
    }

    // Last, the destructive ones: purging the events, deleting a bucket.
    let (_, events_last) = inspect::stream_state(&fleet.nats, layout::EVENTS_STREAM).await?;
    for aim in [
        format!("$JS.API.STREAM.PURGE.{}", layout::EVENTS_STREAM),
        format!(
            "$JS.API.STREAM.DELETE.{}",
            layout::kv_stream(layout::INVENTORY_BUCKET)
        ),
    ] {
        client
            .publish_with_reply(
                layout::event_subject("alpha", "reflector")?,
                aim.clone(),
                "x".into(),
            )
            .await?;
        reflect("empty", b"{}".to_vec(), aim).await?;
    }
    client.flush().await?;
    reflect("mirror", b"after".to_vec(), "_INBOX_alpha.mirror".into()).await?;
    tokio::time::timeout(SETTLE, mirror.next())
        .await
        .context("no reflected answer")?;
    // The reflected control came back; the two requests it followed get
    // [`ASK`] more to take effect, if they can.
    let (mut purged, mut deleted) = (false, false);
    let _ = wait_until(
        "the events purged and the bucket deleted",
        ASK,
        async || {
            if let Ok(mut s) = coord.get_stream(layout::EVENTS_STREAM).await
                && let Ok(info) = s.info().await
            {
                purged |= info.state.first_sequence > 1 || info.state.messages < events_last;
            }
            deleted |= matches!(
                coord
                    .get_stream(layout::kv_stream(layout::INVENTORY_BUCKET))
                    .await,
                Err(e) if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(_))
            );
            if purged && deleted {
                Ok(())
            } else {
                Err(format!("purged {purged}, deleted {deleted}"))
            }
        },
    )
    .await;
    if purged {
        breaches.push("the events stream was purged".into());
    }
    if deleted {
        breaches.push("the inventory bucket was deleted".into());
    }
    assert!(
        breaches.is_empty(),
        "zone alpha published through JetStream's replies:\n- {}",
        breaches.join("\n- ")
    );
    Ok(())
}
