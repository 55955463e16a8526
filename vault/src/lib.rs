//! A zone's credential vault. Credentials stay in the zone: the worker
//! unlocks the vault file once at start, tasks name a credential, and the
//! secret never leaves the worker's memory. The file is argon2id +
//! XChaCha20-Poly1305 ([`file`]); [`vcollector`] imports VelocityCollector's
//! `collector.db` vault so users keep their credentials.

pub mod error;
pub mod file;
pub mod sealed;
pub mod secret;
pub mod vcollector;

pub use error::VaultError;
pub use file::VaultParams;
pub use secret::Secret;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One credential set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub name: String,
    pub username: String,
    pub password: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_secret: Option<Secret>,
    #[serde(default)]
    pub is_default: bool,
}

/// A credential without its secrets, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialInfo {
    pub name: String,
    pub username: String,
    pub is_default: bool,
    pub has_enable_secret: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    credentials: Vec<Credential>,
}

/// An unlocked vault.
pub struct Vault {
    path: PathBuf,
    password: Secret,
    params: VaultParams,
    credentials: Vec<Credential>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("credentials", &self.list())
            .finish()
    }
}

/// Whether `name` may name a credential.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Vault {
    /// Creates an empty vault file at `path`; refuses to overwrite one.
    pub fn create(path: &Path, password: &str, params: VaultParams) -> Result<Vault, VaultError> {
        if path.exists() {
            return Err(VaultError::Exists {
                path: path.display().to_string(),
            });
        }
        let v = Vault {
            path: path.to_path_buf(),
            password: Secret::new(password),
            params,
            credentials: Vec::new(),
        };
        v.save()?;
        Ok(v)
    }

    /// Opens and decrypts the vault at `path`.
    pub fn open(path: &Path, password: &str) -> Result<Vault, VaultError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                VaultError::Missing {
                    path: shown.clone(),
                }
            } else {
                VaultError::Io {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
        let (plain, params) = file::open(&bytes, password, &shown)?;
        let body: Body = serde_json::from_slice(&plain).map_err(|e| VaultError::Format {
            path: shown.clone(),
            message: format!("decrypted body: {e}"),
        })?;
        Ok(Vault {
            path: path.to_path_buf(),
            password: Secret::new(password),
            params,
            credentials: body.credentials,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every credential, without secrets.
    pub fn list(&self) -> Vec<CredentialInfo> {
        self.credentials
            .iter()
            .map(|c| CredentialInfo {
                name: c.name.clone(),
                username: c.username.clone(),
                is_default: c.is_default,
                has_enable_secret: c.enable_secret.is_some(),
            })
            .collect()
    }

    fn names(&self) -> Vec<String> {
        self.credentials.iter().map(|c| c.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.name == name)
    }

    /// The seed's priority: the named credential, else the default, else
    /// an error listing the names.
    pub fn resolve(&self, requested: Option<&str>) -> Result<&Credential, VaultError> {
        match requested {
            Some(name) => self.get(name).ok_or_else(|| VaultError::NotFound {
                name: name.to_string(),
                available: self.names(),
            }),
            None => self
                .credentials
                .iter()
                .find(|c| c.is_default)
                .ok_or_else(|| VaultError::NoDefault {
                    available: self.names(),
                }),
        }
    }

    /// Adds a credential; a default one takes the default from the others.
    pub fn add(&mut self, cred: Credential) -> Result<(), VaultError> {
        if !valid_name(&cred.name) {
            return Err(VaultError::BadName(cred.name.clone()));
        }
        if self.get(&cred.name).is_some() {
            return Err(VaultError::Duplicate(cred.name.clone()));
        }
        if cred.is_default {
            self.credentials
                .iter_mut()
                .for_each(|c| c.is_default = false);
        }
        self.credentials.push(cred);
        Ok(())
    }

    /// Replaces a credential of the same name, or adds it.
    pub fn upsert(&mut self, cred: Credential) -> Result<(), VaultError> {
        let _ = self.remove(&cred.name);
        self.add(cred)
    }

    pub fn remove(&mut self, name: &str) -> Result<Credential, VaultError> {
        let i = self
            .credentials
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| VaultError::NotFound {
                name: name.to_string(),
                available: self.names(),
            })?;
        Ok(self.credentials.remove(i))
    }

    pub fn set_default(&mut self, name: &str) -> Result<(), VaultError> {
        if self.get(name).is_none() {
            return Err(VaultError::NotFound {
                name: name.to_string(),
                available: self.names(),
            });
        }
        for c in &mut self.credentials {
            c.is_default = c.name == name;
        }
        Ok(())
    }

    /// Writes the vault (fresh salt and nonce, atomic replace).
    pub fn save(&self) -> Result<(), VaultError> {
        let shown = self.path.display().to_string();
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&Body {
                credentials: self.credentials.clone(),
            })
            .map_err(|e| VaultError::Format {
                path: shown.clone(),
                message: e.to_string(),
            })?,
        );
        let sealed = file::seal(&body, self.password.expose(), self.params, &shown)?;
        file::write_atomic(&self.path, &sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(name: &str, default: bool) -> Credential {
        Credential {
            name: name.into(),
            username: "admin".into(),
            password: Secret::new(format!("pw-of-{name}")),
            enable_secret: Some(Secret::new("en-secret")),
            is_default: default,
        }
    }

    #[test]
    fn round_trip_priority_and_redaction() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.json");
        let mut v = Vault::create(&p, "pass", VaultParams::for_tests()).unwrap();
        v.add(cred("lab", false)).unwrap();
        v.add(cred("prod", true)).unwrap();
        v.save().unwrap();
        let v = Vault::open(&p, "pass").unwrap();
        assert_eq!(v.resolve(None).unwrap().name, "prod");
        assert_eq!(
            v.resolve(Some("lab")).unwrap().password.expose(),
            "pw-of-lab"
        );
        let e = v.resolve(Some("nope")).unwrap_err().to_string();
        assert!(e.contains("lab") && e.contains("prod"), "{e}");
        let shown = format!("{:?} {:?}", v, v.get("lab").unwrap());
        assert!(
            !shown.contains("pw-of-lab") && !shown.contains("en-secret"),
            "{shown}"
        );
        let raw = std::fs::read_to_string(&p).unwrap();
        assert!(!raw.contains("pw-of-lab") && !raw.contains("admin"));
        assert!(matches!(
            Vault::open(&p, "wrong"),
            Err(VaultError::WrongPasswordOrCorrupt { .. })
        ));
    }

    #[test]
    fn no_default_lists_names_and_tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.json");
        let mut v = Vault::create(&p, "pass", VaultParams::for_tests()).unwrap();
        v.add(cred("a", false)).unwrap();
        v.save().unwrap();
        let e = Vault::open(&p, "pass")
            .unwrap()
            .resolve(None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no default") && e.contains('a'), "{e}");
        let mut env: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        env["kdf"]["t_cost"] = 2.into();
        std::fs::write(&p, env.to_string()).unwrap();
        assert!(matches!(
            Vault::open(&p, "pass"),
            Err(VaultError::WrongPasswordOrCorrupt { .. })
        ));
        assert!(matches!(
            Vault::create(&p, "x", VaultParams::for_tests()),
            Err(VaultError::Exists { .. })
        ));
        assert!(matches!(
            v.add(cred("bad/name", false)),
            Err(VaultError::BadName(_))
        ));
    }
}
