//! Opening an authenticated SSH session to a device: name resolution, TCP
//! connect, key exchange with modern algorithms (legacy ones only for
//! devices marked legacy), host-key verification against the zone's store,
//! and password authentication. Each step is bounded by the job's timeout
//! and each failure maps to an error class a user can act on.

use super::error::SshError;
use super::hostkeys::{HostKeys, KnownKey, Verdict, fingerprint};
use russh::client::{self, Handle};
use russh::keys::{Algorithm, PublicKey, PublicKeyOrCertificate};
use russh::{Preferred, cipher, kex, mac};
use std::borrow::Cow;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Where and how to connect.
pub struct Dial<'a> {
    pub host: &'a str,
    pub port: u16,
    pub legacy: bool,
    pub deadline: Instant,
    pub timeout: Duration,
    pub hostkeys: &'a HostKeys,
}

impl Dial<'_> {
    pub fn addr(&self) -> String {
        addr_of(self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn addr_of(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Handler that checks the presented host key and remembers it.
pub struct Checker {
    hostkeys: HostKeys,
    host: String,
    port: u16,
    recorded: Option<KnownKey>,
    outcome: Arc<Mutex<Option<(Verdict, PublicKey)>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => PublicKey::from(c.public_key().clone()),
        };
        let verdict = self
            .hostkeys
            .judge(&self.host, self.port, self.recorded.as_ref(), &key);
        let ok = matches!(verdict, Verdict::Known | Verdict::New);
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some((verdict, key));
        }
        Ok(ok)
    }
}

/// Algorithms offered to a device.
pub fn preferred(legacy: bool) -> Preferred {
    let modern_keys: Vec<Algorithm> = Preferred::DEFAULT
        .key
        .iter()
        .filter(|a| !matches!(a, Algorithm::Rsa { hash: None }))
        .cloned()
        .collect();
    if !legacy {
        return Preferred {
            key: Cow::Owned(modern_keys),
            ..Preferred::DEFAULT
        };
    }
    let mut kexes = Preferred::DEFAULT.kex.to_vec();
    let at = kexes
        .iter()
        .position(|k| k.as_ref().starts_with("ext-info") || k.as_ref().starts_with("kex-strict"))
        .unwrap_or(kexes.len());
    for (i, k) in [kex::DH_GEX_SHA1, kex::DH_G14_SHA1, kex::DH_G1_SHA1]
        .into_iter()
        .enumerate()
    {
        kexes.insert(at + i, k);
    }
    let mut ciphers = Preferred::DEFAULT.cipher.to_vec();
    ciphers.extend([
        cipher::AES_128_CBC,
        cipher::AES_192_CBC,
        cipher::AES_256_CBC,
    ]);
    let mut macs = Preferred::DEFAULT.mac.to_vec();
    macs.push(mac::HMAC_SHA1);
    let mut keys = modern_keys;
    keys.push(Algorithm::Rsa { hash: None });
    Preferred {
        kex: Cow::Owned(kexes),
        key: Cow::Owned(keys),
        cipher: Cow::Owned(ciphers),
        mac: Cow::Owned(macs),
        ..Preferred::DEFAULT
    }
}

fn timeout(d: &Dial<'_>, what: &'static str) -> SshError {
    SshError::Timeout {
        addr: d.addr(),
        what,
        secs: d.timeout.as_secs(),
    }
}

/// Resolves and connects over TCP.
async fn tcp(d: &Dial<'_>) -> Result<TcpStream, SshError> {
    let addrs: Vec<SocketAddr> = match tokio::time::timeout_at(
        d.deadline,
        tokio::net::lookup_host((d.host, d.port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            return Err(SshError::Dns {
                host: d.host.to_string(),
                message: e.to_string(),
            });
        }
        Err(_) => return Err(timeout(d, "name resolution")),
    };
    let Some(addr) = addrs.first().copied() else {
        return Err(SshError::Dns {
            host: d.host.to_string(),
            message: "no address".into(),
        });
    };
    match tokio::time::timeout_at(d.deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {
            Err(SshError::Refused { addr: d.addr() })
        }
        Ok(Err(e)) if e.kind() == ErrorKind::TimedOut => Err(timeout(d, "TCP connect")),
        Ok(Err(e)) => Err(SshError::Unreachable {
            addr: d.addr(),
            message: e.to_string(),
        }),
        Err(_) => Err(timeout(d, "TCP connect")),
    }
}

/// Connects, exchanges keys and checks the host key. The caller authenticates.
pub async fn connect(d: &Dial<'_>) -> Result<Handle<Checker>, SshError> {
    let recorded = d.hostkeys.lookup(d.host, d.port).await?;
    let stream = tcp(d).await?;
    let config = Arc::new(client::Config {
        preferred: preferred(d.legacy),
        nodelay: true,
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        ..Default::default()
    });
    let outcome = Arc::new(Mutex::new(None));
    let handler = Checker {
        hostkeys: d.hostkeys.clone(),
        host: d.host.to_string(),
        port: d.port,
        recorded,
        outcome: outcome.clone(),
    };
    let result =
        tokio::time::timeout_at(d.deadline, client::connect_stream(config, stream, handler)).await;
    let seen = outcome.lock().ok().and_then(|mut s| s.take());
    let handle = match result {
        Err(_) => return Err(timeout(d, "SSH handshake")),
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            if let Some((verdict, key)) = &seen {
                match verdict {
                    Verdict::Changed { known } => {
                        return Err(SshError::HostKeyChanged {
                            addr: d.addr(),
                            known: known.clone(),
                            presented: fingerprint(key),
                        });
                    }
                    Verdict::UnknownStrict => {
                        return Err(SshError::HostKeyUnknown {
                            addr: d.addr(),
                            presented: fingerprint(key),
                        });
                    }
                    _ => {}
                }
            }
            return Err(match reset_cause(&e) {
                Some(cause) => SshError::HandshakeReset {
                    addr: d.addr(),
                    cause,
                },
                None => handshake_error(d, e),
            });
        }
    };
    if let Some((Verdict::New, key)) = &seen {
        d.hostkeys.record(d.host, d.port, key, &d.addr()).await?;
    }
    Ok(handle)
}

