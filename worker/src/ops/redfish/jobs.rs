//! Dell's job queue (`Managers/iDRAC.Embedded.1/Jobs`): reading jobs
//! (Dell's `StartTime` is a time or a sentinel such as `TIME_NOW`),
//! clearing the stale ones an earlier failed attempt or operator left
//! (Failed, CompletedWithErrors, Scheduled/New jobs older than a limit,
//! and Scheduled jobs of unknown age, which the next host reboot would
//! apply unasked), deleting one job, and refusing to start while another
//! job runs.

use outpost_kinds::ErrorClass;
use serde_json::Value;

use super::client::Client;
use super::error::RedfishError;

pub const JOBS: &str = "/redfish/v1/Managers/iDRAC.Embedded.1/Jobs";

/// A Dell job as the worker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DellJob {
    pub id: String,
    pub name: String,
    pub state: String,
    pub percent: u32,
    pub message: String,
    /// Dell's `MessageId` (`RED014`, `SUP0518`, ...), empty when absent.
    pub message_id: String,
    /// Unix seconds of `StartTime`, when it is a time.
    pub start: Option<i64>,
    /// `StartTime` when it is not a time: Dell's sentinels (`TIME_NOW`,
    /// `TIME_NA`) or anything else, kept short.
    pub start_sentinel: Option<String>,
}

impl DellJob {
    pub fn finished(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Completed" | "Failed" | "CompletedWithErrors"
        )
    }
    /// The number in `JID_<digits>`; Dell's JIDs grow with time.
    pub fn number(&self) -> u64 {
        self.id
            .strip_prefix("JID_")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    pub fn failed(&self) -> bool {
        matches!(self.state.as_str(), "Failed" | "CompletedWithErrors")
    }
    /// Queued and not started on its own: created (`New`), being
    /// scheduled, or waiting for a host reboot. Such jobs are stale once
    /// old; they do not make the iDRAC busy.
    pub fn queued(&self) -> bool {
        matches!(self.state.as_str(), "Scheduled" | "New" | "Scheduling")
    }

    /// Waiting for a host reboot to apply: `Scheduled`, or a job the iDRAC
    /// says was "successfully scheduled". Never a job still created,
    /// downloading, downloaded and being checked, running or ended.
    pub fn waits_for_reboot(&self) -> bool {
        match self.state.as_str() {
            "Scheduled" => true,
            "New" | "Scheduling" => self
                .message
                .to_ascii_lowercase()
                .contains("successfully scheduled"),
            _ => false,
        }
    }

    /// Why a failed job failed, as an error class: the image could not be
    /// fetched, the package was refused, or something else.
    pub fn failure_class(&self) -> ErrorClass {
        let m = self.message.to_ascii_lowercase();
        let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
        if any(&[
            "unable to transfer",
            "unable to download",
            "download failed",
            "could not be downloaded",
            "unable to connect",
            "file not found",
        ]) {
            ErrorClass::ImageDownloadFailed
        } else if any(&[
            "verification failed",
            "verify",
            "signature",
            "not a valid",
            "corrupt",
            "not applicable",
            "invalid package",
        ]) {
            ErrorClass::PackageInvalid
        } else {
            ErrorClass::JobFailed
        }
    }
}

pub fn parse(c: &Client, path: &str, v: &Value) -> Result<DellJob, RedfishError> {
    let missing = |f: &str| RedfishError::Malformed {
        addr: c.addr().to_string(),
        path: path.to_string(),
        message: format!("missing {f}"),
    };
    let raw_start = v["StartTime"].as_str();
    let start = raw_start.and_then(|t| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
            .ok()
            .map(|n| n.and_utc().timestamp())
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|d| d.timestamp())
            })
    });
    Ok(DellJob {
        id: v["Id"].as_str().ok_or_else(|| missing("Id"))?.to_string(),
        name: v["Name"].as_str().unwrap_or_default().to_string(),
        state: v["JobState"]
            .as_str()
            .ok_or_else(|| missing("JobState"))?
            .to_string(),
        percent: v["PercentComplete"].as_u64().unwrap_or(0).min(100) as u32,
        message: v["Message"].as_str().unwrap_or_default().to_string(),
        message_id: v["MessageId"].as_str().unwrap_or_default().to_string(),
        start_sentinel: match (start, raw_start) {
            (None, Some(t)) => Some(t.chars().take(32).collect()),
            _ => None,
        },
        start,
    })
}

/// One job by JID.
pub async fn get(
    c: &mut Client,
    jid: &str,
    deadline: tokio::time::Instant,
) -> Result<DellJob, RedfishError> {
    let path = format!("{JOBS}/{jid}");
    let v = c.get_retrying(&path, deadline).await?;
    parse(c, &path, &v)
}

