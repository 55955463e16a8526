//! What can go wrong with a vault, each case named so callers and users can act.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("vault file {path} does not exist (create it with `outpost vault init`)")]
    Missing { path: String },
    #[error("vault file {path} already exists")]
    Exists { path: String },
    #[error("cannot read or write vault file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("vault file {path} is not an Outpost vault: {message}")]
    Format { path: String, message: String },
    #[error("wrong vault password, or the vault file {path} was altered")]
    WrongPasswordOrCorrupt { path: String },
    #[error("no credential named {name:?}; the vault has: {}", list(.available))]
    NotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("no --credential given and the vault has no default; the vault has: {}", list(.available))]
    NoDefault { available: Vec<String> },
    #[error("a credential named {0:?} already exists")]
    Duplicate(String),
    #[error("{0:?} is not a credential name: use letters, digits, `_`, `-` and `.`, at most 64")]
    BadName(String),
    #[error("VelocityCollector vault {path}: {message}")]
    Import { path: String, message: String },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no credentials".to_string()
    } else {
        names.join(", ")
    }
}
