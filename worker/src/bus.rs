//! The worker's NATS handles: the connection, the JetStream context and the
//! buckets it uses. The coordinator creates the layout; a worker started
//! first waits for it rather than creating it with its own settings.

use crate::images::Images;
use crate::kv::Bucket;
use async_nats::jetstream::{self, object_store, stream};
use outpost_proto::layout;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why the worker could not reach its NATS layout.
#[derive(Debug, Error)]
pub enum BusError {
    #[error(transparent)]
    Connect(#[from] outpost_nats::connect::ConnectError),
    #[error(
        "the JetStream layout ({missing}) did not appear within {secs} s: is the coordinator running against this NATS server?"
    )]
    LayoutTimeout { missing: String, secs: u64 },
    #[error("stopped while waiting for the JetStream layout")]
    Stopped,
    #[error("cannot open the zone's layout: {0}")]
    Zone(String),
}

/// Handles the worker uses, all within its zone's permissions.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    /// The tasks stream, bound without asking for its info.
    pub tasks: stream::Stream<()>,
    /// Leases and device locks (`outpost_leases`).
    pub leases: Bucket,
    /// Presence (`outpost_workers`).
    pub workers: Bucket,
    /// The zone's known-hosts store (`outpost_hostkeys`).
    pub hostkeys: Bucket,
    /// Task checkpoints and delivery ledgers (`outpost_checkpoints`).
    pub checkpoints: Bucket,
    /// Pinned device certificates (`outpost_pins`).
    pub pins: Bucket,
    /// The zone's cancel records (`outpost_cancels`).
    pub cancels: Bucket,
    /// Where SSH captures travel back (`outpost_captures_<zone>`).
    pub captures: object_store::ObjectStore,
    /// Firmware images (`outpost_firmware`), read only.
    pub firmware: Images,
}

/// Connects to NATS as `security` says (the zone's creds and the CA;
/// secure unless explicitly insecure on loopback), with the zone's own
/// inbox prefix; reconnects forever once connected. Credentials in the URL
/// go into the options and never appear in a log line or an error. The
/// watch changes on every reconnect, when pull requests made on the old
/// connection are gone.
pub async fn connect(
    url: &str,
    security: &outpost_nats::connect::ClientSecurity,
    name: &str,
    zone: &str,
) -> Result<(async_nats::Client, watch::Receiver<u64>), BusError> {
    let inbox = layout::inbox_prefix(zone).map_err(|e| BusError::Zone(e.to_string()))?;
    let prepared = outpost_nats::connect::prepare(url, security, Some(&inbox))?;
    let (tx, rx) = watch::channel(0u64);
    let tx = Arc::new(tx);
    // Only a reconnect bumps the watch: the first connection opens no pull
    // that could have died, and claim loops must not abandon the pulls they
    // just made (a pull the server still holds gets tasks nobody reads).
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let options = prepared
        .options
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |ev| {
            let tx = tx.clone();
            let first = first.clone();
            async move {
                match ev {
                    async_nats::Event::Connected => {
                        tracing::info!("connected to NATS");
                        if !first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                            tx.send_modify(|n| *n += 1);
                        }
                    }
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                    async_nats::Event::ServerError(e) => {
                        tracing::warn!(error = %e, "NATS refused a request of this worker")
                    }
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            }
        });
    let client = outpost_nats::connect::Prepared {
        options,
        ..prepared
    }
    .connect()
    .await?;
    Ok((client, rx))
}

/// The JetStream context of a worker: a zone identity (a creds file)
/// lives in its own account and reaches the coordinator's JetStream under
/// [`layout::permissions::ZONE_JS_API_PREFIX`]; without one (a loopback
/// development server), JetStream is the connection's own.
pub fn jetstream(
    client: async_nats::Client,
    security: &outpost_nats::connect::ClientSecurity,
) -> jetstream::Context {
    if security.creds.is_some() {
        jetstream::with_prefix(client, layout::permissions::ZONE_JS_API_PREFIX)
    } else {
        jetstream::new(client)
    }
}

/// Waits until the coordinator has created the zone's part of the layout
/// (its captures store is made with its consumers), then opens the rest.
pub async fn wait_for_layout(
    client: async_nats::Client,
    js: jetstream::Context,
    zone: &str,
    deadline: Duration,
    stop: &CancellationToken,
) -> Result<Bus, BusError> {
    let captures_name = layout::captures_store(zone).map_err(|e| BusError::Zone(e.to_string()))?;
    let until = tokio::time::Instant::now() + deadline;
    let mut delay = Duration::from_millis(50);
    let mut logged = false;
    let captures = loop {
        match js.get_object_store(&captures_name).await {
            Ok(store) => break store,
            Err(e) => tracing::debug!(error = %e, "captures store not available yet"),
        }
        if tokio::time::Instant::now() + delay > until {
            return Err(BusError::LayoutTimeout {
                missing: format!("object store {captures_name}"),
                secs: deadline.as_secs(),
            });
        }
        if !logged {
            tracing::info!(store = %captures_name, "waiting for the coordinator to create the zone's layout (is the zone in its configuration?)");
            logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return Err(BusError::Stopped),
        }
        delay = (delay * 2).min(Duration::from_secs(1));
    };
    let open = |bucket: &'static str| {
        let js = js.clone();
        async move {
            Bucket::open(&js, bucket)
                .await
                .map_err(|e| BusError::Zone(e.to_string()))
        }
    };
    let tasks = js
        .get_stream_no_info(layout::TASKS_STREAM)
        .await
        .map_err(|e| BusError::Zone(e.to_string()))?;
    let firmware = Images::open(&js, layout::FIRMWARE_STORE)
        .await
        .map_err(|e| BusError::Zone(e.to_string()))?;
    Ok(Bus {
        client,
        tasks,
        leases: open(layout::LEASES_BUCKET).await?,
        workers: open(layout::WORKERS_BUCKET).await?,
        hostkeys: open(layout::HOSTKEYS_BUCKET).await?,
        checkpoints: open(layout::CHECKPOINTS_BUCKET).await?,
        pins: open(layout::PINS_BUCKET).await?,
        cancels: open(layout::CANCELS_BUCKET).await?,
        captures,
        firmware,
        js,
    })
}
