//! Where the runners write captures, as VelocityCollector does: under the
//! job file's `storage.base_path` (`~` is the runner's home, a relative
//! path starts where the runner runs), else `~/.vcollector/collections`,
//! then `<output_directory>/<file name>`. Each capture is fetched from the
//! coordinator, checked against the SHA-256 the worker reported and written
//! atomically (temp file in the same directory, fsync, rename).

use super::super::client::Client;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Where captures go when the job file names no `storage.base_path`
/// (VelocityCollector's `~/.vcollector/collections`), below the home.
pub const DEFAULT_BASE: &str = ".vcollector/collections";

/// The directory `base_path` names, for a runner whose home is `home` and
/// whose working directory is `cwd`.
pub fn resolve_base(
    base_path: Option<&str>,
    home: Option<&Path>,
    cwd: &Path,
) -> Result<PathBuf, String> {
    let need_home = |what: &str| {
        home.map(Path::to_path_buf).ok_or_else(|| {
            format!("{what} needs the home directory, and HOME is not set: give an absolute storage.base_path")
        })
    };
    let Some(p) = base_path.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(
            need_home("the default capture directory ~/.vcollector/collections")?
                .join(DEFAULT_BASE),
        );
    };
    if p == "~" {
        return need_home("storage.base_path \"~\"");
    }
    if let Some(rest) = p.strip_prefix("~/") {
        return Ok(need_home(&format!("storage.base_path {p:?}"))?.join(rest));
    }
    if p.starts_with('~') {
        return Err(format!(
            "storage.base_path {p:?}: only ~ and ~/ (this user's home) are expanded; write another user's home out in full"
        ));
    }
    let path = Path::new(p);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    })
}

/// Where the capture planned as `file` (relative, `<output_directory>/<name>`)
/// is written under `base`; a path that would leave `base` is refused.
pub fn capture_path(base: &Path, file: &str) -> Result<PathBuf, String> {
    outpost_api::capture::safe_relative(file).map(|rel| base.join(rel))
}

/// Fetches the capture of `task` and writes it to `dest`; returns its size.
pub async fn fetch_and_write(
    client: &Client,
    job: &str,
    task: &str,
    dest: &Path,
    sha256: Option<&str>,
) -> Result<u64, String> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let resp = client
        .capture(job, task)
        .await
        .map_err(|e| format!("cannot fetch the capture: {e}"))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::now_v7().simple()));
    let written = write_body(resp, &tmp, sha256).await;
    let result = match written {
        Ok(n) => tokio::fs::rename(&tmp, dest)
            .await
            .map(|()| n)
            .map_err(|e| format!("cannot write {}: {e}", dest.display())),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

async fn write_body(
    resp: reqwest::Response,
    tmp: &Path,
    sha256: Option<&str>,
) -> Result<u64, String> {
    let mut f = tokio::fs::File::create(tmp)
        .await
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let mut hash = Sha256::new();
    let mut n = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("the capture download broke off: {e}"))?;
        hash.update(&chunk);
        n += chunk.len() as u64;
        f.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    }
    f.sync_all()
        .await
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let got: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if let Some(want) = sha256
        && !want.eq_ignore_ascii_case(&got)
    {
        return Err(format!(
            "the capture received ({n} bytes) does not match the checksum the worker reported"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_resolve_like_velocitycollector() {
        let home = Path::new("/home/op");
        let cwd = Path::new("/srv/run");
        let r = |p: Option<&str>| resolve_base(p, Some(home), cwd);
        assert_eq!(r(None).unwrap(), home.join(".vcollector/collections"));
        assert_eq!(r(Some("  ")).unwrap(), home.join(".vcollector/collections"));
        assert_eq!(r(Some("~")).unwrap(), home);
        assert_eq!(r(Some("~/caps")).unwrap(), home.join("caps"));
        assert_eq!(r(Some("caps/x")).unwrap(), cwd.join("caps/x"));
        assert_eq!(r(Some("/data/caps")).unwrap(), Path::new("/data/caps"));
        assert!(r(Some("~root/caps")).unwrap_err().contains("~root"));
        let e = resolve_base(Some("~/x"), None, cwd).unwrap_err();
        assert!(e.contains("HOME"), "{e}");
        assert_eq!(
            resolve_base(Some("/abs"), None, cwd).unwrap(),
            Path::new("/abs")
        );
    }

    #[test]
    fn capture_paths_stay_under_the_base() {
        let base = Path::new("/b");
        assert_eq!(
            capture_path(base, "configs/sw1.txt").unwrap(),
            Path::new("/b/configs/sw1.txt")
        );
        assert!(capture_path(base, "../x").is_err());
        assert!(capture_path(base, "/etc/passwd").is_err());
    }
}
