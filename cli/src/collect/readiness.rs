//! Before a run and while it waits: which zones of the job have a live
//! worker for `ssh.collect` (from `GET /api/v1/workers`). A zone with no
//! live worker is a warning: one may still start. (A credential a live
//! worker lacks is refused by the coordinator when it plans the job, from
//! the names the workers report.)

use super::super::client::{Client, WorkerView};
use super::job::Planned;
use std::collections::BTreeMap;

/// The task kind the runners submit.
pub const KIND: &str = "ssh.collect";

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Zones with no live worker, each as a sentence.
    pub warnings: Vec<String>,
}

/// Live, non-draining workers of `zone` that take `ssh.collect` tasks.
pub fn serving<'a>(workers: &'a [WorkerView], zone: &str) -> Vec<&'a WorkerView> {
    workers
        .iter()
        .filter(|w| w.zone == zone && !w.draining && w.kinds.iter().any(|k| k == KIND))
        .collect()
}

/// `devices` words: `1 device`, `3 devices`.
pub fn devices(n: usize) -> String {
    if n == 1 {
        "1 device".to_string()
    } else {
        format!("{n} devices")
    }
}

/// The sentence said when `zone` has no live worker.
pub fn no_worker(zone: &str, waiting: usize, wait_timeout: Option<u64>) -> String {
    let then = match wait_timeout {
        Some(s) => format!("the run gives up after --wait-timeout {s}s"),
        None => "start one, or pass --wait-timeout SECS to give up".to_string(),
    };
    format!(
        "no live worker serves zone {zone:?} for {KIND}: its {} will wait until one starts ({then})",
        devices(waiting)
    )
}

/// Checks `zones` (zone → devices planned there) against `workers`.
pub fn check(
    workers: &[WorkerView],
    zones: &BTreeMap<String, usize>,
    wait_timeout: Option<u64>,
) -> Readiness {
    let mut r = Readiness::default();
    for (zone, n) in zones {
        if serving(workers, zone).is_empty() {
            r.warnings.push(no_worker(zone, *n, wait_timeout));
        }
    }
    r
}

/// [`check`] against the workers live now.
pub async fn assess(client: &Client, planned: &Planned, wait_timeout: Option<u64>) -> Readiness {
    match client.workers().await {
        Ok((workers, _)) => check(&workers, &planned.zones(), wait_timeout),
        Err(e) => Readiness {
            warnings: vec![format!(
                "cannot list the live workers ({e}): zones are not checked"
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_api::VaultView;

    fn worker(id: &str, zone: &str, vault: Option<(&[&str], Option<&str>)>) -> WorkerView {
        WorkerView {
            worker_id: id.into(),
            zone: zone.into(),
            kinds: vec![KIND.into(), "net.reach".into()],
            capacity: 4,
            in_flight: 0,
            hostname: String::new(),
            version: String::new(),
            draining: false,
            started_at: String::new(),
            heartbeat_at: String::new(),
            vault: vault.map(|(names, default)| VaultView {
                present: true,
                names: names.iter().map(|n| n.to_string()).collect(),
                default: default.map(str::to_string),
            }),
        }
    }

    fn zones(list: &[(&str, usize)]) -> BTreeMap<String, usize> {
        list.iter().map(|(z, n)| (z.to_string(), *n)).collect()
    }

    #[test]
    fn a_zone_without_worker_is_a_warning() {
        let w = [worker("a1", "alpha", Some((&["lab"], Some("lab"))))];
        let r = check(&w, &zones(&[("alpha", 2), ("beta", 1)]), Some(5));
        assert_eq!(r.warnings.len(), 1);
        assert!(
            r.warnings[0].contains("\"beta\"")
                && r.warnings[0].contains("1 device ")
                && r.warnings[0].contains("--wait-timeout 5s"),
            "{:?}",
            r.warnings
        );
        // Draining workers and workers of other kinds do not serve.
        let mut d = worker("b1", "beta", None);
        d.draining = true;
        let mut k = worker("b2", "beta", None);
        k.kinds = vec!["net.reach".into()];
        assert!(serving(&[d, k], "beta").is_empty());
    }
}
