//! TLS to iDRACs: their certificates are self-signed, so chain validation
//! cannot vouch for them. Instead each device's end-entity certificate is
//! pinned on first use by its SHA-256 fingerprint and must not change
//! afterwards; a zone may opt out of pinning explicitly. The handshake
//! signature is still verified, so the peer must hold the certificate's key.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// What the verifier expects of a device's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Not seen before: accept and report the fingerprint to be recorded.
    FirstUse,
    /// Must match this fingerprint (lowercase hex SHA-256 of the DER).
    Expect(String),
    /// The zone opted out of pinning.
    Off,
}

/// `host:port`, with brackets around an IPv6 address.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An HTTPS client for one device whose certificate is checked as `pin`
/// says, with the verifier that remembers what the device presented.
pub fn pinned_client(
    pin: Pin,
    connect_timeout: std::time::Duration,
    idle_per_host: usize,
) -> (reqwest::ClientBuilder, Arc<PinningVerifier>) {
    let verifier = PinningVerifier::new(pin);
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(verifier.client_config())
        .connect_timeout(connect_timeout)
        .pool_max_idle_per_host(idle_per_host);
    (builder, verifier)
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A verifier for one device; remembers the certificate it was shown.
#[derive(Debug)]
pub struct PinningVerifier {
    pin: Pin,
    seen: Mutex<Option<String>>,
    refused: Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl PinningVerifier {
    pub fn new(pin: Pin) -> Arc<Self> {
        Arc::new(PinningVerifier {
            pin,
            seen: Mutex::new(None),
            refused: Mutex::new(None),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }

    /// The fingerprint this verifier insists on, if any (on a first use,
    /// the certificate it trusted first).
    pub fn pinned(&self) -> Option<String> {
        match &self.pin {
            Pin::Expect(fp) => Some(fp.clone()),
            Pin::FirstUse => self.seen(),
            Pin::Off => None,
        }
    }

    /// Fingerprint of the certificate the device presented last (on a
    /// first use, the one it trusted).
    pub fn seen(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }

    fn refuse(&self, fp: String) {
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(fp);
    }

    /// Fingerprint of the certificate that was refused last, if any.
    pub fn refused(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|s| s.clone())
    }

    /// A rustls client config that uses this verifier.
    pub fn client_config(self: &Arc<Self>) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth()
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity.as_ref());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let before = seen.replace(fp.clone());
        match &self.pin {
            // A first use trusts one certificate: a device that changes its
            // certificate during the same operation is not trusted anew.
            Pin::FirstUse => match before {
                Some(first) if first != fp => {
                    *seen = Some(first);
                    self.refuse(fp);
                    Err(rustls::Error::General("certificate changed".into()))
                }
                _ => Ok(ServerCertVerified::assertion()),
            },
            Pin::Off => Ok(ServerCertVerified::assertion()),
            Pin::Expect(want) if *want == fp => Ok(ServerCertVerified::assertion()),
            Pin::Expect(_) => {
                self.refuse(fp);
                Err(rustls::Error::General("certificate changed".into()))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
