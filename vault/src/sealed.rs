//! Secrets sealed to a zone: each zone has an X25519 key pair; whoever
//! knows the zone's public key (the coordinator) can seal a secret that
//! only the zone's workers, holding the secret key, can open (libsodium's
//! sealed boxes: an ephemeral key per message, XSalsa20-Poly1305). Sealed
//! secrets may travel on NATS and sit in job state; they say nothing
//! without the zone's key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_box::{PublicKey, SecretKey, aead::OsRng};
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    #[error("{what} is not a base64 X25519 key of 32 bytes")]
    BadKey { what: &'static str },
    #[error("a sealed secret is not valid base64")]
    BadEncoding,
    #[error(
        "a sealed secret does not open with this zone's key (sealed for another zone, or damaged)"
    )]
    WrongKey,
    #[error("sealing failed")]
    Seal,
}

fn key32(b64: &str, what: &'static str) -> Result<[u8; 32], SealError> {
    let bytes = Zeroizing::new(
        B64.decode(b64.trim())
            .map_err(|_| SealError::BadKey { what })?,
    );
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| SealError::BadKey { what })
}

/// A new zone key pair: (secret, public), base64.
pub fn generate() -> (Zeroizing<String>, String) {
    let sk = SecretKey::generate(&mut OsRng);
    let public = B64.encode(sk.public_key().as_bytes());
    (Zeroizing::new(B64.encode(sk.to_bytes())), public)
}

/// The public key of a base64 secret key.
pub fn public_of(secret_b64: &str) -> Result<String, SealError> {
    let sk = SecretKey::from(key32(secret_b64, "the zone's secret key")?);
    Ok(B64.encode(sk.public_key().as_bytes()))
}

/// Checks a base64 public key.
pub fn check_public(public_b64: &str) -> Result<(), SealError> {
    key32(public_b64, "the zone's public key").map(|_| ())
}

/// Seals `secret` to the zone whose public key is `public_b64`.
pub fn seal(public_b64: &str, secret: &str) -> Result<String, SealError> {
    let pk = PublicKey::from(key32(public_b64, "the zone's public key")?);
    let sealed = pk
        .seal(&mut OsRng, secret.as_bytes())
        .map_err(|_| SealError::Seal)?;
    Ok(B64.encode(sealed))
}

/// Opens a sealed secret with the zone's secret key.
pub fn open(secret_key_b64: &str, sealed_b64: &str) -> Result<Zeroizing<String>, SealError> {
    let sk = SecretKey::from(key32(secret_key_b64, "the zone's secret key")?);
    let sealed = B64
        .decode(sealed_b64.trim())
        .map_err(|_| SealError::BadEncoding)?;
    let plain = Zeroizing::new(sk.unseal(&sealed).map_err(|_| SealError::WrongKey)?);
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| SealError::WrongKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_zone_opens_what_was_sealed_to_it() {
        let (sk, pk) = generate();
        assert_eq!(public_of(&sk).unwrap(), pk);
        let s = seal(&pk, "calvin-42").unwrap();
        assert!(!s.contains("calvin"));
        assert_ne!(
            seal(&pk, "calvin-42").unwrap(),
            s,
            "an ephemeral key per seal"
        );
        assert_eq!(open(&sk, &s).unwrap().as_str(), "calvin-42");
        let (other, _) = generate();
        assert_eq!(open(&other, &s).unwrap_err(), SealError::WrongKey);
        let mut damaged = B64.decode(&s).unwrap();
        damaged[40] ^= 1;
        assert_eq!(
            open(&sk, &B64.encode(damaged)).unwrap_err(),
            SealError::WrongKey
        );
        assert!(matches!(seal("short", "x"), Err(SealError::BadKey { .. })));
        assert_eq!(open(&sk, "***").unwrap_err(), SealError::BadEncoding);
    }
}
