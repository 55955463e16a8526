//! Live event followers (`GET /api/v1/jobs/{id}/events`) against a real
//! fleet: followers of one job share one reader inside the coordinator,
//! they are capped with a clear 503, nothing stays on nats-server when
//! they go, and their streams end when the coordinator shuts down.

use anyhow::{Context, Result};
use futures::StreamExt;
use outpost_proto::layout;
use outpost_tests::api::sse_events;
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE};
use serde_json::json;
use std::time::Duration;

const FOLLOWERS: usize = 40;

/// Consumers on the events stream now.
async fn event_consumers(nats: &outpost_tests::nats::NatsServer) -> Result<usize> {
    let client = nats.client().await?;
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(layout::EVENTS_STREAM).await?;
    Ok(s.info().await?.state.consumer_count)
}

/// An open event stream whose first chunk (the job's state) has arrived.
struct Open {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    text: String,
}

async fn open(http: &reqwest::Client, base: &str, id: &str) -> Result<Open> {
    let resp = http
        .get(format!("{base}/api/v1/jobs/{id}/events"))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "follow answered {}", resp.status());
    let mut body = resp.bytes_stream().boxed();
    let first = tokio::time::timeout(SETTLE, body.next())
        .await
        .context("no first event")?
        .context("stream ended at once")??;
    Ok(Open {
        body,
        text: String::from_utf8_lossy(&first).to_string(),
    })
}

impl Open {
    /// Reads until the server ends the stream.
    async fn read_to_end(mut self, deadline: Duration) -> Result<String> {
        tokio::time::timeout(deadline, async {
            while let Some(chunk) = self.body.next().await {
                self.text.push_str(&String::from_utf8_lossy(&chunk?));
            }
            anyhow::Ok(())
        })
        .await
        .with_context(|| format!("stream did not end: {}", self.text))??;
        Ok(self.text)
    }
}

#[tokio::test]
async fn followers_share_one_reader_are_capped_and_leave_nothing_behind() -> Result<()> {
    let mut fleet = Fleet::start_with(FleetOptions {
        extra_config: Some(format!("api = {{ max_followers = {FOLLOWERS} }}")),
        ..Default::default()
    })
    .await?;
    let baseline = event_consumers(&fleet.nats).await?;
    // No worker in beta yet: the job waits, its followers stay.
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 5, "ms": 400}}),
        )
        .await?;
    let http = reqwest::Client::new();
    let mut open_streams = Vec::new();
    for _ in 0..FOLLOWERS {
        open_streams.push(open(&http, &fleet.api.base, &id).await?);
    }
    let during = event_consumers(&fleet.nats).await?;
    assert!(
        during <= baseline + 1,
        "{FOLLOWERS} followers of one job: {during} consumers (baseline {baseline})"
    );
    assert_eq!(
        fleet.api.metric("outpost_sse_followers").await?,
        FOLLOWERS as u64
    );
    assert_eq!(fleet.api.metric("outpost_sse_jobs_followed").await?, 1);
    // One more is refused, saying why.
    let r = fleet.api.get(&format!("/api/v1/jobs/{id}/events")).await?;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("at most 40 live event followers")),
        "{:?}",
        r.body
    );
    // They go: nothing stays behind on nats-server.
    drop(open_streams);
    outpost_tests::wait_until("followers gone", SETTLE, async || {
        let n = fleet
            .api
            .metric("outpost_sse_followers")
            .await
            .map_err(|e| e.to_string())?;
        let c = event_consumers(&fleet.nats)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 && c == baseline {
            Ok(())
        } else {
            Err(format!(
                "{n} followers, {c} consumers (baseline {baseline})"
            ))
        }
    })
    .await?;
    assert_eq!(fleet.api.metric("outpost_sse_jobs_followed").await?, 0);

    // Followers that join at different times all get every event and the end.
    let mut early = Vec::new();
    for _ in 0..5 {
        early.push(open(&http, &fleet.api.base, &id).await?);
    }
    fleet.worker("beta", "beta-1", &[]).await?;
    fleet.api.wait_finished(&id, SETTLE).await?;
    let late = open(&http, &fleet.api.base, &id).await?;
    early.push(late);
    let mut seen = Vec::new();
    for f in early {
        let text = f.read_to_end(SETTLE).await?;
        let events = sse_events(&text);
        seen.push(events.iter().filter(|(n, _)| n == "task").count());
        let (last, job) = events.last().context("no events")?;
        assert_eq!(last, "end", "{text}");
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    outpost_tests::wait_until(
        "the reader's consumer gone",
        SETTLE,
        async || match event_consumers(&fleet.nats).await {
            Ok(c) if c == baseline => Ok(()),
            other => Err(format!("{other:?} consumers (baseline {baseline})")),
        },
    )
    .await?;
    // (This reader leaves its own consumer behind: it comes after the count.)
    let stored = outpost_tests::inspect::events(&fleet.nats, &id)
        .await?
        .len();
    assert!(stored >= 10, "{stored} events stored");
    assert!(
        seen.iter().all(|n| *n == stored),
        "task events per follower {seen:?}, {stored} stored"
    );
    Ok(())
}

#[tokio::test]
async fn event_streams_end_when_the_coordinator_shuts_down() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1}}))
        .await?;
    let http = reqwest::Client::new();
    let f = open(&http, &fleet.api.base, &id).await?;
    fleet.coordinator.term()?;
    let text = f.read_to_end(SETTLE).await?;
    let events = sse_events(&text);
    assert_eq!(
        events.last().map(|(n, d)| (n.as_str(), d.clone())),
        Some(("error", json!("coordinator shutting down"))),
        "{text}"
    );
    let status = fleet.coordinator.wait_exit(SETTLE).await?;
    assert!(status.success(), "{status}");
    Ok(())
}
