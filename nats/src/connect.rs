//! The client side of reaching NATS, shared by the coordinator and the
//! worker: from a server URL (or a comma-separated list) and a
//! [`ClientSecurity`] to `async_nats` connection options.
//!
//! - A creds file authenticates: with a JWT block it goes whole to
//!   `ConnectOptions::credentials`, otherwise its user nkey seed signs the
//!   server's nonce (`ConnectOptions::nkey`).
//! - A CA file, or `tls://` URLs, make the connection TLS-only, verified
//!   against that CA (or the system roots for `tls://` without a CA).
//! - A user and password (or token) in the URL are split off into the
//!   options ([`outpost_proto::nats_url::split_url`]), so neither the
//!   client's logs nor an error carry them.
//! - A zone's workers pass their inbox prefix (`_INBOX_<zone>`), the only
//!   inbox their identity may subscribe to.
//!
//! Secure by default: a connection without credentials, or without TLS, is
//! refused unless [`ClientSecurity::insecure`] is set, and that flag is
//! honoured only when every server is on loopback (127.0.0.0/8, `::1`,
//! `localhost`). [`check_policy`] is the pure decision.

use async_nats::{ConnectOptions, ServerAddr};
use outpost_proto::nats_url::{UrlAuth, split_url};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How a process authenticates to NATS and checks the server: the
/// `[nats]` security settings of the coordinator's and the worker's
/// configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecurity {
    /// Creds file of this process's identity (`coordinator.creds`,
    /// `zone-<zone>.creds`).
    #[serde(default)]
    pub creds: Option<PathBuf>,
    /// CA certificate (PEM) the server's certificate must chain to; makes
    /// TLS mandatory.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Allows a connection without credentials or without TLS, to loopback
    /// servers only (development, tests).
    #[serde(default)]
    pub insecure: bool,
}

/// Why the connection options could not be built, or the connection failed.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("cannot read the NATS creds file {path}: {source}")]
    CredsUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the NATS creds file {path} holds neither a user JWT nor a valid user nkey seed block")]
    MalformedCreds { path: PathBuf },
    #[error("cannot read the NATS CA file {path}: {source}")]
    CaUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid NATS server URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "refusing to connect to NATS at {urls} {missing}: set a creds file and a CA (or use \
         tls:// URLs); --nats-insecure (config `insecure = true`) allows it, for loopback \
         servers only"
    )]
    Insecure { urls: String, missing: &'static str },
    #[error(
        "--nats-insecure (config `insecure = true`) is refused for {host}: a connection \
         {missing} is allowed to loopback servers only (127.0.0.0/8, ::1, localhost), since \
         anything else crosses a network"
    )]
    InsecureNotLoopback { host: String, missing: &'static str },
    #[error("cannot connect to NATS at {urls}: {source}")]
    Connect {
        urls: String,
        source: async_nats::ConnectError,
    },
}

/// Connection options ready to use: the caller may add its own (`name`,
/// `event_callback`, `retry_on_initial_connect`, …) before
/// `options.connect(servers)`, or call [`Prepared::connect`].
#[derive(Debug)]
pub struct Prepared {
    /// The servers, credentials removed.
    pub servers: Vec<ServerAddr>,
    pub options: ConnectOptions,
    /// The servers as text, credentials removed, for logs and errors.
    pub display: String,
}

impl Prepared {
    /// Connects with the options as they are.
    pub async fn connect(self) -> Result<async_nats::Client, ConnectError> {
        let urls = self.display;
        self.options
            .connect(self.servers)
            .await
            .map_err(|source| ConnectError::Connect { urls, source })
    }
}

/// What the security settings and the URL amount to, as [`check_policy`]
/// sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posture {
    /// A creds file, or a user/password/token in the URL.
    pub authenticated: bool,
    /// A CA file, or `tls://` URLs.
    pub tls: bool,
    pub insecure: bool,
}

/// The secure-by-default decision: credentials and TLS are both required,
/// unless `insecure` is set and every host is loopback.
pub fn check_policy(urls: &str, hosts: &[String], posture: Posture) -> Result<(), ConnectError> {
    let missing = match (posture.authenticated, posture.tls) {
        (true, true) => return Ok(()),
        (false, false) => "without credentials and without TLS",
        (false, true) => "without credentials",
        (true, false) => "without TLS",
    };
    if !posture.insecure {
        return Err(ConnectError::Insecure {
            urls: urls.to_string(),
            missing,
        });
    }
    match hosts.iter().find(|h| !is_loopback(h)) {
        Some(host) => Err(ConnectError::InsecureNotLoopback {
            host: host.clone(),
            missing,
        }),
        None => Ok(()),
    }
}

