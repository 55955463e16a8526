//! A rolling update's hosts as the job shows them (`job.rollout.hosts`):
//! the step each host is at, as a machine name with its order and a label
//! for people, and its state. The coordinator writes them; the DSM bridge
//! and the CLI read the step's order and the state, never the label.

use serde::{Deserialize, Serialize};

/// One step of a host's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Pre-check on the iDRAC.
    Check,
    /// Pre-check in vCenter.
    #[serde(rename = "vcheck")]
    VCheck,
    Enter,
    Flash,
    Reconnect,
    Verify,
    Exit,
    Rollback,
}

impl Step {
    /// In the order a host goes through them (rollback last).
    pub const ALL: [Step; 8] = [
        Step::Check,
        Step::VCheck,
        Step::Enter,
        Step::Flash,
        Step::Reconnect,
        Step::Verify,
        Step::Exit,
        Step::Rollback,
    ];

    /// The machine name (also in task ids).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Check => "check",
            Step::VCheck => "vcheck",
            Step::Enter => "enter",
            Step::Flash => "flash",
            Step::Reconnect => "reconnect",
            Step::Verify => "verify",
            Step::Exit => "exit",
            Step::Rollback => "rollback",
        }
    }

    /// What an operator reads.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Check => "pre-check (iDRAC)",
            Step::VCheck => "pre-check (vCenter)",
            Step::Enter => "entering maintenance mode",
            Step::Flash => "updating firmware",
            Step::Reconnect => "waiting for the host in vCenter",
            Step::Verify => "verifying the version",
            Step::Exit => "exiting maintenance mode",
            Step::Rollback => "rolling back: exiting maintenance mode",
        }
    }

    /// How far a host at this step is through a full rollout, in percent
    /// (a host not linked to vCenter skips some steps; it is counted on
    /// the same scale).
    pub fn percent(self) -> u32 {
        match self {
            Step::Check => 0,
            Step::VCheck => 14,
            Step::Enter => 28,
            Step::Flash => 42,
            Step::Reconnect => 57,
            Step::Verify => 71,
            Step::Exit | Step::Rollback => 85,
        }
    }
}

/// Where a host stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Waiting,
    Running,
    Succeeded,
    AlreadyCurrent,
    Failed,
    Stopped,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Waiting => "waiting",
            HostState::Running => "running",
            HostState::Succeeded => "succeeded",
            HostState::AlreadyCurrent => "already_current",
            HostState::Failed => "failed",
            HostState::Stopped => "stopped",
        }
    }

    /// Nothing more happens to the host.
    pub fn finished(self) -> bool {
        !matches!(self, HostState::Waiting | HostState::Running)
    }
}

/// One host's progress as shown on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostProgress {
    pub name: String,
    pub cluster: String,
    pub idrac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcenter_host: Option<String>,
    pub state: HostState,
    /// The step the host is at or ended on; none before it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Step>,
    /// The same, for people.
    pub step: String,
    /// Outpost left the host in maintenance mode (only after a failure).
    pub left_in_maintenance: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl HostProgress {
    /// The hosts of a job's `rollout`, if it has readable ones.
    pub fn list(rollout: &serde_json::Value) -> Vec<HostProgress> {
        Vec::<HostProgress>::deserialize(&rollout["hosts"]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_their_wire_names_and_order() {
        for s in Step::ALL {
            let v = serde_json::to_value(s).unwrap();
            assert_eq!(v, s.as_str());
        }
        let p: Vec<u32> = Step::ALL[..7].iter().map(|s| s.percent()).collect();
        assert!(p.windows(2).all(|w| w[0] < w[1]), "{p:?}");
        assert_eq!(
            serde_json::to_value(HostState::AlreadyCurrent).unwrap(),
            "already_current"
        );
    }
}