/// Every job in the queue.
pub async fn list(
    c: &mut Client,
    deadline: tokio::time::Instant,
) -> Result<Vec<DellJob>, RedfishError> {
    let coll = c.get_retrying(JOBS, deadline).await?;
    let mut out = Vec::new();
    for m in coll["Members"].as_array().cloned().unwrap_or_default() {
        let Some(path) = m["@odata.id"].as_str() else {
            continue;
        };
        match c.get_retrying(path, deadline).await {
            Ok(v) => out.push(parse(c, path, &v)?),
            // Deleted between the listing and the read.
            Err(RedfishError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Deletes one job; a job already gone counts as deleted.
pub async fn delete(c: &mut Client, jid: &str) -> Result<(), RedfishError> {
    match c
        .request(reqwest::Method::DELETE, &format!("{JOBS}/{jid}"), None)
        .await
    {
        Ok(_) | Err(RedfishError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What clearing the queue did.
#[derive(Debug, Default)]
pub struct Cleared {
    pub deleted: Vec<String>,
    /// A job still running: the update must not start.
    pub running: Option<DellJob>,
}

/// Deletes stale jobs; reports a running one.
pub async fn clear_stale(
    c: &mut Client,
    stale_after_s: i64,
    deadline: tokio::time::Instant,
) -> Result<Cleared, RedfishError> {
    let now = chrono::Utc::now().timestamp();
    let mut out = Cleared::default();
    for j in list(c, deadline).await? {
        let old = j.start.is_some_and(|s| now - s > stale_after_s);
        // A Scheduled job whose age Dell does not show (`TIME_NOW`) waits
        // for the next host reboot: the one this update makes would apply
        // it unasked, so it goes too (and is named in the task's progress).
        let unknown_age = j.start.is_none() && j.state == "Scheduled";
        let stale = j.failed() || (j.queued() && old) || unknown_age;
        if stale {
            delete(c, &j.id).await?;
            out.deleted.push(j.id.clone());
        } else if !j.finished() && !j.queued() && out.running.is_none() {
            out.running = Some(j);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Client {
        Client::new(
            "127.0.0.1",
            443,
            super::super::tls::Pin::FirstUse,
            "",
            "",
            std::time::Duration::from_secs(1),
        )
        .unwrap()
    }

    #[test]
    fn start_time_sentinels_parse() {
        let c = client();
        let job = |start: Value| {
            parse(
                &c,
                JOBS,
                &json!({"Id": "JID_000000000042", "JobState": "Scheduled",
                        "Message": "Task successfully scheduled.", "StartTime": start}),
            )
            .unwrap()
        };
        let j = job(json!("TIME_NOW"));
        assert_eq!(
            (j.start, j.start_sentinel.as_deref()),
            (None, Some("TIME_NOW"))
        );
        assert_eq!(j.number(), 42);
        assert!(j.waits_for_reboot());
        let j = job(json!("2026-11-28T10:00:00"));
        assert_eq!(j.start, Some(1_795_860_000));
        assert_eq!(j.start_sentinel, None);
        let j = job(json!("2026-11-28T10:00:00-06:00"));
        assert_eq!(j.start, Some(1_795_860_000 + 6 * 3600));
        let j = job(json!("x".repeat(10_000)));
        assert_eq!(j.start_sentinel.map(|s| s.len()), Some(32));
        let j = job(Value::Null);
        assert_eq!((j.start, j.start_sentinel), (None, None));
    }

    #[test]
    fn only_scheduled_jobs_wait_for_a_reboot() {
        let c = client();
        let job = |state: &str, message: &str| {
            parse(
                &c,
                JOBS,
                &json!({"Id": "JID_1", "JobState": state, "Message": message}),
            )
            .unwrap()
        };
        assert!(!job("New", "Job created.").waits_for_reboot());
        assert!(job("New", "Task successfully scheduled.").waits_for_reboot());
        for s in [
            "Downloading",
            "Downloaded",
            "Running",
            "Failed",
            "Completed",
        ] {
            assert!(
                !job(s, "Task successfully scheduled.").waits_for_reboot(),
                "{s}"
            );
        }
        assert_eq!(
            job("Failed", "Unable to transfer image file: HTTP 404.").failure_class(),
            ErrorClass::ImageDownloadFailed
        );
        assert_eq!(
            job("Failed", "Package verification failed.").failure_class(),
            ErrorClass::PackageInvalid
        );
        assert_eq!(
            job("Failed", "Job failed.").failure_class(),
            ErrorClass::JobFailed
        );
    }
}
