//! Capture file names: the job's `storage.filename_pattern` with its
//! variables filled in, under `commands.output_directory`.
//!
//! The pattern and the output directory are the operator's: one that would
//! leave the capture directory is refused. The values filled in from the
//! inventory (`{device_name}`, `{device_id}`) are the device's: an odd name
//! must not stop the other devices of the job, so those values are made
//! safe with [`safe_component`] (and the plan reports every rename).

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

/// Longest value [`safe_component`] keeps (bytes; the result is ASCII).
pub const MAX_COMPONENT: usize = 128;

/// Makes an inventory value usable inside a file name. The rule:
/// - every character outside `[A-Za-z0-9._-]` becomes `_` (one `_` per
///   character: `core sw/1` → `core_sw_1`, `../evil` → `___evil`);
/// - leading dots become `_` (no hidden files, no `.` or `..`);
/// - an empty value becomes `_`;
/// - the result is cut to [`MAX_COMPONENT`] characters.
pub fn safe_component(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(MAX_COMPONENT)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dots = out.len() - out.trim_start_matches('.').len();
    out.replace_range(..dots, &"_".repeat(dots));
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// `name` with `_N` before its extension (`sw_1.txt`, 2 → `sw_1_2.txt`):
/// how a renamed device whose safe name is taken is told apart.
pub fn with_suffix(name: &str, n: usize) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}_{n}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}_{n}"),
    }
}

/// Fills in `pattern` with the device values made safe by
/// [`safe_component`]; the result must be one plain file name (a pattern
/// that leaves the directory is refused).
pub fn render_filename(pattern: &str, vars: &FileVars) -> Result<String, PathError> {
    let device_name = safe_component(&vars.device_name);
    let device_id = safe_component(&vars.device_id);
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
            "device_name" => &device_name,
            "device_id" => &device_id,
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
    fn odd_device_names_are_made_safe() {
        for (name, want) in [
            ("core sw/1", "core_sw_1"),
            ("../etc/passwd", "___etc_passwd"),
            ("a/b", "a_b"),
            ("..", "__"),
            (".hidden", "_hidden"),
            ("", "_"),
            ("C:\\x", "C__x"),
            ("a\0b", "a_b"),
            ("sw-1.lab_2", "sw-1.lab_2"),
            ("zürich", "z_rich"),
        ] {
            assert_eq!(safe_component(name), want, "{name:?}");
            let file = render_filename("{device_name}", &vars(name)).unwrap();
            assert_eq!(file, want);
        }
        let long = "x".repeat(10_000);
        assert_eq!(safe_component(&long).len(), MAX_COMPONENT);
        assert_eq!(
            render_filename("{device_name}.txt", &vars("core sw/1")).unwrap(),
            "core_sw_1.txt"
        );
        assert_eq!(with_suffix("core_sw_1.txt", 2), "core_sw_1_2.txt");
        assert_eq!(with_suffix("_hidden", 3), "_hidden_3");
    }

    #[test]
    fn hostile_patterns_are_refused() {
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
