//! Reading and writing job and task state in KV `outpost_jobs`, with
//! revision compare-and-set. Transient NATS failures are retried with
//! backoff; a revision conflict is reported to the caller, who reloads and
//! re-applies. No write leaves unless the leader [`Fence`] is open.

use super::view::{JobEntry, View};
use crate::leader::Fence;
use crate::model::{JobState, TaskState};
use async_nats::jetstream::kv;
use futures::StreamExt;
use outpost_proto::layout::{self, StateKey};
use std::collections::HashMap;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// Why a state write did not happen.
#[derive(Debug, Error)]
pub enum WriteError {
    #[error("{key} was changed by another writer")]
    Conflict { key: String },
    #[error("NATS did not accept the write of {key} before the deadline: {message}")]
    Unavailable { key: String, message: String },
    #[error("cannot encode {key}: {message}")]
    Encode { key: String, message: String },
    #[error("{key} not written: this coordinator no longer holds the leader lease")]
    Fenced { key: String },
}

/// Encodes a state value as stored in KV (JSON).
pub fn encode<T: serde::Serialize>(key: &str, value: &T) -> Result<bytes::Bytes, WriteError> {
    serde_json::to_vec(value)
        .map(Into::into)
        .map_err(|e| WriteError::Encode {
            key: key.to_string(),
            message: e.to_string(),
        })
}

/// One pending write: key, encoded value, expected revision (0: create).
pub struct Write {
    pub key: String,
    pub bytes: bytes::Bytes,
    pub rev: u64,
}

