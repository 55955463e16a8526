//! A Redfish client for one iDRAC: HTTPS with the device's pinned
//! certificate, a `SessionService` token reused across requests and
//! deleted at the end (Basic authentication where sessions are not
//! offered), bounded response bodies, typed errors, and retries with
//! backoff for transient failures only.

use super::error::RedfishError;
use super::tls::{Pin, PinningVerifier};
use futures::StreamExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
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
    http: reqwest::Client,
    base: String,
    addr: String,
    user: String,
    password: Zeroizing<String>,
    auth: Auth,
    verifier: Arc<PinningVerifier>,
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
        let addr = super::tls::authority(host, port);
        let (builder, verifier) = super::tls::pinned_client(pin, timeout, 1);
        let http = builder
            .timeout(timeout)
            .build()
            .map_err(|e| RedfishError::Connect {
                addr: addr.clone(),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: format!("https://{addr}"),
            addr,
            user: user.to_string(),
            password: Zeroizing::new(password.to_string()),
            auth: Auth::None,
            verifier,
            timeout,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Fingerprint of the certificate the device presented.
    pub fn certificate(&self) -> Option<String> {
        self.verifier.seen()
    }

    /// Fingerprint of a certificate refused because it was not the pinned one.
    pub fn refused_certificate(&self) -> Option<String> {
        self.verifier.refused()
    }

    fn transport(&self, e: reqwest::Error, what: &str) -> RedfishError {
        let text = format!("{e:#}");
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        let mut chain = String::new();
        while let Some(s) = src {
            chain.push_str(&s.to_string());
            chain.push_str(": ");
            src = s.source();
        }
        if chain.contains("certificate changed") {
            return RedfishError::CertChanged {
                addr: self.addr.clone(),
                pinned: self.verifier.pinned().unwrap_or_default(),
                presented: self
                    .verifier
                    .refused()
                    .or_else(|| self.verifier.seen())
                    .unwrap_or_default(),
            };
        }
        if e.is_timeout() {
            return RedfishError::Timeout {
                addr: self.addr.clone(),
                what: what.to_string(),
                secs: self.timeout.as_secs(),
            };
        }
        RedfishError::Connect {
            addr: self.addr.clone(),
            message: if chain.is_empty() {
                text
            } else {
                chain.trim_end_matches(": ").to_string()
            },
        }
    }

    fn authorize(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Session { token, .. } => r.header("X-Auth-Token", token.as_str()),
            Auth::Basic => r.basic_auth(&self.user, Some(self.password.as_str())),
            Auth::None => r,
        }
    }

    /// Reads at most [`MAX_BODY`] bytes of a response.
    /// A `Content-Length` is only a claim: it may refuse early, never
    /// reserve memory.
    async fn body(&self, path: &str, resp: reqwest::Response) -> Result<Vec<u8>, RedfishError> {
        let too_large = || RedfishError::TooLarge {
            addr: self.addr.clone(),
            path: path.to_string(),
            limit: MAX_BODY,
        };
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(e, path))?;
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
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.transport(e, "service root"))?;
        let status = resp.status().as_u16();
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
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport(e, "login"))?;
        let status = resp.status().as_u16();
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
            let url = if location.starts_with("http") {
                location.clone()
            } else {
                format!("{}{location}", self.base)
            };
            let _ = self.authorize(self.http.delete(url)).send().await;
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
            let mut r = self.authorize(
                self.http
                    .request(method.clone(), format!("{}{path}", self.base)),
            );
            match body {
                Some(Body::Json(v)) => r = r.json(v),
                Some(Body::Raw {
                    content_type,
                    bytes,
                }) => {
                    r = r
                        .header("content-type", content_type.as_str())
                        .body(bytes.clone())
                }
                None => {}
            }
            if let Some(t) = timeout {
                r = r.timeout(t);
            }
            let resp = r.send().await.map_err(|e| self.transport(e, path))?;
            let status = resp.status().as_u16();
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
