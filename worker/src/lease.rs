//! Task leases in KV `outpost_leases` (`<zone>.<task_id>`, bucket TTL): the
//! worker running a task holds the lease and renews it, so a redelivered
//! message for the same task cannot start a second run while the first lives.

use crate::kv::{Bucket, KvError};
use bytes::Bytes;
use outpost_proto::layout;
use thiserror::Error;

/// Why a lease could not be taken or kept.
#[derive(Debug, Error)]
pub enum LeaseError {
    #[error("task is leased by {holder}")]
    Held { holder: String },
    #[error("lease was lost (expired or taken over)")]
    Lost,
    #[error("invalid lease key: {0}")]
    Key(#[from] layout::SubjectError),
    #[error("lease store unavailable: {0}")]
    Unavailable(String),
}

/// A held lease.
#[derive(Debug)]
pub struct Lease {
    key: String,
    holder: Bytes,
    rev: u64,
}

impl Lease {
    /// Takes the lease of `task_id` for `holder` (`<worker>/<attempt>`).
    pub async fn acquire(
        store: &Bucket,
        zone: &str,
        task_id: &str,
        holder: &str,
    ) -> Result<Lease, LeaseError> {
        let key = layout::lease_key(zone, task_id)?;
        let value = Bytes::from(holder.to_string());
        match store.create(&key, value.clone()).await {
            Ok(rev) => Ok(Lease {
                key,
                holder: value,
                rev,
            }),
            Err(KvError::AlreadyExists { .. }) => {
                let holder = match store.get(&key).await {
                    Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
                    Ok(None) => "a worker that just released it".to_string(),
                    Err(e) => return Err(LeaseError::Unavailable(e.to_string())),
                };
                Err(LeaseError::Held { holder })
            }
            Err(e) => Err(LeaseError::Unavailable(e.to_string())),
        }
    }

    /// Extends the lease; fails with `Lost` when someone else holds it now.
    pub async fn renew(&mut self, store: &Bucket) -> Result<(), LeaseError> {
        match store.update(&self.key, self.holder.clone(), self.rev).await {
            Ok(rev) => {
                self.rev = rev;
                Ok(())
            }
            Err(KvError::WrongRevision { .. }) => Err(LeaseError::Lost),
            Err(e) => Err(LeaseError::Unavailable(e.to_string())),
        }
    }

    /// Gives the lease up, unless someone else took it over meanwhile.
    pub async fn release(self, store: &Bucket) {
        if let Err(e) = store.delete(&self.key, Some(self.rev)).await {
            tracing::debug!(key = %self.key, error = %e, "lease release failed; it will expire");
        }
    }
}
