//! Notifications when jobs start and end, when a rollout leaves a host in
//! maintenance mode and when a zone has no live worker: to Microsoft
//! Teams (Adaptive Card), Slack, generic webhooks (HMAC-signed) and email
//! (SMTP), as `[[notify]]` channels configure. Sent by the leading
//! coordinator from job state, never by workers, at most once per
//! (channel, job, event), with retries; every attempt is recorded.

pub mod config;
pub mod deliver;
pub mod email;
pub mod event;
pub mod message;
pub mod send;
pub mod tls;

pub use config::{Channel, NotifyConfig};
pub use event::EventKind;
