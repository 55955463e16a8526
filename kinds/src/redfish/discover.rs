//! `redfish.discover`: one slice of an address range per task, with the
//! scan's timeouts and the credential sets to try on what answers.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// Most addresses one task scans (the largest `slice_size`).
pub const MAX_SLICE: u64 = 65_536;

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

impl Params {
    /// The slice's runs as inclusive ranges (an address is a range of
    /// one); the error names the first run that is not an address or an
    /// IPv4 range, or says the slice holds more than [`MAX_SLICE`].
    pub fn ranges(&self) -> Result<Vec<(IpAddr, IpAddr)>, String> {
        let mut out = Vec::with_capacity(self.slice.len().min(1024));
        let mut total = 0u64;
        for s in &self.slice {
            let bad = || format!("{s:?} is not an address or a range");
            let (a, b) = match s.split_once('-') {
                Some((a, b)) => {
                    let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
                    let b: Ipv4Addr = b.parse().map_err(|_| bad())?;
                    if b < a {
                        return Err(bad());
                    }
                    (IpAddr::V4(a), IpAddr::V4(b))
                }
                None => {
                    let a: IpAddr = s.parse().map_err(|_| bad())?;
                    (a, a)
                }
            };
            total += match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => u64::from(u32::from(b) - u32::from(a)) + 1,
                _ => 1,
            };
            if total > MAX_SLICE {
                return Err(format!("the slice holds more than {MAX_SLICE} addresses"));
            }
            out.push((a, b));
        }
        Ok(out)
    }

    /// Whether `ip` is one of the slice's addresses.
    pub fn holds(&self, ip: IpAddr) -> bool {
        self.ranges().is_ok_and(|r| {
            r.iter()
                .any(|(a, b)| *a <= ip && ip <= *b && a.is_ipv4() == ip.is_ipv4())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(slice: &[&str]) -> Params {
        serde_json::from_value(serde_json::json!({ "slice": slice })).unwrap()
    }

    #[test]
    fn slices_are_bounded_ranges() {
        let p = params(&["10.0.0.1", "10.0.1.0-10.0.1.255"]);
        assert_eq!(p.ranges().map(|r| r.len()), Ok(2));
        assert!(p.holds("10.0.1.7".parse().unwrap()));
        assert!(p.holds("10.0.0.1".parse().unwrap()));
        assert!(!p.holds("10.0.0.2".parse().unwrap()));
        assert!(params(&["10.0.0.9-10.0.0.1"]).ranges().is_err());
        assert!(params(&["host"]).ranges().is_err());
        // Many small runs cannot add up to more than a slice.
        let big: Vec<String> = (0..300)
            .map(|i| format!("10.{i}.0.0-10.{i}.0.255"))
            .collect();
        let p: Params = serde_json::from_value(serde_json::json!({ "slice": big })).unwrap();
        assert!(p.ranges().is_err());
    }
}
