//! Capture file names (`ssh.collect` tasks' `output.file`): relative paths
//! the coordinator writes under its capture directory and the CLI under
//! its output directory; both refuse one that would leave it.

use std::path::{Component, Path, PathBuf};

/// `file` as a relative path that stays inside the capture directory.
pub fn safe_relative(file: &str) -> Result<PathBuf, String> {
    let p = Path::new(file);
    if file.is_empty() || file.contains('\0') || file.contains('\\') {
        return Err(format!(
            "capture path {file:?} is not a plain relative path"
        ));
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            _ => {
                return Err(format!(
                    "capture path {file:?} would leave the capture directory"
                ));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("capture path {file:?} is empty"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_pass() {
        assert_eq!(safe_relative("a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "a\0b",
            ".",
            "./..",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
    }
}