/// Whether `e`, met while reading the server's banner or during the key
/// exchange, is the server dropping the connection (EOF, reset, abort,
/// broken pipe): what sshd does to sessions beyond `MaxStartups`. Returns
/// the cause to report; `None` for every other failure.
pub fn reset_cause(e: &russh::Error) -> Option<String> {
    use russh::Error as E;
    match e {
        E::Disconnect | E::HUP => Some("connection closed by the server".into()),
        E::IO(io)
            if matches!(
                io.kind(),
                ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
            ) =>
        {
            Some(io.to_string())
        }
        _ => None,
    }
}

fn handshake_error(d: &Dial<'_>, e: russh::Error) -> SshError {
    use russh::Error as E;
    match e {
        E::NoCommonAlgo { kind, ours, theirs } => SshError::KeyExchange {
            addr: d.addr(),
            message: format!(
                "no common {kind:?} algorithm (device offers {}; we offer {}){}",
                theirs.join(","),
                ours.join(","),
                if d.legacy {
                    ""
                } else {
                    "; if the device only speaks legacy algorithms, mark it legacy in the inventory"
                }
            ),
        },
        E::KexInit | E::Kex | E::WrongServerSig | E::UnknownAlgo | E::PacketAuth => {
            SshError::KeyExchange {
                addr: d.addr(),
                message: e.to_string(),
            }
        }
        E::Disconnect | E::HUP => SshError::Disconnected {
            addr: d.addr(),
            when: "during the handshake".into(),
        },
        E::IO(io) if io.kind() == ErrorKind::UnexpectedEof => SshError::Disconnected {
            addr: d.addr(),
            when: "during the handshake".into(),
        },
        E::ConnectionTimeout | E::Elapsed(_) => timeout(d, "SSH handshake"),
        other => SshError::Protocol {
            addr: d.addr(),
            message: other.to_string(),
        },
    }
}

/// Authenticates with a password (keyboard-interactive as a fallback).
pub async fn authenticate(
    d: &Dial<'_>,
    handle: &mut Handle<Checker>,
    user: &str,
    password: &str,
) -> Result<(), SshError> {
    let auth = async {
        let r = handle.authenticate_password(user, password).await?;
        let only_interactive = match &r {
            russh::client::AuthResult::Success => return Ok::<bool, russh::Error>(true),
            russh::client::AuthResult::Failure {
                remaining_methods, ..
            } => {
                !remaining_methods.contains(&russh::MethodKind::Password)
                    && remaining_methods.contains(&russh::MethodKind::KeyboardInteractive)
            }
        };
        // A rejected password is not tried again another way (lockouts);
        // keyboard-interactive only for devices that do not take passwords.
        if !only_interactive {
            return Ok(false);
        }
        let mut reply = handle
            .authenticate_keyboard_interactive_start(user, None::<String>)
            .await?;
        for _ in 0..3 {
            match reply {
                client::KeyboardInteractiveAuthResponse::Success => return Ok(true),
                client::KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
                client::KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                    let answers = prompts.iter().map(|_| password.to_string()).collect();
                    reply = handle
                        .authenticate_keyboard_interactive_respond(answers)
                        .await?;
                }
            }
        }
        Ok(false)
    };
    match tokio::time::timeout_at(d.deadline, auth).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(SshError::Auth {
            addr: d.addr(),
            user: user.to_string(),
        }),
        Ok(Err(e)) => Err(handshake_error(d, e)),
        Err(_) => Err(timeout(d, "authentication")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_handshake_is_a_reset_and_nothing_else_is() {
        for kind in [
            ErrorKind::UnexpectedEof,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
        ] {
            let e = russh::Error::IO(std::io::Error::from(kind));
            assert!(reset_cause(&e).is_some(), "{kind:?}");
        }
        assert!(reset_cause(&russh::Error::Disconnect).is_some());
        assert!(reset_cause(&russh::Error::HUP).is_some());
        for e in [
            russh::Error::IO(std::io::Error::from(ErrorKind::PermissionDenied)),
            russh::Error::Kex,
            russh::Error::WrongServerSig,
            russh::Error::Version,
        ] {
            assert!(reset_cause(&e).is_none(), "{e:?}");
        }
    }
}
