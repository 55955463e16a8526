//! Error classes: how a task ended when it did not succeed, as the
//! machine-readable `error_kind` on the wire and in job state. Workers
//! produce them as this enum; the coordinator decides on them (retry,
//! roll back, leave in maintenance) by matching the enum, never by
//! comparing strings. A class name read back from stored state that this
//! build does not know parses to `None` and is treated as unknown.

use std::fmt;

macro_rules! classes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, )*) => {
        /// A class of failure, with its wire name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorClass {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorClass {
            /// Every class, in declaration order.
            pub const ALL: &'static [ErrorClass] = &[ $( ErrorClass::$variant, )* ];

            /// The wire name (`error_kind`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( ErrorClass::$variant => $wire, )*
                }
            }

            /// The class named `s`, if this build knows it.
            pub fn parse(s: &str) -> Option<ErrorClass> {
                match s {
                    $( $wire => Some(ErrorClass::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

classes! {
    // Any kind.
    /// The task's parameters are not acceptable.
    Params = "params",
    /// The credential could not be read or opened.
    Credentials = "credentials",
    /// A credential set names nothing in the zone's vault.
    UnknownCredential = "unknown_credential",
    /// No credential was named and there is no default.
    NoCredentials = "no_credentials",
    /// The worker could not keep its checkpoint.
    Checkpoint = "checkpoint",
    /// A device lock could not be taken.
    Lock = "lock",
    /// The device or zone is busy with other work; later may do.
    Busy = "busy",
    /// A failure that may pass.
    Transient = "transient",
    /// The task asked for this failure (diagnostics).
    Requested = "requested",
    /// The job was cancelled.
    Cancelled = "cancelled",
    /// The worker gave the task back (shutting down, lease lost).
    HandedBack = "handed_back",
    /// Runs of this task ended twice with their worker gone.
    WorkerCrashed = "worker_crashed",
    /// JetStream's deliveries of the task ran out.
    MaxDeliver = "max_deliver",
    /// The coordinator's stored plan for the job is damaged.
    PlanInvalid = "plan_invalid",
    /// A rolling update refused to take a host out of service.
    MinHealthy = "min_healthy",
    // Network.
    Timeout = "timeout",
    Dns = "dns",
    Refused = "refused",
    Unreachable = "unreachable",
    /// Another I/O failure of a connection.
    Io = "io",
    Connect = "connect",
    /// TLS refused for a reason no retry fixes (protocol, ciphers).
    Tls = "tls",
    /// The device's certificate is not the pinned one.
    CertChanged = "cert_changed",
    Auth = "auth",
    Http = "http",
    NotFound = "not_found",
    Unavailable = "unavailable",
    Malformed = "malformed",
    ResponseTooLarge = "response_too_large",
    // Redfish firmware and power.
    ComponentNotFound = "component_not_found",
    ComponentAmbiguous = "component_ambiguous",
    NotUpdateable = "not_updateable",
    VersionMismatch = "version_mismatch",
    IdracBusy = "idrac_busy",
    /// The firmware image could not be read from the object store.
    Image = "image",
    ImageDownloadFailed = "image_download_failed",
    PackageInvalid = "package_invalid",
    JobFailed = "job_failed",
    Stalled = "stalled",
    JobTimeout = "job_timeout",
    JobLost = "job_lost",
    PowerTimeout = "power_timeout",
    // SSH collection.
    KeyExchange = "key_exchange",
    HostKeyChanged = "host_key_changed",
    HostKeyUnknown = "host_key_unknown",
    HostKeyStore = "host_key_store",
    PromptNotFound = "prompt_not_found",
    CommandTimeout = "command_timeout",
    OutputTooLarge = "output_too_large",
    LineTooLong = "line_too_long",
    HandshakeReset = "handshake_reset",
    Disconnected = "disconnected",
    Protocol = "protocol",
    Credential = "credential",
    CaptureUpload = "capture_upload",
    /// The coordinator could not write a capture to its `capture_dir`.
    CaptureWrite = "capture_write",
    Inventory = "inventory",
    // vCenter.
    NotAuthenticated = "not_authenticated",
    HostNotFound = "host_not_found",
    HostNotConnected = "host_not_connected",
    VimFault = "vim_fault",
    /// vCenter's own task timeout for entering maintenance mode.
    MaintenanceTimeout = "maintenance_timeout",
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorClass::ALL {
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
            assert_eq!(ErrorClass::parse(c.as_str()), Some(*c));
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                c.as_str()
            );
        }
        assert_eq!(ErrorClass::parse("Stalled"), None);
    }
}
