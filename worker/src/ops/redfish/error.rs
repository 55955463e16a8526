//! How a Redfish request fails, as classes an operator can act on and the
//! runner can retry (connect errors, timeouts, 5xx, 503 during a reset) or
//! not (auth, a changed certificate, TLS the device refuses for a reason no
//! retry can fix, a malformed answer).

use super::super::OpError;
use outpost_kinds::ErrorClass;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RedfishError {
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("{what} at {addr} did not answer within {secs} s")]
    Timeout {
        addr: String,
        what: String,
        secs: u64,
    },
    #[error("certificate of {addr} changed: pinned {pinned}, presented {presented}")]
    CertChanged {
        addr: String,
        pinned: String,
        presented: String,
    },
    /// TLS that cannot work as configured (only TLS 1.0/1.1, no common
    /// cipher suite, no proof of the certificate's key): fails at once.
    #[error("{addr} {message}")]
    Tls { addr: String, message: String },
    #[error("{addr} refused the credentials of {user:?} (HTTP {status})")]
    Auth {
        addr: String,
        user: String,
        status: u16,
    },
    #[error("{addr}: {path} not found")]
    NotFound { addr: String, path: String },
    #[error("{addr} is unavailable (HTTP {status}{}): {message}", if *.status == 503 { ", resetting?" } else { "" })]
    Unavailable {
        addr: String,
        status: u16,
        message: String,
    },
    #[error("{addr}: {method} {path} answered HTTP {status}: {message}")]
    Http {
        addr: String,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{addr}: the answer to {path} is larger than {limit} bytes")]
    TooLarge {
        addr: String,
        path: String,
        limit: usize,
    },
    #[error("{addr}: {path} answered something that is not the expected Redfish JSON: {message}")]
    Malformed {
        addr: String,
        path: String,
        message: String,
    },
}

impl RedfishError {
    pub fn kind(&self) -> ErrorClass {
        match self {
            RedfishError::Connect { .. } => ErrorClass::Connect,
            RedfishError::Timeout { .. } => ErrorClass::Timeout,
            RedfishError::CertChanged { .. } => ErrorClass::CertChanged,
            RedfishError::Tls { .. } => ErrorClass::Tls,
            RedfishError::Auth { .. } => ErrorClass::Auth,
            RedfishError::NotFound { .. } => ErrorClass::NotFound,
            RedfishError::Unavailable { .. } => ErrorClass::Unavailable,
            RedfishError::Http { .. } => ErrorClass::Http,
            RedfishError::Malformed { .. } => ErrorClass::Malformed,
            RedfishError::TooLarge { .. } => ErrorClass::ResponseTooLarge,
        }
    }

    /// Transient: worth retrying with backoff.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            RedfishError::Connect { .. }
                | RedfishError::Timeout { .. }
                | RedfishError::Unavailable { .. }
        )
    }
}

impl From<RedfishError> for OpError {
    fn from(e: RedfishError) -> Self {
        if e.retryable() {
            OpError::retryable(e.kind(), e.to_string())
        } else {
            OpError::permanent(e.kind(), e.to_string())
        }
    }
}
