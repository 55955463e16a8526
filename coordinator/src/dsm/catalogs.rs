//! The Dell catalogs rolling updates read, fetched off the bridge's loop:
//! a slow or unreachable catalog (Dell's is tens of MiB, fetched over the
//! internet for up to five minutes) delays only the jobs that need it,
//! never the claims, cancels and reports of the others. A job waiting for
//! its catalog stays claimed (`running`), so a restart starts it again;
//! a catalog read is kept for a while so a batch of jobs fetches it once.

use super::catalog::{self, Catalog};
use super::claim::Claimed;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A catalog, or why it could not be read.
pub type Fetched = Result<Arc<Catalog>, String>;

/// How long a catalog read is used for other jobs.
const KEEP: Duration = Duration::from_secs(15 * 60);
/// How long a failure is answered without trying again.
const KEEP_FAILURE: Duration = Duration::from_secs(60);

pub struct Catalogs {
    ready: HashMap<String, (Instant, Fetched)>,
    in_flight: HashSet<String>,
    waiting: Vec<(String, Claimed)>,
    tx: mpsc::UnboundedSender<(String, Fetched)>,
    /// Catalogs as they arrive; the bridge hands each to [`Catalogs::arrived`].
    pub arrivals: mpsc::UnboundedReceiver<(String, Fetched)>,
}

impl Default for Catalogs {
    fn default() -> Self {
        let (tx, arrivals) = mpsc::unbounded_channel();
        Catalogs {
            ready: HashMap::new(),
            in_flight: HashSet::new(),
            waiting: Vec::new(),
            tx,
            arrivals,
        }
    }
}

impl Catalogs {
    /// The catalog at `url`, if read recently enough.
    pub fn ready(&self, url: &str) -> Option<Fetched> {
        let (at, f) = self.ready.get(url)?;
        let keep = if f.is_ok() { KEEP } else { KEEP_FAILURE };
        (at.elapsed() < keep).then(|| f.clone())
    }

    /// Holds `job` until the catalog at `url` is read, fetching it unless
    /// a fetch is under way.
    pub fn wait(&mut self, url: &str, job: Claimed) {
        self.waiting.push((url.to_string(), job));
        if !self.in_flight.insert(url.to_string()) {
            return;
        }
        let (tx, url) = (self.tx.clone(), url.to_string());
        tokio::spawn(async move {
            let r = match catalog::fetch(&url).await {
                Ok(bytes) => tokio::task::spawn_blocking(move || catalog::parse(&bytes))
                    .await
                    .unwrap_or_else(|e| Err(format!("catalog not parsed: {e}"))),
                Err(e) => Err(e),
            };
            let _ = tx.send((url, r.map(Arc::new)));
        });
    }

    /// Records a catalog that arrived; returns the jobs that waited for it.
    pub fn arrived(&mut self, url: String, f: Fetched) -> Vec<Claimed> {
        self.in_flight.remove(&url);
        let (now, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(u, _)| *u == url);
        self.waiting = rest;
        self.ready.retain(|_, (at, _)| at.elapsed() < KEEP);
        self.ready.insert(url, (Instant::now(), f));
        now.into_iter().map(|(_, c)| c).collect()
    }

    /// Jobs waiting for a catalog.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}
