//! Reading firmware images from the `outpost_firmware` object store with
//! nothing but direct gets: the object's description by its subject
//! (`$O.outpost_firmware.M.<base64url name>`), then its chunks one after
//! the other (`$O.outpost_firmware.C.<nuid>`). A zone identity may not
//! create consumers (one could deliver anywhere), which the object store
//! client would need; it may read the store's messages, which is all this
//! needs. The image's size, chunk count and SHA-256 digest are checked
//! against its description before a byte of it reaches a device.

use async_nats::jetstream::{self, stream::DirectGetErrorKind};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why an image could not be read.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("firmware image {name:?} is not in {store}")]
    NotFound { name: String, store: String },
    #[error("firmware image {name:?} is larger than {max} bytes")]
    TooLarge { name: String, max: usize },
    #[error("firmware image {name:?} in {store} is damaged: {why}")]
    Damaged {
        name: String,
        store: String,
        why: String,
    },
    #[error("reading firmware image {name:?} from {store}: {message}")]
    Unavailable {
        name: String,
        store: String,
        message: String,
    },
}

/// An object's description as the store keeps it (`$O.<store>.M.<name>`).
#[derive(Deserialize)]
pub struct Info {
    #[serde(default)]
    pub nuid: String,
    #[serde(default)]
    pub size: usize,
    #[serde(default)]
    pub chunks: usize,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

/// Why a description does not lead to an image.
#[derive(Debug)]
pub enum Described {
    Deleted,
    TooLarge,
    Damaged(String),
}

/// Reads an object's description and checks it can be fetched: not
/// deleted, at most `max` bytes, a chunk id that is one subject token.
pub fn describe(payload: &[u8], max: usize) -> Result<Info, Described> {
    let info: Info = serde_json::from_slice(payload)
        .map_err(|e| Described::Damaged(format!("unreadable description: {e}")))?;
    if info.deleted {
        return Err(Described::Deleted);
    }
    if info.size > max {
        return Err(Described::TooLarge);
    }
    if info.nuid.is_empty() || !info.nuid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Described::Damaged(format!("chunk id {:?}", info.nuid)));
    }
    Ok(info)
}

/// An object store read by direct gets.
#[derive(Clone)]
pub struct Images {
    store: String,
    stream: jetstream::stream::Stream<()>,
}

impl Images {
    /// A handle on object store `store`; nothing is asked of the server.
    pub async fn open(js: &jetstream::Context, store: &str) -> Result<Images, ImageError> {
        let stream = js
            .get_stream_no_info(outpost_proto::layout::object_stream(store))
            .await
            .map_err(|e| ImageError::Unavailable {
                name: String::new(),
                store: store.to_string(),
                message: e.to_string(),
            })?;
        Ok(Images {
            store: store.to_string(),
            stream,
        })
    }

    /// The whole image `name`, at most `max` bytes.
    pub async fn read(&self, name: &str, max: usize) -> Result<Vec<u8>, ImageError> {
        let unavailable = |e: &dyn std::fmt::Display| ImageError::Unavailable {
            name: name.to_string(),
            store: self.store.clone(),
            message: e.to_string(),
        };
        let damaged = |why: String| ImageError::Damaged {
            name: name.to_string(),
            store: self.store.clone(),
            why,
        };
        let meta = format!("$O.{}.M.{}", self.store, URL_SAFE.encode(name));
        let info = match self.stream.direct_get_last_for_subject(meta).await {
            Ok(m) => m,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => {
                return Err(ImageError::NotFound {
                    name: name.to_string(),
                    store: self.store.clone(),
                });
            }
            Err(e) => return Err(unavailable(&e)),
        };
        let info = match describe(&info.payload, max) {
            Ok(i) => i,
            Err(Described::Deleted) => {
                return Err(ImageError::NotFound {
                    name: name.to_string(),
                    store: self.store.clone(),
                });
            }
            Err(Described::TooLarge) => {
                return Err(ImageError::TooLarge {
                    name: name.to_string(),
                    max,
                });
            }
            Err(Described::Damaged(why)) => return Err(damaged(why)),
        };
        let chunks = format!("$O.{}.C.{}", self.store, info.nuid);
        let mut out = Vec::with_capacity(info.size.min(64 << 20));
        let mut seq = 0u64;
        for n in 0..info.chunks {
            let m = match self
                .stream
                .direct_get_next_for_subject(chunks.as_str(), Some(seq + 1))
                .await
            {
                Ok(m) => m,
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => {
                    return Err(damaged(format!(
                        "chunk {} of {} is missing",
                        n + 1,
                        info.chunks
                    )));
                }
                Err(e) => return Err(unavailable(&e)),
            };
            seq = m.sequence;
            if out.len() + m.payload.len() > info.size {
                return Err(damaged(format!(
                    "its chunks hold more than the {} bytes it declares",
                    info.size
                )));
            }
            out.extend_from_slice(&m.payload);
        }
        if out.len() != info.size {
            return Err(damaged(format!(
                "{} bytes read, {} declared",
                out.len(),
                info.size
            )));
        }
        if let Some(digest) = info
            .digest
            .as_deref()
            .and_then(|d| d.strip_prefix("SHA-256="))
        {
            let got = URL_SAFE.encode(Sha256::digest(&out));
            if got.trim_end_matches('=') != digest.trim_end_matches('=') {
                return Err(damaged("its SHA-256 digest does not match".to_string()));
            }
        }
        Ok(out)
    }
}
