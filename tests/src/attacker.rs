//! A NATS client for tests that play an attacker holding one zone's
//! identity (its creds file and the CA) and nothing else. It records every
//! error the server reports on its connection, so a test tells a refused
//! publish or subscription (the server's "Permissions Violation" for that
//! subject) from a slow one; requests wait [`ASK`] at most, since a denied
//! request gets no reply at all. A refusal seen here is half the proof: the
//! tests also check, with the coordinator's identity, that nothing changed.

use crate::nats::NatsServer;
use anyhow::{Context, Result, bail};
use async_nats::{Client, HeaderMap, Subscriber};
use bytes::Bytes;
use outpost_nats::connect::ClientSecurity;
use outpost_proto::layout;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a request may go unanswered before it counts as refused.
pub const ASK: Duration = Duration::from_secs(2);
/// How long the server may take to report a refusal it must report.
const REPORTED: Duration = Duration::from_secs(20);

/// What the server refuses: a publish (requests included) or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Publish,
    Subscribe,
}

impl Op {
    /// The words of nats-server's `-ERR 'Permissions Violation for … to "<subject>"'`.
    fn words(self) -> &'static str {
        match self {
            Op::Publish => "publish",
            Op::Subscribe => "subscription",
        }
    }
}

/// A connection holding one zone's identity, with the server's errors.
pub struct Attacker {
    pub client: Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Attacker {
    /// Connects as `zone`'s workers do: its creds, the CA, `tls://`, its inbox.
    pub async fn connect(nats: &NatsServer, zone: &str) -> Result<Attacker> {
        let security = ClientSecurity {
            creds: Some(nats.zone_creds(zone)),
            ca: Some(nats.ca()),
            insecure: false,
        };
        let inbox = layout::inbox_prefix(zone)?;
        Self::connect_with(&nats.url(), &security, Some(&inbox)).await
    }

    /// Connects to `url` as `security` says, recording the server's errors.
    pub async fn connect_with(
        url: &str,
        security: &ClientSecurity,
        inbox: Option<&str>,
    ) -> Result<Attacker> {
        let mut prepared = outpost_nats::connect::prepare(url, security, inbox)?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        prepared.options = prepared.options.event_callback(move |event| {
            let sink = sink.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event
                    && let Ok(mut v) = sink.lock()
                {
                    v.push(e.to_string());
                }
            }
        });
        let client = prepared.connect().await?;
        Ok(Attacker { client, errors })
    }

    /// Every error the server reported so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits until the server has reported refusing `op` on `subject`.
    pub async fn refused(&self, op: Op, subject: &str) -> Result<()> {
        let wanted = format!(
            "permissions violation for {} to \"{}\"",
            op.words(),
            subject.to_lowercase()
        );
        crate::wait_until(
            &format!("the server refusing {op:?} on {subject}"),
            REPORTED,
            async || {
                let errors = self.errors();
                if errors.iter().any(|e| e.to_lowercase().contains(&wanted)) {
                    Ok(())
                } else {
                    Err(format!("errors reported: {errors:?}"))
                }
            },
        )
        .await
    }

    /// Publishes on `subject` (core NATS) and waits for the server's refusal.
    pub async fn publish_refused(&self, subject: &str, payload: impl Into<Bytes>) -> Result<()> {
        self.client
            .publish(subject.to_string(), payload.into())
            .await?;
        self.client.flush().await?;
        self.refused(Op::Publish, subject).await
    }

    /// As [`Attacker::publish_refused`], with headers (a KV delete or purge marker).
    pub async fn publish_with_headers_refused(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<()> {
        self.client
            .publish_with_headers(subject.to_string(), headers, payload.into())
            .await?;
        self.client.flush().await?;
        self.refused(Op::Publish, subject).await
    }

    /// Sends a request on `subject`: it must get no answer within [`ASK`],
    /// and the server must report refusing it.
    pub async fn request_refused(&self, subject: &str, payload: impl Into<Bytes>) -> Result<()> {
        let ask = self.client.request(subject.to_string(), payload.into());
        if let Ok(Ok(m)) = tokio::time::timeout(ASK, ask).await {
            bail!(
                "{subject} was answered: status {:?}, {} bytes: {}",
                m.status,
                m.payload.len(),
                String::from_utf8_lossy(&m.payload)
            );
        }
        self.refused(Op::Publish, subject).await
    }

    /// Subscribes to `subject` and waits for the server's refusal; returns
    /// the subscription, on which nothing may ever arrive.
    pub async fn subscribe_refused(&self, subject: &str) -> Result<Subscriber> {
        let sub = self.client.subscribe(subject.to_string()).await?;
        self.client.flush().await?;
        self.refused(Op::Subscribe, subject).await?;
        Ok(sub)
    }

    /// Sends a request that this identity may send: it must be answered
    /// within [`ASK`] (the control that makes a missing answer mean something).
    pub async fn answered(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<async_nats::Message> {
        tokio::time::timeout(
            ASK,
            self.client.request(subject.to_string(), payload.into()),
        )
        .await
        .with_context(|| format!("{subject} unanswered within {ASK:?}"))?
        .with_context(|| format!("request on {subject}"))
    }
}

/// A message that arrived on `sub` so far, if any (never waits).
pub fn arrived(sub: &mut Subscriber) -> Option<async_nats::Message> {
    use futures::FutureExt;
    use futures::StreamExt;
    sub.next().now_or_never().flatten()
}

/// A reason the server gives a client it refuses at connect time.
pub fn is_auth_refusal(e: &async_nats::ConnectError) -> bool {
    matches!(
        e.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation
            | async_nats::ConnectErrorKind::Authentication
    )
}

/// Connects once (no retry) with `security`; the error when refused.
pub async fn connect_once(
    url: &str,
    security: &ClientSecurity,
    inbox: Option<&str>,
) -> Result<std::result::Result<Client, async_nats::ConnectError>> {
    let prepared = outpost_nats::connect::prepare(url, security, inbox)?;
    let attempt = prepared
        .options
        .connection_timeout(Duration::from_secs(10))
        .connect(prepared.servers);
    tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .context("connect attempt hung for 30 s")
}

/// A worker event batch holding one forged result, as a forger writes it:
/// `outcome` of a `kind` task with `output`, signed `mallory`.
pub fn forged_result(
    zone: &str,
    job: &str,
    task: &str,
    attempt: u32,
    outcome: outpost_proto::pb::Outcome,
    kind: &str,
    output: &serde_json::Value,
) -> Vec<u8> {
    use outpost_proto::pb;
    outpost_proto::events::encode_one(pb::Event {
        job_id: job.into(),
        task_id: task.into(),
        zone: zone.into(),
        worker_id: "mallory".into(),
        attempt,
        seq: 1,
        at_ms: outpost_proto::now_ms(),
        body: Some(pb::event::Body::Result(pb::Result {
            outcome: outcome as i32,
            error_kind: String::new(),
            error: if outcome == pb::Outcome::Succeeded {
                String::new()
            } else {
                "forged".into()
            },
            output_json: output.to_string().into_bytes(),
            kind: kind.into(),
            started_at_ms: 0,
        })),
        ..Default::default()
    })
}
