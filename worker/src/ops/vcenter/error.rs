//! How a vSphere API call fails, as classes the runner can retry
//! (connect errors, timeouts, 5xx) or not (bad credentials, a changed
//! certificate, TLS refused for a reason no retry can fix, a host that
//! does not exist, a fault from vCenter), and the operator can act on.

use super::super::OpError;
use outpost_kinds::ErrorClass;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VimError {
    #[error("cannot connect to vCenter {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("vCenter {addr} did not answer {method} within {secs} s")]
    Timeout {
        addr: String,
        method: String,
        secs: u64,
    },
    #[error("certificate of vCenter {addr} changed: pinned {pinned}, presented {presented}")]
    CertChanged {
        addr: String,
        pinned: String,
        presented: String,
    },
    /// TLS that cannot work (no common protocol version or cipher suite,
    /// no proof of the certificate's key): fails at once.
    #[error("vCenter {addr} {message}")]
    Tls { addr: String, message: String },
    #[error("vCenter {addr} refused the login of {user:?}")]
    Auth { addr: String, user: String },
    /// The session ended (expired, terminated); the client logs in again.
    #[error("vCenter {addr}: the session is no longer valid")]
    NotAuthenticated { addr: String },
    #[error("vCenter {addr}: no host matches {wanted:?}")]
    HostNotFound { addr: String, wanted: String },
    /// A fault vCenter returned for a method or a task (`InvalidState`,
    /// `Timedout`, ...).
    #[error("vCenter {addr}: {method} failed with {fault}: {message}")]
    Fault {
        addr: String,
        method: String,
        fault: String,
        message: String,
    },
    #[error("vCenter {addr} answered {method} with HTTP {status}")]
    Http {
        addr: String,
        method: String,
        status: u16,
    },
    #[error("vCenter {addr}: the answer to {method} is larger than {limit} bytes")]
    TooLarge {
        addr: String,
        method: String,
        limit: usize,
    },
    /// More objects than one vCenter may legitimately hold.
    #[error(
        "vCenter {addr} answered with more than {limit} {what}, more than one vCenter may hold"
    )]
    TooMany {
        addr: String,
        what: String,
        limit: usize,
    },
    #[error("vCenter {addr}: the answer to {method} is not the expected SOAP: {message}")]
    Malformed {
        addr: String,
        method: String,
        message: String,
    },
}

impl VimError {
    pub fn kind(&self) -> ErrorClass {
        match self {
            VimError::Connect { .. } => ErrorClass::Connect,
            VimError::Timeout { .. } => ErrorClass::Timeout,
            VimError::CertChanged { .. } => ErrorClass::CertChanged,
            VimError::Tls { .. } => ErrorClass::Tls,
            VimError::Auth { .. } => ErrorClass::Auth,
            VimError::NotAuthenticated { .. } => ErrorClass::NotAuthenticated,
            VimError::HostNotFound { .. } => ErrorClass::HostNotFound,
            VimError::Fault { .. } => ErrorClass::VimFault,
            VimError::Http { .. } => ErrorClass::Http,
            VimError::Malformed { .. } => ErrorClass::Malformed,
            VimError::TooLarge { .. } | VimError::TooMany { .. } => ErrorClass::ResponseTooLarge,
        }
    }

    /// Transient: worth retrying with backoff.
    pub fn retryable(&self) -> bool {
        match self {
            VimError::Connect { .. }
            | VimError::Timeout { .. }
            | VimError::NotAuthenticated { .. } => true,
            VimError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The vim25 fault name, when vCenter returned one.
    pub fn fault(&self) -> Option<&str> {
        match self {
            VimError::Fault { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

impl From<VimError> for OpError {
    fn from(e: VimError) -> Self {
        if e.retryable() {
            OpError::retryable(e.kind(), e.to_string())
        } else {
            OpError::permanent(e.kind(), e.to_string())
        }
    }
}
