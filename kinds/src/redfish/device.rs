//! How a per-device Redfish task reaches and treats its iDRAC (`params.device`):
//! a job names the port, credential and timeouts; the coordinator adds
//! the zone's certificate pinning and concurrency cap.

use serde::{Deserialize, Serialize};

/// Keys of a job's `params` that belong to the device, not the operation.
pub const JOB_KEYS: &[&str] = &[
    "port",
    "credential",
    "http_timeout_ms",
    "retry_s",
    "legacy_tls",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceParams {
    #[serde(default = "default_port")]
    pub port: u16,
    /// Vault credential name; the vault's default when absent.
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default = "default_http_ms")]
    pub http_timeout_ms: u64,
    /// Pin the device's certificate (a zone may opt out).
    #[serde(default = "yes")]
    pub tls_pinning: bool,
    /// Speak legacy TLS (TLS 1.0/1.1, legacy ciphers, over OpenSSL) to a
    /// device that offers nothing newer; opted in per zone or job.
    #[serde(default)]
    pub legacy_tls: bool,
    /// Redfish operations the zone runs at once (0 = unlimited).
    #[serde(default)]
    pub zone_limit: u32,
    /// How long transient failures (connect errors, 5xx) are retried.
    #[serde(default = "default_retry_s")]
    pub retry_s: u64,
}

fn default_port() -> u16 {
    443
}
fn default_http_ms() -> u64 {
    30_000
}
fn yes() -> bool {
    true
}
fn default_retry_s() -> u64 {
    120
}

impl Default for DeviceParams {
    fn default() -> Self {
        DeviceParams {
            port: default_port(),
            credential: None,
            http_timeout_ms: default_http_ms(),
            tls_pinning: true,
            legacy_tls: false,
            zone_limit: 0,
            retry_s: default_retry_s(),
        }
    }
}

impl DeviceParams {
    /// Checks what a job may set; fields named as in the job's `params`.
    pub fn validate(&self) -> Result<(), crate::Invalid> {
        if self.port == 0 {
            return Err(crate::Invalid::new(
                "port",
                "must be a port number (1-65535)",
            ));
        }
        if let Some(c) = &self.credential {
            super::check_text("credential", c)?;
        }
        for (k, v) in [
            ("http_timeout_ms", self.http_timeout_ms),
            ("retry_s", self.retry_s),
        ] {
            if v == 0 || v > 3_600_000 {
                return Err(crate::Invalid::new(k, "must be a positive whole number"));
            }
        }
        Ok(())
    }
}
