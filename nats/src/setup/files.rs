//! Writing the bundle's files: only when their contents change, atomically
//! (a temporary file in the same directory, then a rename, so the server
//! never reads half a file), and private ones created with mode 0600 from
//! the start rather than narrowed afterwards.

use super::SetupError;
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::Path;

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    /// Keys and seeds: the owner only (0600).
    Private,
    /// Certificates, the conf, bundle.json: anyone (0644).
    Public,
}

impl Visibility {
    #[cfg(unix)]
    fn mode(self) -> u32 {
        match self {
            Visibility::Private => 0o600,
            Visibility::Public => 0o644,
        }
    }
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Created,
    Updated,
    Kept,
    Removed,
}

/// Makes `path` hold `contents`, writing only when it does not already.
pub(crate) fn put(path: &Path, contents: &[u8], vis: Visibility) -> Result<FileAction, SetupError> {
    let existed = match fs::read(path) {
        Ok(old) if old == contents => {
            tighten(path, vis)?;
            return Ok(FileAction::Kept);
        }
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(SetupError::io("read", path)(e)),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SetupError::io("remove", &tmp)(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(vis.mode());
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(SetupError::io("write", &tmp)(e));
    }
    // The umask may have narrowed the mode further; set it exactly.
    tighten(&tmp, vis)?;
    fs::rename(&tmp, path).map_err(SetupError::io("replace", path))?;
    Ok(if existed {
        FileAction::Updated
    } else {
        FileAction::Created
    })
}

/// Gives `path` exactly the mode of `vis` (a private file someone widened
/// is narrowed again).
fn tighten(path: &Path, vis: Visibility) -> Result<(), SetupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(SetupError::io("inspect", path))?;
        if meta.permissions().mode() & 0o777 != vis.mode() {
            fs::set_permissions(path, fs::Permissions::from_mode(vis.mode()))
                .map_err(SetupError::io("set the mode of", path))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, vis);
    Ok(())
}

/// Removes `path`; a file already gone is fine.
pub(crate) fn remove(path: &Path) -> Result<FileAction, SetupError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(FileAction::Removed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileAction::Removed),
        Err(e) => Err(SetupError::io("remove", path)(e)),
    }
}

/// Creates the bundle directory (0700: it holds keys) unless it exists.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), SetupError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(SetupError::io("create", dir))
}

/// Whether `path` exists (an unreadable parent counts as an error).
pub(crate) fn exists(path: &Path) -> Result<bool, SetupError> {
    path.try_exists().map_err(SetupError::io("inspect", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_changes_with_the_right_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        assert_eq!(
            put(&p, b"a", Visibility::Private).unwrap(),
            FileAction::Created
        );
        assert_eq!(
            put(&p, b"a", Visibility::Private).unwrap(),
            FileAction::Kept
        );
        assert_eq!(
            put(&p, b"b", Visibility::Private).unwrap(),
            FileAction::Updated
        );
        assert_eq!(fs::read(&p).unwrap(), b"b");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p), 0o600);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(
                put(&p, b"b", Visibility::Private).unwrap(),
                FileAction::Kept
            );
            assert_eq!(mode(&p), 0o600);
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
