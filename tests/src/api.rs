//! A small client for the coordinator's HTTP API, as tests use it: raw
//! status and JSON, and waits on a job's state with a deadline.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::Duration;

/// The coordinator's API at `base` (`http://127.0.0.1:PORT`).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

/// A response: status code and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Api {
    pub fn new(base: &str, token: Option<&str>) -> Api {
        // reqwest is built without a default TLS provider; pin ring, as the binaries do.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            http: reqwest::Client::new(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn reply(r: reqwest::RequestBuilder) -> Result<Reply> {
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply { status, body })
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        Self::reply(self.req(reqwest::Method::GET, path)).await
    }

    /// `GET path`'s status and body bytes as they came.
    pub async fn get_bytes(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let resp = self.req(reqwest::Method::GET, path).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?.to_vec()))
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Result<Reply> {
        Self::reply(
            self.req(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        Self::reply(
            self.req(reqwest::Method::PUT, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// The value of counter `name` on `/metrics`.
    pub async fn metric(&self, name: &str) -> Result<u64> {
        let m = self.get("/metrics").await?.body;
        m.as_str()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} in {m}"))
    }

    /// Submits a job document; returns the reply as it is.
    pub async fn submit(&self, doc: &Value) -> Result<Reply> {
        self.post_raw("/api/v1/jobs", doc.to_string()).await
    }

    /// Submits a job document that must be accepted; returns its id.
    pub async fn submit_ok(&self, doc: &Value) -> Result<String> {
        let r = self.submit(doc).await?;
        if r.status != 201 {
            bail!("submit of {doc} answered {}: {}", r.status, r.body);
        }
        r.body["id"]
            .as_str()
            .map(str::to_string)
            .context("job id in reply")
    }

    /// The job with all its tasks: the job document and every further
    /// page of `/api/v1/jobs/{id}/tasks`.
    pub async fn job(&self, id: &str) -> Result<Value> {
        let mut job = self.job_document(id).await?;
        let mut next = job["tasks_next"].as_str().map(str::to_string);
        while let Some(after) = next {
            let page = self
                .task_page(id, &format!("after={after}&limit=1000"))
                .await?;
            if let (Some(all), Some(more)) = (job["tasks"].as_array_mut(), page["tasks"].as_array())
            {
                all.extend(more.iter().cloned());
            }
            next = page["next"].as_str().map(str::to_string);
        }
        Ok(job)
    }

    /// `GET /api/v1/jobs/{id}`: the job, its counts and its first tasks.
    pub async fn job_document(&self, id: &str) -> Result<Value> {
        let r = self.get(&format!("/api/v1/jobs/{id}")).await?;
        if r.status != 200 {
            bail!("GET job {id} answered {}: {}", r.status, r.body);
        }
        Ok(r.body)
    }

    /// `GET /api/v1/jobs/{id}/tasks?{query}`: one page of the job's tasks.
    pub async fn task_page(&self, id: &str, query: &str) -> Result<Value> {
        let r = self
            .get(&format!("/api/v1/jobs/{id}/tasks?{query}"))
            .await?;
        if r.status != 200 {
            bail!(
                "GET tasks of {id} ({query}) answered {}: {}",
                r.status,
                r.body
            );
        }
        Ok(r.body)
    }

    /// `GET /api/v1/jobs`: every job, newest first.
    pub async fn list_jobs(&self) -> Result<Vec<Value>> {
        // The API lists 100 by default.
        let r = self.get("/api/v1/jobs?limit=10000").await?;
        if r.status != 200 {
            bail!("GET /api/v1/jobs answered {}: {}", r.status, r.body);
        }
        r.body.as_array().cloned().context("a JSON list of jobs")
    }

    /// `GET /api/v1/workers`: the live workers.
    pub async fn workers(&self) -> Result<Vec<Value>> {
        let r = self.get("/api/v1/workers").await?;
        if r.status != 200 {
            bail!("GET /api/v1/workers answered {}: {}", r.status, r.body);
        }
        r.body.as_array().cloned().context("a JSON list of workers")
    }

    /// Polls `GET /api/v1/workers` until `pred` holds for the list.
    pub async fn wait_workers(
        &self,
        deadline: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Result<Vec<Value>> {
        let until = tokio::time::Instant::now() + deadline;
        let mut last = Vec::new();
        loop {
            if let Ok(w) = self.workers().await {
                if pred(&w) {
                    return Ok(w);
                }
                last = w;
            }
            if tokio::time::Instant::now() > until {
                bail!(
                    "workers did not reach the expected state within {deadline:?}; last: {last:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads the job's SSE stream (`/api/v1/jobs/{id}/events`) until the
    /// server ends it; returns the raw text. Fails if it does not end
    /// within `deadline`.
    pub async fn follow(&self, id: &str, deadline: Duration) -> Result<String> {
        use futures::StreamExt;
        let resp = self
            .req(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/events"))
            .send()
            .await?;
        if resp.status() != 200 {
            let status = resp.status();
            bail!("events of {id} answered {status}: {}", resp.text().await?);
        }
        let mut body = resp.bytes_stream();
        let mut text = String::new();
        let read = tokio::time::timeout(deadline, async {
            while let Some(chunk) = body.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk?));
            }
            anyhow::Ok(())
        })
        .await;
        match read {
            Ok(r) => r.map(|()| text),
            Err(_) => bail!("event stream of {id} did not end within {deadline:?}: {text}"),
        }
    }

    pub async fn cancel(&self, id: &str) -> Result<Reply> {
        self.post_raw(&format!("/api/v1/jobs/{id}/cancel"), "")
            .await
    }

    /// Polls the job until `pred` holds, or fails after `deadline` showing the last state.
    pub async fn wait_job(
        &self,
        id: &str,
        deadline: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let until = tokio::time::Instant::now() + deadline;
        let mut last = Value::Null;
        loop {
            // The coordinator may be restarting: tolerate refused connections.
            if let Ok(j) = self.job(id).await {
                if pred(&j) {
                    return Ok(j);
                }
                last = j;
            }
            if tokio::time::Instant::now() > until {
                bail!(
                    "job {id} did not reach the expected state within {deadline:?}; last state: {last:#}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the job is finished (succeeded, failed or cancelled).
    /// Polls the job document (without further task pages) and returns
    /// the finished job with all its tasks.
    pub async fn wait_finished(&self, id: &str, deadline: Duration) -> Result<Value> {
        let until = tokio::time::Instant::now() + deadline;
        let mut last = Value::Null;
        loop {
            // The coordinator may be restarting: tolerate refused connections.
            if let Ok(j) = self.job_document(id).await {
                if matches!(
                    j["status"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                ) {
                    return self.job(id).await;
                }
                last = j;
            }
            if tokio::time::Instant::now() > until {
                bail!("job {id} did not finish within {deadline:?}; last state: {last:#}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A job's tasks as a list.
pub fn tasks(job: &Value) -> Vec<Value> {
    job["tasks"].as_array().cloned().unwrap_or_default()
}

/// The events of an SSE text: `(event name, data as JSON)` in order.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            let v = serde_json::from_str(&data).unwrap_or(Value::String(data));
            out.push((name, v));
        }
    }
    out
}
