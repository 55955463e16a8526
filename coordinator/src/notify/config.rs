//! `[[notify]]` tables: the channels job notifications go to, which events
//! each wants, and their secrets (webhook URLs, HMAC keys, SMTP
//! passwords), read from files at start and never shown again.

use super::event::EventKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// One channel, as written in the coordinator's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Unique; `outpost notify test NAME` and the delivery records use it.
    pub name: String,
    pub kind: ChannelKind,
    /// The webhook's URL (a secret: prefer `url_file`).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// `webhook`: the HMAC-SHA256 key.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// `email`: `smtp://user@host:587` (STARTTLS) or `smtps://user@host:465`
    /// (TLS from the first byte).
    #[serde(default)]
    pub smtp_url: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `email` over `smtp://`: require STARTTLS (default). `false` sends in
    /// the clear and is accepted for a loopback server only.
    #[serde(default = "yes")]
    pub starttls: bool,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// More CA certificates (PEM) to trust for this channel's TLS, besides
    /// the system bundle (or `SSL_CERT_FILE`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    pub events: Vec<EventKind>,
    /// Only jobs of these types (all when absent).
    #[serde(default)]
    pub job_types: Option<Vec<String>>,
    /// Only jobs with tasks in one of these zones (all when absent).
    #[serde(default)]
    pub zones: Option<Vec<String>>,
    /// `email`: gather the events of this many minutes into one message
    /// (absent: one message per event).
    #[serde(default)]
    pub digest_minutes: Option<f64>,
    /// `zone.no_workers`: how long a zone may have no live worker first.
    #[serde(default = "default_no_workers_minutes")]
    pub no_workers_minutes: f64,
}

fn yes() -> bool {
    true
}

fn default_no_workers_minutes() -> f64 {
    5.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Teams,
    Slack,
    Webhook,
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Teams => "teams",
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Email => "email",
        }
    }
}

/// A channel ready to send: its settings and its secrets.
#[derive(Clone)]
pub struct Channel {
    pub cfg: NotifyConfig,
    /// Webhook kinds: the URL.
    pub url: Option<Zeroizing<String>>,
    /// `webhook`: the HMAC key.
    pub secret: Option<Zeroizing<String>>,
    /// `email`: the SMTP password.
    pub password: Option<Zeroizing<String>>,
    /// The CA certificates (DER) its TLS trusts, read once.
    pub cas: std::sync::Arc<Vec<Vec<u8>>>,
    /// Webhook kinds: the HTTP client, made once with those CAs.
    pub http: Option<reqwest::Client>,
}

impl Channel {
    /// A channel of `cfg` with its trust read (the system bundle or
    /// `SSL_CERT_FILE`, and `ca_file`) and, for webhook kinds, its HTTP
    /// client made; no secret yet.
    pub fn new(cfg: NotifyConfig) -> Result<Channel, String> {
        let mut cas = Vec::new();
        for f in super::tls::trusted(cfg.ca_file.as_deref()) {
            cas.extend(super::tls::read_cas(&f)?);
        }
        let http = match cfg.kind {
            ChannelKind::Email => None,
            _ => Some(super::tls::http_client(&cas)?),
        };
        Ok(Channel {
            cfg,
            url: None,
            secret: None,
            password: None,
            cas: std::sync::Arc::new(cas),
            http,
        })
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.cfg.name)
            .field("kind", &self.cfg.kind)
            .finish_non_exhaustive()
    }
}

/// Reads a secret file: its content with the trailing newline trimmed (as
/// `echo` writes it). The error names the file, never its content.
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, String> {
    use std::io::Read;
    let shown = path.display();
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut text = Zeroizing::new(String::new());
    f.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(format!("{shown} is larger than {MAX_SECRET_FILE} bytes"));
    }
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}

