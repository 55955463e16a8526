//! Capture file names: the job's `storage.filename_pattern` with its
//! variables filled in, under `commands.output_directory`. A pattern or a
//! device name that would leave the output directory is refused, never
//! quietly rewritten.

use thiserror::Error;

/// Why a capture path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("output directory {0:?} must be a relative path inside the capture directory")]
    Directory(String),
    #[error(
        "pattern {pattern:?} uses the unknown variable {{{var}}}; known: {{device_name}}, {{device_id}}, {{timestamp}}, {{capture_type}}"
    )]
    UnknownVariable { pattern: String, var: String },
    #[error("pattern {pattern:?} has an unclosed {{")]
    Unclosed { pattern: String },
    #[error(
        "file name {name:?} (pattern {pattern:?}) would escape the output directory or is not a plain file name"
    )]
    Escapes { pattern: String, name: String },
}

/// The values a pattern may use.
#[derive(Debug, Clone)]
pub struct FileVars {
    pub device_name: String,
    pub device_id: String,
    /// `YYYYMMDD_HHMMSS`
    pub timestamp: String,
    pub capture_type: String,
}

/// Fills in `pattern`; the result must be one plain file name.
pub fn render_filename(pattern: &str, vars: &FileVars) -> Result<String, PathError> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| PathError::Unclosed {
            pattern: pattern.to_string(),
        })?;
        let var = &after[..close];
        out.push_str(match var {
            "device_name" => &vars.device_name,
            "device_id" => &vars.device_id,
            "timestamp" => &vars.timestamp,
            "capture_type" => &vars.capture_type,
            other => {
                return Err(PathError::UnknownVariable {
                    pattern: pattern.to_string(),
                    var: other.to_string(),
                });
            }
        });
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let plain = !out.is_empty()
        && out.len() <= 255
        && out != "."
        && out != ".."
        && !out.contains(['/', '\\', '\0'])
        && !out.chars().any(char::is_control);
    if !plain {
        return Err(PathError::Escapes {
            pattern: pattern.to_string(),
            name: out,
        });
    }
    Ok(out)
}

/// Checks `commands.output_directory`: relative, no `..`, `.` or empty parts.
pub fn check_output_directory(dir: &str) -> Result<(), PathError> {
    let bad = dir.is_empty()
        || dir.starts_with('/')
        || dir.contains(['\\', '\0'])
        || dir.chars().any(char::is_control)
        || (dir.len() >= 2 && dir.as_bytes()[1] == b':')
        || dir
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(PathError::Directory(dir.to_string()));
    }
    Ok(())
}

/// `output_directory/file_name`.
pub fn relative_capture_path(output_directory: &str, file_name: &str) -> String {
    format!("{}/{file_name}", output_directory.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> FileVars {
        FileVars {
            device_name: name.into(),
            device_id: "17".into(),
            timestamp: "20261123_101500".into(),
            capture_type: "configs".into(),
        }
    }

    #[test]
    fn fills_every_variable() {
        let n = render_filename(
            "{device_name}_{device_id}_{capture_type}_{timestamp}.txt",
            &vars("sw1"),
        )
        .unwrap();
        assert_eq!(n, "sw1_17_configs_20261123_101500.txt");
    }

    #[test]
    fn hostile_names_and_patterns_are_refused() {
        for name in ["../etc/passwd", "a/b", "..", "", "C:\\x", "a\0b"] {
            assert!(
                render_filename("{device_name}", &vars(name)).is_err(),
                "{name:?}"
            );
        }
        assert!(render_filename("../{device_name}", &vars("sw1")).is_err());
        assert!(matches!(
            render_filename("{hostname}.txt", &vars("sw1")),
            Err(PathError::UnknownVariable { .. })
        ));
        for d in ["/abs", "../up", "a/../b", "", "C:\\x", "a//b", "./a"] {
            assert!(check_output_directory(d).is_err(), "{d:?}");
        }
        assert!(check_output_directory("configs/daily").is_ok());
    }
}
