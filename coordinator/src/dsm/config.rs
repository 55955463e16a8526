//! The `[dsm]` table of the coordinator's config.

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsmConfig {
    /// PostgreSQL connection string of the app's database (it carries a
    /// password: never logged; see [`DsmConfig::redacted_url`]).
    pub database_url: String,
    /// Name in `executor_heartbeats`; default `outpost-<hostname>`.
    #[serde(default)]
    pub executor_id: Option<String>,
    /// Fallback poll when no notification arrives, ms.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How often the heartbeat row is written, s.
    #[serde(default = "default_heartbeat_s")]
    pub heartbeat_s: u64,
    /// The iDRACs' HTTPS port (the app stores addresses only).
    #[serde(default = "default_idrac_port")]
    pub idrac_port: u16,
    /// With `sslmode=require` in the URL: the CA certificates (PEM) the
    /// database's certificate must chain to (Supabase's root CA); default
    /// the system's bundle.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// With `sslmode=require`: check the certificate (default). `false`
    /// only encrypts, as libpq's `require` does.
    #[serde(default = "yes")]
    pub tls_verify: bool,
}

fn yes() -> bool {
    true
}

fn default_idrac_port() -> u16 {
    443
}

fn default_poll_ms() -> u64 {
    1000
}
fn default_heartbeat_s() -> u64 {
    15
}

impl std::fmt::Debug for DsmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsmConfig")
            .field("database_url", &self.redacted_url())
            .field("executor_id", &self.executor_id)
            .field("poll_ms", &self.poll_ms)
            .field("heartbeat_s", &self.heartbeat_s)
            .field("idrac_port", &self.idrac_port)
            .field("ca_file", &self.ca_file)
            .field("tls_verify", &self.tls_verify)
            .finish()
    }
}

impl DsmConfig {
    /// How connections secure themselves.
    pub fn tls(&self) -> super::db::Tls {
        super::db::Tls {
            ca_file: self.ca_file.clone(),
            verify: self.tls_verify,
        }
    }

    /// The executor id: configured, else `outpost-<hostname>`.
    pub fn executor_id(&self) -> String {
        self.executor_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            format!("outpost-{host}")
        })
    }

    /// The connection string with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact(&self.database_url)
    }
}

pub use outpost_dsm_db::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://svc:s3cr3t@db.example:5432/postgres"),
            "postgres://svc:***@db.example:5432/postgres"
        );
        assert_eq!(
            redact("host=127.0.0.1 user=u password=s3cr3t dbname=x"),
            "host=127.0.0.1 user=u password=*** dbname=x"
        );
        let c = DsmConfig {
            database_url: "postgresql://a:hunter2@h/d".into(),
            executor_id: None,
            poll_ms: 1,
            heartbeat_s: 1,
            idrac_port: 443,
            ca_file: None,
            tls_verify: true,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
