//! TLS failures that no retry can fix, named for an operator: a peer that
//! speaks only TLS 1.0/1.1, shares no cipher suite with Outpost, cannot
//! prove it holds its certificate's key, or refuses the handshake for
//! another lasting reason. Everything else (a reset or an EOF during the
//! handshake, as while an iDRAC restarts its web server) stays a transient
//! connect error. A certificate that is not the pinned one is not a
//! refusal but `cert_changed`.

use rustls::{AlertDescription, CertificateError, PeerIncompatible};
use std::error::Error;
use std::fmt;

/// Why a peer's TLS cannot work as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It offers only protocol versions older than TLS 1.2.
    OldProtocol(String),
    /// No cipher suite, key exchange or signature scheme in common.
    NoCommonCipher(String),
    /// Its handshake signature does not verify with its certificate's key.
    BadSignature,
    /// Another lasting refusal.
    Other(String),
}

impl Refusal {
    /// Whether `legacy_tls` (TLS 1.0 and legacy ciphers) may get through.
    pub fn legacy_may_help(&self) -> bool {
        matches!(self, Refusal::OldProtocol(_) | Refusal::NoCommonCipher(_))
    }

    /// The message for the peer at `addr`, with a hint when `hint` is given
    /// and legacy TLS may help.
    pub fn message(&self, hint: Option<&str>) -> String {
        match hint {
            Some(h) if self.legacy_may_help() => format!("{self}; {h}"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OldProtocol(d) => write!(f, "speaks only TLS 1.0/1.1 ({d})"),
            Refusal::NoCommonCipher(d) => write!(
                f,
                "shares no cipher suite with Outpost ({d}): it may speak only legacy ciphers or TLS 1.0/1.1"
            ),
            Refusal::BadSignature => f.write_str(
                "did not prove it holds the key of its certificate (the handshake signature does not verify)",
            ),
            Refusal::Other(d) => write!(f, "refused TLS: {d}"),
        }
    }
}

/// The lasting refusal in a rustls error, if it is one.
pub fn from_rustls(e: &rustls::Error) -> Option<Refusal> {
    use rustls::Error as E;
    Some(match e {
        E::AlertReceived(AlertDescription::ProtocolVersion) => {
            Refusal::OldProtocol("protocol version alert".into())
        }
        E::AlertReceived(
            a @ (AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity),
        ) => Refusal::NoCommonCipher(format!("{} alert", alert_name(*a))),
        E::AlertReceived(
            a @ (AlertDescription::IllegalParameter
            | AlertDescription::DecodeError
            | AlertDescription::UnsupportedExtension
            | AlertDescription::UnrecognisedName),
        ) => Refusal::Other(format!("{} alert", alert_name(*a))),
        E::PeerIncompatible(p) => match p {
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => {
                Refusal::OldProtocol(format!("{p:?}"))
            }
            PeerIncompatible::NoCipherSuitesInCommon
            | PeerIncompatible::NoKxGroupsInCommon
            | PeerIncompatible::NoSignatureSchemesInCommon => {
                Refusal::NoCommonCipher(format!("{p:?}"))
            }
            other => Refusal::Other(format!("{other:?}")),
        },
        E::InvalidCertificate(CertificateError::BadSignature) => Refusal::BadSignature,
        E::InvalidCertificate(c) => Refusal::Other(format!("its certificate: {c:?}")),
        E::NoCertificatesPresented => Refusal::Other("it presented no certificate".into()),
        E::PeerMisbehaved(m) => Refusal::Other(format!("{m:?}")),
        _ => return None,
    })
}

fn alert_name(a: AlertDescription) -> String {
    // `HandshakeFailure` → `handshake failure`
    let mut out = String::new();
    for (i, c) in format!("{a:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The rustls error somewhere in `e`'s chain of sources, also inside the
/// `io::Error`s that TLS streams wrap it in (an `io::Error`'s `source()`
/// skips the error it wraps), if there is one.
pub fn find_rustls<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut src = Some(e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        let mut io = s.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(|i| i.get_ref()) {
            if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                return Some(r);
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        src = s.source();
    }
    None
}

/// The lasting TLS refusal in an error chain, if there is one.
pub fn find(e: &(dyn Error + 'static)) -> Option<Refusal> {
    find_rustls(e).and_then(from_rustls)
}
