//! The body of every error answer: what is wrong, and which field of the
//! request it is about when there is one.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// An error about no field in particular.
    pub fn new(error: String) -> ErrorBody {
        ErrorBody { error, field: None }
    }
}
