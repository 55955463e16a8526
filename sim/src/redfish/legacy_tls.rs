//! Old iDRACs' TLS, served by OpenSSL (an implementation independent of
//! the rustls that Outpost's client uses by default): a fresh self-signed
//! certificate with a 1024-bit RSA key, as iDRAC 7/8 factory certificates
//! have, over TLS 1.2 only, or over TLS 1.0 only with legacy cipher suites
//! at OpenSSL's security level 0.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::ssl::{SslContext, SslMethod, SslVersion};
use openssl::x509::{X509, X509NameBuilder};

use super::spec::TlsProfile;

/// Bits of the RSA key of an old iDRAC's factory certificate.
pub const WEAK_RSA_BITS: u32 = 1024;

/// A server context for `profile` (not [`TlsProfile::Modern`]) with a new
/// certificate for `name`, and the certificate's DER.
pub fn context(name: &str, profile: TlsProfile) -> Result<(SslContext, Vec<u8>), String> {
    build(name, profile).map_err(|e| e.to_string())
}

fn build(
    name: &str,
    profile: TlsProfile,
) -> Result<(SslContext, Vec<u8>), openssl::error::ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(WEAK_RSA_BITS)?)?;
    let mut subject = X509NameBuilder::new()?;
    subject.append_entry_by_text("O", "Dell Inc.")?;
    subject.append_entry_by_text("CN", name)?;
    let subject = subject.build();
    let mut serial = BigNum::new()?;
    serial.rand(63, MsbOption::MAYBE_ZERO, false)?;
    let mut cert = X509::builder()?;
    cert.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    cert.set_serial_number(&serial)?;
    cert.set_subject_name(&subject)?;
    cert.set_issuer_name(&subject)?;
    cert.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    cert.set_not_before(&from)?;
    cert.set_not_after(&until)?;
    cert.sign(&key, MessageDigest::sha256())?;
    let cert = cert.build();

    let mut ctx = SslContext::builder(SslMethod::tls_server())?;
    let version = match profile {
        TlsProfile::Tls10 => SslVersion::TLS1,
        TlsProfile::WeakKey | TlsProfile::Modern => SslVersion::TLS1_2,
    };
    ctx.set_min_proto_version(Some(version))?;
    ctx.set_max_proto_version(Some(version))?;
    // Level 0 lets OpenSSL use a 1024-bit key and TLS 1.0's SHA-1/MD5.
    ctx.set_cipher_list("DEFAULT:@SECLEVEL=0")?;
    ctx.set_certificate(&cert)?;
    ctx.set_private_key(&key)?;
    ctx.check_private_key()?;
    Ok((ctx.build(), cert.to_der()?))
}
