//! Planning `diag.sleep`: `count` tasks in the job's zone that sleep,
//! fail or fail transiently on request; the diagnostic kind tests and
//! benchmarks drive the fleet with.

use super::{JobDoc, MAX_TASKS, PlanError, PlanInput, Planned, Planner, Spec, err, params};
use outpost_kinds::diag::SleepParams;
use serde::Deserialize;

/// A job's `params`: how many tasks, and what each does (the task's own
/// contract, flattened).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepJob {
    #[serde(default = "one")]
    count: u64,
    #[serde(flatten)]
    task: SleepParams,
}

fn one() -> u64 {
    1
}

fn plan_sleep(doc: &JobDoc) -> Result<Vec<Spec>, PlanError> {
    let p: SleepJob = params(&doc.params)?;
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
    p.task
        .validate()
        .map_err(|e| err(format!("params.{}", e.field), e.message))?;
    let task_params = serde_json::to_value(&p.task).unwrap_or_default();
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
