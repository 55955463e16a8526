//! The token grammar: what a zone, kind or id may contain before
//! [`crate::layout`] puts it into a subject, key or consumer name, so a
//! name coming from a user can never add tokens, wildcards or whitespace:
//! - zone: `[a-z0-9_-]{1,64}`
//! - kind: one or more `[a-z0-9]+` segments joined by `.` (`net.reach`)
//! - job, task and worker ids: `[A-Za-z0-9_-]{1,128}`

use thiserror::Error;

/// A name that cannot be placed in a subject, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubjectError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} {value:?} is longer than {max} characters")]
    TooLong {
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error("{what} {value:?} contains {found:?}; allowed: {allowed}")]
    BadChar {
        what: &'static str,
        value: String,
        found: char,
        allowed: &'static str,
    },
    #[error("{what} {value:?} has an empty segment (leading, trailing or doubled '.')")]
    EmptySegment { what: &'static str, value: String },
    #[error("{0:?} is not a well-formed Outpost subject or key")]
    Malformed(String),
}

const ZONE_ALLOWED: &str = "lowercase letters, digits, '_' and '-'";
const ID_ALLOWED: &str = "letters, digits, '_' and '-'";
const KIND_ALLOWED: &str = "lowercase letters and digits in segments joined by '.'";

fn check(
    what: &'static str,
    value: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), SubjectError> {
    if value.is_empty() {
        return Err(SubjectError::Empty { what });
    }
    if value.chars().count() > max {
        return Err(SubjectError::TooLong {
            what,
            value: value.to_string(),
            max,
        });
    }
    if let Some(found) = value.chars().find(|c| !ok(*c)) {
        return Err(SubjectError::BadChar {
            what,
            value: value.to_string(),
            found,
            allowed,
        });
    }
    Ok(())
}

/// Checks a zone name.
pub fn validate_zone(zone: &str) -> Result<(), SubjectError> {
    check("zone", zone, 64, ZONE_ALLOWED, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
    })
}

/// Checks a site's name (also its JetStream domain): the zone alphabet,
/// at most 32 characters.
pub fn validate_site(site: &str) -> Result<(), SubjectError> {
    check("site", site, 32, ZONE_ALLOWED, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
    })
}

/// Checks a job, task or worker id.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), SubjectError> {
    check(what, id, 128, ID_ALLOWED, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    })
}

/// Checks a task kind such as `net.reach`.
pub fn validate_kind(kind: &str) -> Result<(), SubjectError> {
    check("kind", kind, 64, KIND_ALLOWED, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.'
    })?;
    if kind.split('.').any(str::is_empty) {
        return Err(SubjectError::EmptySegment {
            what: "kind",
            value: kind.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_hostile_tokens() {
        for zone in [
            "", "a.b", "a*", ">", "a b", "a\tb", "Zone", "a\nb", "z.>", "ä",
        ] {
            assert!(validate_zone(zone).is_err(), "zone {zone:?} accepted");
        }
        for id in ["", "a.b", "*", ">", "a b", "j\r\n", "a/b", "x.*"] {
            assert!(validate_id("job id", id).is_err(), "id {id:?} accepted");
        }
        for kind in [
            "",
            ".",
            "net.",
            ".net",
            "net..reach",
            "net.*",
            "net.>",
            "net reach",
            "net_reach",
            "net-reach",
            "Net.reach",
        ] {
            assert!(validate_kind(kind).is_err(), "kind {kind:?} accepted");
        }
        assert!(validate_zone(&"z".repeat(65)).is_err());
        assert!(validate_id("task id", &"t".repeat(129)).is_err());
    }

    #[test]
    fn errors_name_the_offending_field() {
        let e = validate_zone("a.b").unwrap_err().to_string();
        assert!(e.contains("zone") && e.contains("'.'"), "{e}");
        let e = validate_kind("net..reach").unwrap_err().to_string();
        assert!(e.contains("kind") && e.contains("empty segment"), "{e}");
    }
}
