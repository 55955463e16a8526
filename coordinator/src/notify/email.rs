//! Email channels: `smtp://user@host:587` with STARTTLS required (unless
//! `starttls = false`, for a loopback relay only), `smtps://user@host:465`
//! with TLS from the first byte; AUTH with the password from
//! `password_file`; the server's certificate checked against the system
//! bundle, `SSL_CERT_FILE` and `ca_file`. One message per event.

use super::config::{Channel, is_loopback_host};
use super::message::Message;
use super::send::{Answer, SendError};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// The longest one email may take, from connecting to the server's last
/// reply.
const WHOLE_SEND: std::time::Duration = std::time::Duration::from_secs(60);

/// Where and how to reach the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    /// `smtps://`: TLS from the first byte.
    pub implicit_tls: bool,
}

impl SmtpUrl {
    /// Parses `smtp://[user@]host[:port]` (port 587) or
    /// `smtps://[user@]host[:port]` (port 465). A password in the URL is
    /// refused: it belongs in `password_file`.
    pub fn parse(url: &str) -> Result<SmtpUrl, String> {
        let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let implicit_tls = match u.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(format!("scheme {other:?} is not smtp or smtps")),
        };
        if u.password().is_some() {
            return Err("the password goes in password_file, not in the URL".into());
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let user = Some(u.username())
            .filter(|s| !s.is_empty())
            .map(percent_decode);
        Ok(SmtpUrl {
            host,
            port: u.port().unwrap_or(if implicit_tls { 465 } else { 587 }),
            user,
            implicit_tls,
        })
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

/// `%40` and friends in a URL's user part.
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tls_parameters(ch: &Channel, host: &str) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(host.to_string()).certificate_store(CertificateStore::None);
    for der in ch.cas.iter() {
        let cert =
            Certificate::from_der(der.clone()).map_err(|e| format!("a CA certificate: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| format!("TLS set-up: {e}"))
}

/// Sends `msg` as one email to the channel's recipients.
pub async fn send(ch: &Channel, msg: &Message) -> Result<Answer, SendError> {
    let (subject, body) = msg.email();
    send_text(ch, subject, body).await
}

/// Sends one plain-text email with `subject` and `body`.
pub async fn send_text(ch: &Channel, subject: String, body: String) -> Result<Answer, SendError> {
    let url = SmtpUrl::parse(ch.cfg.smtp_url.as_deref().unwrap_or_default())
        .map_err(SendError::Permanent)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = if url.implicit_tls {
        Tls::Wrapper(tls_parameters(ch, &url.host).map_err(SendError::Permanent)?)
    } else if ch.cfg.starttls {
        Tls::Required(tls_parameters(ch, &url.host).map_err(SendError::Permanent)?)
    } else {
        Tls::None
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
        .port(url.port)
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if let (Some(user), Some(pass)) = (&url.user, &ch.password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.to_string()));
    }
    let transport = builder.build();
    let from = ch.cfg.from.as_deref().unwrap_or_default();
    let mut mail = lettre::Message::builder()
        .from(
            from.parse()
                .map_err(|e| SendError::Permanent(format!("from {from:?}: {e}")))?,
        )
        .subject(subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN);
    for to in &ch.cfg.to {
        mail = mail.to(to
            .parse()
            .map_err(|e| SendError::Permanent(format!("to {to:?}: {e}")))?);
    }
    let mail = mail
        .body(body)
        .map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))?;
    // lettre's timeout is per command; a server that stops answering
    // mid-conversation must not hold the delivery for ever.
    let sent = tokio::time::timeout(WHOLE_SEND, transport.send(mail))
        .await
        .map_err(|_| {
            SendError::Transient(format!("SMTP: no answer within {} s", WHOLE_SEND.as_secs()))
        })?;
    match sent {
        Ok(r) => Ok(Answer {
            code: u16::from(r.code()),
            text: r.message().collect::<Vec<_>>().join(" "),
        }),
        Err(e) => {
            // A permanent reply (5xx) is not retried; the rest may pass later.
            let text = e.to_string();
            if e.is_permanent() {
                Err(SendError::Permanent(format!("SMTP server refused: {text}")))
            } else if e.is_client() || e.is_tls() {
                // No common AUTH mechanism, a certificate not trusted:
                // trying again changes nothing.
                Err(SendError::Permanent(format!("SMTP: {text}")))
            } else {
                Err(SendError::Transient(format!("SMTP: {text}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse_with_their_default_ports() {
        let u = SmtpUrl::parse("smtp://ops%40example.com@mx.example").unwrap();
        assert_eq!(
            u,
            SmtpUrl {
                host: "mx.example".into(),
                port: 587,
                user: Some("ops@example.com".into()),
                implicit_tls: false
            }
        );
        assert_eq!(SmtpUrl::parse("smtps://mx.example").unwrap().port, 465);
        assert!(
            SmtpUrl::parse("smtp://u:pw@mx.example")
                .unwrap_err()
                .contains("password_file")
        );
        assert!(SmtpUrl::parse("http://mx.example").is_err());
        assert!(
            SmtpUrl::parse("smtp://127.0.0.1:2525")
                .unwrap()
                .is_loopback()
        );
    }
}
