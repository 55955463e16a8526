//! The coordinators' leader lease: of the coordinators sharing a hub, the
//! one holding key `leader` of KV `outpost_leader` is active. The bucket's
//! entries live `ttl`; the holder rewrites the key (revision
//! compare-and-set) every `ttl / 3`, so a dead holder's entry vanishes
//! `ttl` after its last write and a standby's create then succeeds.
//!
//! The fencing token is the revision that created the entry: it only
//! grows, so a newer leader always holds a larger token than any before
//! it. A holder counts itself leader only until `ttl - margin` after it
//! *sent* its last successful write: the entry it wrote cannot expire
//! before that, so a holder cut off from NATS stops acting before anyone
//! else can start (clocks need only run at the same rate).

use async_nats::jetstream::{self, kv};
use outpost_proto::layout;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// How long a holder's entry outlives its last write.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);

/// What the lease says about its holder (the key's value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    /// The coordinator's id.
    pub id: String,
    /// Where its HTTP API answers, for standbys to forward to.
    pub api: String,
}

/// Why the lease could not be taken, kept or read.
#[derive(Debug, Error)]
pub enum LeaseError {
    /// Another coordinator holds it (or took it over).
    #[error("the leader lease is held by another coordinator")]
    Taken,
    /// NATS did not answer; the caller retries.
    #[error("the leader lease bucket is unavailable: {0}")]
    Unavailable(String),
    /// The holder could not write in time: it must stop acting as leader.
    #[error("the leader lease expired before it could be renewed")]
    Expired,
    /// The key holds something that is not a holder (written by hand).
    #[error("the leader lease names no holder: {0}")]
    Malformed(String),
}

/// Opens (or creates) the lease bucket with `replicas` copies.
pub async fn open(
    js: &jetstream::Context,
    ttl: Duration,
    replicas: usize,
) -> Result<kv::Store, LeaseError> {
    if let Ok(store) = js.get_key_value(layout::LEADER_BUCKET).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: layout::LEADER_BUCKET.to_string(),
        history: 1,
        max_age: ttl,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| LeaseError::Unavailable(e.to_string()))
}

/// Who holds the lease now, if anyone.
pub async fn current(store: &kv::Store) -> Result<Option<Holder>, LeaseError> {
    let value = store
        .get(layout::LEADER_KEY)
        .await
        .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
    value
        .map(|v| serde_json::from_slice(&v).map_err(|e| LeaseError::Malformed(e.to_string())))
        .transpose()
}

/// A lease held by this coordinator.
pub struct Lease {
    store: kv::Store,
    value: bytes::Bytes,
    ttl: Duration,
    token: u64,
    rev: u64,
    valid_until: Instant,
}

/// The part of `ttl` a holder gives up to absorb the server's clock
/// granularity and its own scheduling.
fn margin(ttl: Duration) -> Duration {
    ttl / 6
}

impl Lease {
    /// Takes the lease if nobody holds it.
    pub async fn try_acquire(
        store: &kv::Store,
        holder: &Holder,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let value: bytes::Bytes = serde_json::to_vec(holder)
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?
            .into();
        let sent = Instant::now();
        match store.create(layout::LEADER_KEY, value.clone()).await {
            Ok(rev) => Ok(Lease {
                store: store.clone(),
                value,
                ttl,
                token: rev,
                rev,
                valid_until: sent + ttl - margin(ttl),
            }),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Err(LeaseError::Taken),
            Err(e) => Err(LeaseError::Unavailable(e.to_string())),
        }
    }

    /// Waits until the lease is free and takes it, asking every `ttl / 6`
    /// (a lapsed entry leaves no event to watch for: JetStream drops it
    /// silently at its age limit); `None` when `stop` fires first.
    pub async fn acquire(
        store: &kv::Store,
        holder: &Holder,
        ttl: Duration,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<Lease> {
        loop {
            match Lease::try_acquire(store, holder, ttl).await {
                Ok(lease) => return Some(lease),
                Err(LeaseError::Taken) => {}
                Err(e) => tracing::warn!(error = %e, "leader lease not readable; asking again"),
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(ttl / 6) => {}
            }
        }
    }

    /// The fencing token: larger for every later leader.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The holder may act as leader now.
    pub fn is_valid(&self) -> bool {
        Instant::now() < self.valid_until
    }

    /// How often to renew.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Rewrites the entry. `Taken` when another coordinator holds it now,
    /// `Expired` when it could not be written before it lapsed: either
    /// way the holder is leader no more.
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        if !self.is_valid() {
            return Err(LeaseError::Expired);
        }
        let sent = Instant::now();
        let left = self.valid_until.saturating_duration_since(sent);
        let write = self
            .store
            .update(layout::LEADER_KEY, self.value.clone(), self.rev);
        match tokio::time::timeout(left, write).await {
            Ok(Ok(rev)) => {
                self.rev = rev;
                self.valid_until = sent + self.ttl - margin(self.ttl);
                Ok(())
            }
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.valid_until = sent;
                Err(LeaseError::Taken)
            }
            Ok(Err(e)) if self.is_valid() => Err(LeaseError::Unavailable(e.to_string())),
            _ => Err(LeaseError::Expired),
        }
    }

    /// Gives the lease up at once (a clean shutdown): a standby need not
    /// wait for it to lapse.
    pub async fn release(self) {
        let _ = self
            .store
            .delete_expect_revision(layout::LEADER_KEY, Some(self.rev))
            .await;
    }
}
