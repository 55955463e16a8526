//! Import of a VelocityCollector vault (`collector.db`, SQLite): the
//! master password is checked against `vault_metadata.password_hash`
//! (PBKDF2-HMAC-SHA256, 100 000 rounds, over the stored 16-byte `salt`),
//! then each `credentials` row's `password_encrypted` is a Fernet token
//! under the key PBKDF2-HMAC-SHA256(password, salt, 480 000 rounds).
//! Fernet (version 0x80, timestamp, IV, AES-128-CBC, HMAC-SHA256) is
//! verified before anything is decrypted. The database is opened read-only.

use crate::error::VaultError;
use crate::{Credential, Secret};
use aes::Aes128;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{Connection, OpenFlags};
use sha2::Sha256;
use std::path::Path;
use zeroize::Zeroizing;

/// PBKDF2 rounds of VelocityCollector's Fernet key.
pub const KEY_ROUNDS: u32 = 480_000;
/// PBKDF2 rounds of its password check.
pub const CHECK_ROUNDS: u32 = 100_000;

/// What an import brought, and what it could not.
#[derive(Debug)]
pub struct Imported {
    pub credentials: Vec<Credential>,
    /// Rows not imported, with why (e.g. key-only credentials).
    pub skipped: Vec<String>,
}

fn import_err(path: &Path, message: impl Into<String>) -> VaultError {
    VaultError::Import {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Decrypts one Fernet token with the 32-byte Fernet key.
pub fn fernet_decrypt(key: &[u8; 32], token: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let raw = URL_SAFE
        .decode(token.trim())
        .or_else(|_| URL_SAFE_NO_PAD.decode(token.trim().trim_end_matches('=')))
        .map_err(|_| "token is not base64url")?;
    if raw.len() < 1 + 8 + 16 + 16 + 32 || raw[0] != 0x80 || (raw.len() - 57) % 16 != 0 {
        return Err("token is not a Fernet token");
    }
    let (signed, tag) = raw.split_at(raw.len() - 32);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[..16]).map_err(|_| "bad key")?;
    mac.update(signed);
    mac.verify_slice(tag).map_err(|_| "HMAC mismatch")?;
    let iv = &signed[9..25];
    let ct = &signed[25..];
    let dec =
        cbc::Decryptor::<Aes128>::new_from_slices(&key[16..], iv).map_err(|_| "bad key or IV")?;
    dec.decrypt_padded_vec::<Pkcs7>(ct)
        .map(Zeroizing::new)
        .map_err(|_| "bad padding")
}

/// Reads the credentials of VelocityCollector's vault at `db`.
pub fn import_vcollector(db: &Path, password: &str) -> Result<Imported, VaultError> {
    if !db.is_file() {
        return Err(import_err(db, "no such file"));
    }
    let c = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| import_err(db, format!("cannot open as SQLite: {e}")))?;
    let meta = |key: &str| -> Result<Option<String>, VaultError> {
        c.query_row(
            "SELECT value FROM vault_metadata WHERE key = ?1",
            [key],
            |r| r.get::<_, Option<String>>(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(import_err(
                db,
                format!("no vault_metadata table or unreadable: {other}"),
            )),
        })
        .map(Option::flatten)
    };
    let salt_b64 =
        meta("salt")?.ok_or_else(|| import_err(db, "the vault is not initialised (no salt)"))?;
    let salt = STANDARD
        .decode(salt_b64.trim())
        .map_err(|_| import_err(db, "vault_metadata.salt is not base64"))?;
    if let Some(hash) = meta("password_hash")? {
        let want = STANDARD
            .decode(hash.trim())
            .map_err(|_| import_err(db, "vault_metadata.password_hash is not base64"))?;
        let mut got = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, CHECK_ROUNDS, &mut got);
        if got[..] != want[..] {
            return Err(import_err(db, "wrong VelocityCollector vault password"));
        }
    }
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, KEY_ROUNDS, key.as_mut());
    let mut st = c
        .prepare("SELECT name, username, password_encrypted, ssh_key_encrypted, is_default FROM credentials ORDER BY name")
        .map_err(|e| import_err(db, format!("no credentials table: {e}")))?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?.unwrap_or(0) != 0,
            ))
        })
        .map_err(|e| import_err(db, format!("cannot read credentials: {e}")))?;
    let mut out = Imported {
        credentials: Vec::new(),
        skipped: Vec::new(),
    };
    for row in rows {
        let (name, username, pw, key_enc, is_default) =
            row.map_err(|e| import_err(db, format!("cannot read credentials: {e}")))?;
        let Some(token) = pw else {
            out.skipped.push(if key_enc.is_some() {
                format!("{name}: SSH-key credentials are not supported by Outpost's vault yet")
            } else {
                format!("{name}: no password")
            });
            continue;
        };
        let plain = fernet_decrypt(&key, &token).map_err(|why| {
            import_err(db, format!("credential {name:?} cannot be decrypted ({why}): wrong password or damaged vault"))
        })?;
        let password = String::from_utf8(plain.to_vec())
            .map_err(|_| import_err(db, format!("credential {name:?} is not UTF-8")))?;
        out.credentials.push(Credential {
            name,
            username,
            password: Secret::new(password),
            enable_secret: None,
            is_default,
        });
    }
    Ok(out)
}
