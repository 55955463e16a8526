//! `redfish.firmware`: a firmware update that follows the Dell job, and
//! the two checks a rolling update runs around it. Also what a failure
//! class says about the host: whether the iDRAC had started applying the
//! image when the task failed, which decides whether a rolling update may
//! put the host back in service.

use super::device::DeviceParams;
use crate::{ErrorClass, Invalid};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyTime {
    Immediate,
    OnReset,
}

/// What the task does: the update itself, or one of the two checks a
/// rolling update runs around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Update,
    /// Before: the component exists, and no Dell job is running; reports
    /// whether an update is needed. Changes nothing.
    Check,
    /// After: the component reports the wanted version.
    Verify,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub device: DeviceParams,
    #[serde(default)]
    pub mode: Mode,
    /// ComponentID, inventory id, short name (`iDRAC`, `NIC`) or part of
    /// the component's name.
    pub component: String,
    /// Version the component must have at the end.
    pub version: String,
    /// The iDRAC fetches the image from here (HTTP or HTTPS)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    /// ...or the worker pushes this object of `outpost_firmware`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default = "immediate")]
    pub apply_time: ApplyTime,
    /// Scheduled/New jobs older than this are stale and deleted.
    #[serde(default = "default_stale_s")]
    pub stale_job_age_s: u64,
    /// A job whose state and percentage do not move for this long is stalled.
    #[serde(default = "default_stall_s")]
    pub stall_s: u64,
    /// How long the host gets to go down after GracefulRestart.
    #[serde(default = "default_graceful_s")]
    pub graceful_s: u64,
    /// How long a reboot may take until the host is on again.
    #[serde(default = "default_reboot_s")]
    pub reboot_s: u64,
    /// Deadline of the whole job once started.
    #[serde(default = "default_job_s")]
    pub job_timeout_s: u64,
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Reboots for stalls before giving up.
    #[serde(default = "default_stall_reboots")]
    pub max_stall_reboots: u32,
}

fn immediate() -> ApplyTime {
    ApplyTime::Immediate
}
fn default_stale_s() -> u64 {
    24 * 3600
}
fn default_stall_s() -> u64 {
    1200
}
fn default_graceful_s() -> u64 {
    600
}
fn default_reboot_s() -> u64 {
    1800
}
fn default_job_s() -> u64 {
    4 * 3600
}
fn default_poll_ms() -> u64 {
    5000
}
fn default_stall_reboots() -> u32 {
    2
}

impl Params {
    /// Checks what a job may set; fields named as in the job's `params`.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.device.validate()?;
        super::check_text("component", &self.component)
            .map_err(|_| Invalid::new("component", "required: a ComponentID, a short name such as iDRAC or BIOS, or part of the component's name"))?;
        super::check_text("version", &self.version)
            .map_err(|_| Invalid::new("version", "required: the version to install"))?;
        if self.mode == Mode::Update {
            check_image(self.image_uri.as_deref(), self.image.as_deref())?;
        }
        for (k, v) in [
            ("stale_job_age_s", self.stale_job_age_s),
            ("stall_s", self.stall_s),
            ("graceful_s", self.graceful_s),
            ("reboot_s", self.reboot_s),
            ("job_timeout_s", self.job_timeout_s),
            ("poll_ms", self.poll_ms),
            ("max_stall_reboots", u64::from(self.max_stall_reboots)),
        ] {
            super::check_duration(k, v)?;
        }
        Ok(())
    }
}

/// Exactly one image source: an http(s) `image_uri` the iDRAC fetches,
/// or `image`, an object of `outpost_firmware`.
pub fn check_image(uri: Option<&str>, image: Option<&str>) -> Result<(), Invalid> {
    let uri = uri.filter(|s| !s.trim().is_empty());
    let image = image.filter(|s| !s.trim().is_empty());
    match (uri, image) {
        (Some(_), Some(_)) => Err(Invalid::new("image", "give image_uri or image, not both")),
        (None, None) => Err(Invalid::new(
            "image_uri",
            "required: an http(s) URI the iDRAC fetches, or `image`, an object in outpost_firmware",
        )),
        (Some(u), None) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Err(Invalid::new(
                "image_uri",
                format!("{u:?} is not an http:// or https:// URI"),
            ))
        }
        _ => Ok(()),
    }
}

/// How the task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// `verify`: the component runs the version.
    Verified,
    /// `check` or an update: the component already ran the version.
    AlreadyCurrent,
    /// `check`: an update is needed and nothing stands in its way.
    NeedsUpdate,
    /// `OnReset`: the Dell job waits for the host's next reboot.
    Scheduled,
    /// The update applied and the component reports the version.
    Updated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub status: Status,
    /// The component's name as the iDRAC lists it.
    pub component: String,
    /// Dell's ComponentID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    /// What the component runs (for `scheduled`, the version it will run).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboots: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Output {
    /// Reads a stored output, if it is one of this kind.
    pub fn from_value(v: &serde_json::Value) -> Option<Output> {
        Output::deserialize(v).ok()
    }
}

/// Whether the iDRAC had started applying the image when an update
/// failed with `class`: `Some(true)` once the Dell job ran (a failure
/// mid-flash), `Some(false)` when the image was refused or the update
/// never began, `None` when the class alone does not say.
pub fn applying_when_failed(class: ErrorClass) -> Option<bool> {
    match class {
        ErrorClass::JobFailed
        | ErrorClass::Stalled
        | ErrorClass::JobTimeout
        | ErrorClass::JobLost => Some(true),
        ErrorClass::VersionMismatch
        | ErrorClass::Cancelled
        | ErrorClass::ImageDownloadFailed
        | ErrorClass::PackageInvalid
        | ErrorClass::ComponentNotFound
        | ErrorClass::ComponentAmbiguous
        | ErrorClass::NotUpdateable
        | ErrorClass::IdracBusy
        | ErrorClass::Params => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_round_trip_with_their_wire_names() {
        let o = Output {
            address: "10.0.0.5".into(),
            port: Some(443),
            status: Status::AlreadyCurrent,
            component: "BIOS".into(),
            component_id: Some("159".into()),
            version: "2.19.1".into(),
            from_version: None,
            jid: None,
            reboots: None,
            note: None,
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["status"], "already_current");
        assert_eq!(Output::from_value(&v), Some(o));
        assert_eq!(Output::from_value(&json!({"status": "other"})), None);
    }

    #[test]
    fn validation_names_the_field() {
        let p: Params = serde_json::from_value(
            json!({"component": "BIOS", "version": "1", "image_uri": "ftp://x"}),
        )
        .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "image_uri");
        let p: Params =
            serde_json::from_value(json!({"component": " ", "version": "1", "image": "x"}))
                .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "component");
        let p: Params = serde_json::from_value(
            json!({"component": "BIOS", "version": "1", "image": "x", "stall_s": 0}),
        )
        .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "stall_s");
        // The checks around an update need no image.
        let p: Params =
            serde_json::from_value(json!({"component": "BIOS", "version": "1", "mode": "check"}))
                .unwrap();
        assert_eq!(p.validate(), Ok(()));
    }
}
