//! An output too large to travel in its result message: the worker puts
//! it in its zone's `outpost_captures_<zone>` object store under the
//! task's own name (`<job>/<task>`) and the result carries this reference
//! in its `stored` field, with whatever summary the kind adds beside it.
//! The reader takes the object's name from the job and task it planned,
//! never from the result, and checks the size and SHA-256 the result
//! reports against what it read.

use serde::{Deserialize, Serialize};

/// Where a task's output went and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    /// The object's name in the zone's captures store.
    pub object: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

impl Stored {
    /// The reference in an output's `stored` field, if it has one.
    pub fn of(output: &serde_json::Value) -> Option<Stored> {
        let v = output.get("stored")?;
        Stored::deserialize(v).ok()
    }

    /// Checks `body` is what this reference describes.
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        if body.len() as u64 != self.bytes {
            return Err(format!(
                "stored output {} is {} bytes, its result says {}",
                self.object,
                body.len(),
                self.bytes
            ));
        }
        if sha256_hex(body) != self.sha256 {
            return Err(format!(
                "stored output {} does not match the SHA-256 its result reports",
                self.object
            ));
        }
        Ok(())
    }
}

/// SHA-256 of `body`, lowercase hex.
pub fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reference_is_read_and_checked() {
        let body = b"{\"vms\":[]}";
        let s = Stored {
            object: "j/t".into(),
            bytes: body.len() as u64,
            sha256: sha256_hex(body),
        };
        let out = json!({"vcenter": {}, "stored": s});
        let got = Stored::of(&out).unwrap();
        assert_eq!(got, s);
        got.check(body).unwrap();
        assert!(got.check(b"{\"vms\":[1]}").unwrap_err().contains("bytes"));
        assert!(got.check(b"{\"vms\":[9]").unwrap_err().contains("SHA-256"));
        assert_eq!(Stored::of(&json!({"vcenter": {}})), None);
        assert_eq!(Stored::of(&json!({"stored": {"object": "x"}})), None);
    }
}
