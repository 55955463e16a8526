//! Following a job live over its SSE stream: a progress bar on a terminal,
//! one line per event otherwise, then the final state. A dropped stream is
//! reopened (the coordinator replays the job's events from the start, so
//! events already shown are skipped) within a bounded number of tries.

use super::client::{Client, ClientError};
use super::render;
use super::sse::SseParser;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use outpost_api::JobState;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::Duration;

/// Reconnection attempts before giving up on a dropped stream.
const RECONNECTS: u32 = 10;

enum Display {
    Bar(ProgressBar),
    Lines,
}

impl Display {
    fn new() -> Display {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Display::Bar(bar)
        } else {
            Display::Lines
        }
    }

    fn job(&self, job: &JobState, last: &mut Option<(String, String)>) {
        let finished = job.counts.total() - job.counts.unfinished();
        let key = (job.status.as_str().to_string(), render::counts(&job.counts));
        match self {
            Display::Bar(b) => {
                b.set_length(job.counts.total());
                b.set_position(finished);
                b.set_message(format!("{} ({})", key.0, key.1));
            }
            Display::Lines => {
                if last.as_ref() != Some(&key) {
                    println!("job {} {}: {}", job.id, key.0, key.1);
                }
            }
        }
        *last = Some(key);
    }

    fn task(&self, ev: &serde_json::Value) {
        let line = render::event_line(ev);
        match self {
            Display::Bar(b) => {
                // Failures stay visible above the bar; the rest is summed up in it.
                if ev["type"] == "result" && ev["outcome"] != "succeeded"
                    || ev["type"] == "retrying"
                {
                    b.println(line);
                }
            }
            Display::Lines => println!("{line}"),
        }
    }

    fn finish(&self) {
        if let Display::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// What a follower does with what it sees.
pub trait Sink {
    /// The job's status or counts changed.
    fn job(&mut self, job: &JobState);
    /// A task event (each shown once, also across reconnects).
    fn task(&mut self, ev: &serde_json::Value);
}

struct DisplaySink {
    display: Display,
    last: Option<(String, String)>,
}

impl Sink for DisplaySink {
    fn job(&mut self, job: &JobState) {
        self.display.job(job, &mut self.last);
    }
    fn task(&mut self, ev: &serde_json::Value) {
        self.display.task(ev);
    }
}

/// Follows job `id` until it finishes; returns the exit code of its final status.
pub async fn follow(client: &Client, id: &str) -> Result<u8, ClientError> {
    let mut sink = DisplaySink {
        display: Display::new(),
        last: None,
    };
    let result = watch(client, id, &mut sink).await;
    sink.display.finish();
    let job = result?;
    println!(
        "job {} {}: {}",
        job.id,
        job.status.as_str(),
        render::counts(&job.counts)
    );
    Ok(super::exit_code(job.status))
}

/// Feeds job `id`'s events to `sink` until the job finishes; returns its
/// final state. A dropped stream is reopened a bounded number of times.
pub async fn watch<S: Sink>(
    client: &Client,
    id: &str,
    sink: &mut S,
) -> Result<JobState, ClientError> {
    let mut seen: HashSet<(String, u64, u64)> = HashSet::new();
    let mut failures = 0u32;
    let path = format!("/api/v1/jobs/{}/events", super::client::encode(id));
    loop {
        match stream_once(client, &path, sink, &mut seen).await {
            Ok(Some(job)) => return Ok(job),
            Ok(None) => failures += 1,
            Err(e @ ClientError::Api { .. }) => return Err(e),
            Err(e) => {
                failures += 1;
                if failures > RECONNECTS {
                    return Err(e);
                }
            }
        }
        if failures > RECONNECTS {
            return Err(ClientError::Connect {
                url: client.url(&path),
                message: format!("the event stream ended {failures} times before the job finished"),
            });
        }
        let delay = Duration::from_millis(200 * u64::from(failures.min(10)));
        tokio::time::sleep(delay).await;
    }
}

/// Reads the stream once; `Some(job)` when it ended with the job's `end`.
async fn stream_once<S: Sink>(
    client: &Client,
    path: &str,
    sink: &mut S,
    seen: &mut HashSet<(String, u64, u64)>,
) -> Result<Option<JobState>, ClientError> {
    let req = client
        .request(reqwest::Method::GET, path)
        .header("accept", "text/event-stream");
    let resp = client.send(req, path).await?;
    let mut body = resp.bytes_stream();
    let mut parser = SseParser::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { return Ok(None) };
        for ev in parser.feed(&chunk) {
            match ev.event.as_str() {
                "job" | "end" => {
                    let job: JobState =
                        serde_json::from_str(&ev.data).map_err(|e| ClientError::Decode {
                            url: client.url(path),
                            message: format!("job event: {e}"),
                        })?;
                    if ev.event == "end" {
                        // The caller prints the final state.
                        return Ok(Some(job));
                    }
                    sink.job(&job);
                }
                "task" => {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&ev.data) else {
                        continue;
                    };
                    let key = (
                        v["task_id"].as_str().unwrap_or_default().to_string(),
                        v["attempt"].as_u64().unwrap_or(0),
                        v["seq"].as_u64().unwrap_or(0),
                    );
                    if seen.insert(key) {
                        sink.task(&v);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(None)
}
