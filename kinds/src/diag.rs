//! The kinds that need no device: `diag.sleep` (the pipeline's test and
//! benchmark load) and `net.reach` (can a zone reach `host:port`).

use serde::{Deserialize, Serialize};

/// A `diag.sleep` task's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepParams {
    #[serde(default)]
    pub ms: u64,
    /// Fail with a permanent error after sleeping.
    #[serde(default)]
    pub fail: bool,
    /// The first N attempts fail with a transient error.
    #[serde(default)]
    pub transient_failures: u32,
}

impl SleepParams {
    /// Longest sleep a task may ask for.
    pub const MAX_MS: u64 = 3_600_000;

    pub fn validate(&self) -> Result<(), crate::Invalid> {
        if self.ms > Self::MAX_MS {
            return Err(crate::Invalid::new(
                "ms",
                "must be at most 3600000 (one hour)",
            ));
        }
        Ok(())
    }
}

/// A `net.reach` task's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachParams {
    pub port: u16,
    #[serde(default = "default_reach_timeout_ms")]
    pub timeout_ms: u64,
}

pub fn default_reach_timeout_ms() -> u64 {
    3000
}

impl ReachParams {
    pub fn validate(&self) -> Result<(), crate::Invalid> {
        if self.port == 0 {
            return Err(crate::Invalid::new(
                "port",
                "port 0 is not a valid destination",
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(crate::Invalid::new(
                "timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        Ok(())
    }
}
