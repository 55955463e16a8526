//! One operation at a time per iDRAC, and at most N per zone: iDRACs are
//! fragile and a zone's management network is often thin. Both limits hold
//! across every worker of the zone through keys in KV `outpost_leases`
//! (`<zone>.device.<address>`, `<zone>.slot.<n>`), created only when
//! free, renewed while the operation runs and deleted at its end; a crashed
//! worker's keys expire with the bucket's TTL. Detached contexts use a
//! process-local table instead.

use crate::kv::{Bucket, KvError};
use bytes::Bytes;
use outpost_kinds::ErrorClass;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::ops::{OpCtx, OpError};

/// Where the locks live.
pub enum Locks {
    Kv { store: Box<Bucket>, ttl: Duration },
    Memory(Arc<Mutex<HashSet<String>>>),
}

impl Locks {
    pub fn memory() -> Self {
        Locks::Memory(Arc::new(Mutex::new(HashSet::new())))
    }
}

/// Held keys; released on drop.
pub struct Guard {
    /// Held keys and their current revisions (the renewer moves them on).
    keys: Arc<Mutex<Vec<(String, u64)>>>,
    store: Option<Bucket>,
    memory: Option<Arc<Mutex<HashSet<String>>>>,
    renewer: CancellationToken,
}

/// Whether one key could be taken right now.
async fn try_take(locks: &Locks, key: &str, holder: &str) -> Result<Option<u64>, OpError> {
    match locks {
        Locks::Memory(m) => {
            let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
            Ok(m.insert(key.to_string()).then_some(0))
        }
        Locks::Kv { store, .. } => match store.create(key, Bytes::from(holder.to_string())).await {
            Ok(rev) => Ok(Some(rev)),
            Err(KvError::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(OpError::retryable(
                ErrorClass::Lock,
                format!("device lock store unavailable: {e}"),
            )),
        },
    }
}

async fn give_back(locks: &Locks, key: &str, rev: u64) {
    match locks {
        Locks::Memory(m) => {
            m.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        }
        Locks::Kv { store, .. } => {
            let _ = store.delete(key, Some(rev)).await;
        }
    }
}

/// Waits until this task holds the device `address` and one of the
/// zone's `zone_limit` slots (0 = no zone limit); reports the wait.
pub async fn acquire(
    ctx: &OpCtx,
    zone: &str,
    address: &str,
    zone_limit: u32,
) -> Result<Guard, OpError> {
    let locks = &ctx.env.locks;
    let holder = format!("{}/{}", ctx.task_id, ctx.attempt);
    let key_err = |e: outpost_proto::layout::SubjectError| {
        OpError::permanent(ErrorClass::Params, format!("device lock key: {e}"))
    };
    let device_key = outpost_proto::layout::device_lock_key(zone, address).map_err(key_err)?;
    let mut delay = Duration::from_millis(50);
    let mut reported = false;
    let device_rev = loop {
        if let Some(rev) = try_take(locks, &device_key, &holder).await? {
            break rev;
        }
        if !reported {
            ctx.progress(
                0,
                format!("waiting: another operation is running on {address}"),
            );
            reported = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    };
    let mut keys = vec![(device_key, device_rev)];
    if zone_limit > 0 {
        let mut delay = Duration::from_millis(50);
        let mut reported = false;
        'slot: loop {
            for i in 0..zone_limit {
                let key =
                    outpost_proto::layout::zone_slot_key(zone, i as usize).map_err(key_err)?;
                match try_take(locks, &key, &holder).await {
                    Ok(Some(rev)) => {
                        keys.push((key, rev));
                        break 'slot;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        for (k, r) in &keys {
                            give_back(locks, k, *r).await;
                        }
                        return Err(e);
                    }
                }
            }
            if !reported {
                ctx.progress(
                    0,
                    format!("waiting: zone {zone} already runs {zone_limit} Redfish operations"),
                );
                reported = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = ctx.cancel.cancelled() => {
                    for (k, r) in &keys {
                        give_back(locks, k, *r).await;
                    }
                    return Err(OpError::Cancelled);
                }
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
    let keys = Arc::new(Mutex::new(keys));
    let renewer = CancellationToken::new();
    let (store, memory) = match locks {
        Locks::Kv { store, ttl } => {
            let store2 = store.clone();
            let held = keys.clone();
            let stop = renewer.clone();
            let every = *ttl / 3;
            let holder = Bytes::from(holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                    let current = held.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    for (k, rev) in current {
                        if stop.is_cancelled() {
                            return;
                        }
                        match store2.update(k.as_str(), holder.clone(), rev).await {
                            Ok(r) => {
                                let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                                if let Some(e) = h.iter_mut().find(|(hk, _)| *hk == k) {
                                    e.1 = r;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(key = %k, error = %e, "device lock not renewed")
                            }
                        }
                    }
                }
            });
            (Some((**store).clone()), None)
        }
        Locks::Memory(m) => (None, Some(m.clone())),
    };
    Ok(Guard {
        keys,
        store,
        memory,
        renewer,
    })
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.renewer.cancel();
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(m) = &self.memory {
            let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
            for (k, _) in &keys {
                m.remove(k);
            }
        }
        if let Some(store) = self.store.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            // Only our own revision is deleted: a key that expired and was
            // taken by another worker stays theirs.
            rt.spawn(async move {
                for (k, rev) in keys {
                    let _ = store.delete(&k, Some(rev)).await;
                }
            });
        }
    }
}
