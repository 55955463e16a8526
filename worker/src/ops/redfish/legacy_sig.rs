//! Handshake signatures that ring refuses for the key or algorithm rather
//! than for the signature: RSA keys shorter than 2048 bits (iDRAC 7/8
//! factory certificates, govmomi's simulator) and RSA PKCS#1 v1.5 with
//! SHA-1 in TLS 1.2. They are verified here with RustCrypto's `rsa`
//! (PKCS#1 v1.5 and PSS with SHA-1/256/384/512) against the public key of
//! the certificate, so the peer must still prove it holds that key. The
//! certificate itself (its own signature, chain, expiry) is not judged:
//! the pin is the trust, decided by the caller.

use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use rustls::SignatureScheme;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::der::{Decode, Encode};

/// RSA keys shorter than this are refused by ring and verified here.
pub const MIN_RSA_BITS: usize = 2048;

/// What became of a signature ring refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It verifies; the text names what is legacy about it
    /// (`a 1024-bit RSA key`, `a SHA-1 signature`).
    Valid(String),
    /// Nothing legacy about it: ring's refusal stands.
    NotLegacy,
    /// A legacy key or algorithm, and the signature does not verify.
    Invalid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// Checks `signature` over `message` made with `scheme` by the key of the
/// DER certificate `cert`, when the key or scheme is one ring refuses.
pub fn verify(
    scheme: SignatureScheme,
    tls13: bool,
    cert: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Verdict {
    use SignatureScheme as S;
    let (pss, hash) = match scheme {
        // TLS 1.3 signs with PSS only.
        S::RSA_PKCS1_SHA1 if !tls13 => (false, Hash::Sha1),
        S::RSA_PKCS1_SHA256 if !tls13 => (false, Hash::Sha256),
        S::RSA_PKCS1_SHA384 if !tls13 => (false, Hash::Sha384),
        S::RSA_PKCS1_SHA512 if !tls13 => (false, Hash::Sha512),
        S::RSA_PSS_SHA256 => (true, Hash::Sha256),
        S::RSA_PSS_SHA384 => (true, Hash::Sha384),
        S::RSA_PSS_SHA512 => (true, Hash::Sha512),
        _ => return Verdict::NotLegacy,
    };
    let Some(key) = rsa_key(cert) else {
        return Verdict::NotLegacy;
    };
    let bits = modulus_bits(&key);
    let why = if bits < MIN_RSA_BITS {
        format!("a {bits}-bit RSA key")
    } else if hash == Hash::Sha1 {
        "a SHA-1 handshake signature".to_string()
    } else {
        return Verdict::NotLegacy;
    };
    let r = match (pss, hash) {
        (false, Hash::Sha1) => key.verify(
            Pkcs1v15Sign::new::<Sha1>(),
            &Sha1::digest(message),
            signature,
        ),
        (false, Hash::Sha256) => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        ),
        (false, Hash::Sha384) => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(message),
            signature,
        ),
        (false, Hash::Sha512) => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(message),
            signature,
        ),
        (true, Hash::Sha256) => {
            key.verify(Pss::<Sha256>::new(), &Sha256::digest(message), signature)
        }
        (true, Hash::Sha384) => {
            key.verify(Pss::<Sha384>::new(), &Sha384::digest(message), signature)
        }
        (true, Hash::Sha512) => {
            key.verify(Pss::<Sha512>::new(), &Sha512::digest(message), signature)
        }
        (true, Hash::Sha1) => return Verdict::NotLegacy,
    };
    match r {
        Ok(()) => Verdict::Valid(why),
        Err(_) => Verdict::Invalid,
    }
}

/// The RSA public key of a DER certificate; `None` for other keys or a
/// certificate that does not parse.
fn rsa_key(cert: &[u8]) -> Option<RsaPublicKey> {
    let cert = x509_cert::Certificate::from_der(cert).ok()?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    RsaPublicKey::from_public_key_der(&spki).ok()
}

/// Bits of the RSA modulus, exactly (a "1024-bit" key may have 1023).
fn modulus_bits(key: &RsaPublicKey) -> usize {
    let n = key.n_bytes();
    let Some(i) = n.iter().position(|b| *b != 0) else {
        return 0;
    };
    (n.len() - i) * 8 - n[i].leading_zeros() as usize
}

