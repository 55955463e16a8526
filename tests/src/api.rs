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

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Result<Reply> {
        Self::reply(
            self.req(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
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

    pub async fn job(&self, id: &str) -> Result<Value> {
        let r = self.get(&format!("/api/v1/jobs/{id}")).await?;
        if r.status != 200 {
            bail!("GET job {id} answered {}: {}", r.status, r.body);
        }
        Ok(r.body)
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
    pub async fn wait_finished(&self, id: &str, deadline: Duration) -> Result<Value> {
        self.wait_job(id, deadline, |j| {
            matches!(
                j["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await
    }
}

/// A job's tasks as a list.
pub fn tasks(job: &Value) -> Vec<Value> {
    job["tasks"].as_array().cloned().unwrap_or_default()
}
