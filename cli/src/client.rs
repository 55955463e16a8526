//! The CLI's typed client of the coordinator's HTTP API. Errors say what
//! failed: the connection, the API's refusal (with its message and the
//! field it names), or an answer that could not be read.

use outpost_api::{JobState, JobView};
use serde::de::DeserializeOwned;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach the coordinator at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{status}: {message}{}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api {
        status: u16,
        message: String,
        field: Option<String>,
    },
    #[error("unreadable answer from {url}: {message}")]
    Decode { url: String, message: String },
}

pub use outpost_api::WorkerView;

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "--api {base:?} is not an http:// or https:// URL"
            )));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot build an HTTP client: {e}")))?;
        Ok(Client {
            base,
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
            http,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the bearer token when one is set.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends `req`; a non-2xx answer becomes `ClientError::Api`.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|e| ClientError::Connect {
            url: self.url(path),
            message: root_cause(&e),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let (message, field) = match serde_json::from_str::<outpost_api::ErrorBody>(&text) {
            Ok(b) => (b.error, b.field),
            Err(_) if text.trim().is_empty() => (
                status.canonical_reason().unwrap_or("error").to_string(),
                None,
            ),
            Err(_) => (text.chars().take(500).collect(), None),
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            message,
            field,
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(T, String), ClientError> {
        let post = method == reqwest::Method::POST;
        let mut req = self.request(method, path);
        // The API takes POST bodies declared JSON only, empty ones included.
        if post || body.is_some() {
            req = req
                .header("content-type", "application/json")
                .body(body.unwrap_or_default());
        }
        let resp = self.send(req, path).await?;
        let text = resp.text().await.map_err(|e| ClientError::Connect {
            url: self.url(path),
            message: root_cause(&e),
        })?;
        let value = serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            url: self.url(path),
            message: e.to_string(),
        })?;
        Ok((value, text))
    }

    /// Plans a job without creating it (`?dry_run=true`).
    pub async fn dry_run(&self, document: String) -> Result<serde_json::Value, ClientError> {
        Ok(self
            .call(
                reqwest::Method::POST,
                "/api/v1/jobs?dry_run=true",
                Some(document),
            )
            .await?
            .0)
    }

    pub async fn submit(&self, document: String) -> Result<JobState, ClientError> {
        Ok(self
            .call(reqwest::Method::POST, "/api/v1/jobs", Some(document))
            .await?
            .0)
    }

    pub async fn jobs(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<JobState>, String), ClientError> {
        let mut path = format!("/api/v1/jobs?limit={limit}");
        if let Some(s) = status {
            path.push_str(&format!("&status={s}"));
        }
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// The job with all its tasks (the job document and every further
    /// page), typed, whether it is archived (then its tasks are the failed
    /// ones its summary names), and as JSON text.
    pub async fn job(&self, id: &str) -> Result<(JobView, bool, String), ClientError> {
        let path = format!("/api/v1/jobs/{}", encode(id));
        let (answer, raw): (outpost_api::job::JobAnswer, String) =
            self.call(reqwest::Method::GET, &path, None).await?;
        let doc = match answer {
            outpost_api::job::JobAnswer::Archived(summary) => {
                let tasks = summary
                    .failed_tasks
                    .into_iter()
                    .map(|f| failed_task(&summary.job.id, f))
                    .collect();
                let view = JobView {
                    job: summary.job,
                    tasks,
                };
                return Ok((view, true, raw));
            }
            outpost_api::job::JobAnswer::Hot(doc) => doc,
        };
        let mut view = JobView {
            job: doc.job,
            tasks: doc.tasks,
        };
        let mut next = doc.tasks_next;
        while let Some(after) = next.take() {
            let page_path = format!("{path}/tasks?limit=1000&after={}", encode(&after));
            let (page, _): (outpost_api::TaskPage, _) =
                self.call(reqwest::Method::GET, &page_path, None).await?;
            view.tasks.extend(page.tasks);
            next = page.next;
        }
        let raw = serde_json::to_string(&view).map_err(|e| ClientError::Decode {
            url: self.url(&path),
            message: e.to_string(),
        })?;
        Ok((view, false, raw))
    }

    pub async fn cancel(&self, id: &str) -> Result<JobState, ClientError> {
        Ok(self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/jobs/{}/cancel", encode(id)),
                None,
            )
            .await?
            .0)
    }

    /// Pins `sha256` as the certificate of the iDRAC at `address:port`,
    /// or forgets its pin (`None`) so the next connection pins anew.
    pub async fn set_pin(
        &self,
        address: &str,
        port: u16,
        sha256: Option<&str>,
    ) -> Result<outpost_api::pin::PinAnswer, ClientError> {
        let path = format!(
            "/api/v1/inventory/redfish/{}/pin?port={port}",
            encode(address)
        );
        let (method, body) = match sha256 {
            Some(s) => (
                reqwest::Method::PUT,
                Some(
                    serde_json::to_string(&outpost_api::pin::PinRequest { sha256: s.into() })
                        .unwrap_or_default(),
                ),
            ),
            None => (reqwest::Method::DELETE, None),
        };
        Ok(self.call(method, &path, body).await?.0)
    }

    /// The capture of task `task` of job `job`, as a streaming answer.
    pub async fn capture(&self, job: &str, task: &str) -> Result<reqwest::Response, ClientError> {
        let path = format!(
            "/api/v1/jobs/{}/tasks/{}/capture",
            encode(job),
            encode(task)
        );
        self.send(self.request(reqwest::Method::GET, &path), &path)
            .await
    }

    pub async fn workers(&self) -> Result<(Vec<WorkerView>, String), ClientError> {
        self.call(reqwest::Method::GET, "/api/v1/workers", None)
            .await
    }

    /// `POST /api/v1/notifications/test`: the receiver's answer.
    pub async fn notify_test(&self, channel: &str) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({ "channel": channel }).to_string();
        Ok(self
            .call(
                reqwest::Method::POST,
                "/api/v1/notifications/test",
                Some(body),
            )
            .await?
            .0)
    }

    /// `GET /api/v1/notifications`, newest first.
    pub async fn notifications(
        &self,
        limit: usize,
    ) -> Result<(Vec<serde_json::Value>, String), ClientError> {
        self.call(
            reqwest::Method::GET,
            &format!("/api/v1/notifications?limit={limit}"),
            None,
        )
        .await
    }

    pub async fn sites(&self) -> Result<(serde_json::Value, String), ClientError> {
        self.call(reqwest::Method::GET, "/api/v1/sites", None).await
    }
}

