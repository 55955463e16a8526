//! The worker's NATS handles: the connection, the JetStream context and the
//! buckets it uses. The coordinator creates the layout; a worker started
//! first waits for it rather than creating it with its own settings.

use crate::secrets::UrlAuth;
use async_nats::jetstream::{self, kv, object_store, stream};
use outpost_proto::names;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why the worker could not reach its NATS layout.
#[derive(Debug, Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error(
        "the JetStream layout ({missing}) did not appear within {secs} s: is the coordinator running against this NATS server?"
    )]
    LayoutTimeout { missing: String, secs: u64 },
    #[error("stopped while waiting for the JetStream layout")]
    Stopped,
}

/// Handles the worker uses.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub tasks: stream::Stream,
    pub jobs: kv::Store,
    pub leases: kv::Store,
    pub workers: kv::Store,
    /// The zone's known-hosts store (`outpost_hostkeys`).
    pub hostkeys: kv::Store,
    /// Where SSH captures travel back (`outpost_captures`).
    pub captures: object_store::ObjectStore,
    /// Task checkpoints (`outpost_checkpoints`).
    pub checkpoints: kv::Store,
    /// Device inventory with pinned certificates (`outpost_inventory`).
    pub inventory: kv::Store,
    /// Firmware images (`outpost_firmware`).
    pub firmware: object_store::ObjectStore,
}

/// Connects to NATS; reconnects forever once connected. A user and
/// password (or token) in the URL are passed as connection options and
/// never appear in a log line or an error. The watch changes
/// on every reconnect, when pull requests made on the old connection are gone.
pub async fn connect(
    url: &str,
    name: &str,
) -> Result<(async_nats::Client, watch::Receiver<u64>), BusError> {
    // Credentials in the URL go into the options: async-nats logs the URL
    // it connects to, and errors name it.
    let (url, auth) = crate::secrets::split_url(url);
    let url = url.as_str();
    let options = match auth {
        UrlAuth::None => async_nats::ConnectOptions::new(),
        UrlAuth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        UrlAuth::Token(token) => async_nats::ConnectOptions::with_token(token),
    };
    let (tx, rx) = watch::channel(0u64);
    let tx = Arc::new(tx);
    let client = options
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |ev| {
            let tx = tx.clone();
            async move {
                match ev {
                    async_nats::Event::Connected => {
                        tracing::info!("connected to NATS");
                        tx.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            }
        })
        .connect(url)
        .await
        .map_err(|e| BusError::Connect {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    Ok((client, rx))
}

/// Waits until the coordinator's streams and buckets exist.
pub async fn wait_for_layout(
    client: async_nats::Client,
    deadline: Duration,
    stop: &CancellationToken,
) -> Result<Bus, BusError> {
    let js = jetstream::new(client.clone());
    let until = tokio::time::Instant::now() + deadline;
    let mut delay = Duration::from_millis(50);
    let mut logged = false;
    loop {
        let missing = match open(&js).await {
            Ok(Opened {
                tasks,
                jobs,
                leases,
                workers,
                hostkeys,
                captures,
                checkpoints,
                inventory,
                firmware,
            }) => {
                return Ok(Bus {
                    client,
                    js,
                    tasks,
                    jobs,
                    leases,
                    workers,
                    hostkeys,
                    captures,
                    checkpoints,
                    inventory,
                    firmware,
                });
            }
            Err(missing) => missing,
        };
        if tokio::time::Instant::now() + delay > until {
            return Err(BusError::LayoutTimeout {
                missing,
                secs: deadline.as_secs(),
            });
        }
        if !logged {
            tracing::info!(%missing, "waiting for the coordinator to create the JetStream layout");
            logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return Err(BusError::Stopped),
        }
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

struct Opened {
    tasks: stream::Stream,
    jobs: kv::Store,
    leases: kv::Store,
    workers: kv::Store,
    hostkeys: kv::Store,
    captures: object_store::ObjectStore,
    checkpoints: kv::Store,
    inventory: kv::Store,
    firmware: object_store::ObjectStore,
}

async fn open(js: &jetstream::Context) -> Result<Opened, String> {
    let tasks = js
        .get_stream(names::TASKS_STREAM)
        .await
        .map_err(|_| format!("stream {}", names::TASKS_STREAM))?;
    let kv = |bucket: &'static str| async move {
        js.get_key_value(bucket)
            .await
            .map_err(|_| format!("bucket {bucket}"))
    };
    let captures = js
        .get_object_store(names::CAPTURES_STORE)
        .await
        .map_err(|_| format!("object store {}", names::CAPTURES_STORE))?;
    let firmware = js
        .get_object_store(names::FIRMWARE_STORE)
        .await
        .map_err(|_| format!("object store {}", names::FIRMWARE_STORE))?;
    Ok(Opened {
        tasks,
        jobs: kv(names::JOBS_BUCKET).await?,
        leases: kv(names::LEASES_BUCKET).await?,
        workers: kv(names::WORKERS_BUCKET).await?,
        hostkeys: kv(names::HOSTKEYS_BUCKET).await?,
        captures,
        checkpoints: kv(names::CHECKPOINTS_BUCKET).await?,
        inventory: kv(names::INVENTORY_BUCKET).await?,
        firmware,
    })
}

/// The TTL a bucket was created with, or `fallback` when it has none.
pub async fn bucket_ttl(store: &kv::Store, fallback: Duration) -> Duration {
    match store.status().await {
        Ok(s) if !s.max_age().is_zero() => s.max_age(),
        _ => fallback,
    }
}
