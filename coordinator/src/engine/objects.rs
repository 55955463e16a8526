//! Reading what workers put in their zone's `outpost_captures_<zone>`
//! object store: SSH captures and outputs too large for a result message.
//! The stores are opened on first use; a read is retried with backoff,
//! since at a site the object reaches the hub's store by sourcing, a
//! moment after the result that names it; and it is bounded in bytes.

use async_nats::jetstream::{self, object_store::ObjectStore};
use outpost_proto::layout;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Attempts to read an object before giving up.
const FETCH_ATTEMPTS: u32 = 5;

/// The zones' captures stores.
#[derive(Clone)]
pub struct ZoneObjects {
    js: jetstream::Context,
    stores: Arc<tokio::sync::Mutex<HashMap<String, ObjectStore>>>,
}

impl ZoneObjects {
    pub fn new(js: jetstream::Context) -> ZoneObjects {
        ZoneObjects {
            js,
            stores: Default::default(),
        }
    }

    /// Zone `zone`'s captures store.
    async fn store(&self, zone: &str) -> Result<ObjectStore, String> {
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(zone) {
            return Ok(s.clone());
        }
        let name = layout::captures_store(zone).map_err(|e| e.to_string())?;
        let store = self
            .js
            .get_object_store(&name)
            .await
            .map_err(|e| format!("captures store {name}: {e}"))?;
        stores.insert(zone.to_string(), store.clone());
        Ok(store)
    }

    /// Object `object` of zone `zone`'s store, at most `max` bytes.
    pub async fn fetch(&self, zone: &str, object: &str, max: u64) -> Result<Vec<u8>, String> {
        let mut delay = Duration::from_millis(100);
        let mut last = String::new();
        for _ in 0..FETCH_ATTEMPTS {
            let got = match self.store(zone).await {
                Ok(store) => store.get(object).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match got {
                Ok(obj) => {
                    let mut body = Vec::new();
                    match obj.take(max + 1).read_to_end(&mut body).await {
                        Ok(_) if body.len() as u64 > max => {
                            return Err(format!(
                                "object {object} of zone {zone} is larger than {max} bytes"
                            ));
                        }
                        Ok(_) => return Ok(body),
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(format!("cannot read {object} of zone {zone}: {last}"))
    }
}
