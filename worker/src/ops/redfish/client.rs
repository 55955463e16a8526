//! A Redfish client for one iDRAC: HTTPS with the device's pinned
//! certificate (over rustls, or OpenSSL where `legacy_tls` is on: see
//! [`super::transport`]), a `SessionService` token reused across requests and
//! deleted at the end (Basic authentication where sessions are not
//! offered), bounded response bodies, typed errors, and retries with
//! backoff for transient failures only.

use super::error::RedfishError;
use super::tls::{Pin, PinningVerifier};
use super::transport::{Failure, Request, Response, Transport};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use zeroize::Zeroizing;

/// Largest response body read from a device.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What an unauthenticated `GET /redfish/v1` answered, as it came.
pub struct RootAnswer {
    pub status: u16,
    pub server: Option<String>,
    pub challenge: Option<String>,
    /// `Retry-After` as sent (seconds or an HTTP date).
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// What a login request is called in errors; it carries no authentication.
const LOGIN: &str = "login";

/// A request body.
pub enum Body {
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

enum Auth {
    None,
    Session {
        token: Zeroizing<String>,
        location: String,
    },
    Basic,
}

/// An open connection to one iDRAC.
pub struct Client {
    transport: Transport,
    addr: String,
    user: String,
    password: Zeroizing<String>,
    auth: Auth,
    verifier: Arc<PinningVerifier>,
    legacy: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Client {
    /// A client for `host:port` trusting the certificate as `pin` says.
    pub fn new(
        host: &str,
        port: u16,
        pin: Pin,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Client, RedfishError> {
        Self::open(host, port, pin, false, user, password, timeout)
    }

    /// Like [`Client::new`]; with `legacy` (the `legacy_tls` opt-in) over
    /// OpenSSL with TLS 1.0 and legacy ciphers allowed.
    pub fn open(
        host: &str,
        port: u16,
        pin: Pin,
        legacy: bool,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Client, RedfishError> {
        let addr = super::tls::authority(host, port);
        let (transport, verifier) =
            Transport::new(host, port, pin, legacy, timeout).map_err(|message| {
                RedfishError::Connect {
                    addr: addr.clone(),
                    message,
                }
            })?;
        Ok(Client {
            transport,
            addr,
            user: user.to_string(),
            password: Zeroizing::new(password.to_string()),
            auth: Auth::None,
            verifier,
            legacy,
            timeout,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether this client speaks legacy TLS (OpenSSL, TLS 1.0 and up).
    pub fn legacy_tls(&self) -> bool {
        self.legacy
    }

    /// Fingerprint of the certificate the device presented.
    pub fn certificate(&self) -> Option<String> {
        self.verifier.seen()
    }

    /// Fingerprint of a certificate refused because it was not the pinned one.
    pub fn refused_certificate(&self) -> Option<String> {
        self.verifier.refused()
    }

    /// Names a transport failure of a request about `what`.
    fn fail(&self, e: Failure, what: &str, timeout: Option<Duration>) -> RedfishError {
        e.name(
            &self.addr,
            &self.verifier,
            what,
            timeout.unwrap_or(self.timeout),
        )
    }

    /// The authentication header of the current session or Basic login.
    fn auth_header(&self) -> Option<(HeaderName, HeaderValue)> {
        use base64::Engine;
        let (name, value) = match &self.auth {
            Auth::Session { token, .. } => ("x-auth-token", token.to_string()),
            Auth::Basic => {
                let plain = Zeroizing::new(format!("{}:{}", self.user, self.password.as_str()));
                let b64 = base64::engine::general_purpose::STANDARD.encode(plain.as_bytes());
                ("authorization", format!("Basic {b64}"))
            }
            Auth::None => return None,
        };
        let value = Zeroizing::new(value);
        let mut v = HeaderValue::from_str(&value).ok()?;
        v.set_sensitive(true);
        Some((HeaderName::from_static(name), v))
    }

    /// Sends one request: `target` is a path on the device or an absolute
    /// URL (a session's `Location`); `timeout` overrides the client's.
    async fn exchange(
        &self,
        method: reqwest::Method,
        target: &str,
        body: Option<&Body>,
        timeout: Option<Duration>,
        what: &str,
    ) -> Result<Response, RedfishError> {
        let mut headers = HeaderMap::new();
        if let Some((k, v)) = self.auth_header().filter(|_| what != LOGIN) {
            headers.insert(k, v);
        }
        let bytes = match body {
            Some(Body::Json(v)) => {
                headers.insert(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Some(serde_json::to_vec(v).unwrap_or_default())
            }
            Some(Body::Raw {
                content_type,
                bytes,
            }) => {
                let ct =
                    HeaderValue::from_str(content_type).map_err(|_| RedfishError::Connect {
                        addr: self.addr.clone(),
                        message: format!("content type {content_type:?} is not a header value"),
                    })?;
                headers.insert(reqwest::header::CONTENT_TYPE, ct);
                Some(bytes.clone())
            }
            None => None,
        };
        // One span per HTTP exchange, named as OpenTelemetry's HTTP
        // conventions name the fields; the path only (a session's
        // `Location` may be absolute), never a header.
        let path = match target.find("://") {
            Some(i) => target[i + 3..]
                .find('/')
                .map(|j| &target[i + 3 + j..])
                .unwrap_or("/"),
            None => target,
        };
        let span = tracing::info_span!(
            "redfish.request",
            otel.kind = "client",
            http.request.method = %method,
            url.path = %path,
            server.address = %self.addr,
            http.response.status_code = tracing::field::Empty,
            error.r#type = tracing::field::Empty,
        );
        let req = Request {
            method,
            target,
            headers,
            body: bytes,
            timeout,
        };
        let method_name = req.method.to_string();
        let started = std::time::Instant::now();
        let r = self
            .transport
            .send(req, self.timeout)
            .instrument(span.clone())
            .await
            .map_err(|e| self.fail(e, what, timeout));
        let status = match &r {
            Ok(resp) => {
                span.record("http.response.status_code", resp.status());
                resp.status().to_string()
            }
            Err(e) => {
                span.record("error.type", e.kind().as_str());
                e.kind().as_str().to_string()
            }
        };
        outpost_telemetry::metrics::global().observe(
            crate::metrics::REDFISH_REQUEST.0,
            crate::metrics::REDFISH_REQUEST.1,
            outpost_telemetry::metrics::SECONDS,
            &[("method", &method_name), ("status", &status)],
            started.elapsed().as_secs_f64(),
        );
        r
    }

    /// Reads at most [`MAX_BODY`] bytes of a response.
    /// A `Content-Length` is only a claim: it may refuse early, never
    /// reserve memory.
    async fn body(&self, path: &str, mut resp: Response) -> Result<Vec<u8>, RedfishError> {
        let too_large = || RedfishError::TooLarge {
            addr: self.addr.clone(),
            path: path.to_string(),
            limit: MAX_BODY,
        };
        let claimed = resp
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if claimed.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.fail(e, path, None))? {
            if out.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn json(&self, path: &str, body: &[u8]) -> Result<Value, RedfishError> {
        serde_json::from_slice(body).map_err(|e| RedfishError::Malformed {
            addr: self.addr.clone(),
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    /// The message of a Redfish error body, or the start of the text.
    fn error_message(body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let m = v["error"]["@Message.ExtendedInfo"][0]["Message"]
            .as_str()
            .or(v["error"]["message"].as_str())
            .map(str::to_string);
        m.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
    }

    /// Unauthenticated `GET /redfish/v1`: status, `Server` header, body.
    pub async fn service_root(&self) -> Result<RootAnswer, RedfishError> {
        let path = "/redfish/v1";
        let resp = self
            .exchange(reqwest::Method::GET, path, None, None, "service root")
            .await?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (server, challenge, retry_after) = (
            header("server"),
            header("www-authenticate"),
            header("retry-after"),
        );
        let body = self.body(path, resp).await?;
        Ok(RootAnswer {
            status,
            server,
            challenge,
            retry_after,
            body,
        })
    }

    /// Opens a session, or falls back to Basic where sessions are not offered.
    pub async fn login(&mut self) -> Result<(), RedfishError> {
        let path = "/redfish/v1/SessionService/Sessions";
        let body = serde_json::json!({ "UserName": self.user, "Password": self.password.as_str() });
        let resp = self
            .exchange(
                reqwest::Method::POST,
                path,
                Some(&Body::Json(body)),
                None,
                LOGIN,
            )
            .await?;
        let status = resp.status();
        match status {
            200 | 201 => {
                let token = resp
                    .headers()
                    .get("x-auth-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .unwrap_or_default();
                match token {
                    Some(t) => {
                        self.auth = Auth::Session {
                            token: Zeroizing::new(t),
                            location,
                        }
                    }
                    None => self.auth = Auth::Basic,
                }
                Ok(())
            }
            401 | 403 => Err(RedfishError::Auth {
                addr: self.addr.clone(),
                user: self.user.clone(),
                status,
            }),
            404 | 405 | 501 => {
                self.auth = Auth::Basic;
                Ok(())
            }
            503 => Err(RedfishError::Unavailable {
                addr: self.addr.clone(),
                status,
                message: "session service".into(),
            }),
            _ => Err(RedfishError::Http {
                addr: self.addr.clone(),
                method: "POST".into(),
                path: path.into(),
                status,
                message: Self::error_message(&self.body(path, resp).await?),
            }),
        }
    }

    /// Deletes the session, if there is one. Errors do not matter here.
    pub async fn logout(&mut self) {
        if let Auth::Session { location, .. } = &self.auth
            && !location.is_empty()
        {
            let location = location.clone();
            if let Ok(resp) = self
                .exchange(reqwest::Method::DELETE, &location, None, None, "logout")
                .await
            {
                let _ = self.body(&location, resp).await;
            }
        }
        self.auth = Auth::None;
    }

    /// Sends a request with authentication; a session that expired is
    /// renewed once.
    pub async fn request(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), RedfishError> {
        let body = body.map(|v| Body::Json(v.clone()));
        self.send(method, path, body.as_ref(), None).await
    }

    /// Sends a request with authentication and an optional body and
    /// timeout; a session that expired (the iDRAC reset) is renewed once.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Body>,
        timeout: Option<Duration>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), RedfishError> {
        if matches!(self.auth, Auth::None) {
            self.login().await?;
        }
        for attempt in 0..2 {
            let resp = self
                .exchange(method.clone(), path, body, timeout, path)
                .await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = self.body(path, resp).await?;
            match status {
                401 if attempt == 0 && matches!(self.auth, Auth::Session { .. }) => {
                    self.auth = Auth::None;
                    self.login().await?;
                }
                401 | 403 => {
                    return Err(RedfishError::Auth {
                        addr: self.addr.clone(),
                        user: self.user.clone(),
                        status,
                    });
                }
                404 => {
                    return Err(RedfishError::NotFound {
                        addr: self.addr.clone(),
                        path: path.to_string(),
                    });
                }
                500..=599 => {
                    return Err(RedfishError::Unavailable {
                        addr: self.addr.clone(),
                        status,
                        message: Self::error_message(&bytes),
                    });
                }
                200..=299 => return Ok((status, headers, bytes)),
                _ => {
                    return Err(RedfishError::Http {
                        addr: self.addr.clone(),
                        method: method.to_string(),
                        path: path.to_string(),
                        status,
                        message: Self::error_message(&bytes),
                    });
                }
            }
        }
        Err(RedfishError::Auth {
            addr: self.addr.clone(),
            user: self.user.clone(),
            status: 401,
        })
    }

    /// `GET path` as JSON.
    pub async fn get(&mut self, path: &str) -> Result<Value, RedfishError> {
        let (_, _, body) = self.request(reqwest::Method::GET, path, None).await?;
        self.json(path, &body)
    }

    /// A request, retrying transient failures (connect errors, timeouts,
    /// 5xx) with backoff until `deadline`.
    pub async fn request_retrying(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        deadline: tokio::time::Instant,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), RedfishError> {
        let mut delay = Duration::from_millis(250);
        loop {
            match self.request(method.clone(), path, body).await {
                Err(e) if e.retryable() && tokio::time::Instant::now() + delay < deadline => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    /// Parses a body as JSON, or names what is wrong with it.
    pub fn parse(&self, path: &str, body: &[u8]) -> Result<Value, RedfishError> {
        self.json(path, body)
    }

    /// `GET path`, retrying transient failures with backoff until `deadline`.
    pub async fn get_retrying(
        &mut self,
        path: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Value, RedfishError> {
        let mut delay = Duration::from_millis(250);
        loop {
            match self.get(path).await {
                Err(e) if e.retryable() && tokio::time::Instant::now() + delay < deadline => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }
}
