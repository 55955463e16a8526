//! Looking behind the API at what is in NATS: the events a job produced,
//! the keys of the state bucket, the messages of the tasks stream.

use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use outpost_proto::{layout, pb};
use std::time::Duration;

/// Every event of `job_id` stored in `OUTPOST_EVENTS`, in order.
pub async fn events(nats: &crate::nats::NatsServer, job_id: &str) -> Result<Vec<pb::Event>> {
    Ok(events_with_trace(nats, job_id)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// Every event of `job_id` with the `traceparent` it carries.
pub async fn events_with_trace(
    nats: &crate::nats::NatsServer,
    job_id: &str,
) -> Result<Vec<(pb::Event, Option<String>)>> {
    events_from(nats.client().await?, job_id).await
}

/// Every event of `job_id` with its `traceparent`, read through `client`.
pub async fn events_from(
    client: async_nats::Client,
    job_id: &str,
) -> Result<Vec<(pb::Event, Option<String>)>> {
    let js = jetstream::new(client);
    let stream = js.get_stream(layout::EVENTS_STREAM).await?;
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subjects: layout::job_events_filters(job_id)?,
            ..Default::default()
        })
        .await?;
    let mut info = c.clone();
    let mut left = info.info().await?.num_pending;
    let mut out = Vec::new();
    if left == 0 {
        return Ok(out);
    }
    let mut msgs = c.messages().await?;
    while left > 0 {
        let m = tokio::time::timeout(Duration::from_secs(30), msgs.next())
            .await
            .context("events stream stalled")?
            .context("events stream ended")?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for ev in outpost_proto::events::decode(m.payload.as_ref())? {
            let tp = Some(ev.traceparent.clone()).filter(|t| !t.is_empty());
            out.push((ev, tp));
        }
        left -= 1;
    }
    Ok(out)
}

/// How many distinct `Result` events with `outcome` each task got. An
/// event is its task, attempt and number: the stream may hold one twice
/// (a batch re-sent after its ack was lost with a restarting server, or a
/// task run again under the same attempt number when the server lost the
/// consumer's acknowledgements in a crash), which the coordinator applies
/// once.
pub fn results_per_task(
    events: &[pb::Event],
    outcome: pb::Outcome,
) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::HashSet::new();
    let mut m = std::collections::BTreeMap::new();
    for e in events {
        if let Some(pb::event::Body::Result(r)) = &e.body
            && r.outcome == outcome as i32
            && seen.insert((e.task_id.as_str(), e.attempt, e.seq))
        {
            *m.entry(e.task_id.clone()).or_insert(0) += 1;
        }
    }
    m
}

/// Number of keys in the job state bucket, and of messages in the tasks stream.
pub async fn stored_state(nats: &crate::nats::NatsServer) -> Result<(usize, u64)> {
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let kv = js.get_key_value(layout::JOBS_BUCKET).await?;
    let keys = match kv.keys().await {
        Ok(k) => k.filter_map(|k| async move { k.ok() }).count().await,
        Err(_) => 0,
    };
    let mut tasks = js.get_stream(layout::TASKS_STREAM).await?;
    let msgs = tasks.info().await?.state.messages;
    Ok((keys, msgs))
}

/// Every live key of a KV bucket, sorted.
pub async fn kv_keys(nats: &crate::nats::NatsServer, bucket: &str) -> Result<Vec<String>> {
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let kv = js.get_key_value(bucket).await?;
    let mut keys: Vec<String> = match kv.keys().await {
        Ok(k) => k.filter_map(|k| async move { k.ok() }).collect().await,
        Err(_) => Vec::new(),
    };
    keys.sort();
    Ok(keys)
}

/// Messages held by a stream now, and the sequence of the last message it
/// ever stored (0: it never stored one).
pub async fn stream_state(nats: &crate::nats::NatsServer, stream: &str) -> Result<(u64, u64)> {
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let mut s = js.get_stream(stream).await?;
    let state = s.info().await?.state.clone();
    Ok((state.messages, state.last_sequence))
}

/// Messages of a durable consumer not delivered yet, and delivered but not acked.
pub async fn consumer_backlog(
    nats: &crate::nats::NatsServer,
    stream: &str,
    consumer: &str,
) -> Result<(u64, usize)> {
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let s = js.get_stream(stream).await?;
    let mut c: jetstream::consumer::PullConsumer = s
        .get_consumer(consumer)
        .await
        .map_err(|e| anyhow::anyhow!("consumer {consumer}: {e}"))?;
    let info = c.info().await?;
    Ok((info.num_pending, info.num_ack_pending))
}

/// Deletes a durable consumer (e.g. the coordinator's relay, so that the
/// next coordinator replays the events stream from its start).
pub async fn delete_consumer(
    nats: &crate::nats::NatsServer,
    stream: &str,
    consumer: &str,
) -> Result<()> {
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let s = js.get_stream(stream).await?;
    s.delete_consumer(consumer).await?;
    Ok(())
}

/// Deletes a stream, as an operator's `nats stream rm` would.
pub async fn delete_stream(nats: &crate::nats::NatsServer, stream: &str) -> Result<()> {
    let client = nats.client().await?;
    let js = jetstream::new(client);
    js.delete_stream(stream)
        .await
        .map_err(|e| anyhow::anyhow!("deleting {stream}: {e}"))?;
    Ok(())
}
