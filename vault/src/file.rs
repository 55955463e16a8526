//! The vault file: a JSON envelope holding the argon2id parameters and salt,
//! an XChaCha20-Poly1305 nonce and the encrypted credentials. The envelope's
//! header is bound to the ciphertext as associated data, so changing the
//! cost or salt is detected like any other tampering. Saves are atomic.

use crate::error::VaultError;
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

pub const FORMAT: &str = "outpost-vault";
pub const VERSION: u32 = 1;
/// Largest memory cost accepted from a file (1 GiB), so a crafted file
/// cannot make unlocking exhaust the machine.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for VaultParams {
    /// 64 MiB, 3 passes, 1 lane.
    fn default() -> Self {
        VaultParams {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

impl VaultParams {
    /// A cheap cost for tests only.
    pub fn for_tests() -> Self {
        VaultParams {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    alg: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    version: u32,
    kdf: Kdf,
    nonce: String,
    ciphertext: String,
}

fn aad(kdf: &Kdf) -> Vec<u8> {
    format!(
        "{FORMAT}/{VERSION}/{}/{}/{}/{}/{}",
        kdf.alg, kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, kdf.salt
    )
    .into_bytes()
}

fn derive(
    password: &str,
    salt: &[u8],
    p: VaultParams,
    path: &str,
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let params = Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(32)).map_err(|e| {
        VaultError::Format {
            path: path.to_string(),
            message: format!("argon2 parameters: {e}"),
        }
    })?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, key.as_mut())
        .map_err(|e| VaultError::Format {
            path: path.to_string(),
            message: format!("key derivation: {e}"),
        })?;
    Ok(key)
}

/// Encrypts `plain` into an envelope with a fresh salt and nonce.
pub fn seal(
    plain: &[u8],
    password: &str,
    p: VaultParams,
    path: &str,
) -> Result<Vec<u8>, VaultError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut nonce);
    let kdf = Kdf {
        alg: "argon2id".into(),
        m_cost_kib: p.m_cost_kib,
        t_cost: p.t_cost,
        p_cost: p.p_cost,
        salt: B64.encode(salt),
    };
    let key = derive(password, &salt, p, path)?;
    let cipher =
        XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| VaultError::Format {
            path: path.to_string(),
            message: "key length".into(),
        })?;
    let nonce_arr = XNonce::try_from(&nonce[..]).map_err(|_| VaultError::Format {
        path: path.to_string(),
        message: "nonce length".into(),
    })?;
    let ct = cipher
        .encrypt(
            &nonce_arr,
            Payload {
                msg: plain,
                aad: &aad(&kdf),
            },
        )
        .map_err(|_| VaultError::Format {
            path: path.to_string(),
            message: "encryption failed".into(),
        })?;
    let env = Envelope {
        format: FORMAT.into(),
        version: VERSION,
        kdf,
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ct),
    };
    serde_json::to_vec_pretty(&env).map_err(|e| VaultError::Format {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Decrypts an envelope; returns the plaintext and the cost it was made with.
pub fn open(
    bytes: &[u8],
    password: &str,
    path: &str,
) -> Result<(Zeroizing<Vec<u8>>, VaultParams), VaultError> {
    let bad = |m: String| VaultError::Format {
        path: path.to_string(),
        message: m,
    };
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if env.format != FORMAT {
        return Err(bad(format!("format is {:?}", env.format)));
    }
    if env.version != VERSION {
        return Err(bad(format!(
            "version {} is not supported (this Outpost reads {VERSION})",
            env.version
        )));
    }
    if env.kdf.alg != "argon2id" {
        return Err(bad(format!(
            "key derivation {:?} is not supported",
            env.kdf.alg
        )));
    }
    if env.kdf.m_cost_kib > MAX_M_COST_KIB
        || env.kdf.t_cost > MAX_T_COST
        || env.kdf.p_cost == 0
        || env.kdf.p_cost > 16
    {
        return Err(bad("argon2 cost parameters out of bounds".into()));
    }
    let salt = B64
        .decode(&env.kdf.salt)
        .map_err(|_| bad("kdf.salt is not base64".into()))?;
    let nonce = B64
        .decode(&env.nonce)
        .map_err(|_| bad("nonce is not base64".into()))?;
    if nonce.len() != 24 || salt.len() < 8 {
        return Err(bad("nonce or salt has the wrong length".into()));
    }
    let ct = B64
        .decode(&env.ciphertext)
        .map_err(|_| bad("ciphertext is not base64".into()))?;
    let p = VaultParams {
        m_cost_kib: env.kdf.m_cost_kib,
        t_cost: env.kdf.t_cost,
        p_cost: env.kdf.p_cost,
    };
    let key = derive(password, &salt, p, path)?;
    let cipher =
        XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| bad("key length".into()))?;
    let nonce_arr = XNonce::try_from(&nonce[..]).map_err(|_| bad("nonce length".into()))?;
    let plain = cipher
        .decrypt(
            &nonce_arr,
            Payload {
                msg: &ct,
                aad: &aad(&env.kdf),
            },
        )
        .map_err(|_| VaultError::WrongPasswordOrCorrupt {
            path: path.to_string(),
        })?;
    Ok((Zeroizing::new(plain), p))
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display().to_string();
    let io = |source| VaultError::Io {
        path: shown.clone(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut suffix = [0u8; 8];
    rand::rng().fill_bytes(&mut suffix);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
