//! How requests reach one iDRAC: rustls through reqwest (every device), or
//! OpenSSL with hyper for a device whose zone or job opted in to
//! `legacy_tls` ([`super::legacy`]). One request shape for both, response
//! bodies read piece by piece within the request's deadline, and transport
//! failures named for an operator: a changed certificate, a timeout, a TLS
//! refusal no retry can fix (class `tls`, with what to do), or a transient
//! connect error.

use super::error::RedfishError;
use super::legacy::{LegacyError, LegacyTransport};
use super::refusal;
use super::tls::{CHANGED, Pin, PinningVerifier};
use bytes::Bytes;
use http_body_util::BodyExt;
use reqwest::header::HeaderMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What an operator is told to do about a device that speaks only legacy TLS.
pub const LEGACY_HINT: &str = "set legacy_tls for its zone or device";

/// One request: `target` is a path on the device or an absolute URL (a
/// session's `Location`); `timeout` overrides the client's.
pub struct Request<'a> {
    pub method: reqwest::Method,
    pub target: &'a str,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

enum Backend {
    Rustls(reqwest::Client),
    Legacy(LegacyTransport),
}

/// The way to one device (`host:port`).
pub struct Transport {
    addr: String,
    backend: Backend,
}

/// A response whose body is still to be read.
pub enum Response {
    Rustls(reqwest::Response),
    Legacy {
        resp: hyper::Response<hyper::body::Incoming>,
        deadline: Instant,
    },
}

/// A transport failure, before it is named for the operator.
pub enum Failure {
    Rustls(reqwest::Error),
    Legacy(LegacyError),
}

impl Transport {
    /// The way to `host:port` with its certificate judged as `pin` says;
    /// over OpenSSL with `legacy`. Also returns the verifier, which
    /// remembers the certificate.
    pub fn new(
        host: &str,
        port: u16,
        pin: Pin,
        legacy: bool,
        timeout: Duration,
    ) -> Result<(Transport, Arc<PinningVerifier>), String> {
        let addr = super::tls::authority(host, port);
        let (backend, verifier) = if legacy {
            let verifier = PinningVerifier::named(pin, &addr);
            let t = LegacyTransport::new(host, port, verifier.clone(), timeout)?;
            (Backend::Legacy(t), verifier)
        } else {
            let (builder, verifier) = super::tls::pinned_client(pin, &addr, timeout, 1);
            let http = builder
                .timeout(timeout)
                .build()
                .map_err(|e| e.to_string())?;
            (Backend::Rustls(http), verifier)
        };
        Ok((Transport { addr, backend }, verifier))
    }

    /// Sends `req`; `default_timeout` applies unless the request has its own.
    pub async fn send(
        &self,
        req: Request<'_>,
        default_timeout: Duration,
    ) -> Result<Response, Failure> {
        match &self.backend {
            Backend::Rustls(http) => {
                let url = if req.target.starts_with("http") {
                    req.target.to_string()
                } else {
                    format!("https://{}{}", self.addr, req.target)
                };
                let mut r = http.request(req.method, url).headers(req.headers);
                if let Some(b) = req.body {
                    r = r.body(b);
                }
                if let Some(t) = req.timeout {
                    r = r.timeout(t);
                }
                r.send()
                    .await
                    .map(Response::Rustls)
                    .map_err(Failure::Rustls)
            }
            Backend::Legacy(t) => {
                let deadline = Instant::now() + req.timeout.unwrap_or(default_timeout);
                let path = match req.target.parse::<hyper::Uri>() {
                    Ok(u) if u.scheme().is_some() => u
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "/".into()),
                    _ => req.target.to_string(),
                };
                let mut b = hyper::Request::builder()
                    .method(req.method)
                    .uri(path)
                    .header(reqwest::header::HOST, self.addr.as_str());
                if let Some(h) = b.headers_mut() {
                    h.extend(req.headers);
                }
                let body = http_body_util::Full::new(Bytes::from(req.body.unwrap_or_default()));
                let r = b.body(body).map_err(|e| {
                    Failure::Legacy(LegacyError::Http(format!(
                        "cannot build the request for {}: {e}",
                        req.target
                    )))
                })?;
                t.send(r, deadline)
                    .await
                    .map(|resp| Response::Legacy { resp, deadline })
                    .map_err(Failure::Legacy)
            }
        }
    }
}

impl Response {
    pub fn status(&self) -> u16 {
        match self {
            Response::Rustls(r) => r.status().as_u16(),
            Response::Legacy { resp, .. } => resp.status().as_u16(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Response::Rustls(r) => r.headers(),
            Response::Legacy { resp, .. } => resp.headers(),
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        match self {
            Response::Rustls(r) => r.chunk().await.map_err(Failure::Rustls),
            Response::Legacy { resp, deadline } => loop {
                let frame = tokio::time::timeout_at(*deadline, resp.body_mut().frame())
                    .await
                    .map_err(|_| Failure::Legacy(LegacyError::Timeout))?;
                match frame {
                    None => return Ok(None),
                    Some(Err(e)) => {
                        return Err(Failure::Legacy(LegacyError::Http(e.to_string())));
                    }
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
        }
    }
}

impl Failure {
    /// Names the failure of a request about `what` to `addr` (whose
    /// certificate `verifier` judged) that had `timeout`.
    pub fn name(
        self,
        addr: &str,
        verifier: &PinningVerifier,
        what: &str,
        timeout: Duration,
    ) -> RedfishError {
        let changed = || RedfishError::CertChanged {
            addr: addr.to_string(),
            pinned: verifier.pinned().unwrap_or_default(),
            presented: verifier
                .refused()
                .or_else(|| verifier.seen())
                .unwrap_or_default(),
        };
        let timed_out = || RedfishError::Timeout {
            addr: addr.to_string(),
            what: what.to_string(),
            secs: timeout.as_secs(),
        };
        let connect = |message: String| RedfishError::Connect {
            addr: addr.to_string(),
            message,
        };
        let e = match self {
            Failure::Legacy(e) => {
                return match e {
                    LegacyError::Changed => changed(),
                    LegacyError::Timeout => timed_out(),
                    LegacyError::Refused(r) => RedfishError::Tls {
                        addr: addr.to_string(),
                        message: r.message(None),
                    },
                    LegacyError::Connect(m) | LegacyError::Http(m) => connect(m),
                };
            }
            Failure::Rustls(e) => e,
        };
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        let mut chain = String::new();
        while let Some(s) = src {
            chain.push_str(&s.to_string());
            chain.push_str(": ");
            src = s.source();
        }
        if chain.contains(CHANGED) {
            return changed();
        }
        if e.is_timeout() {
            return timed_out();
        }
        if let Some(r) = refusal::find(&e) {
            return RedfishError::Tls {
                addr: addr.to_string(),
                message: r.message(Some(LEGACY_HINT)),
            };
        }
        connect(if chain.is_empty() {
            format!("{e:#}")
        } else {
            chain.trim_end_matches(": ").to_string()
        })
    }
}
