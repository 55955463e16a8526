//! Console sign-in: the API token is exchanged once for a session cookie
//! (`HttpOnly`, `SameSite=Strict`), so the page's script never holds the
//! token and `EventSource`, which cannot send an `Authorization` header,
//! is authorized too.
//!
//! The cookie is `<expiry>.<nonce>.<mac>`, the MAC an HMAC-SHA256 keyed by
//! the token: any coordinator with the same token accepts it (a standby
//! that takes over, a restart), and changing the token signs every
//! browser out. Nothing is kept per session on the server.

use super::super::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "outpost_session";

/// How long a sign-in lasts.
pub const LIFETIME_S: u64 = 12 * 3600;

/// Longest cookie value looked at (a forged giant is not hashed).
const MAX_VALUE: usize = 256;

type HmacSha256 = hmac::Hmac<Sha256>;

fn mac(token: &str, message: &str) -> HmacSha256 {
    let key = Sha256::new()
        .chain_update(b"outpost console session v1\0")
        .chain_update(token.as_bytes())
        .finalize();
    let mut m = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
    m.update(message.as_bytes());
    m
}

/// A cookie value valid until `now + LIFETIME_S`.
pub fn issue(token: &str, now: u64) -> String {
    let nonce: [u8; 16] = rand::random();
    let message = format!("{}.{}", now + LIFETIME_S, hex(&nonce));
    let tag = mac(token, &message).finalize().into_bytes();
    format!("{message}.{}", hex(&tag))
}

/// `value` was issued with `token` and has not expired at `now`.
pub fn valid(token: &str, value: &str, now: u64) -> bool {
    if value.len() > MAX_VALUE {
        return false;
    }
    let Some((message, tag)) = value.rsplit_once('.') else {
        return false;
    };
    let Some(expiry) = message
        .split_once('.')
        .and_then(|(e, _)| e.parse::<u64>().ok())
    else {
        return false;
    };
    let Some(tag) = unhex(tag) else {
        return false;
    };
    // Checked in constant time by the MAC.
    expiry > now && mac(token, message).verify_slice(&tag).is_ok()
}

/// The session cookie's value among the request's `Cookie` headers.
pub fn from_headers(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
}

/// The session cookie's value in one `Cookie` header's text.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The request carries a session cookie valid for `token`.
pub fn signed_in(headers: &HeaderMap, token: &str) -> bool {
    from_headers(headers).is_some_and(|v| valid(token, v, unix_now()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// `Set-Cookie` for `value` (`None`: the cookie removed). `Secure` when
/// the request reached a TLS proxy in front of the API.
fn set_cookie(value: Option<&str>, headers: &HeaderMap) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let (value, age) = match value {
        Some(v) => (v, LIFETIME_S),
        None => ("", 0),
    };
    let cookie = format!(
        "{COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub use outpost_api::session::{SessionView, SignIn};

/// `GET /api/v1/session`.
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Json<SessionView> {
    let token_required = state.token.is_some();
    let signed_in = state
        .token
        .as_deref()
        .is_none_or(|t| signed_in(&headers, t) || super::super::auth_ok(&headers, t));
    Json(SessionView {
        token_required,
        signed_in,
    })
}

/// `POST /api/v1/session` with `{"token": "…"}`: sets the cookie, or 401.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    super::super::guard::same_origin(&headers)?;
    let form: SignIn = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("sign-in body: {e}; expected {{\"token\": \"…\"}}"))
    })?;
    let Some(token) = state.token.as_deref() else {
        // Nothing to sign in to: the API is open (on loopback).
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if !super::super::auth::same_secret(form.token.as_bytes(), token.as_bytes()) {
        tracing::warn!("console sign-in refused: wrong token");
        return Err(ApiError::Unauthorized);
    }
    tracing::info!("console signed in");
    let cookie = set_cookie(Some(&issue(token, unix_now())), &headers);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// `DELETE /api/v1/session`: removes the cookie.
pub async fn sign_out(headers: HeaderMap) -> Result<Response, ApiError> {
    super::super::guard::same_origin(&headers)?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, set_cookie(None, &headers))],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_holds_for_its_token_until_it_expires() {
        let v = issue("secret", 1000);
        assert!(valid("secret", &v, 1000));
        assert!(valid("secret", &v, 1000 + LIFETIME_S - 1));
        assert!(!valid("secret", &v, 1000 + LIFETIME_S));
        assert!(!valid("other", &v, 1000));
        // Moving the expiry breaks the MAC.
        let (_, rest) = v.split_once('.').unwrap();
        let later = format!("{}.{rest}", 1000 + 10 * LIFETIME_S);
        assert!(!valid("secret", &later, 1000 + 2 * LIFETIME_S));
        for junk in ["", ".", "x.y.z", "1.2.zz", &"9".repeat(1000)] {
            assert!(!valid("secret", junk, 1000), "{junk}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; outpost_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(from_headers(&h), Some("abc"));
        h.insert(header::COOKIE, "outpost_sessionx=1".parse().unwrap());
        assert_eq!(from_headers(&h), None);
    }
}
