//! TLS to iDRACs: their certificates are self-signed, so chain validation
//! cannot vouch for them. Instead each device's end-entity certificate is
//! pinned on first use by its SHA-256 fingerprint and must not change
//! afterwards; a zone may opt out of pinning explicitly.
//!
//! The pin is the trust: the certificate's own signature, chain, expiry,
//! key size and signature algorithm are not judged. The handshake
//! signature is still verified, so the peer must hold the certificate's
//! key (a certificate is public; replaying it proves nothing). Where ring
//! refuses that signature only because the key or algorithm is legacy (RSA
//! keys under 2048 bits, as on iDRAC 7/8 factory certificates and govmomi's
//! simulator; SHA-1 in TLS 1.2), [`super::legacy_sig`] verifies it instead
//! and a warning names the key size; such a certificate is accepted when it
//! matches the pin, on first use, or with pinning off, never for a
//! mismatched pin. The same [`PinningVerifier`] decides for the OpenSSL
//! connections of `legacy_tls` ([`super::legacy`]).

use super::legacy_sig;
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
    peer: &str,
    connect_timeout: std::time::Duration,
    idle_per_host: usize,
) -> (reqwest::ClientBuilder, Arc<PinningVerifier>) {
    let verifier = PinningVerifier::named(pin, peer);
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

/// Message of the error that refuses a certificate that is not the pinned one.
pub const CHANGED: &str = "certificate changed";

/// A certificate refused because it is not the pinned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed;

/// A verifier for one device; remembers the certificate it was shown.
#[derive(Debug)]
pub struct PinningVerifier {
    pin: Pin,
    /// `host:port` of the peer, for log lines.
    peer: String,
    seen: Mutex<Option<String>>,
    refused: Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl PinningVerifier {
    pub fn new(pin: Pin) -> Arc<Self> {
        Self::named(pin, "")
    }

    /// A verifier for the peer `host:port` (named in warnings).
    pub fn named(pin: Pin, peer: &str) -> Arc<Self> {
        Arc::new(PinningVerifier {
            pin,
            peer: peer.to_string(),
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

    /// Judges the end-entity certificate `der` as the pin says, and
    /// remembers it (on a refusal, as the refused one).
    pub fn check(&self, der: &[u8]) -> Result<(), Changed> {
        let fp = fingerprint(der);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let before = seen.replace(fp.clone());
        match &self.pin {
            // A first use trusts one certificate: a device that changes its
            // certificate during the same operation is not trusted anew.
            Pin::FirstUse => match before {
                Some(first) if first != fp => {
                    *seen = Some(first);
                    self.refuse(fp);
                    Err(Changed)
                }
                _ => Ok(()),
            },
            Pin::Off => Ok(()),
            Pin::Expect(want) if *want == fp => Ok(()),
            Pin::Expect(_) => {
                self.refuse(fp);
                Err(Changed)
            }
        }
    }

    /// Whether the certificate with fingerprint `fp` is the one this
    /// verifier trusts: the pin, the first use's certificate, or any with
    /// pinning off.
    pub fn trusts(&self, fp: &str) -> bool {
        match &self.pin {
            Pin::Off => true,
            Pin::Expect(want) => want == fp,
            Pin::FirstUse => self.seen().as_deref() == Some(fp),
        }
    }

    /// A handshake signature ring refused: accepted when ring refused it
    /// only for a legacy key or algorithm, the certificate is the trusted
    /// one and the signature verifies with its key.
    fn legacy_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
        refused: rustls::Error,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.trusts(&fingerprint(cert.as_ref())) {
            return Err(refused);
        }
        match legacy_sig::verify(dss.scheme, tls13, cert.as_ref(), message, dss.signature()) {
            legacy_sig::Verdict::Valid(why) => {
                let how = match self.pin {
                    Pin::Expect(_) => "accepted by its pin",
                    Pin::FirstUse => "trusted on first use",
                    Pin::Off => "accepted with pinning off",
                };
                tracing::warn!(
                    peer = %self.peer,
                    "{}: a TLS handshake with {why}, verified and {how}; \
                     replace the certificate when the device allows",
                    if self.peer.is_empty() { "the peer" } else { &self.peer }
                );
                Ok(HandshakeSignatureValid::assertion())
            }
            legacy_sig::Verdict::NotLegacy => Err(refused),
            legacy_sig::Verdict::Invalid => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature,
            )),
        }
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
        self.check(end_entity.as_ref())
            .map(|()| ServerCertVerified::assertion())
            .map_err(|Changed| rustls::Error::General(CHANGED.into()))
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
        .or_else(|e| self.legacy_signature(message, cert, dss, false, e))
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
        .or_else(|e| self.legacy_signature(message, cert, dss, true, e))
    }

    /// ring's schemes, then RSA PKCS#1 with SHA-1 last, so that only a
    /// server with nothing better picks it (TLS 1.2 only; TLS 1.3 forbids it).
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        let mut schemes = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        schemes.push(rustls::SignatureScheme::RSA_PKCS1_SHA1);
        schemes
    }
}
