//! `PUT|DELETE /api/v1/inventory/redfish/{address}/pin?port=`: an
//! operator accepts an iDRAC's new certificate.

use serde::{Deserialize, Serialize};

/// The body of `PUT`: the certificate to pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// SHA-256 of the certificate (64 hex digits, colons allowed).
    pub sha256: String,
}

/// The answer: the pin before and after (`None`: not pinned, the next
/// connection pins what it sees).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinAnswer {
    pub address: String,
    pub port: u16,
    pub previous_sha256: Option<String>,
    pub cert_sha256: Option<String>,
}
