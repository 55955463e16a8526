//! vCenter over the vSphere Web Services API (vim25 SOAP): a thin client
//! of Outpost's own over reqwest and quick-xml (`client`, `api`, `xml`),
//! and the `vcenter.maintenance` task kind (`maintenance`).

pub mod api;
pub mod client;
pub mod error;
pub mod maintenance;
pub mod xml;

pub use client::{MoRef, VimClient};
pub use error::VimError;
