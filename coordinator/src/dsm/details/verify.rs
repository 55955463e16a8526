//! A verification's checks: each expected component version against the
//! inventory the task read.

use crate::dsm::owned::Owned;
use crate::model::{JobView, Status};
use serde_json::{Value, json};

/// The checks of `details.expected_firmware_versions` (`{component: version}`).
pub fn verify(o: &Owned, v: &JobView) -> Value {
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut warnings = Vec::new();
    let expected = o.extra["expected"].as_object().cloned().unwrap_or_default();
    for t in v.tasks.iter().filter(|t| t.status == Status::Succeeded) {
        let comps = t
            .output
            .as_ref()
            .and_then(|o| o["components"].as_array().cloned())
            .unwrap_or_default();
        if expected.is_empty() {
            passed.push(json!(format!(
                "{}: iDRAC answers, {} components read",
                t.target,
                comps.len()
            )));
        }
        for (component, want) in &expected {
            let want = want.as_str().unwrap_or_default();
            let c = component.to_ascii_lowercase();
            let found = comps.iter().find(|x| {
                x["id"].as_str().is_some_and(|i| i.starts_with("Installed"))
                    && (x["name"]
                        .as_str()
                        .is_some_and(|n| n.to_ascii_lowercase().contains(&c))
                        || x["software_id"].as_str() == Some(component.as_str())
                        || (c == "idrac" && x["software_id"] == "25227")
                        || (c == "bios" && x["software_id"] == "159"))
            });
            match found.and_then(|x| x["version"].as_str()) {
                Some(have) if have == want => passed.push(json!(format!("{component}: {have}"))),
                Some(have) => {
                    failed.push(json!(format!("{component}: expected {want}, found {have}")))
                }
                None => warnings.push(json!(format!("{component}: not in the inventory"))),
            }
        }
    }
    json!({"checks_passed": passed, "checks_failed": failed, "checks_warnings": warnings})
}
