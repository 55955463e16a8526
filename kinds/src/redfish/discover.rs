//! `redfish.discover`: one slice of an address range per task, with the
//! scan's timeouts and the credential sets to try on what answers.

use serde::{Deserialize, Serialize};

/// A task's parameters, as the coordinator plans them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Runs of addresses: `a.b.c.d` or `a.b.c.d-e.f.g.h`.
    pub slice: Vec<String>,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_http_ms")]
    pub http_timeout_ms: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Credential sets, tried as [`CredSet`] says; none means the vault's
    /// default.
    #[serde(default)]
    pub credentials: Vec<CredSet>,
    /// How long an address answering `503` is waited for (seconds).
    #[serde(default = "default_warmup_s")]
    pub warmup_wait_s: u64,
    /// Speak legacy TLS (TLS 1.0/1.1 over OpenSSL) to what answers.
    #[serde(default)]
    pub legacy_tls: bool,
}

pub fn default_port() -> u16 {
    443
}
pub fn default_connect_ms() -> u64 {
    2000
}
pub fn default_http_ms() -> u64 {
    10_000
}
pub fn default_concurrency() -> usize {
    256
}
pub fn default_warmup_s() -> u64 {
    300
}

/// One credential set of a discovery: a vault name, or a name with the
/// address ranges it is meant for and a priority. Sets whose ranges hold
/// an address come first, then by priority (lower first), then in the
/// order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CredSet {
    Name(String),
    Scoped(ScopedCred),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedCred {
    pub name: String,
    /// CIDRs, `a.b.c.d-e.f.g.h` ranges or addresses.
    #[serde(default)]
    pub ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// The priority of a set that names none.
pub const DEFAULT_PRIORITY: i64 = 100;

impl CredSet {
    pub fn name(&self) -> &str {
        match self {
            CredSet::Name(n) => n,
            CredSet::Scoped(s) => &s.name,
        }
    }

    pub fn priority(&self) -> i64 {
        match self {
            CredSet::Name(_) => DEFAULT_PRIORITY,
            CredSet::Scoped(s) => s.priority.unwrap_or(DEFAULT_PRIORITY),
        }
    }

    pub fn ranges(&self) -> &[String] {
        match self {
            CredSet::Name(_) => &[],
            CredSet::Scoped(s) => &s.ranges,
        }
    }
}