/// Writes `w.bytes` under `w.key` if its revision is still `w.rev` (0: the
/// key must not exist). Retries transient failures until `deadline` (none:
/// for ever). Returns the new revision. Every attempt asks `fence` first.
pub async fn write(
    store: kv::Store,
    fence: Fence,
    w: Write,
    deadline: Option<Instant>,
) -> Result<u64, WriteError> {
    let Write { key, bytes, rev } = w;
    let key = key.as_str();
    let mut delay = Duration::from_millis(50);
    loop {
        if fence.check().is_err() {
            return Err(WriteError::Fenced {
                key: key.to_string(),
            });
        }
        let attempt = async {
            if rev == 0 {
                store.create(key, bytes.clone()).await.map_err(|e| {
                    (
                        matches!(e.kind(), kv::CreateErrorKind::AlreadyExists),
                        e.to_string(),
                    )
                })
            } else {
                store.update(key, bytes.clone(), rev).await.map_err(|e| {
                    (
                        matches!(e.kind(), kv::UpdateErrorKind::WrongLastRevision),
                        e.to_string(),
                    )
                })
            }
        };
        let result = match deadline {
            Some(d) => tokio::time::timeout(d.saturating_duration_since(Instant::now()), attempt)
                .await
                .unwrap_or_else(|_| Err((false, "timed out".to_string()))),
            None => attempt.await,
        };
        match result {
            Ok(rev) => return Ok(rev),
            Err((true, _)) => {
                return Err(WriteError::Conflict {
                    key: key.to_string(),
                });
            }
            Err((false, message)) => {
                if deadline.is_some_and(|d| Instant::now() + delay > d) {
                    return Err(WriteError::Unavailable {
                        key: key.to_string(),
                        message,
                    });
                }
                tracing::warn!(key, error = %message, "state write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Runs `writes` with at most `window` in flight; results in input order.
pub async fn write_all(
    store: &kv::Store,
    fence: &Fence,
    writes: Vec<Write>,
    window: usize,
    deadline: Option<Instant>,
) -> Vec<Result<u64, WriteError>> {
    // Futures are made as the window takes them, not all up front.
    futures::stream::iter(
        writes
            .into_iter()
            .map(|w| write(store.clone(), fence.clone(), w, deadline)),
    )
    .buffered(window)
    .collect()
    .await
}

/// Reads the newest entry of `key`, retrying transient failures until
/// `deadline` (then, or when there is none: `None`).
async fn read_entry(store: &kv::Store, key: &str, deadline: Instant) -> Option<kv::Entry> {
    let mut delay = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(entry) = tokio::time::timeout(left, store.entry(key)).await else {
            tracing::warn!(key, "state read timed out");
            return None;
        };
        match entry {
            Ok(e) => return e,
            Err(e) => {
                if Instant::now() + delay > deadline {
                    tracing::warn!(key, error = %e, "state read failed");
                    return None;
                }
                tracing::warn!(key, error = %e, "state read failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Reads one entry's bytes and revision; a deleted entry reads as an
/// empty chunk (`[]`).
pub async fn read_raw(
    store: &kv::Store,
    key: &str,
    deadline: Instant,
) -> Option<(bytes::Bytes, u64)> {
    let e = read_entry(store, key, deadline).await?;
    Some(if e.operation == kv::Operation::Put {
        (e.value, e.revision)
    } else {
        (bytes::Bytes::from_static(b"[]"), e.revision)
    })
}

/// Reads one entry and its revision (none when deleted or unreadable).
pub async fn read<T: serde::de::DeserializeOwned>(
    store: &kv::Store,
    key: &str,
    deadline: Instant,
) -> Option<(T, u64)> {
    let e = read_entry(store, key, deadline)
        .await
        .filter(|e| e.operation == kv::Operation::Put)?;
    serde_json::from_slice(&e.value)
        .ok()
        .map(|v| (v, e.revision))
}

/// Loads every job and its task chunks from KV. Chunks whose job is
/// missing (a submission that failed half-way) are left out.
pub async fn load_all(store: &kv::Store) -> Result<View, String> {
    let mut view = View::default();
    // Asked now: `kv::Store::status` answers what was true when the
    // handle was made (a standby's handle is older than the state).
    let info = store.stream.get_info().await.map_err(|e| e.to_string())?;
    if info.state.messages == 0 {
        return Ok(view);
    }
    let mut watch = store
        .watch_with_history(">")
        .await
        .map_err(|e| e.to_string())?;
    let mut chunks: HashMap<String, Vec<(u32, u64, Vec<TaskState>)>> = HashMap::new();
    while let Some(entry) = watch.next().await {
        let entry = entry.map_err(|e| e.to_string())?;
        let last = entry.delta == 0;
        if entry.operation == kv::Operation::Put {
            match layout::parse_state_key(&entry.key) {
                Ok(StateKey::Job(_)) => match serde_json::from_slice::<JobState>(&entry.value) {
                    Ok(job) => {
                        let id = job.id.clone();
                        let mut e = JobEntry::new(job, Vec::new());
                        e.rev = entry.revision;
                        view.jobs.insert(id, e);
                    }
                    Err(e) => tracing::warn!(key = %entry.key, error = %e, "unreadable job state"),
                },
                Ok(StateKey::Chunk { job_id, n }) => match super::chunks::decode(&entry.value) {
                    Ok(t) => {
                        chunks
                            .entry(job_id.to_string())
                            .or_default()
                            .push((n, entry.revision, t))
                    }
                    Err(e) => {
                        tracing::warn!(key = %entry.key, error = %e, "unreadable task state")
                    }
                },
                Err(_) => tracing::warn!(key = %entry.key, "unknown key in the jobs bucket"),
            }
        }
        if last {
            break;
        }
    }
    for (job, loaded) in chunks {
        if let Some(e) = view.jobs.get_mut(&job) {
            super::chunks::assemble(e, loaded);
        }
    }
    view.jobs.retain(|id, e| {
        let whole = submitted_whole(e);
        if !whole {
            tracing::warn!(job = %id, chunks = e.job.task_chunks, "a job stored without all its task chunks (its submission was cut short, never answered) is left out");
        }
        whole
    });
    Ok(view)
}

/// Every chunk the job was submitted with was found (a job stored before
/// the count was recorded passes).
fn submitted_whole(e: &JobEntry) -> bool {
    let n = e.job.task_chunks as usize;
    e.chunks.len() >= n && e.chunks[..n].iter().all(|c| c.rev != 0)
}
