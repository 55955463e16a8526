//! Outpost's wire contract: the protobuf messages exchanged over NATS
//! ([`pb`]), the NATS layout and the permissions derived from it
//! ([`layout`]), the token grammar ([`subject`]) and the header names
//! ([`headers`]). Everything that names a NATS subject, stream, bucket,
//! key or consumer goes through [`layout`], so the layout lives in one place.

pub mod events;
pub mod headers;
pub mod layout;
pub mod nats_url;
pub mod subject;

/// Generated protobuf types (`outpost.v1`).
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/outpost.v1.rs"));
}

pub use prost::Message;

/// Milliseconds since the Unix epoch, the time unit used in every message.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