/// `localhost`, 127.0.0.0/8 or `::1` (also `::ffff:127.x.y.z`).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Builds the connection options for `urls` under `security`, with the
/// inbox prefix `inbox_prefix` when given (workers: `_INBOX_<zone>`).
pub fn prepare(
    urls: &str,
    security: &ClientSecurity,
    inbox_prefix: Option<&str>,
) -> Result<Prepared, ConnectError> {
    let (clean, auth) = split_url(urls);
    let mut servers = Vec::new();
    for url in clean.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let addr: ServerAddr = url
            .parse()
            .map_err(|e: std::io::Error| ConnectError::BadUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if addr.is_websocket() {
            return Err(ConnectError::BadUrl {
                url: url.to_string(),
                reason: "websocket URLs are not supported; use nats:// or tls://".to_string(),
            });
        }
        servers.push(addr);
    }
    if servers.is_empty() {
        return Err(ConnectError::BadUrl {
            url: clean,
            reason: "no server URL".to_string(),
        });
    }
    let url_tls = servers.iter().any(ServerAddr::tls_required);
    let posture = Posture {
        authenticated: security.creds.is_some() || auth != UrlAuth::None,
        tls: security.ca.is_some() || url_tls,
        insecure: security.insecure,
    };
    let hosts: Vec<String> = servers.iter().map(|s| s.host().to_string()).collect();
    check_policy(&clean, &hosts, posture)?;

    let mut options = match auth {
        UrlAuth::None => ConnectOptions::new(),
        UrlAuth::UserPassword { user, password } => {
            ConnectOptions::with_user_and_password(user, password)
        }
        UrlAuth::Token(token) => ConnectOptions::with_token(token),
    };
    if let Some(path) = &security.creds {
        options = with_creds(options, path)?;
    }
    if let Some(path) = &security.ca {
        // Read it now: async-nats would only fail at the TLS handshake.
        std::fs::metadata(path)
            .and_then(|m| {
                if m.is_file() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("not a regular file"))
                }
            })
            .map_err(|source| ConnectError::CaUnreadable {
                path: path.clone(),
                source,
            })?;
        options = options.add_root_certificates(path.clone());
    }
    if posture.tls {
        install_crypto_provider();
        options = options.require_tls(true);
    } else {
        // Plaintext to loopback only: never follow the server to the
        // cluster peers it advertises, which may be anywhere.
        options = options.ignore_discovered_servers();
    }
    if let Some(prefix) = inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    Ok(Prepared {
        servers,
        options,
        display: clean,
    })
}

/// [`prepare`] then [`Prepared::connect`].
pub async fn connect(
    urls: &str,
    security: &ClientSecurity,
    inbox_prefix: Option<&str>,
) -> Result<async_nats::Client, ConnectError> {
    prepare(urls, security, inbox_prefix)?.connect().await
}

fn with_creds(options: ConnectOptions, path: &Path) -> Result<ConnectOptions, ConnectError> {
    let contents =
        std::fs::read_to_string(path).map_err(|source| ConnectError::CredsUnreadable {
            path: path.to_path_buf(),
            source,
        })?;
    let malformed = || ConnectError::MalformedCreds {
        path: path.to_path_buf(),
    };
    match crate::creds::parse(&contents).ok_or_else(malformed)? {
        // Its error text names no part of the file, but it is dropped anyway.
        crate::creds::Creds::Jwt => options.credentials(&contents).map_err(|_| malformed()),
        crate::creds::Creds::Seed(seed) => Ok(options.nkey(seed.expose().to_string())),
    }
}

