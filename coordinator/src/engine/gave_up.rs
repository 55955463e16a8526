//! Tasks that ran out of deliveries. JetStream says so with a
//! `MAX_DELIVERIES` advisory on core NATS, which nobody hears while the
//! coordinator is down. The stream `OUTPOST_ADVISORIES` captures those
//! advisories, and a durable consumer hands each to the engine, which fails
//! the task; the advisory is acknowledged only once that failure is stored,
//! so a task that gave up is failed even if no coordinator was running then.
//!
//! A site's tasks run from the site's own tasks stream: the site keeps its
//! advisories in its own `OUTPOST_ADVISORIES`, which the hub's sources
//! (see [`crate::sites::layout`]), and the task message is read from (and
//! deleted in) the site's stream, reached through its JetStream domain.

use super::Command;
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use outpost_proto::{Message, layout, pb};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// The stream that keeps max-deliveries advisories of the tasks stream.
pub const ADVISORIES_STREAM: &str = "OUTPOST_ADVISORIES";
/// The engine's durable consumer on it.
pub const GAVE_UP_CONSUMER: &str = "coordinator_gave_up";

fn advisory_subject() -> String {
    format!(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.*",
        layout::TASKS_STREAM
    )
}

/// Creates (or opens) the advisories stream, keeping events as long as the
/// events stream and as many copies as the layout's streams.
pub async fn ensure_stream(
    js: &jetstream::Context,
    cfg: &crate::config::JetStreamConfig,
) -> Result<stream::Stream, String> {
    let s = js
        .get_or_create_stream(stream::Config {
            name: ADVISORIES_STREAM.to_string(),
            subjects: vec![advisory_subject()],
            retention: stream::RetentionPolicy::Limits,
            storage: if cfg.memory_storage {
                stream::StorageType::Memory
            } else {
                stream::StorageType::File
            },
            max_age: Duration::from_secs(cfg.events_max_age_hours * 3600),
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("{ADVISORIES_STREAM}: {e}"))?;
    crate::bus::ensure_replicas(js, ADVISORIES_STREAM, cfg.replicas)
        .await
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// The fields of a max-deliveries advisory the engine needs.
#[derive(serde::Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: u64,
    #[serde(default)]
    consumer: String,
}

/// The site of every task consumer of a zone at a site.
pub fn site_consumers(routes: &crate::sites::Routes) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for (zone, site) in routes {
        for kind in outpost_kinds::Kind::ALL {
            if let Ok(c) = layout::consumer_name(zone, kind.as_str()) {
                out.insert(c, site.clone());
            }
        }
    }
    out
}

/// Hands captured advisories to the engine until shutdown; resubscribes
/// when the subscription fails. `at_sites` names the site of each task
/// consumer that lives at a site.
pub async fn run(
    js: jetstream::Context,
    at_sites: std::sync::Arc<std::collections::HashMap<String, String>>,
    tx: mpsc::Sender<Command>,
    shutdown: CancellationToken,
) {
    super::resubscribe::resubscribing("max-deliveries watch", &shutdown, || {
        read(&js, &at_sites, &tx, &shutdown)
    })
    .await
}

async fn read(
    js: &jetstream::Context,
    at_sites: &std::collections::HashMap<String, String>,
    tx: &mpsc::Sender<Command>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let stream = js
        .get_stream(ADVISORIES_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            GAVE_UP_CONSUMER,
            consumer::pull::Config {
                durable_name: Some(GAVE_UP_CONSUMER.to_string()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer
        .stream()
        .heartbeat(Duration::from_secs(2))
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    let tasks = js
        .get_stream(layout::TASKS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            m = messages.next() => m,
        };
        let msg = match msg {
            None => return Err("advisory subscription ended".into()),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "advisory subscription reported an error");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let Ok(adv) = serde_json::from_slice::<MaxDeliveries>(&msg.payload) else {
            tracing::warn!("unreadable max-deliveries advisory dropped");
            let _ = msg.ack().await;
            continue;
        };
        // A site's task is in the site's tasks stream.
        let tasks = match at_sites.get(&adv.consumer) {
            None => tasks.clone(),
            Some(site) => {
                let site_js = jetstream::with_domain(js.client(), site);
                match site_js.get_stream(layout::TASKS_STREAM).await {
                    Ok(s) => s,
                    // The site is cut off: the advisory waits for the link.
                    Err(e) => return Err(format!("site {site}'s tasks stream: {e}")),
                }
            }
        };
        match tasks.get_raw_message(adv.stream_seq).await {
            Ok(raw) => match pb::Task::decode(raw.payload.as_ref()) {
                Ok(task) => {
                    let (done, applied) = oneshot::channel();
                    let cmd = Command::GaveUp {
                        task,
                        deliveries: adv.deliveries,
                        stream_seq: adv.stream_seq,
                        consumer: adv.consumer,
                        done,
                    };
                    if tx.send(cmd).await.is_err() || applied.await.is_err() {
                        // The engine stopped: the advisory stays for the next run.
                        return Ok(());
                    }
                    let _ = tasks.delete_message(adv.stream_seq).await;
                }
                Err(e) => {
                    tracing::warn!(seq = adv.stream_seq, error = %e, "undecodable task of a max-deliveries advisory")
                }
            },
            Err(e)
                if matches!(
                    e.kind(),
                    stream::LastRawMessageErrorKind::NoMessageFound
                        | stream::LastRawMessageErrorKind::JetStream(_)
                ) =>
            {
                // Gone: deleted after an earlier run applied it, or a cancel
                // dropped it. Either way nothing is left to fail.
                tracing::debug!(seq = adv.stream_seq, error = %e, "task message of a max-deliveries advisory is gone");
            }
            Err(e) => {
                // No answer (a site cut off, NATS busy): the advisory stays
                // unacknowledged and comes again.
                return Err(format!(
                    "reading the task of a max-deliveries advisory: {e}"
                ));
            }
        }
        if let Err(e) = msg.ack().await {
            tracing::warn!(error = %e, "advisory ack failed; it will be applied again (idempotent)");
        }
    }
}
