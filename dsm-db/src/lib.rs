//! The Dell Server Manager app's PostgreSQL as Outpost reaches it: a
//! connection with its certificate checked ([`db`]), typed access to rows
//! that names the table and column when one does not fit ([`row`]),
//! whether the role can see and claim the app's jobs ([`access`]), and
//! the trigger `outpost dsm install` puts on `jobs` ([`install`]). The
//! coordinator's bridge and the `outpost` CLI both use it; neither
//! reaches into the other.

pub mod access;
pub mod db;
pub mod install;
pub mod row;

/// Hides the password of a URL (`postgres://u:pw@h/db`) or of a
/// key/value string (`host=h password=pw`).
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            let user = creds.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