/// rustls needs a process-wide crypto provider. It picks one by itself only
/// when exactly one of its providers is compiled in; install ring (the one
/// async-nats is built with) unless the process already chose one.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err: another thread installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posture(authenticated: bool, tls: bool, insecure: bool) -> Posture {
        Posture {
            authenticated,
            tls,
            insecure,
        }
    }

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn creds_and_tls_pass_anywhere() {
        let remote = hosts(&["nats.example.com", "10.0.0.1"]);
        assert!(check_policy("u", &remote, posture(true, true, false)).is_ok());
        assert!(check_policy("u", &remote, posture(true, true, true)).is_ok());
    }

    #[test]
    fn missing_creds_or_tls_needs_the_flag() {
        let local = hosts(&["127.0.0.1"]);
        for (auth, tls) in [(false, false), (false, true), (true, false)] {
            let err =
                check_policy("nats://127.0.0.1", &local, posture(auth, tls, false)).unwrap_err();
            assert!(matches!(err, ConnectError::Insecure { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("--nats-insecure") && text.contains("insecure = true"));
            assert!(check_policy("u", &local, posture(auth, tls, true)).is_ok());
        }
    }

    #[test]
    fn the_flag_is_for_loopback_only() {
        for host in [
            "10.0.0.1",
            "nats.example.com",
            "0.0.0.0",
            "::",
            "localhost.evil.com",
        ] {
            let list = hosts(&["127.0.0.1", host]);
            let err = check_policy("u", &list, posture(false, false, true)).unwrap_err();
            match &err {
                ConnectError::InsecureNotLoopback { host: h, .. } => assert_eq!(h, host),
                other => panic!("{other}"),
            }
            assert!(err.to_string().contains("--nats-insecure"));
        }
        let list = hosts(&[
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "localhost",
            "LOCALHOST",
            "[::1]",
        ]);
        assert!(check_policy("u", &list, posture(false, false, true)).is_ok());
        assert!(is_loopback("::ffff:127.0.0.1"));
    }

    #[test]
    fn prepare_applies_the_policy_to_the_urls() {
        let insecure = ClientSecurity {
            insecure: true,
            ..Default::default()
        };
        assert!(prepare("nats://127.0.0.1:4222", &insecure, None).is_ok());
        assert!(prepare("localhost:4222, nats://[::1]:4222", &insecure, None).is_ok());
        let err = prepare(
            "nats://127.0.0.1:4222,nats://10.1.1.1:4222",
            &insecure,
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, ConnectError::InsecureNotLoopback { .. }),
            "{err}"
        );
        let err = prepare("nats://10.1.1.1:4222", &ClientSecurity::default(), None).unwrap_err();
        assert!(matches!(err, ConnectError::Insecure { .. }), "{err}");
        // A token over tls:// is authenticated and encrypted.
        assert!(
            prepare(
                "tls://tok@nats.example.com:4222",
                &ClientSecurity::default(),
                None
            )
            .is_ok()
        );
        // The URL's secret never reaches an error.
        let err = prepare("nats://u:hunter2@10.1.1.1", &insecure, None).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = prepare(
            "nats://u:hunter2@10.1.1.1",
            &ClientSecurity::default(),
            None,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(matches!(
            prepare(" , ", &insecure, None),
            Err(ConnectError::BadUrl { .. })
        ));
        assert!(matches!(
            prepare("ws://127.0.0.1:80", &insecure, None),
            Err(ConnectError::BadUrl { .. })
        ));
    }

    #[test]
    fn creds_errors_name_the_file_not_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ClientSecurity {
            creds: Some(dir.path().join("nope.creds")),
            ca: Some(dir.path().join("ca.pem")),
            insecure: false,
        };
        let err = prepare("tls://10.0.0.1:4222", &missing, None).unwrap_err();
        assert!(matches!(err, ConnectError::CredsUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("nope.creds"));

        let bad = dir.path().join("bad.creds");
        std::fs::write(
            &bad,
            "-----BEGIN USER NKEY SEED-----\nSUSECRETSECRET\n------END USER NKEY SEED------\n",
        )
        .unwrap();
        let sec = ClientSecurity {
            creds: Some(bad),
            ..missing.clone()
        };
        let err = prepare("tls://10.0.0.1:4222", &sec, None).unwrap_err();
        assert!(matches!(err, ConnectError::MalformedCreds { .. }), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");

        let good = dir.path().join("good.creds");
        let seed = crate::creds::UserSeed::generate().unwrap();
        std::fs::write(&good, crate::creds::render_seed_only(&seed, "test")).unwrap();
        let sec = ClientSecurity {
            creds: Some(good),
            ..missing
        };
        let err = prepare("tls://10.0.0.1:4222", &sec, None).unwrap_err();
        assert!(matches!(err, ConnectError::CaUnreadable { .. }), "{err}");
        assert!(!format!("{err:?}").contains(seed.expose()));

        // Ready options show neither the seed nor a URL password.
        std::fs::write(dir.path().join("ca.pem"), "not checked here").unwrap();
        let prepared = prepare("tls://u:hunter2@10.0.0.1:4222", &sec, Some("_INBOX_a")).unwrap();
        let text = format!("{prepared:?}");
        assert!(
            !text.contains(seed.expose()) && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(prepared.display, "tls://10.0.0.1:4222");
    }

    #[test]
    fn security_settings_deserialize_strictly() {
        let s: ClientSecurity =
            serde_json::from_str(r#"{"creds": "/etc/outpost/zone-a.creds", "ca": "/etc/ca.pem"}"#)
                .unwrap();
        assert!(!s.insecure && s.creds.is_some());
        assert!(serde_json::from_str::<ClientSecurity>(r#"{"cred": "x"}"#).is_err());
    }
}
