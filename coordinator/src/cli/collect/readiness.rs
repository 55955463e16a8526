//! Before a run and while it waits: which zones of the job have a live
//! worker for `ssh.collect` (from `GET /api/v1/workers`), and whether those
//! workers can resolve the job's credential. The vaults live with the
//! workers, which report the names they hold (never a secret); a credential
//! a live worker of the zone lacks refuses the run before anything is
//! submitted, naming the credential and the names available. A zone with no
//! live worker is a warning: one may still start.

use super::super::client::{Client, Worker};
use super::job::Planned;
use std::collections::BTreeMap;

/// The task kind the runners submit.
pub const KIND: &str = "ssh.collect";

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Zones with no live worker, each as a sentence.
    pub warnings: Vec<String>,
    /// Why the run must not start, if it must not.
    pub refusal: Option<String>,
}

/// The job's credential and where it came from.
#[derive(Debug, Clone, Default)]
pub struct CredentialChoice {
    pub name: Option<String>,
    /// `--credential` or `credentials.credential_set`.
    pub from: Option<String>,
}

/// Live, non-draining workers of `zone` that take `ssh.collect` tasks.
pub fn serving<'a>(workers: &'a [Worker], zone: &str) -> Vec<&'a Worker> {
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
    workers: &[Worker],
    zones: &BTreeMap<String, usize>,
    credential: &CredentialChoice,
    wait_timeout: Option<u64>,
) -> Readiness {
    let mut r = Readiness::default();
    let mut problems = Vec::new();
    for (zone, n) in zones {
        let live = serving(workers, zone);
        if live.is_empty() {
            r.warnings.push(no_worker(zone, *n, wait_timeout));
            continue;
        }
        for w in live {
            // A worker that does not report its vault is not judged.
            let Some(v) = &w.vault else { continue };
            let has = v.names.join(", ");
            let problem = if !v.present {
                Some(format!(
                    "worker {} of zone {zone:?} has no credential vault (start it with --vault)",
                    w.worker_id
                ))
            } else {
                match &credential.name {
                    Some(c) if !v.names.iter().any(|n| n == c) => Some(format!(
                        "the vault of worker {} (zone {zone:?}) has no credential {c:?}; it has: {}",
                        w.worker_id,
                        if has.is_empty() { "none" } else { &has }
                    )),
                    None if v.default.is_none() => Some(format!(
                        "the vault of worker {} (zone {zone:?}) has no default credential; it has: {}",
                        w.worker_id,
                        if has.is_empty() { "none" } else { &has }
                    )),
                    _ => None,
                }
            };
            problems.extend(problem);
        }
    }
    if !problems.is_empty() {
        let what = match (&credential.name, &credential.from) {
            (Some(c), Some(from)) => format!("credential {c:?} (from {from})"),
            (Some(c), None) => format!("credential {c:?}"),
            (None, _) => {
                "no credential named (the vault default is used: name one with --credential or the job file's credentials.credential_set)".to_string()
            }
        };
        r.refusal = Some(format!(
            "{what} cannot be used: {}; nothing was run",
            problems.join("; ")
        ));
    }
    r
}

/// [`check`] against the workers live now.
pub async fn assess(client: &Client, planned: &Planned, wait_timeout: Option<u64>) -> Readiness {
    match client.workers().await {
        Ok((workers, _)) => check(
            &workers,
            &planned.zones(),
            &planned.credential(),
            wait_timeout,
        ),
        Err(e) => Readiness {
            warnings: vec![format!(
                "cannot list the live workers ({e}): zones and credentials are not checked"
            )],
            refusal: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::client::WorkerVault;
    use super::*;

    fn worker(id: &str, zone: &str, vault: Option<(&[&str], Option<&str>)>) -> Worker {
        Worker {
            worker_id: id.into(),
            zone: zone.into(),
            kinds: vec![KIND.into(), "net.reach".into()],
            capacity: 4,
            in_flight: 0,
            draining: false,
            heartbeat_at: String::new(),
            vault: vault.map(|(names, default)| WorkerVault {
                present: true,
                names: names.iter().map(|n| n.to_string()).collect(),
                default: default.map(str::to_string),
            }),
        }
    }

    fn zones(list: &[(&str, usize)]) -> BTreeMap<String, usize> {
        list.iter().map(|(z, n)| (z.to_string(), *n)).collect()
    }

    fn named(n: &str, from: &str) -> CredentialChoice {
        CredentialChoice {
            name: Some(n.into()),
            from: Some(from.into()),
        }
    }

    #[test]
    fn a_zone_without_worker_is_a_warning() {
        let w = [worker("a1", "alpha", Some((&["lab"], Some("lab"))))];
        let r = check(
            &w,
            &zones(&[("alpha", 2), ("beta", 1)]),
            &CredentialChoice::default(),
            Some(5),
        );
        assert_eq!(r.refusal, None);
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

    #[test]
    fn an_unknown_credential_is_refused_naming_what_exists() {
        let w = [
            worker("a1", "alpha", Some((&["lab", "prod"], Some("lab")))),
            worker("a2", "alpha", None),
        ];
        let z = zones(&[("alpha", 3)]);
        let r = check(&w, &z, &named("nope", "--credential"), None);
        let refusal = r.refusal.expect("refused");
        assert!(
            refusal.contains("\"nope\" (from --credential)")
                && refusal.contains("a1")
                && refusal.contains("lab, prod")
                && !refusal.contains("a2"),
            "{refusal}"
        );
        assert_eq!(
            check(&w, &z, &named("prod", "--credential"), None).refusal,
            None
        );
        // No name and no default: refused too; no name with a default: fine.
        let nodefault = [worker("a1", "alpha", Some((&["lab"], None)))];
        let r = check(&nodefault, &z, &CredentialChoice::default(), None);
        assert!(r.refusal.is_some_and(|m| m.contains("no default")));
        assert_eq!(
            check(&w, &z, &CredentialChoice::default(), None).refusal,
            None
        );
    }
}