/// Percent-encodes anything but unreserved characters of a path segment.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A failed task as an archived job's summary names it.
fn failed_task(job_id: &str, f: outpost_api::job::FailedTask) -> outpost_api::TaskState {
    outpost_api::TaskState {
        id: f.id,
        job_id: job_id.to_string(),
        zone: String::new(),
        kind: String::new(),
        target: f.target,
        status: outpost_api::Status::Failed,
        attempts: 0,
        worker_id: None,
        started_at: None,
        finished_at: None,
        progress: None,
        error_kind: f.error_kind,
        error: f.error,
        output: None,
        params: serde_json::Value::Null,
        stream_seq: None,
        applied: (0, 0),
        cleanup: false,
        chunk: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_one_segment() {
        assert_eq!(encode("01ab-2_3"), "01ab-2_3");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn api_errors_name_the_field() {
        let e = ClientError::Api {
            status: 400,
            message: "must be between 1 and 100000".into(),
            field: Some("params.count".into()),
        };
        assert_eq!(
            e.to_string(),
            "400: must be between 1 and 100000 (field params.count)"
        );
    }

    #[test]
    fn non_http_api_is_a_usage_error() {
        assert!(matches!(
            Client::new("ftp://x", None),
            Err(ClientError::Usage(_))
        ));
    }
}
