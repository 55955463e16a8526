//! The relay's intake: a durable pull consumer on `OUTPOST_EVENTS` read in
//! order and handed to the engine in batches. Each event is acknowledged on
//! its own once the engine has applied and stored it (explicit acks), so an
//! event pulled by a process that died is delivered again, never skipped.

use super::captures::CaptureWriter;
use super::{Command, Metrics, provenance};
use crate::redfish::inventory::InventoryWriter;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use outpost_proto::layout;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Most events handed to the engine at once.
const BATCH: usize = 512;

/// What the relay does with a batch before the engine applies it.
#[derive(Clone)]
pub struct Intake {
    pub captures: CaptureWriter,
    pub inventory: InventoryWriter,
    pub metrics: Arc<Metrics>,
    pub drops: Arc<provenance::Drops>,
}

/// Reads events in stream order and sends them to the engine until shutdown.
/// Re-creates the pull subscription whenever it fails (e.g. NATS restarts).
pub async fn run(
    js: jetstream::Context,
    intake: Intake,
    tx: mpsc::Sender<Command>,
    start: time::OffsetDateTime,
    shutdown: CancellationToken,
) {
    super::resubscribe::resubscribing("event relay", &shutdown, || {
        read(&js, &intake, &tx, start, &shutdown)
    })
    .await
}

async fn read(
    js: &jetstream::Context,
    intake: &Intake,
    tx: &mpsc::Sender<Command>,
    start: time::OffsetDateTime,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let stream = js
        .get_stream(layout::EVENTS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    // The relay acked for all before (`coordinator_relay`); that consumer
    // lost events a dead coordinator had pulled. It goes; start-up
    // reconciliation has already applied what it lost.
    let _ = stream.delete_consumer(layout::LEGACY_RELAY_CONSUMER).await;
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            layout::RELAY_CONSUMER,
            consumer::pull::Config {
                durable_name: Some(layout::RELAY_CONSUMER.to_string()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: 50_000,
                // Only created when missing (a new deployment, or a
                // consumer lost with its server): from where unfinished
                // jobs' events begin, which reconciliation also read.
                deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: start },
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(BATCH * 2)
        .heartbeat(Duration::from_secs(2))
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    let mut chunks = messages.ready_chunks(BATCH);
    loop {
        let chunk = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            c = chunks.next() => c,
        };
        let Some(chunk) = chunk else {
            return Err("event subscription ended".into());
        };
        let mut batch = Vec::with_capacity(chunk.len());
        let mut failure = None;
        for m in chunk {
            match m {
                Ok(m) => batch.push(m),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        if !batch.is_empty() {
            // Only believable events go on; the rest are acked and dropped.
            let mut events = provenance::admit(&batch, &intake.metrics, &intake.drops);
            intake.captures.save(&mut events).await;
            intake.inventory.fold(&events).await;
            if tx.send(Command::Events(batch, events)).await.is_err() {
                return Ok(());
            }
        }
        if let Some(e) = failure {
            tracing::debug!(error = %e, "event subscription reported an error");
        }
    }
}