/// Checks every `[[notify]]` table and reads its secrets; the error names
/// the channel and the key.
pub fn load(configs: &[NotifyConfig]) -> Result<Vec<Channel>, String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let at = format!("[[notify]] {:?}", c.name);
        if c.name.is_empty()
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_'))
        {
            return Err(format!(
                "{at}: name must be letters, digits, - and _ (it names the channel in records)"
            ));
        }
        if !seen.insert(c.name.clone()) {
            return Err(format!("{at}: name used twice"));
        }
        if c.events.is_empty() {
            return Err(format!("{at}: events is empty: nothing would be sent"));
        }
        let mut ch = Channel::new(c.clone()).map_err(|e| format!("{at}: {e}"))?;
        match c.kind {
            ChannelKind::Teams | ChannelKind::Slack | ChannelKind::Webhook => {
                let url = match (&c.url, &c.url_file) {
                    (Some(u), None) => Zeroizing::new(u.clone()),
                    (None, Some(f)) => {
                        read_secret(f).map_err(|e| format!("{at}: url_file: {e}"))?
                    }
                    _ => return Err(format!("{at}: give exactly one of url and url_file")),
                };
                check_url(&url).map_err(|e| format!("{at}: url: {e}"))?;
                ch.url = Some(url);
                if c.kind == ChannelKind::Webhook {
                    let f = c.secret_file.as_ref().ok_or_else(|| {
                        format!(
                            "{at}: a webhook needs secret_file (the HMAC key its receiver checks)"
                        )
                    })?;
                    ch.secret =
                        Some(read_secret(f).map_err(|e| format!("{at}: secret_file: {e}"))?);
                } else if c.secret_file.is_some() {
                    return Err(format!("{at}: secret_file is for kind = \"webhook\""));
                }
                for (key, set) in [
                    ("smtp_url", c.smtp_url.is_some()),
                    ("password_file", c.password_file.is_some()),
                    ("from", c.from.is_some()),
                    ("to", !c.to.is_empty()),
                ] {
                    if set {
                        return Err(format!("{at}: {key} is for kind = \"email\""));
                    }
                }
            }
            ChannelKind::Email => {
                let url = c
                    .smtp_url
                    .as_deref()
                    .ok_or_else(|| format!("{at}: an email channel needs smtp_url"))?;
                let smtp = super::email::SmtpUrl::parse(url)
                    .map_err(|e| format!("{at}: smtp_url: {e}"))?;
                if !smtp.implicit_tls && !c.starttls && !smtp.is_loopback() {
                    return Err(format!(
                        "{at}: starttls = false sends the password in the clear: allowed only to a loopback server"
                    ));
                }
                if c.from.as_deref().is_none_or(str::is_empty) {
                    return Err(format!("{at}: an email channel needs from"));
                }
                if c.to.is_empty() {
                    return Err(format!("{at}: an email channel needs to = [..]"));
                }
                if let Some(f) = &c.password_file {
                    ch.password =
                        Some(read_secret(f).map_err(|e| format!("{at}: password_file: {e}"))?);
                } else if smtp.user.is_some() {
                    return Err(format!("{at}: smtp_url names a user: give password_file"));
                }
                if c.url.is_some() || c.url_file.is_some() || c.secret_file.is_some() {
                    return Err(format!(
                        "{at}: url, url_file and secret_file are for webhook kinds"
                    ));
                }
            }
        }
        if !(c.no_workers_minutes > 0.0 && c.no_workers_minutes <= 10_080.0) {
            return Err(format!(
                "{at}: no_workers_minutes must be more than 0 and at most 10080"
            ));
        }
        if let Some(m) = c.digest_minutes {
            if c.kind != ChannelKind::Email {
                return Err(format!("{at}: digest_minutes is for kind = \"email\""));
            }
            if !(m > 0.0 && m <= 1440.0) {
                return Err(format!(
                    "{at}: digest_minutes must be more than 0 and at most 1440"
                ));
            }
        }
        out.push(ch);
    }
    Ok(out)
}

/// An `https://` URL, or `http://` to a loopback address (a local relay).
fn check_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(u.host_str().unwrap_or("")) => Ok(()),
        "http" => Err("http:// is allowed to a loopback address only; use https://".into()),
        other => Err(format!("scheme {other:?} is not https")),
    }
}

/// `localhost` or a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<Vec<Channel>, String> {
        #[derive(Deserialize)]
        struct Doc {
            notify: Vec<NotifyConfig>,
        }
        let d: Doc = toml::from_str(toml).map_err(|e| e.to_string())?;
        load(&d.notify)
    }

    #[test]
    fn channels_are_checked_with_names_in_the_errors() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "s3cret\n").unwrap();
        let ok = format!(
            "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://hooks.example/x\"\nsecret_file = \"{}\"\nevents = [\"job.failed\"]\n",
            key.display()
        );
        let ch = parse(&ok).unwrap();
        assert_eq!(ch[0].secret.as_deref().map(String::as_str), Some("s3cret"));
        assert!(!format!("{:?}", ch[0]).contains("s3cret"));
        let twice = format!("{ok}{}", ok);
        assert!(parse(&twice).unwrap_err().contains("used twice"));
        let plain = ok.replace("https://hooks.example/x", "http://hooks.example/x");
        assert!(parse(&plain).unwrap_err().contains("loopback"));
        let local = ok.replace("https://hooks.example/x", "http://127.0.0.1:9/x");
        assert!(parse(&local).is_ok());
        let no_key = ok.replace(&format!("secret_file = \"{}\"\n", key.display()), "");
        assert!(parse(&no_key).unwrap_err().contains("secret_file"));
        let bad_event = ok.replace("job.failed", "job.exploded");
        assert!(parse(&bad_event).unwrap_err().contains("job.exploded"));
        let unknown = format!("{ok}colour = 1\n");
        assert!(parse(&unknown).unwrap_err().contains("colour"));
        let email = "[[notify]]\nname = \"mail\"\nkind = \"email\"\nsmtp_url = \"smtp://mx.example:25\"\nstarttls = false\nfrom = \"a@b\"\nto = [\"c@d\"]\nevents = [\"job.failed\"]\n";
        assert!(parse(email).unwrap_err().contains("in the clear"));
        let email_tls = email.replace("starttls = false\n", "");
        assert!(parse(&email_tls).is_ok());
        let digest_hook = format!("{ok}digest_minutes = 5\n");
        assert!(parse(&digest_hook).unwrap_err().contains("digest_minutes"));
        let digest_zero = format!("{email_tls}digest_minutes = 0\n");
        assert!(parse(&digest_zero).unwrap_err().contains("more than 0"));
        let no_to = email_tls.replace("to = [\"c@d\"]\n", "");
        assert!(parse(&no_to).unwrap_err().contains("to ="));
    }
}
