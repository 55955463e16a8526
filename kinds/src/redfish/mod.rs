//! The Redfish kinds: what `redfish.inventory`, `redfish.power` and
//! `redfish.firmware` take (their own parameters beside the device's) and
//! what they report.

pub mod device;
pub mod discover;
pub mod firmware;
pub mod inventory;
pub mod power;

/// A whole number of seconds or milliseconds a job may set: positive
/// and at most a week.
pub(crate) fn check_duration(field: &str, v: u64) -> Result<(), crate::Invalid> {
    if v == 0 || v > 7 * 24 * 3600 * 1000 {
        return Err(crate::Invalid::new(
            field,
            "must be a positive whole number",
        ));
    }
    Ok(())
}

/// A string a job must give, not blank.
pub(crate) fn check_text(field: &str, v: &str) -> Result<(), crate::Invalid> {
    if v.trim().is_empty() {
        return Err(crate::Invalid::new(field, "must be a non-empty string"));
    }
    Ok(())
}
