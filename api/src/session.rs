//! `/api/v1/session`: the web console's sign-in.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/session`: what the console needs before it shows anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The API has a token: the console must sign in.
    pub token_required: bool,
    /// This browser may use the API.
    pub signed_in: bool,
}

/// `POST /api/v1/session`: the API token, exchanged for a session cookie;
/// wiped from memory when dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub token: String,
}

impl Drop for SignIn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn { token: *** }")
    }
}
