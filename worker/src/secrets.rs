//! Where the worker's secrets come from and how they are kept out of
//! sight: the vault password from a file, systemd's credentials directory
//! or (taken and erased at start-up) the environment, and the NATS
//! credentials split off the server URL so they travel only in the
//! connection options, never in a log line or an error message.

use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Name of the vault password in systemd's credentials directory
/// (`LoadCredential=outpost-vault-pass:...`).
pub const CREDENTIAL_NAME: &str = "outpost-vault-pass";
/// The environment variable that may carry the vault password.
pub const VAULT_PASS_ENV: &str = "OUTPOST_VAULT_PASS";
/// Longest secret file read (a password, not a document).
const MAX_SECRET_FILE: u64 = 64 * 1024;

unsafe extern "C" {
    /// The process environment (POSIX).
    static environ: *const *mut std::ffi::c_char;
}

/// Reads `name` from the environment and removes it, overwriting its
/// value in place so that `/proc/<pid>/environ` (which shows the original
/// environment block, not the current variables) no longer carries it.
///
/// # Safety
/// Must run before any other thread exists (no thread may read or write
/// the environment at the same time): call it first thing in `main`,
/// before an async runtime starts.
pub unsafe fn take_env(name: &str) -> Option<Zeroizing<String>> {
    let value = std::env::var(name).ok().map(Zeroizing::new);
    let prefix = format!("{name}=");
    // SAFETY: single-threaded per the contract; `environ` is a
    // NULL-terminated array of NUL-terminated strings owned by the process,
    // and the bytes overwritten lie inside the string found.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let s = std::ffi::CStr::from_ptr(*entry);
            let bytes = s.to_bytes();
            if bytes.starts_with(prefix.as_bytes()) {
                let value_len = bytes.len() - prefix.len();
                std::ptr::write_bytes((*entry).add(prefix.len()), 0, value_len);
            }
            entry = entry.add(1);
        }
        std::env::remove_var(name);
    }
    value
}

/// The vault password file systemd handed over, if there is one.
pub fn credentials_file(dir: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let path = Path::new(dir?).join(CREDENTIAL_NAME);
    path.is_file().then_some(path)
}

/// Reads a secret from a file: the first line, without its line end.
pub fn read_file(path: &Path) -> Result<Zeroizing<String>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "secret file {} is larger than {} KiB",
            path.display(),
            MAX_SECRET_FILE / 1024
        ));
    }
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    Ok(Zeroizing::new(first.to_string()))
}

pub use outpost_proto::nats_url::{UrlAuth, split_url};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_give_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CREDENTIAL_NAME);
        std::fs::write(&p, "pass word\nignored\n").unwrap();
        assert_eq!(read_file(&p).unwrap().as_str(), "pass word");
        assert_eq!(
            credentials_file(Some(dir.path().as_os_str())),
            Some(p.clone())
        );
        assert_eq!(credentials_file(None), None);
        std::fs::write(&p, "").unwrap();
        assert!(read_file(&p).unwrap_err().contains("empty"));
        std::fs::write(&p, vec![b'x'; 70 * 1024]).unwrap();
        assert!(read_file(&p).unwrap_err().contains("larger"));
    }
}
