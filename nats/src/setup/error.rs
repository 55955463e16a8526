//! What can go wrong writing the bundle, naming the file or zone at fault.
//! No variant carries a seed or a private key: errors from the key and
//! certificate libraries are kept as their (content-free) descriptions.

use outpost_proto::layout::SubjectError;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SetupError {
    #[error("invalid zone name {zone:?}: {source}")]
    InvalidZone { zone: String, source: SubjectError },
    #[error("no server names: the server certificate needs at least one DNS name or IP address")]
    NoServerNames,
    #[error("invalid server name {name:?} for the server certificate: {reason}")]
    InvalidServerName { name: String, reason: String },
    #[error("invalid {what} address {value:?}: expected HOST:PORT")]
    InvalidAddress { what: &'static str, value: String },
    #[error("{path} is not valid UTF-8, so nats-server.conf cannot name it")]
    NonUtf8Path { path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the bundle state {path}: {reason}")]
    BadBundle { path: PathBuf, reason: String },
    #[error("{dir} holds no bundle (no bundle.json): run the setup first")]
    NoBundle { dir: PathBuf },
    #[error(
        "{path} exists, but its directory has no bundle.json, so the setup did not write it: \
         move it away (or restore bundle.json) and run the setup again"
    )]
    Unmanaged { path: PathBuf },
    #[error("{path} is missing: {hint}")]
    Missing { path: PathBuf, hint: &'static str },
    #[error("{path} does not hold a valid user nkey seed block")]
    MalformedCreds { path: PathBuf },
    #[error(
        "{path} holds another identity than bundle.json records for {who}: restore the file, \
         or reissue that identity"
    )]
    KeyMismatch { path: PathBuf, who: String },
    #[error("site {site:?}: {reason}")]
    Site { site: String, reason: String },
    #[error("zone {zone:?} has no identity in the bundle at {dir}")]
    UnknownZone { zone: String, dir: PathBuf },
    #[error("cannot {action}: {reason}")]
    Crypto {
        action: &'static str,
        reason: String,
    },
}

impl SetupError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SetupError {
        let path = path.into();
        move |source| SetupError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn crypto(action: &'static str) -> impl FnOnce(rcgen::Error) -> SetupError {
        move |e| SetupError::Crypto {
            action,
            reason: e.to_string(),
        }
    }
}
