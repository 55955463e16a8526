//! Connections to the app's database: tokio-postgres, its connection
//! driven on a task of its own, notifications forwarded to a channel.
//! With `sslmode=require` in the URL (Supabase) the connection is TLS
//! (rustls): the server's certificate is checked against `ca_file` or the
//! system's CA bundle, unless verification is explicitly off. Errors never
//! carry the connection string.

use futures::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls};

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot connect to the DSM database ({url}): {message}")]
    Connect { url: String, message: String },
    #[error("DSM database: {0}")]
    Query(String),
    #[error("DSM row unreadable: {0}")]
    Row(#[from] super::row::RowError),
    /// The role cannot do what the bridge needs (one problem per line).
    #[error("the DSM database role cannot run the bridge:\n  {}", .0.join("\n  "))]
    Access(Vec<String>),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        let mut m = e.to_string();
        if let Some(db) = e.as_db_error() {
            m = format!("{}: {}", db.code().code(), db.message());
        }
        DbError::Query(m)
    }
}

/// TLS settings for `sslmode=require` connections.
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub verify: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            ca_file: None,
            verify: true,
        }
    }
}

const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A notification on a channel the connection listens to.
#[derive(Debug, Clone)]
pub struct Notice {
    pub channel: String,
    pub payload: String,
}

fn tls_config(tls: &Tls) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    if !tls.verify {
        tracing::warn!("DSM database certificate not verified (tls_verify = false)");
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let path = tls
        .ca_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_CAS));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("CA file {}: {e}", path.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("CA file {} holds no certificate", path.display()));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Connects; notifications go to the returned receiver.
pub async fn connect(
    url: &str,
    tls: &Tls,
) -> Result<(Client, mpsc::UnboundedReceiver<Notice>), DbError> {
    let fail = |message: String| DbError::Connect {
        url: crate::redact(url),
        message,
    };
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| fail(e.to_string()))?;
    if config.get_ssl_mode() == SslMode::Require {
        let make = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(tls).map_err(fail)?);
        let (client, conn) = config.connect(make).await.map_err(|e| fail(chain(&e)))?;
        Ok((client, drive(conn)))
    } else {
        let (client, conn) = config.connect(NoTls).await.map_err(|e| fail(chain(&e)))?;
        Ok((client, drive(conn)))
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

fn drive<S, T>(mut conn: Connection<S, T>) -> mpsc::UnboundedReceiver<Notice>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send(Notice {
                        channel: n.channel().to_string(),
                        payload: n.payload().to_string(),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "DSM database connection ended");
                    break;
                }
            }
        }
    });
    rx
}

/// Accepts any certificate (the handshake signature is still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
