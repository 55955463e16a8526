//! Reaching NATS securely, for every Outpost process.
//!
//! - [`setup`] writes the server side once per deployment: a CA, the
//!   server's TLS certificate, one nkey identity for the coordinator and one
//!   per zone, and a `nats-server.conf` that requires TLS and confines each
//!   identity to the allow-lists of [`outpost_proto::layout::permissions`].
//!   Re-runs are idempotent; a zone's identity can be reissued or revoked
//!   without touching the others.
//! - [`connect`] is the client side shared by the coordinator and the
//!   worker: creds file, CA, `tls://` URLs, credentials split off the URL,
//!   a per-zone inbox prefix, and the "secure by default" policy (no
//!   anonymous or plaintext connection except to loopback, on request).
//!
//! [`creds`] owns the creds-file format both sides read and write.

pub mod connect;
pub mod creds;
pub mod setup;

pub use connect::{ClientSecurity, ConnectError, Prepared, prepare};
pub use setup::{Report, SetupArgs, SetupError, SetupSpec, render_report};
