//! Planning `net.reach`: one task per `host:port` target, placed in the
//! zone that holds the address (or the job's zone, which must hold it).

use super::{
    JobDoc, MAX_TASKS, PlanError, PlanInput, Planned, Planner, Spec, err, params, split_host_port,
};
use crate::zones::Zones;
use outpost_kinds::diag;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReachParams {
    #[serde(default)]
    port: Option<u16>,
    #[serde(default = "diag::default_reach_timeout_ms")]
    timeout_ms: u64,
}

fn plan_reach(doc: &JobDoc, zones: &Zones) -> Result<Vec<Spec>, PlanError> {
    let p: ReachParams = params(&doc.params)?;
    // The timeout is checked by the task's own contract, port aside.
    diag::ReachParams {
        port: 1,
        timeout_ms: p.timeout_ms,
    }
    .validate()
    .map_err(|e| err(format!("params.{}", e.field), e.message))?;
    let targets = doc
        .targets
        .as_ref()
        .ok_or_else(|| err("targets", "net.reach needs a list of addresses"))?;
    if targets.len() > MAX_TASKS {
        return Err(err(
            "targets",
            format!(
                "{} targets is more than the limit of {MAX_TASKS}",
                targets.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let field = format!("targets[{i}]");
        let (host, port) = split_host_port(t).map_err(|m| err(&field, m))?;
        let port = port.or(p.port).ok_or_else(|| {
            err(
                &field,
                format!("{t:?} has no port and params.port is not set"),
            )
        })?;
        if port == 0 {
            return Err(err(&field, "port 0 is not a valid destination"));
        }
        let zone = zones
            .place(doc.zone.as_deref(), host)
            .map_err(|e| err(&field, e.to_string()))?;
        out.push(Spec {
            zone,
            target: host.to_string(),
            params: serde_json::to_value(diag::ReachParams {
                port,
                timeout_ms: p.timeout_ms,
            })
            .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The `net.reach` planner.
pub struct Reach;

impl Planner for Reach {
    fn plan(&self, input: &PlanInput) -> Result<Planned, PlanError> {
        Ok(Planned::specs(plan_reach(input.doc, input.zones)?))
    }
}
