//! Legacy TLS for old iDRACs (iDRAC 7/8 firmware that speaks only TLS
//! 1.0/1.1 or legacy cipher suites), used only where a zone or a job opted
//! in with `legacy_tls`: OpenSSL with TLS 1.0 as the minimum, the cipher
//! list `DEFAULT:@SECLEVEL=0` and connections to servers without secure
//! renegotiation allowed. The certificate is judged by the same
//! [`PinningVerifier`] as on rustls (SHA-256 of the leaf's DER in OpenSSL's
//! verify callback; chain and expiry are not judged, the handshake
//! signature is verified by OpenSSL). HTTP/1.1 runs over it with hyper,
//! one kept-alive connection at a time, every step within a deadline.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use openssl::ssl::{ErrorCode, Ssl, SslContext, SslMethod, SslOptions, SslVerifyMode, SslVersion};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::refusal::Refusal;
use super::tls::{PinningVerifier, fingerprint};

/// `SSL_OP_LEGACY_SERVER_CONNECT`: talk to servers that do not support
/// secure renegotiation (RFC 5746), as old iDRAC web servers.
const LEGACY_SERVER_CONNECT: u64 = 0x4;

/// The cipher list: everything OpenSSL has by default, at security level
/// 0 (SHA-1 and MD5 in TLS 1.0/1.1, small keys).
pub const CIPHERS: &str = "DEFAULT:@SECLEVEL=0";

/// Why a request over legacy TLS failed.
#[derive(Debug)]
pub enum LegacyError {
    /// TCP could not connect, or the connection broke: worth retrying.
    Connect(String),
    /// The deadline passed.
    Timeout,
    /// The certificate is not the pinned one.
    Changed,
    /// The peer refused TLS for a reason no retry can fix.
    Refused(Refusal),
    /// HTTP over the connection failed.
    Http(String),
}

/// One kept-alive HTTP/1.1 connection; its driver task ends with it.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// HTTPS to one device over OpenSSL.
pub struct LegacyTransport {
    host: String,
    port: u16,
    verifier: Arc<PinningVerifier>,
    connect_timeout: Duration,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

fn context() -> Result<&'static SslContext, String> {
    static CTX: OnceLock<Result<SslContext, String>> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut b = SslContext::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
        b.set_min_proto_version(Some(SslVersion::TLS1))
            .map_err(|e| e.to_string())?;
        b.set_cipher_list(CIPHERS).map_err(|e| e.to_string())?;
        b.set_options(
            SslOptions::from_bits_retain(LEGACY_SERVER_CONNECT) | SslOptions::IGNORE_UNEXPECTED_EOF,
        );
        Ok(b.build())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The reason OpenSSL gives for a handshake that failed in the library
/// (not in the socket), e.g. `tlsv1 alert protocol version`.
fn library_reason(e: &openssl::ssl::Error) -> Option<String> {
    if e.code() != ErrorCode::SSL {
        return None;
    }
    let stack = e.ssl_error()?;
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .map(|x| x.reason().unwrap_or("unknown").to_string())
        .collect();
    (!reasons.is_empty()).then(|| reasons.join(", "))
}

impl LegacyTransport {
    pub fn new(
        host: &str,
        port: u16,
        verifier: Arc<PinningVerifier>,
        connect_timeout: Duration,
    ) -> Result<LegacyTransport, String> {
        context()?;
        Ok(LegacyTransport {
            host: host.to_string(),
            port,
            verifier,
            connect_timeout,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    async fn connect(&self, deadline: Instant) -> Result<Conn, LegacyError> {
        let connect_by = deadline.min(Instant::now() + self.connect_timeout);
        let tcp = timeout_at(
            connect_by,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| LegacyError::Timeout)?
        .map_err(|e| LegacyError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let ctx = context().map_err(LegacyError::Connect)?;
        let mut ssl = Ssl::new(ctx).map_err(|e| LegacyError::Connect(e.to_string()))?;
        if self.host.parse::<std::net::IpAddr>().is_err() {
            ssl.set_hostname(&self.host)
                .map_err(|e| LegacyError::Connect(e.to_string()))?;
        }
        let verifier = self.verifier.clone();
        ssl.set_verify_callback(SslVerifyMode::PEER, move |_, store| {
            // Only the leaf matters: the pin is the trust, not a chain.
            if store.error_depth() != 0 {
                return true;
            }
            let der = store.current_cert().and_then(|c| c.to_der().ok());
            der.is_some_and(|d| verifier.check(&d).is_ok())
        });
        let mut tls = tokio_openssl::SslStream::new(ssl, tcp)
            .map_err(|e| LegacyError::Connect(e.to_string()))?;
        let handshake = timeout_at(connect_by, std::pin::Pin::new(&mut tls).connect()).await;
        match handshake {
            Err(_) => return Err(LegacyError::Timeout),
            Ok(Err(e)) => {
                return Err(match library_reason(&e) {
                    Some(r) if r.contains("certificate verify failed") => LegacyError::Changed,
                    Some(r) => {
                        LegacyError::Refused(Refusal::Other(format!("{r} (even with legacy_tls)")))
                    }
                    None => LegacyError::Connect(e.to_string()),
                });
            }
            Ok(Ok(())) => {}
        }
        // The callback saw the leaf; make sure it is the one that was used.
        let leaf = tls.ssl().peer_certificate().and_then(|c| c.to_der().ok());
        if !leaf.is_some_and(|d| self.verifier.trusts(&fingerprint(&d))) {
            return Err(LegacyError::Changed);
        }
        let (sender, conn) = timeout_at(
            deadline,
            hyper::client::conn::http1::handshake(TokioIo::new(tls)),
        )
        .await
        .map_err(|_| LegacyError::Timeout)?
        .map_err(|e| LegacyError::Http(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender, driver })
    }

    /// Sends `req` (origin-form URI, `Host` set), on the kept-alive
    /// connection when it is still open, else on a new one.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<Response<Incoming>, LegacyError> {
        let mut slot = self.conn.lock().await;
        for _ in 0..2 {
            let reused = slot.as_ref().is_some_and(|c| !c.sender.is_closed());
            if !reused {
                *slot = Some(self.connect(deadline).await?);
            }
            let Some(conn) = slot.as_mut() else {
                continue;
            };
            let ready = timeout_at(deadline, conn.sender.ready()).await;
            match ready {
                Err(_) => return Err(LegacyError::Timeout),
                Ok(Err(_)) if reused => {
                    *slot = None;
                    continue;
                }
                Ok(Err(e)) => return Err(LegacyError::Connect(e.to_string())),
                Ok(Ok(())) => {}
            }
            match timeout_at(deadline, conn.sender.try_send_request(req)).await {
                Err(_) => {
                    *slot = None;
                    return Err(LegacyError::Timeout);
                }
                Ok(Ok(resp)) => return Ok(resp),
                Ok(Err(mut e)) => {
                    *slot = None;
                    // Not sent at all (the kept-alive connection had closed):
                    // safe to send again on a new one.
                    match e.take_message() {
                        Some(r) if reused => req = r,
                        _ => return Err(LegacyError::Connect(e.into_error().to_string())),
                    }
                }
            }
        }
        Err(LegacyError::Connect("the connection closed".into()))
    }
}
