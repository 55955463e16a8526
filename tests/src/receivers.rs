//! HTTP receivers standing in for Microsoft Teams, Slack and a generic
//! webhook, on loopback: each records what it was sent (headers and body)
//! and answers as told (500 for its first `fail_first` requests, then 200
//! with a body like the real service's: Teams and Slack answer `1`/`ok`).

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
    /// What this receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    got: Vec<Received>,
    fail_first: usize,
    answer: &'static str,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

async fn take(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut i = inner.lock().unwrap_or_else(|p| p.into_inner());
    let status = if i.got.len() < i.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    i.got.push(Received {
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        raw: body.to_vec(),
        status: status.as_u16(),
    });
    let text = if status == StatusCode::OK {
        i.answer
    } else {
        "try later"
    };
    (status, text.to_string())
}

impl Receiver {
    /// A receiver on 127.0.0.1 failing its first `fail_first` requests
    /// with 500 and answering `answer` after.
    pub async fn start(fail_first: usize, answer: &'static str) -> Result<Receiver> {
        let inner = Arc::new(Mutex::new(Inner {
            got: Vec::new(),
            fail_first,
            answer,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, inner })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .got
            .clone()
    }
}

/// Checks a generic webhook's signature as a receiver would: HMAC-SHA256
/// with `key` over `<X-Outpost-Timestamp>.<body>`, `v1=<hex>`, and a
/// timestamp within five minutes of now. The error says what is wrong.
pub fn verify_signature(key: &[u8], r: &Received) -> Result<(), String> {
    use hmac::{KeyInit, Mac};
    let h = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("no {n} header"))
    };
    let ts: u64 = h("x-outpost-timestamp")?
        .parse()
        .map_err(|_| "timestamp is not a number".to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    if now.abs_diff(ts) > 300 {
        return Err(format!("timestamp {ts} is {}s from now", now.abs_diff(ts)));
    }
    let sig = h("x-outpost-signature")?;
    let hex = sig.strip_prefix("v1=").ok_or("signature is not v1=")?;
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| "signature is not hex".to_string())?;
    let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.raw);
    mac.verify_slice(&tag)
        .map_err(|_| "signature does not match".to_string())
}
