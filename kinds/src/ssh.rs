//! `ssh.collect`: what a device's collection reports, and who writes its
//! capture to disk. The coordinator saves a capture only from a result of
//! this kind, reading these fields.

use serde::{Deserialize, Serialize};

/// Who writes an `ssh.collect` capture to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deliver {
    /// The coordinator, under its `capture_dir` (jobs submitted through the API).
    #[default]
    Coordinator,
    /// The client that submitted the job fetches each capture and writes
    /// it itself (`outpost run-job`).
    Client,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub device: String,
    #[serde(default)]
    pub device_id: String,
    /// `host:port` the session went to.
    pub address: String,
    pub bytes: u64,
    /// SHA-256 of the capture, lowercase hex.
    pub sha256: String,
    /// Object in `outpost_captures` holding the capture, when saved.
    #[serde(default)]
    pub capture: Option<String>,
    /// Where the capture is to be written, relative to its base.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub deliver: Deliver,
    /// Commands sent (the enable step not counted).
    pub commands: u64,
    pub prompt: String,
    /// The credential's name and user (never its secret).
    pub credential: String,
    pub username: String,
    pub elapsed_ms: u64,
    /// Where the coordinator wrote the capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Output {
    pub fn from_slice(b: &[u8]) -> Option<Output> {
        serde_json::from_slice(b).ok()
    }
}
