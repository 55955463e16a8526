//! The ways an SSH collection fails, each a class a user can act on, and
//! which of them are worth another attempt. Auth and host-key failures are
//! never retried: a second try would lock accounts or trust an impostor.

use super::super::OpError;
use outpost_kinds::ErrorClass;
use thiserror::Error;

/// Why collecting from a device failed. Messages never carry secrets.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SshError {
    #[error("connection to {addr} refused")]
    Refused { addr: String },
    #[error("{what} to {addr} did not finish within {secs} s")]
    Timeout {
        addr: String,
        what: &'static str,
        secs: u64,
    },
    #[error("cannot resolve {host:?}: {message}")]
    Dns { host: String, message: String },
    #[error("cannot reach {addr}: {message}")]
    Unreachable { addr: String, message: String },
    #[error("authentication as {user:?} on {addr} was rejected")]
    Auth { addr: String, user: String },
    #[error("enable on {addr} was refused: {message}")]
    Enable { addr: String, message: String },
    #[error("key exchange with {addr} failed: {message}")]
    KeyExchange { addr: String, message: String },
    #[error(
        "host key of {addr} changed: known {known}, presented {presented}; if the device was replaced, remove its entry from the zone's host-key store"
    )]
    HostKeyChanged {
        addr: String,
        known: String,
        presented: String,
    },
    #[error("host key {presented} of {addr} is not known and the zone's host-key policy is strict")]
    HostKeyUnknown { addr: String, presented: String },
    #[error("no prompt from {addr} within {secs} s (last output: {tail:?})")]
    PromptNotFound {
        addr: String,
        secs: u64,
        tail: String,
    },
    #[error("command {command:?} on {addr} did not return to the prompt within {secs} s")]
    CommandTimeout {
        addr: String,
        command: String,
        secs: u64,
    },
    #[error("output of {addr} exceeds the limit of {limit} bytes")]
    OutputTooLarge { addr: String, limit: usize },
    #[error("{addr} sent a line longer than {limit} bytes without a newline")]
    LineTooLong { addr: String, limit: usize },
    #[error(
        "{addr} dropped the connection during the SSH banner or key exchange ({cause}); a server refusing new sessions under load (sshd MaxStartups) does this, so it is retried"
    )]
    HandshakeReset { addr: String, cause: String },
    #[error("{addr} closed the session {when}")]
    Disconnected { addr: String, when: String },
    #[error("SSH protocol error with {addr}: {message}")]
    Protocol { addr: String, message: String },
    /// The vault's own words (which names it has); the class `credential`
    /// is reported beside it, so the message does not repeat it.
    #[error("{0}")]
    Credential(String),
    #[error("host-key store: {0}")]
    Store(String),
}

impl SshError {
    /// The machine-readable class reported as the task's `error_kind`.
    pub fn kind(&self) -> ErrorClass {
        match self {
            SshError::Refused { .. } => ErrorClass::Refused,
            SshError::Timeout { .. } => ErrorClass::Timeout,
            SshError::Dns { .. } => ErrorClass::Dns,
            SshError::Unreachable { .. } => ErrorClass::Unreachable,
            SshError::Auth { .. } | SshError::Enable { .. } => ErrorClass::Auth,
            SshError::KeyExchange { .. } => ErrorClass::KeyExchange,
            SshError::HostKeyChanged { .. } => ErrorClass::HostKeyChanged,
            SshError::HostKeyUnknown { .. } => ErrorClass::HostKeyUnknown,
            SshError::PromptNotFound { .. } => ErrorClass::PromptNotFound,
            SshError::CommandTimeout { .. } => ErrorClass::CommandTimeout,
            SshError::OutputTooLarge { .. } => ErrorClass::OutputTooLarge,
            SshError::LineTooLong { .. } => ErrorClass::LineTooLong,
            SshError::HandshakeReset { .. } => ErrorClass::HandshakeReset,
            SshError::Disconnected { .. } => ErrorClass::Disconnected,
            SshError::Protocol { .. } => ErrorClass::Protocol,
            SshError::Credential(_) => ErrorClass::Credential,
            SshError::Store(_) => ErrorClass::HostKeyStore,
        }
    }

    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            SshError::Refused { .. }
                | SshError::Timeout { .. }
                | SshError::Dns { .. }
                | SshError::Unreachable { .. }
                | SshError::PromptNotFound { .. }
                | SshError::CommandTimeout { .. }
                | SshError::HandshakeReset { .. }
                | SshError::Disconnected { .. }
                | SshError::Protocol { .. }
                | SshError::Store(_)
        )
    }
}

impl From<SshError> for OpError {
    fn from(e: SshError) -> Self {
        if e.retryable() {
            OpError::retryable(e.kind(), e.to_string())
        } else {
            OpError::permanent(e.kind(), e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_host_key_failures_are_not_retried() {
        let auth = SshError::Auth {
            addr: "a".into(),
            user: "u".into(),
        };
        let changed = SshError::HostKeyChanged {
            addr: "a".into(),
            known: "k".into(),
            presented: "p".into(),
        };
        assert!(
            matches!(OpError::from(auth), OpError::Permanent { kind, .. } if kind == ErrorClass::Auth)
        );
        assert!(
            matches!(OpError::from(changed), OpError::Permanent { kind, .. } if kind == ErrorClass::HostKeyChanged)
        );
        let reset = SshError::HandshakeReset {
            addr: "a".into(),
            cause: "connection reset by peer".into(),
        };
        assert!(
            matches!(OpError::from(reset), OpError::Retryable { kind, .. } if kind == ErrorClass::HandshakeReset)
        );
        let refused = SshError::Refused { addr: "a".into() };
        assert!(
            matches!(OpError::from(refused), OpError::Retryable { kind, .. } if kind == ErrorClass::Refused)
        );
    }
}
