//! Planning `redfish.discover`: the targets' addresses split by zone and
//! into slices, one task per slice, with the scan's settings and its
//! credential sets checked at submit.

use super::{JobDoc, PlanError, PlanInput, Planned, Planner, Spec, err, params};
use crate::zones::Zones;
use outpost_kinds::redfish::discover::{self, CredSet};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverParams {
    #[serde(default = "default_redfish_port")]
    port: u16,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    http_timeout_ms: Option<u64>,
    /// Probes in flight per task.
    #[serde(default)]
    concurrency: Option<usize>,
    /// Credential sets: vault names tried in this order, or
    /// `{"name", "ranges": [CIDR or range], "priority"}` (matching ranges
    /// first, then lower priority first).
    #[serde(default)]
    credentials: Vec<CredSet>,
    /// Scan more than a /16.
    #[serde(default)]
    allow_large: bool,
    /// Addresses per task.
    #[serde(default = "default_slice")]
    slice_size: u64,
    /// How long an address answering `503` (an iDRAC warming up after a
    /// reset) is waited for, honouring its `Retry-After`.
    #[serde(default)]
    warmup_wait_s: Option<u64>,
    /// Legacy TLS for old iDRACs (their zone may opt in too).
    #[serde(default)]
    legacy_tls: bool,
}

fn default_redfish_port() -> u16 {
    443
}
fn default_slice() -> u64 {
    256
}

fn plan_discover(doc: &JobDoc, zones: &Zones) -> Result<Vec<Spec>, PlanError> {
    use crate::redfish::targets;
    let p: DiscoverParams = params(&doc.params)?;
    if p.port == 0 {
        return Err(err("params.port", "port 0 is not a valid destination"));
    }
    if !(1..=65_536).contains(&p.slice_size) {
        return Err(err("params.slice_size", "must be between 1 and 65536"));
    }
    if let Some(c) = p.concurrency
        && !(1..=4096).contains(&c)
    {
        return Err(err("params.concurrency", "must be between 1 and 4096"));
    }
    for (k, v) in [
        ("params.connect_timeout_ms", p.connect_timeout_ms),
        ("params.http_timeout_ms", p.http_timeout_ms),
    ] {
        if let Some(ms) = v
            && !(1..=120_000).contains(&ms)
        {
            return Err(err(k, "must be between 1 and 120000"));
        }
    }
    if let Some(w) = p.warmup_wait_s
        && w > 3600
    {
        return Err(err("params.warmup_wait_s", "must be at most 3600"));
    }
    for (i, c) in p.credentials.iter().enumerate() {
        let name = c.name();
        if name.trim().is_empty() {
            return Err(err(
                format!("params.credentials[{i}]"),
                "a credential set needs the name of a credential in the zone's vault",
            ));
        }
        if let CredSet::Scoped(c) = c {
            for (j, r) in c.ranges.iter().enumerate() {
                targets::parse(std::slice::from_ref(r), true).map_err(|(_, e)| {
                    err(
                        format!("params.credentials[{i}].ranges[{j}]"),
                        e.to_string(),
                    )
                })?;
            }
        }
    }
    let entries = doc.targets.as_ref().ok_or_else(|| {
        err(
            "targets",
            "redfish.discover needs CIDRs, ranges or addresses",
        )
    })?;
    let t = targets::parse(entries, p.allow_large).map_err(|(i, e)| match e {
        targets::TargetError::TooLarge { .. } | targets::TargetError::OverHardLimit { .. } => {
            err("targets", e.to_string())
        }
        other => err(format!("targets[{i}]"), other.to_string()),
    })?;
    if !t.v6.is_empty() {
        return Err(err(
            "targets",
            "IPv6 addresses are not scanned yet; list IPv4 addresses, ranges or CIDRs",
        ));
    }
    let split = targets::split(&t, p.slice_size, |ip| {
        zones
            .place_ip(doc.zone.as_deref(), ip)
            .map_err(|e| err("targets", e.to_string()))
    })?;
    let mut out = Vec::new();
    for (zone, slices) in split {
        for slice in slices {
            let runs: Vec<String> = slice.iter().map(targets::Run::render).collect();
            out.push(Spec {
                zone: zone.clone(),
                target: runs.first().cloned().unwrap_or_default(),
                params: serde_json::to_value(discover::Params {
                    slice: runs,
                    port: p.port,
                    connect_timeout_ms: p
                        .connect_timeout_ms
                        .unwrap_or_else(discover::default_connect_ms),
                    http_timeout_ms: p.http_timeout_ms.unwrap_or_else(discover::default_http_ms),
                    concurrency: p.concurrency.unwrap_or_else(discover::default_concurrency),
                    warmup_wait_s: p.warmup_wait_s.unwrap_or_else(discover::default_warmup_s),
                    credentials: p.credentials.clone(),
                    legacy_tls: p.legacy_tls || zones.redfish_legacy_tls(&zone),
                })
                .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The `redfish.discover` planner.
pub struct Discover;

impl Planner for Discover {
    fn plan(&self, input: &PlanInput) -> Result<Planned, PlanError> {
        Ok(Planned::specs(plan_discover(input.doc, input.zones)?))
    }
}
