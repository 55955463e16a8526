//! Supervision of the coordinator's background tasks (relay, max-deliveries
//! watch, layout guard, DSM bridge): each runs in its own task; one that
//! returns or panics before shutdown is marked down, logged and started
//! again after a backoff. [`Health`] is what `/healthz` reads: every
//! component's state, the layout check and the relay's lag.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// One supervised component as `/healthz` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Component {
    pub up: bool,
    pub restarts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct HealthInner {
    components: BTreeMap<&'static str, Component>,
    /// What the layout guard found missing (empty: all there).
    layout_missing: Vec<String>,
    /// Events in the relay's consumer not yet delivered or acknowledged.
    relay_lag: Option<u64>,
}

/// Shared health of the coordinator's parts.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<HealthInner>>);

/// A snapshot of [`Health`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthReport {
    pub components: BTreeMap<&'static str, Component>,
    pub layout_missing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_lag: Option<u64>,
}

/// Relay lag above which the coordinator reports itself unhealthy.
pub const RELAY_LAG_LIMIT: u64 = 50_000;

impl HealthReport {
    /// What is wrong, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .components
            .iter()
            .filter(|(_, c)| !c.up)
            .map(|(n, c)| {
                format!(
                    "{n} is down: {}",
                    c.last_error.as_deref().unwrap_or("stopped")
                )
            })
            .collect();
        for m in &self.layout_missing {
            out.push(format!("{m} is missing"));
        }
        if let Some(lag) = self.relay_lag.filter(|l| *l > RELAY_LAG_LIMIT) {
            out.push(format!("the relay is {lag} events behind"));
        }
        out
    }
}

impl Health {
    fn with<R>(&self, f: impl FnOnce(&mut HealthInner) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    fn set(&self, name: &'static str, up: bool, error: Option<String>) {
        self.with(|h| {
            let c = h.components.entry(name).or_insert(Component {
                up,
                restarts: 0,
                last_error: None,
            });
            if up && !c.up {
                c.restarts += 1;
            }
            c.up = up;
            if error.is_some() {
                c.last_error = error;
            }
        })
    }

    /// Records what the layout guard found.
    pub fn set_layout(&self, missing: Vec<String>, relay_lag: Option<u64>) {
        self.with(|h| {
            h.layout_missing = missing;
            h.relay_lag = relay_lag;
        })
    }

    pub fn report(&self) -> HealthReport {
        self.with(|h| HealthReport {
            components: h.components.clone(),
            layout_missing: h.layout_missing.clone(),
            relay_lag: h.relay_lag,
        })
    }
}

/// Runs components and restarts those that stop before shutdown.
pub struct Supervisor {
    set: JoinSet<()>,
    pub health: Health,
    stop: CancellationToken,
}

impl Supervisor {
    /// Components stop when `stop` is cancelled.
    pub fn new(health: Health, stop: CancellationToken) -> Self {
        Self {
            set: JoinSet::new(),
            health,
            stop,
        }
    }

    /// The token components must stop on.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `make()` as component `name`, again whenever it ends early.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let health = self.health.clone();
        let stop = self.stop.clone();
        self.set.spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                health.set(name, true, None);
                let run = tokio::spawn(make()).await;
                if stop.is_cancelled() {
                    return;
                }
                let why = match run {
                    Ok(()) => "ended".to_string(),
                    Err(e) if e.is_panic() => {
                        let p = e.into_panic();
                        let msg = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panic".into());
                        format!("panicked: {msg}")
                    }
                    Err(e) => e.to_string(),
                };
                tracing::error!(component = name, reason = %why, "background task stopped; restarting");
                health.set(name, false, Some(why));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Stops every component and waits for them, at most `deadline`.
    pub async fn shutdown(mut self, deadline: Duration) {
        self.stop.cancel();
        let all = async { while self.set.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("background tasks did not stop in time; aborting them");
            self.set.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_panicking_component_is_restarted_and_reported() {
        let health = Health::default();
        let mut sup = Supervisor::new(health.clone(), CancellationToken::new());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let stop = sup.stop_token();
        sup.spawn("flaky", move || {
            let r = r.clone();
            let stop = stop.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
                stop.cancelled().await;
            }
        });
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let rep = health.report();
            if runs.load(Ordering::SeqCst) >= 2 && rep.components["flaky"].up {
                assert_eq!(rep.components["flaky"].restarts, 1);
                assert!(
                    rep.components["flaky"]
                        .last_error
                        .as_deref()
                        .unwrap_or("")
                        .contains("first run fails")
                );
                break;
            }
            assert!(tokio::time::Instant::now() < until, "not restarted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sup.shutdown(Duration::from_secs(5)).await;
    }
}
