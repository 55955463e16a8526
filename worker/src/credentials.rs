//! Credentials as operations use them: a login resolved by name (or the
//! default) from the zone's vault, unlocked once when the worker starts.
//! Secrets live only in this process, zeroized on drop; nothing here is
//! ever logged or published.

use std::sync::Arc;
use zeroize::Zeroizing;

/// A resolved login. `Debug` shows no secret.
pub struct Login {
    pub name: String,
    pub username: String,
    pub password: Zeroizing<String>,
    pub enable_secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Where logins come from.
#[derive(Clone, Default)]
pub enum Credentials {
    /// The worker was started without a vault.
    #[default]
    None,
    Vault(Arc<outpost_vault::Vault>),
}

impl Credentials {
    /// The names this worker can resolve, for its presence entry: names
    /// and which one is the default, never a username or secret.
    pub fn names(&self) -> outpost_proto::pb::VaultNames {
        match self {
            Credentials::None => outpost_proto::pb::VaultNames::default(),
            Credentials::Vault(v) => {
                let list = v.list();
                outpost_proto::pb::VaultNames {
                    present: true,
                    default_name: list
                        .iter()
                        .find(|c| c.is_default)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    names: list.into_iter().map(|c| c.name).collect(),
                }
            }
        }
    }

    /// The login named `name`, else the vault's default; the error lists
    /// the names the vault has.
    pub fn resolve(&self, name: Option<&str>) -> Result<Login, String> {
        match self {
            Credentials::None => Err(
                "this worker has no credential vault; start it with --vault (and OUTPOST_VAULT_PASS)"
                    .to_string(),
            ),
            Credentials::Vault(v) => {
                let c = v.resolve(name).map_err(|e| e.to_string())?;
                Ok(Login {
                    name: c.name.clone(),
                    username: c.username.clone(),
                    password: Zeroizing::new(c.password.expose().to_string()),
                    enable_secret: c
                        .enable_secret
                        .as_ref()
                        .map(|s| Zeroizing::new(s.expose().to_string())),
                })
            }
        }
    }
}
