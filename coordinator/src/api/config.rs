//! The `[api]` section of the coordinator's configuration: which `Host`
//! names a token-less API answers, and the bounds on HTTP connections and
//! live event followers.

use serde::Deserialize;
use std::time::Duration;

/// `[api]`: everything has a default, so the section may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// More `Host` values the API answers to without a token, besides the
    /// listen address and `localhost:<port>`: `name` (any port) or
    /// `name:port`. With a token, a non-empty list is enforced too.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Open HTTP connections at most; the ones beyond get a 503 and are
    /// closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a client may take to send a request's head, counted from
    /// the moment the connection waits for one: it also closes idle
    /// keep-alive connections.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Live event followers (`GET /api/v1/jobs/{id}/events`) at once; the
    /// ones beyond get a 503.
    #[serde(default = "default_max_followers")]
    pub max_followers: usize,
    /// Bytes of events one followed job keeps for followers that join late
    /// or read slowly; a follower that falls further behind is told how
    /// many events it missed.
    #[serde(default = "default_follow_buffer_bytes")]
    pub follow_buffer_bytes: usize,
    /// The URL other coordinators forward API requests to while this one
    /// leads (`http://host:port`); default: the listen address, or this
    /// machine's host name when listening on every address.
    #[serde(default)]
    pub advertise: Option<String>,
    /// The console's address as operators reach it (`https://outpost.lab`),
    /// for links in notifications; default: the advertised address.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            allowed_hosts: Vec::new(),
            public_url: None,
            max_connections: default_max_connections(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            max_followers: default_max_followers(),
            follow_buffer_bytes: default_follow_buffer_bytes(),
            advertise: None,
        }
    }
}

impl ApiConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// Checks the values; the message names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("api.max_connections must be at least 1".into());
        }
        if self.header_read_timeout_ms < 100 {
            return Err("api.header_read_timeout_ms must be at least 100".into());
        }
        if self.body_read_timeout_ms < 100 {
            return Err("api.body_read_timeout_ms must be at least 100".into());
        }
        if self.follow_buffer_bytes < 64 * 1024 {
            return Err("api.follow_buffer_bytes must be at least 65536".into());
        }
        if let Some(a) = &self.advertise {
            advertised_authority(a).map_err(|e| format!("api.advertise: {a:?}: {e}"))?;
        }
        for h in &self.allowed_hosts {
            super::guard::Authority::parse(h)
                .map_err(|e| format!("api.allowed_hosts: {h:?}: {e}"))?;
        }
        Ok(())
    }
}

fn default_max_connections() -> usize {
    4096
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_body_read_timeout_ms() -> u64 {
    30_000
}
fn default_max_followers() -> usize {
    1000
}
fn default_follow_buffer_bytes() -> usize {
    16 * 1024 * 1024
}

/// The `host[:port]` of an advertised API URL (`http://host:port`).
pub fn advertised_authority(url: &str) -> Result<super::guard::Authority, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected http://host:port")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("expected http://host:port, without a path or user".into());
    }
    super::guard::Authority::parse(rest)
}
