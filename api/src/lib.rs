//! What the coordinator's HTTP API (`/api/v1`) takes and answers, as
//! types: the coordinator serves them, the `outpost` CLI and the web
//! console read them, and nothing else is shared between those. Changing
//! a type here changes the API for all of them at once.

pub mod auth;
pub mod capture;
pub mod error;
pub mod job;
pub mod pin;
pub mod session;
pub mod worker;

pub use error::ErrorBody;
pub use job::{Counts, JobDocument, JobState, JobView, Status, TaskPage, TaskProgress, TaskState};
pub use worker::{VaultView, WorkerView};