/// Bits of the RSA key of a DER certificate, if it has one.
pub fn rsa_bits(cert: &[u8]) -> Option<usize> {
    rsa_key(cert).map(|k| modulus_bits(&k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::{Padding, Rsa};
    use openssl::sign::{RsaPssSaltlen, Signer};
    use openssl::x509::X509;

    fn key_and_cert(bits: u32) -> (PKey<Private>, Vec<u8>) {
        let key = PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "idrac").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        let t = openssl::asn1::Asn1Time::days_from_now(1).unwrap();
        b.set_not_before(&t).unwrap();
        b.set_not_after(&t).unwrap();
        b.sign(&key, MessageDigest::sha1()).unwrap();
        (key, b.build().to_der().unwrap())
    }

    fn sign(key: &PKey<Private>, md: MessageDigest, pss: bool, msg: &[u8]) -> Vec<u8> {
        let mut s = Signer::new(md, key).unwrap();
        if pss {
            s.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
            s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).unwrap();
        }
        s.update(msg).unwrap();
        s.sign_to_vec().unwrap()
    }

    #[test]
    fn weak_keys_verify_with_every_scheme_and_a_forgery_does_not() {
        use SignatureScheme as S;
        let (key, cert) = key_and_cert(1024);
        assert_eq!(rsa_bits(&cert), Some(1024));
        let msg = b"client random, server random, key share";
        for (scheme, md, pss, tls13) in [
            (S::RSA_PKCS1_SHA1, MessageDigest::sha1(), false, false),
            (S::RSA_PKCS1_SHA256, MessageDigest::sha256(), false, false),
            (S::RSA_PKCS1_SHA384, MessageDigest::sha384(), false, false),
            (S::RSA_PKCS1_SHA512, MessageDigest::sha512(), false, false),
            (S::RSA_PSS_SHA256, MessageDigest::sha256(), true, true),
            (S::RSA_PSS_SHA384, MessageDigest::sha384(), true, false),
        ] {
            let mut sig = sign(&key, md, pss, msg);
            assert_eq!(
                verify(scheme, tls13, &cert, msg, &sig),
                Verdict::Valid("a 1024-bit RSA key".into()),
                "{scheme:?}"
            );
            sig[10] ^= 1;
            assert_eq!(
                verify(scheme, tls13, &cert, msg, &sig),
                Verdict::Invalid,
                "{scheme:?}"
            );
        }
        // Signed by another key: the certificate's key is what counts.
        let (other, _) = key_and_cert(1024);
        let sig = sign(&other, MessageDigest::sha256(), false, msg);
        assert_eq!(
            verify(S::RSA_PKCS1_SHA256, false, &cert, msg, &sig),
            Verdict::Invalid
        );
        // PKCS#1 v1.5 has no place in TLS 1.3.
        let sig = sign(&key, MessageDigest::sha256(), false, msg);
        assert_eq!(
            verify(S::RSA_PKCS1_SHA256, true, &cert, msg, &sig),
            Verdict::NotLegacy
        );
    }

    #[test]
    fn strong_keys_are_ring_s_alone_except_for_sha1() {
        use SignatureScheme as S;
        let (key, cert) = key_and_cert(2048);
        let msg = b"handshake";
        let sig = sign(&key, MessageDigest::sha256(), false, msg);
        assert_eq!(
            verify(S::RSA_PKCS1_SHA256, false, &cert, msg, &sig),
            Verdict::NotLegacy
        );
        let sig = sign(&key, MessageDigest::sha1(), false, msg);
        assert_eq!(
            verify(S::RSA_PKCS1_SHA1, false, &cert, msg, &sig),
            Verdict::Valid("a SHA-1 handshake signature".into())
        );
        // Not RSA, or not a certificate: not for this module.
        assert_eq!(
            verify(S::ECDSA_NISTP256_SHA256, false, &cert, msg, &sig),
            Verdict::NotLegacy
        );
        assert_eq!(
            verify(S::RSA_PKCS1_SHA1, false, b"junk", msg, &sig),
            Verdict::NotLegacy
        );
    }
}
