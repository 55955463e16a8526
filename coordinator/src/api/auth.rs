//! Token check for every API route but `/healthz` and the console's
//! sign-in: a bearer token (the CLI, scripts) or the console's session
//! cookie, which a browser sends by itself and so is taken only from the
//! console's own pages (same origin, and a header a form cannot set).

use super::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

/// The header the console's script sets on every request that changes
/// something: a cross-site form or `fetch` without CORS cannot.
pub const CONSOLE_HEADER: &str = "x-outpost-console";

/// Lets a request through when no token is configured, when it carries
/// `Authorization: Bearer <token>` (the scheme in any case), or a valid
/// console session from the console's own page.
pub async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.token
        && !authorized(req.headers(), token)
    {
        if !super::console::session::signed_in(req.headers(), token) {
            return Err(ApiError::Unauthorized);
        }
        from_the_console(req.method(), req.headers())?;
    }
    Ok(next.run(req).await)
}

/// A cookie-authenticated request must come from this API's own page:
/// not marked cross-site by the browser, from this origin when it says,
/// and with [`CONSOLE_HEADER`] when it is not a read.
fn from_the_console(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    super::guard::same_origin(headers)?;
    if !matches!(*method, Method::GET | Method::HEAD) && !headers.contains_key(CONSOLE_HEADER) {
        return Err(ApiError::Forbidden(format!(
            "a request signed in by cookie that changes something needs the {CONSOLE_HEADER} header"
        )));
    }
    Ok(())
}

/// The request carries `Authorization: Bearer <token>`.
pub fn authorized(headers: &axum::http::HeaderMap, token: &str) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes()))
}

/// The credentials of a `Bearer` authorization value.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

/// Compares digests in constant time, so neither the content nor the
/// length of the token shows in the answer's timing.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_request_must_come_from_the_console() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let host = ("host", "127.0.0.1:8080");
        assert!(from_the_console(&Method::GET, &h(&[host])).is_ok());
        assert!(from_the_console(&Method::POST, &h(&[host])).is_err());
        assert!(from_the_console(&Method::POST, &h(&[host, (CONSOLE_HEADER, "1")])).is_ok());
        let evil = ("origin", "http://evil.example");
        assert!(from_the_console(&Method::POST, &h(&[host, evil, (CONSOLE_HEADER, "1")])).is_err());
        let cross = ("sec-fetch-site", "cross-site");
        assert!(from_the_console(&Method::GET, &h(&[host, cross])).is_err());
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
