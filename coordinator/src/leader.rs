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
//!
//! The engine reaches the lease through a [`Fence`]: every state write
//! asks it first, so no write leaves a coordinator whose lease may have
//! lapsed; and every state write is a compare-and-set on the key's
//! revision, so a write of a deposed leader that lands late makes the new
//! leader's next write of that key fail and reload instead of overwrite.

use async_nats::jetstream::{self, kv};
use outpost_proto::layout;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The engine's view of the lease: whether this process may write state
/// now, and with which fencing token. Cheap to clone and to ask.
#[derive(Clone, Debug)]
pub struct Fence {
    inner: Arc<FenceInner>,
}

#[derive(Debug)]
struct FenceInner {
    base: Instant,
    /// Nanoseconds after `base` until which writes may go out.
    until: AtomicU64,
    token: AtomicU64,
}

/// A state write was refused: this process does not hold the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("this coordinator no longer holds the leader lease")]
pub struct Fenced;

impl Fence {
    /// A fence that lets nothing through until a lease opens it.
    pub fn closed() -> Fence {
        Fence {
            inner: Arc::new(FenceInner {
                base: Instant::now(),
                until: AtomicU64::new(0),
                token: AtomicU64::new(0),
            }),
        }
    }

    /// A fence that is always open: a process that is the only writer by
    /// construction (tools and tests that run an engine without a lease).
    pub fn open_for_ever() -> Fence {
        let f = Fence::closed();
        f.inner.until.store(u64::MAX, Ordering::Release);
        f
    }

    fn set(&self, until: Instant, token: u64) {
        let ns = until.saturating_duration_since(self.inner.base).as_nanos();
        self.inner.token.store(token, Ordering::Release);
        self.inner
            .until
            .store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Release);
    }

    fn close(&self) {
        self.inner.until.store(0, Ordering::Release);
    }

    /// The fencing token when a write may go out now; [`Fenced`] otherwise.
    pub fn check(&self) -> Result<u64, Fenced> {
        let now = Instant::now()
            .saturating_duration_since(self.inner.base)
            .as_nanos();
        let until = self.inner.until.load(Ordering::Acquire);
        if now < u128::from(until) {
            Ok(self.inner.token.load(Ordering::Acquire))
        } else {
            Err(Fenced)
        }
    }
}

/// A lease held by this coordinator.
pub struct Lease {
    store: kv::Store,
    value: bytes::Bytes,
    ttl: Duration,
    token: u64,
    rev: u64,
    valid_until: Instant,
    fence: Fence,
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
            Ok(rev) => {
                let valid_until = sent + ttl - margin(ttl);
                let fence = Fence::closed();
                fence.set(valid_until, rev);
                Ok(Lease {
                    store: store.clone(),
                    value,
                    ttl,
                    token: rev,
                    rev,
                    valid_until,
                    fence,
                })
            }
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

    /// The fence this lease keeps open while it is valid.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
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
                self.fence.set(self.valid_until, self.token);
                Ok(())
            }
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.valid_until = sent;
                self.fence.close();
                Err(LeaseError::Taken)
            }
            Ok(Err(e)) if self.is_valid() => Err(LeaseError::Unavailable(e.to_string())),
            _ => {
                self.fence.close();
                Err(LeaseError::Expired)
            }
        }
    }

    /// After the lease lapsed unrenewed (NATS was out of reach), takes it
    /// back if nobody else held it since: the holder then goes on as
    /// leader with what it has in memory. The bucket's revisions are its
    /// stream's sequence, so a new entry right after this holder's last
    /// one proves that no other coordinator wrote in between. `Taken` when
    /// another did (the caller must stop: its memory may be stale),
    /// `Unavailable` while NATS is still out of reach.
    pub async fn regain(&mut self) -> Result<(), LeaseError> {
        let unavailable = |e: &dyn std::fmt::Display| LeaseError::Unavailable(e.to_string());
        let entry = self
            .store
            .entry(layout::LEADER_KEY)
            .await
            .map_err(|e| unavailable(&e))?;
        let sent = Instant::now();
        let rev = match entry {
            // Still this holder's last entry (or a renewal that landed
            // after it gave up waiting): renew on top of it.
            Some(e)
                if e.operation == kv::Operation::Put
                    && e.value == self.value
                    && (e.revision == self.rev || e.revision == self.rev + 1) =>
            {
                self.store
                    .update(layout::LEADER_KEY, self.value.clone(), e.revision)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::UpdateErrorKind::WrongLastRevision => LeaseError::Taken,
                        _ => unavailable(&e),
                    })?
            }
            Some(e) if e.operation == kv::Operation::Put => return Err(LeaseError::Taken),
            _ => {
                let rev = self
                    .store
                    .create(layout::LEADER_KEY, self.value.clone())
                    .await
                    .map_err(|e| match e.kind() {
                        kv::CreateErrorKind::AlreadyExists => LeaseError::Taken,
                        _ => unavailable(&e),
                    })?;
                if rev != self.rev + 1 {
                    // Someone led in between: hand the entry straight on.
                    let _ = self
                        .store
                        .delete_expect_revision(layout::LEADER_KEY, Some(rev))
                        .await;
                    return Err(LeaseError::Taken);
                }
                rev
            }
        };
        self.rev = rev;
        self.valid_until = sent + self.ttl - margin(self.ttl);
        self.fence.set(self.valid_until, self.token);
        Ok(())
    }

    /// Gives the lease up at once (a clean shutdown): a standby need not
    /// wait for it to lapse.
    pub async fn release(self) {
        self.fence.close();
        let _ = self
            .store
            .delete_expect_revision(layout::LEADER_KEY, Some(self.rev))
            .await;
    }
}
