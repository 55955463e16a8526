//! The contract between Outpost's coordinator and its workers, per task
//! kind: the kind names, each kind's parameters and output as types, the
//! error classes a task can end with (an enum with its wire name), and the
//! phases of a rolling update's hosts. Both sides build on these types,
//! so a renamed label or a new field is a compile error on the side that
//! did not follow, never a silently different decision.

pub mod class;
pub mod diag;
pub mod kind;
pub mod redfish;
pub mod rollout;
pub mod ssh;
pub mod stored;
pub mod vcenter;

pub use class::ErrorClass;
pub use kind::Kind;

/// A parameter that is not acceptable, naming it as the job document
/// spells it (`params.reset_type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
