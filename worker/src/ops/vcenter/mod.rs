//! vCenter over the vSphere Web Services API (vim25 SOAP): a thin client
//! of Outpost's own over reqwest and quick-xml (`client`, `api`, `xml`),
//! a task's session to its vCenter (`session`), and the task kinds
//! `vcenter.maintenance` (`maintenance`) and `vcenter.inventory`
//! (`inventory`).

pub mod api;
pub mod client;
pub mod error;
pub mod inventory;
pub mod maintenance;
pub mod session;
pub mod xml;

pub use client::{MoRef, VimClient};
pub use error::VimError;
