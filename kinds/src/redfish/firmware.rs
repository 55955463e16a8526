//! `redfish.firmware`: a firmware update that follows the Dell job, and
//! the two checks a rolling update runs around it. One component, or
//! several installed one after another in the order given (`updates`),
//! so a rollout updates every component of a host in one maintenance
//! window. Also what a failure
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
    #[serde(default)]
    pub component: String,
    /// Version the component must have at the end.
    #[serde(default)]
    pub version: String,
    /// Several components instead of `component`/`version`/image: each
    /// with its own version and image, installed in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<Image>,
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

/// One component's update in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub component: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Most components one task updates.
pub const MAX_UPDATES: usize = 32;

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
    /// The components to update, in order: `updates`, or the one named
    /// by `component`, `version` and the image.
    pub fn images(&self) -> Vec<Image> {
        if self.updates.is_empty() {
            vec![Image {
                component: self.component.clone(),
                version: self.version.clone(),
                image_uri: self.image_uri.clone(),
                image: self.image.clone(),
            }]
        } else {
            self.updates.clone()
        }
    }

    /// These parameters for `img` alone (one of [`Params::images`]).
    pub fn one(&self, img: &Image) -> Params {
        Params {
            component: img.component.clone(),
            version: img.version.clone(),
            image_uri: img.image_uri.clone(),
            image: img.image.clone(),
            updates: Vec::new(),
            ..self.clone()
        }
    }

    /// Checks what a job may set; fields named as in the job's `params`.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.device.validate()?;
        if !self.updates.is_empty() {
            if !self.component.trim().is_empty()
                || !self.version.trim().is_empty()
                || self.image_uri.is_some()
                || self.image.is_some()
            {
                return Err(Invalid::new(
                    "updates",
                    "give either updates or component, version and image, not both",
                ));
            }
            if self.updates.len() > MAX_UPDATES {
                return Err(Invalid::new(
                    "updates",
                    format!(
                        "{} components; at most {MAX_UPDATES} per task",
                        self.updates.len()
                    ),
                ));
            }
        }
        for (i, img) in self.images().iter().enumerate() {
            let at = |f: &str| {
                if self.updates.is_empty() {
                    f.to_string()
                } else {
                    format!("updates[{i}].{f}")
                }
            };
            super::check_text("component", &img.component)
                .map_err(|_| Invalid::new(at("component"), "required: a ComponentID, a short name such as iDRAC or BIOS, or part of the component's name"))?;
            super::check_text("version", &img.version)
                .map_err(|_| Invalid::new(at("version"), "required: the version to install"))?;
            if self.mode == Mode::Update {
                check_image(img.image_uri.as_deref(), img.image.as_deref())
                    .map_err(|e| Invalid::new(at(&e.field), e.message))?;
            }
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
    /// For several components: each one's result, in order; the fields
    /// above then sum them up (status: `updated` if any was, `scheduled`
    /// if any waits for a reboot, `needs_update` if any needs one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<Output>,
}

impl Output {
    /// Sums up the results of several components.
    pub fn combined(address: &str, parts: Vec<Output>) -> Output {
        let has = |s: Status| parts.iter().any(|o| o.status == s);
        let status = if has(Status::Updated) {
            Status::Updated
        } else if has(Status::Scheduled) {
            Status::Scheduled
        } else if has(Status::NeedsUpdate) {
            Status::NeedsUpdate
        } else if !parts.is_empty() && parts.iter().all(|o| o.status == Status::Verified) {
            Status::Verified
        } else {
            Status::AlreadyCurrent
        };
        let join =
            |f: &dyn Fn(&Output) -> String| parts.iter().map(f).collect::<Vec<_>>().join(", ");
        Output {
            address: address.to_string(),
            port: None,
            status,
            component: join(&|o| o.component.clone()),
            component_id: None,
            version: join(&|o| o.version.clone()),
            from_version: None,
            jid: None,
            reboots: Some(parts.iter().filter_map(|o| o.reboots).sum()),
            note: None,
            updates: parts,
        }
    }

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
    use serde_json::{Value, json};

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
            updates: Vec::new(),
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

    #[test]
    fn a_list_of_components_is_checked_entry_by_entry() {
        let p: Params = serde_json::from_value(json!({"updates": [
            {"component": "BIOS", "version": "2", "image_uri": "https://r/bios.exe"},
            {"component": "NIC", "version": "22", "image_uri": "gopher://r/nic.exe"},
        ]}))
        .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "updates[1].image_uri");
        let p: Params = serde_json::from_value(json!({"component": "BIOS", "updates": [
            {"component": "NIC", "version": "22", "image": "nic"},
        ]}))
        .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "updates");
        let p: Params = serde_json::from_value(json!({"mode": "check", "updates": [
            {"component": "BIOS", "version": "2"}, {"component": "NIC", "version": "22"},
        ]}))
        .unwrap();
        assert_eq!(p.validate(), Ok(()));
        let names: Vec<String> = p.images().into_iter().map(|i| i.component).collect();
        assert_eq!(names, ["BIOS", "NIC"]);
        assert_eq!(p.one(&p.images()[1]).component, "NIC");
        assert!(p.one(&p.images()[1]).updates.is_empty());
        let many: Vec<Value> = (0..=MAX_UPDATES)
            .map(|i| json!({"component": format!("c{i}"), "version": "1", "image": "x"}))
            .collect();
        let p: Params = serde_json::from_value(json!({"updates": many})).unwrap();
        assert_eq!(p.validate().unwrap_err().field, "updates");
    }

    #[test]
    fn several_results_sum_up() {
        let part = |c: &str, s: Status| Output {
            address: "a".into(),
            port: None,
            status: s,
            component: c.into(),
            component_id: None,
            version: "1".into(),
            from_version: None,
            jid: None,
            reboots: Some(1),
            note: None,
            updates: Vec::new(),
        };
        let o = Output::combined(
            "a",
            vec![
                part("BIOS", Status::AlreadyCurrent),
                part("NIC", Status::Updated),
            ],
        );
        assert_eq!(o.status, Status::Updated);
        assert_eq!(o.component, "BIOS, NIC");
        assert_eq!(o.reboots, Some(2));
        let back = Output::from_value(&serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back.updates.len(), 2);
        let all_current = Output::combined("a", vec![part("BIOS", Status::AlreadyCurrent)]);
        assert_eq!(all_current.status, Status::AlreadyCurrent);
        let check = Output::combined(
            "a",
            vec![
                part("BIOS", Status::AlreadyCurrent),
                part("NIC", Status::NeedsUpdate),
            ],
        );
        assert_eq!(check.status, Status::NeedsUpdate);
    }
}
