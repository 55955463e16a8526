//! The bundle's nkey users: one for the coordinator, one per zone, each in
//! its own creds file (mode 0600). A new identity is a fresh random user
//! seed; an existing one is read back only to check it is still the
//! identity bundle.json (and so `nats-server.conf`) names.

use super::SetupError;
use super::files::{self, FileAction, Visibility};
use crate::creds::{self, Creds, UserSeed};
use std::path::Path;

/// Who an identity belongs to, for file headers and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner<'a> {
    Coordinator,
    Zone(&'a str),
}

impl std::fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Coordinator => f.write_str("the coordinator"),
            Owner::Zone(z) => write!(f, "the workers of zone {z}"),
        }
    }
}

/// Writes a new identity for `owner` to `path`; returns its public key.
pub(crate) fn create(path: &Path, owner: &Owner<'_>) -> Result<(String, FileAction), SetupError> {
    let seed = UserSeed::generate().ok_or_else(|| SetupError::Crypto {
        action: "generate an nkey user",
        reason: "the generated seed does not decode".to_string(),
    })?;
    let text = creds::render_seed_only(&seed, &owner.to_string());
    let action = files::put(path, text.as_bytes(), Visibility::Private)?;
    Ok((seed.public_key(), action))
}

/// The public key of the identity stored at `path`.
pub(crate) fn read_public_key(path: &Path) -> Result<String, SetupError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SetupError::Missing {
                path: path.to_path_buf(),
                hint: "its holders may still use it: restore it from a backup, or reissue \
                       that identity (its holders then need the new file)",
            });
        }
        Err(e) => return Err(SetupError::io("read", path)(e)),
    };
    match creds::parse(&text) {
        Some(Creds::Seed(seed)) => Ok(seed.public_key()),
        _ => Err(SetupError::MalformedCreds {
            path: path.to_path_buf(),
        }),
    }
}

/// Checks that the creds file at `path` holds the identity `public_key`.
pub(crate) fn verify(path: &Path, owner: &Owner<'_>, public_key: &str) -> Result<(), SetupError> {
    if read_public_key(path)? == public_key {
        Ok(())
    } else {
        Err(SetupError::KeyMismatch {
            path: path.to_path_buf(),
            who: owner.to_string(),
        })
    }
}
