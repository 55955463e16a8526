//! Whom a channel's TLS trusts: the system's CA bundle, the bundle
//! `SSL_CERT_FILE` names, and the channel's own `ca_file`.

use std::path::{Path, PathBuf};

/// Largest CA file read.
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Debian's CA bundle.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The PEM certificates in `path`, each as DER; the error names the file.
pub fn read_cas(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    if len > MAX_CA_FILE {
        return Err(format!("{shown} is larger than {MAX_CA_FILE} bytes"));
    }
    let certs: Vec<Vec<u8>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{shown}: {e}"))?
        .map(|c| c.map(|c| c.to_vec()).map_err(|e| format!("{shown}: {e}")))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(format!("{shown} holds no PEM certificate"));
    }
    Ok(certs)
}

/// The CA files a channel trusts: `SSL_CERT_FILE` (else the system
/// bundle, when there is one) and its `ca_file`.
pub fn trusted(ca_file: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    match std::env::var_os("SSL_CERT_FILE") {
        Some(f) => out.push(PathBuf::from(f)),
        None if Path::new(SYSTEM_BUNDLE).exists() => out.push(PathBuf::from(SYSTEM_BUNDLE)),
        None => {}
    }
    out.extend(ca_file.map(Path::to_path_buf));
    out
}

/// An HTTP client for a webhook channel trusting `cas` (DER), with
/// bounded waits and no redirects (a webhook that redirects is
/// misconfigured, and following one would send the message elsewhere).
pub fn http_client(cas: &[Vec<u8>]) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = cas
        .iter()
        .map(|der| {
            reqwest::Certificate::from_der(der).map_err(|e| format!("a CA certificate: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only(certs)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}
