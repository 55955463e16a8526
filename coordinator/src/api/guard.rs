//! What a browser must not be able to do to the API: requests whose
//! `Host` names another site (DNS rebinding), requests from another
//! site's page (`Origin`, `Sec-Fetch-Site`: cross-site request forgery),
//! and `POST` bodies that are not declared JSON (a form or `text/plain`
//! body is what a page can send without asking first).

use super::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;

/// A host and an optional port, as in `Host` and in `allowed_hosts`;
/// the host lower-cased, IPv6 addresses in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub host: String,
    pub port: Option<u16>,
}

impl Authority {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<Authority, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty host".into());
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| "unclosed [ in an IPv6 host".to_string())?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("junk after ]")?),
            };
            (format!("[{v6}]"), port)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (s.to_string(), None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("port {p:?} is not a number from 0 to 65535"))?,
            ),
        };
        let ok =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
        if host.is_empty() || !host.chars().all(ok) {
            return Err(format!("{host:?} is not a host name or address"));
        }
        Ok(Authority {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn from_addr(addr: SocketAddr) -> Authority {
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        Authority {
            host,
            port: Some(addr.port()),
        }
    }
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Which `Host` values the API answers, and whether it checks at all.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Off when a token guards the API and no list was configured.
    pub enforce: bool,
    pub allowed: Vec<Authority>,
}

impl HostPolicy {
    /// The listen address and `localhost` on its port, plus `configured`;
    /// enforced without a token, or with one when a list is configured.
    pub fn new(local: SocketAddr, configured: &[String], has_token: bool) -> HostPolicy {
        let mut allowed = vec![
            Authority::from_addr(local),
            Authority {
                host: "localhost".into(),
                port: Some(local.port()),
            },
        ];
        allowed.extend(configured.iter().filter_map(|h| Authority::parse(h).ok()));
        HostPolicy {
            enforce: !has_token || !configured.is_empty(),
            allowed,
        }
    }

    /// Also answers `host` (the address other coordinators forward to),
    /// without changing whether the policy is enforced.
    pub fn also(mut self, host: Option<Authority>) -> HostPolicy {
        self.allowed.extend(host);
        self
    }

    fn allows(&self, a: &Authority) -> bool {
        self.allowed
            .iter()
            .any(|x| x.host == a.host && (x.port.is_none() || x.port == a.port.or(Some(80))))
    }
}

/// Refuses requests for a foreign `Host` and cross-site requests with 403.
pub async fn check_site(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.hosts.enforce {
        check_headers(&state.hosts, req.headers())?;
    }
    Ok(next.run(req).await)
}

pub(crate) fn check_headers(policy: &HostPolicy, headers: &HeaderMap) -> Result<(), ApiError> {
    let host_value = headers
        .get(header::HOST)
        .ok_or_else(|| ApiError::Forbidden("the request has no Host header".into()))?;
    let host = host_value
        .to_str()
        .ok()
        .and_then(|h| Authority::parse(h).ok())
        .ok_or_else(|| ApiError::Forbidden("the Host header is not host[:port]".into()))?;
    if !policy.allows(&host) {
        return Err(ApiError::Forbidden(format!(
            "Host {host} is not an address of this API (allowed: {}; add it to api.allowed_hosts)",
            policy
                .allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    same_origin_as(headers, &host)
}

/// The browser does not mark the request cross-site, and its `Origin`,
/// if any, is the `Host` it was sent to.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| Authority::parse(h).ok())
        .ok_or_else(|| {
            ApiError::Forbidden("the Host header is missing or not host[:port]".into())
        })?;
    same_origin_as(headers, &host)
}

fn same_origin_as(headers: &HeaderMap, host: &Authority) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && matches!(site, "cross-site" | "same-site")
    {
        return Err(ApiError::Forbidden(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        // A Host without a port is the scheme's default port (behind a proxy: 80 or 443).
        let same = origin_authority(origin)
            .is_some_and(|o| o.host == host.host && (host.port.is_none() || o.port == host.port));
        if !same {
            return Err(ApiError::Forbidden(format!(
                "cross-site request refused: Origin {origin} is not this API's origin"
            )));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of an `Origin`, with the scheme's default port.
fn origin_authority(origin: &str) -> Option<Authority> {
    let (scheme, rest) = origin.split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let mut a = Authority::parse(rest).ok()?;
    a.port = Some(a.port.unwrap_or(default));
    Some(a)
}

/// `POST` and `PUT` bodies must be declared `application/json`: 415 otherwise.
pub async fn require_json(req: Request, next: Next) -> Result<Response, ApiError> {
    if req.method() == Method::POST || req.method() == Method::PUT {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)"));
        let json = ct.is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json {
            return Err(ApiError::UnsupportedMediaType(format!(
                "POST needs Content-Type: application/json (got {})",
                ct.unwrap_or("none")
            )));
        }
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HostPolicy {
        HostPolicy::new(
            "127.0.0.1:8080".parse().unwrap(),
            &["outpost.lab".into(), "ops.lab:9000".into()],
            false,
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts_of_the_listen_address_and_the_list_pass() {
        let p = policy();
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "outpost.lab:1234",
            "outpost.lab",
            "ops.lab:9000",
        ] {
            assert!(
                check_headers(&p, &headers(&[("host", host)])).is_ok(),
                "{host}"
            );
        }
        for host in [
            "127.0.0.1:8081",
            "evil.example:8080",
            "localhost",
            "ops.lab:9001",
            "127.0.0.1",
            "a b",
        ] {
            assert!(
                check_headers(&p, &headers(&[("host", host)])).is_err(),
                "{host}"
            );
        }
        assert!(check_headers(&p, &HeaderMap::new()).is_err());
    }

    #[test]
    fn only_the_same_origin_passes() {
        let p = policy();
        let ok = |o: &str| {
            check_headers(&p, &headers(&[("host", "127.0.0.1:8080"), ("origin", o)])).is_ok()
        };
        assert!(ok("http://127.0.0.1:8080"));
        assert!(!ok("http://evil.example"));
        assert!(!ok("http://127.0.0.1:9999"));
        assert!(!ok("http://localhost:8080"));
        assert!(!ok("null"));
        assert!(!ok("http://127.0.0.1:8080/x"));
        let fetch_site = |s: &str| {
            check_headers(
                &p,
                &headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", s)]),
            )
            .is_ok()
        };
        assert!(fetch_site("same-origin") && fetch_site("none"));
        assert!(!fetch_site("cross-site") && !fetch_site("same-site"));
    }

    #[test]
    fn authorities_parse() {
        assert_eq!(
            Authority::parse("[::1]:80").unwrap(),
            Authority {
                host: "[::1]".into(),
                port: Some(80)
            }
        );
        assert!(Authority::parse("x:99999").is_err());
        assert!(Authority::parse("").is_err());
        assert!(Authority::parse("[::1").is_err());
    }
}
