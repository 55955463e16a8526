//! Planning `diag.sleep`: `count` tasks in the job's zone that sleep,
//! fail or fail transiently on request; the diagnostic kind tests and
//! benchmarks drive the fleet with.

use super::{JobDoc, MAX_TASKS, PlanError, PlanInput, Planned, Planner, Spec, err, params};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepParams {
    #[serde(default = "one")]
    count: u64,
    #[serde(default)]
    ms: u64,
    /// Every task fails with a permanent error after sleeping.
    #[serde(default)]
    fail: bool,
    /// The first N attempts of every task fail with a transient error.
    #[serde(default)]
    transient_failures: u32,
}

fn one() -> u64 {
    1
}

fn plan_sleep(doc: &JobDoc) -> Result<Vec<Spec>, PlanError> {
    let p: SleepParams = params(&doc.params)?;
    let zone = doc.zone.clone().ok_or_else(|| {
        err(
            "zone",
            "diag.sleep has no targets to resolve a zone from; name one",
        )
    })?;
    if doc.targets.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(err(
            "targets",
            "diag.sleep takes no targets; use params.count",
        ));
    }
    if p.count == 0 || p.count > MAX_TASKS as u64 {
        return Err(err(
            "params.count",
            format!("must be between 1 and {MAX_TASKS}"),
        ));
    }
    if p.ms > 3_600_000 {
        return Err(err("params.ms", "must be at most 3600000 (one hour)"));
    }
    let task_params = serde_json::json!({
        "ms": p.ms, "fail": p.fail, "transient_failures": p.transient_failures
    });
    Ok((0..p.count)
        .map(|_| Spec {
            zone: zone.clone(),
            target: String::new(),
            params: task_params.clone(),
        })
        .collect())
}

/// The `diag.sleep` planner.
pub struct Sleep;

impl Planner for Sleep {
    fn plan(&self, input: &PlanInput) -> Result<Planned, PlanError> {
        Ok(Planned::specs(plan_sleep(input.doc)?))
    }
}
