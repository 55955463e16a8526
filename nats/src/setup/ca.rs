//! The bundle's certificate authority and the server certificate it signs
//! (ECDSA P-256). The CA is made once and kept: every client trusts it.
//! The server certificate is re-issued whenever its names change or its
//! end comes near.
//!
//! rcgen (without its x509 parser) cannot read a CA certificate back, so
//! the issuer is rebuilt from the CA key and the CA's common name, which
//! bundle.json records: the subject is all a signature by it needs.

use super::SetupError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// The common name of the CAs this module makes.
pub(crate) const CA_COMMON_NAME: &str = "Outpost NATS CA";
const ORGANIZATION: &str = "Outpost";
/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a server certificate is valid.
const SERVER_VALIDITY: Duration = Duration::days(825);
/// A server certificate closer than this to its end is re-issued.
pub(crate) const SERVER_RENEW_BEFORE: Duration = Duration::days(30);
/// Tolerated clock skew between this host and the clients.
const BACKDATE: Duration = Duration::hours(1);

/// A certificate and its private key, both PEM.
pub(crate) struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: OffsetDateTime,
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A new self-signed CA.
pub(crate) fn new_ca(common_name: &str, now: OffsetDateTime) -> Result<Issued, SetupError> {
    let key = KeyPair::generate().map_err(SetupError::crypto("generate the CA key"))?;
    let mut params = ca_params(common_name);
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    let cert = params
        .self_signed(&key)
        .map_err(SetupError::crypto("sign the CA certificate"))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
    })
}

/// Checks a name for the server certificate: an IP address, or a DNS name
/// rcgen accepts.
pub(crate) fn check_server_name(name: &str) -> Result<(), SetupError> {
    let bad = |reason: &str| SetupError::InvalidServerName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if name.is_empty() || name.len() > 253 {
        return Err(bad("a DNS name has 1 to 253 characters"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = name.split('.').collect();
    let (first, rest) = labels.split_first().unwrap_or((&"", &[]));
    // A leading `*` label makes a wildcard name.
    if !(label_ok(first) || *first == "*") || !rest.iter().all(|l| label_ok(l)) {
        return Err(bad(
            "expected an IP address or a DNS name of letters, digits and '-' in '.'-separated labels",
        ));
    }
    Ok(())
}

/// A server certificate for `names` (IP SANs for addresses, DNS SANs
/// otherwise) signed by the CA whose key is `ca_key_pem`.
pub(crate) fn issue_server(
    ca_key_pem: &str,
    ca_common_name: &str,
    names: &[String],
    now: OffsetDateTime,
) -> Result<Issued, SetupError> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(SetupError::crypto("load the CA key"))?;
    let issuer = Issuer::new(ca_params(ca_common_name), ca_key);
    let key = KeyPair::generate().map_err(SetupError::crypto("generate the server key"))?;
    let mut params =
        CertificateParams::new(names.to_vec()).map_err(|e| SetupError::InvalidServerName {
            name: names.join(", "),
            reason: e.to_string(),
        })?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("nats-server"),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = now + SERVER_VALIDITY;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(SetupError::crypto("sign the server certificate"))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
    })
}

/// Checks that `key_pem` is a private key this module can sign with.
pub(crate) fn check_key(key_pem: &str) -> bool {
    KeyPair::from_pem(key_pem).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_checked() {
        for ok in [
            "localhost",
            "127.0.0.1",
            "::1",
            "nats.example.com",
            "*.example.com",
            "a-b.c",
        ] {
            check_server_name(ok).unwrap();
        }
        for bad in [
            "", "a b", "-a.com", "a..b", "a.*", "x/y", "é.com", "a_b.com",
        ] {
            assert!(check_server_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issues_a_server_certificate_from_a_stored_ca_key() {
        let now = OffsetDateTime::now_utc();
        let ca = new_ca(CA_COMMON_NAME, now).unwrap();
        assert!(ca.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(check_key(&ca.key_pem));
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let server = issue_server(&ca.key_pem, CA_COMMON_NAME, &names, now).unwrap();
        assert!(server.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(server.not_after > now + Duration::days(800));
    }
}
