//! Sending one message to one channel, and what the receiver answered.
//! A webhook body is signed (generic webhooks) with HMAC-SHA256 over
//! `<timestamp>.<body>`: `X-Outpost-Timestamp` carries the Unix seconds,
//! `X-Outpost-Signature` is `v1=<hex>`, so a receiver can refuse a replay
//! (an old timestamp) and a forgery. Errors never carry the webhook URL
//! (it is a secret) or a password.

use super::config::{Channel, ChannelKind};
use super::message::Message;
use hmac::{KeyInit, Mac};
use thiserror::Error;

/// Longest receiver answer kept in a delivery record.
const MAX_ANSWER: usize = 512;

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Error)]
pub enum SendError {
    /// The receiver could not be reached or answered 5xx / 429: retried.
    #[error("{0}")]
    Transient(String),
    /// The receiver refused the message (4xx) or the channel is broken:
    /// not retried.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn retryable(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// What the receiver answered to a message it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    /// HTTP status, or the SMTP reply code.
    pub code: u16,
    /// The start of the answer's body or reply text.
    pub text: String,
}

/// The start of an answer's body: at most 4 KiB is read, however much a
/// receiver sends.
async fn bounded_text(mut resp: reqwest::Response) -> String {
    const MAX_BODY: usize = 4096;
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(MAX_BODY - body.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn short(s: &str) -> String {
    s.chars().take(MAX_ANSWER).collect()
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut m = <hmac::Hmac<sha2::Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    let tag = m.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Sends `msg` to `ch`; `delivery` identifies this (channel, job, event)
/// so a receiver can drop a repeat.
pub async fn send(ch: &Channel, msg: &Message, delivery: &str) -> Result<Answer, SendError> {
    match ch.cfg.kind {
        ChannelKind::Email => super::email::send(ch, msg).await,
        kind => {
            let body = match kind {
                ChannelKind::Teams => msg.teams_json(),
                ChannelKind::Slack => msg.slack_json(),
                _ => msg.webhook_json(delivery),
            };
            let body = serde_json::to_vec(&body)
                .map_err(|e| SendError::Permanent(format!("cannot encode the message: {e}")))?;
            post(ch, body, delivery).await
        }
    }
}

pub async fn post(ch: &Channel, body: Vec<u8>, delivery: &str) -> Result<Answer, SendError> {
    let url = ch
        .url
        .as_ref()
        .ok_or_else(|| SendError::Permanent("the channel has no URL".into()))?;
    let client = ch
        .http
        .as_ref()
        .ok_or_else(|| SendError::Permanent("the channel has no HTTP client".into()))?;
    let mut req = client
        .post(url.as_str())
        .header("content-type", "application/json")
        .header("user-agent", concat!("outpost/", env!("CARGO_PKG_VERSION")))
        .header("x-outpost-delivery", delivery);
    if let Some(key) = &ch.secret {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        req = req
            .header("x-outpost-timestamp", ts.to_string())
            .header("x-outpost-signature", signature(key.as_bytes(), ts, &body));
    }
    // reqwest's errors name the URL: report the kind of failure only.
    let resp = req.body(body).send().await.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        SendError::Transient(format!("{} webhook: {what}", ch.cfg.kind.as_str()))
    })?;
    let who = match ch.cfg.kind {
        ChannelKind::Teams => "the Teams webhook",
        ChannelKind::Slack => "the Slack webhook",
        _ => "the webhook",
    };
    let code = resp.status().as_u16();
    let text = short(&bounded_text(resp).await);
    match code {
        200..=299 => Ok(Answer { code, text }),
        408 | 425 | 429 | 500..=599 => Err(SendError::Transient(format!(
            "{who} answered {code}: {text}"
        ))),
        _ => Err(SendError::Permanent(format!(
            "{who} answered {code}: {text}"
        ))),
    }
}

/// Calls `send` up to `attempts` times while it fails transiently,
/// waiting `first` and then twice as long each time; the last result.
pub async fn with_retries<F, Fut>(
    stop: &tokio_util::sync::CancellationToken,
    attempts: u32,
    first: std::time::Duration,
    send: F,
) -> Result<Answer, SendError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Answer, SendError>>,
{
    let mut wait = first;
    let mut n = 1;
    loop {
        match send().await {
            Err(e) if e.retryable() && n < attempts => {
                tokio::select! {
                    _ = stop.cancelled() => return Err(e),
                    _ = tokio::time::sleep(wait) => {}
                }
                wait *= 2;
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature(b"k", 1700000000, b"{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, signature(b"k", 1700000001, b"{}"));
        assert_ne!(a, signature(b"k", 1700000000, b"{ }"));
        assert_ne!(a, signature(b"j", 1700000000, b"{}"));
    }
}
