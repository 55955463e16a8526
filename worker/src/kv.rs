//! The worker's key-value access, within what its zone's NATS identity may
//! do: a read is a JetStream direct get whose subject names the key
//! (`$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`), a write is a
//! publish on `$KV.<bucket>.<key>` with the revision it expects. Neither
//! needs the bucket's stream info, which a zone identity is not allowed to
//! read (its subject listing would name other zones' keys), so the
//! permission on `…<zone>.>` is all a worker needs.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, stream::DirectGetErrorKind};
use bytes::Bytes;
use outpost_proto::layout;
use thiserror::Error;

const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
const KV_OPERATION: &str = "KV-Operation";

/// Why a key-value operation did not happen.
#[derive(Debug, Error)]
pub enum KvError {
    #[error("{key} already exists")]
    AlreadyExists { key: String },
    #[error("{key} was changed by someone else")]
    WrongRevision { key: String },
    #[error("{key} is not a usable key")]
    InvalidKey { key: String },
    #[error("key-value bucket {bucket} unavailable for {key}: {message}")]
    Unavailable {
        bucket: String,
        key: String,
        message: String,
    },
}

/// What the newest entry of a key records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Put,
    Delete,
    Purge,
}

/// The newest entry of a key.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Bytes,
    pub revision: u64,
    pub operation: Operation,
}

/// One KV bucket, read and written key by key.
#[derive(Clone)]
pub struct Bucket {
    name: String,
    js: jetstream::Context,
    stream: jetstream::stream::Stream<()>,
}

/// Keys as NATS KV allows them: `[-/_=.a-zA-Z0-9]`, no leading or
/// trailing `.`.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-/_=.".contains(c))
}

impl Bucket {
    /// A handle on `bucket`; nothing is asked of the server.
    pub async fn open(js: &jetstream::Context, bucket: &str) -> Result<Bucket, KvError> {
        let stream = js
            .get_stream_no_info(layout::kv_stream(bucket))
            .await
            .map_err(|e| KvError::Unavailable {
                bucket: bucket.to_string(),
                key: String::new(),
                message: e.to_string(),
            })?;
        Ok(Bucket {
            name: bucket.to_string(),
            js: js.clone(),
            stream,
        })
    }

    fn subject(&self, key: &str) -> Result<String, KvError> {
        if !valid_key(key) {
            return Err(KvError::InvalidKey {
                key: key.to_string(),
            });
        }
        Ok(format!("$KV.{}.{key}", self.name))
    }

    fn unavailable(&self, key: &str, e: impl std::fmt::Display) -> KvError {
        KvError::Unavailable {
            bucket: self.name.clone(),
            key: key.to_string(),
            message: e.to_string(),
        }
    }

    /// The newest entry of `key`, whatever its operation.
    pub async fn entry(&self, key: &str) -> Result<Option<Entry>, KvError> {
        let subject = self.subject(key)?;
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(m) => {
                let operation = match m.headers.get(KV_OPERATION).map(|v| v.as_str()) {
                    Some("DEL") => Operation::Delete,
                    Some("PURGE") => Operation::Purge,
                    _ => Operation::Put,
                };
                Ok(Some(Entry {
                    value: m.payload,
                    revision: m.sequence,
                    operation,
                }))
            }
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.unavailable(key, e)),
        }
    }

    /// The value of `key`, if it has one.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, KvError> {
        Ok(self
            .entry(key)
            .await?
            .filter(|e| e.operation == Operation::Put)
            .map(|e| e.value))
    }

    async fn publish(
        &self,
        key: &str,
        value: Bytes,
        headers: HeaderMap,
    ) -> Result<u64, PublishErrorKind> {
        let subject = self.subject(key).map_err(|_| PublishErrorKind::Other)?;
        let ack = self
            .js
            .publish_with_headers(subject, headers, value)
            .await
            .map_err(|e| e.kind())?;
        ack.await.map(|a| a.sequence).map_err(|e| e.kind())
    }

    fn expect(rev: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(EXPECTED_LAST_SUBJECT_SEQUENCE, rev.to_string().as_str());
        h
    }

    fn mapped(&self, key: &str, e: PublishErrorKind, conflict: KvError) -> KvError {
        match e {
            PublishErrorKind::WrongLastSequence => conflict,
            other => self.unavailable(key, other),
        }
    }

    /// Writes `value` whatever `key` held; returns the new revision.
    pub async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        self.subject(key)?;
        self.publish(key, value, HeaderMap::new())
            .await
            .map_err(|e| self.unavailable(key, e))
    }

    /// Writes `value` only if `key` has no live value (never written,
    /// deleted or purged); returns the new revision.
    pub async fn create(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        self.subject(key)?;
        let exists = || KvError::AlreadyExists {
            key: key.to_string(),
        };
        match self.publish(key, value.clone(), Self::expect(0)).await {
            Ok(rev) => Ok(rev),
            Err(PublishErrorKind::WrongLastSequence) => match self.entry(key).await? {
                Some(e) if e.operation != Operation::Put => self
                    .update(key, value, e.revision)
                    .await
                    .map_err(|e| match e {
                        KvError::WrongRevision { .. } => exists(),
                        other => other,
                    }),
                _ => Err(exists()),
            },
            Err(e) => Err(self.unavailable(key, e)),
        }
    }

    /// Writes `value` only if `key` is still at revision `rev`.
    pub async fn update(&self, key: &str, value: Bytes, rev: u64) -> Result<u64, KvError> {
        self.subject(key)?;
        self.publish(key, value, Self::expect(rev))
            .await
            .map_err(|e| {
                self.mapped(
                    key,
                    e,
                    KvError::WrongRevision {
                        key: key.to_string(),
                    },
                )
            })
    }

    /// Deletes `key`; with `rev`, only if it is still at that revision.
    pub async fn delete(&self, key: &str, rev: Option<u64>) -> Result<(), KvError> {
        self.subject(key)?;
        let mut headers = rev.map(Self::expect).unwrap_or_default();
        headers.insert(KV_OPERATION, "DEL");
        self.publish(key, Bytes::new(), headers)
            .await
            .map(|_| ())
            .map_err(|e| {
                self.mapped(
                    key,
                    e,
                    KvError::WrongRevision {
                        key: key.to_string(),
                    },
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_before_they_reach_a_subject() {
        for ok in ["z.t-1", "z.redfish.10.0.0.1_443", "a/b=c"] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", ".z", "z.", "z.>", "z.*", "z t", "z\r\n"] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }
}
