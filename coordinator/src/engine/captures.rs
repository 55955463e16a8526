//! Capture files: when an `ssh.collect` task succeeds, its output travelled
//! back through its zone's `outpost_captures_<zone>` object store; the relay fetches it
//! and writes it under `<capture_dir>/<output_directory>/<file>` atomically
//! (temp file in the same directory, fsync, rename) before the result is
//! applied, so a job reported succeeded has its files on disk. A capture
//! that cannot be written turns the result into a `capture_write` failure.
//! Replaying the events stream rewrites nothing that is already there.
//! Captures a client writes itself (`deliver: client`, `outpost run-job`)
//! are left in the store for it to fetch. The object and the file are the
//! ones the coordinator planned for that task; nothing in an event names
//! where a capture goes.

use futures::StreamExt;
use outpost_kinds::ssh;
use outpost_kinds::stored::sha256_hex;
use outpost_kinds::{ErrorClass, Kind};
use outpost_proto::{layout, pb};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Captures written at once.
const PARALLEL: usize = 16;
/// The largest capture the coordinator reads back (a device's running
/// configuration is kilobytes to a few megabytes).
pub const MAX_CAPTURE_BYTES: u64 = 256 << 20;

/// A capture object: the zone whose store holds it, and its name.
type Object = (String, String);

/// Writes captures of succeeded `ssh.collect` results.
#[derive(Clone)]
pub struct CaptureWriter {
    pub objects: super::objects::ZoneObjects,
    pub dir: PathBuf,
    /// The coordinator's state: where each task's capture goes.
    pub view: Arc<RwLock<super::View>>,
}

impl CaptureWriter {
    /// Saves the captures of `events`' results; a result whose capture
    /// cannot be saved is rewritten into a failure naming why.
    pub async fn save(&self, events: &mut [pb::Event]) {
        let jobs: Vec<(usize, Object, String, Option<String>)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, ev)| {
                let Some(pb::event::Body::Result(r)) = &ev.body else {
                    return None;
                };
                if r.outcome != pb::Outcome::Succeeded as i32 {
                    return None;
                }
                // Only a collection's result carries a capture to save, and
                // where it goes is what the coordinator planned for that
                // task, never what the event says.
                if Kind::parse(&r.kind) != Some(Kind::SshCollect) {
                    return None;
                }
                let (zone, object, file) = self.planned(ev)?;
                let c = ssh::Output::from_slice(&r.output_json)?;
                c.capture.as_ref()?;
                Some((i, (zone, object), file, Some(c.sha256)))
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        let results: Vec<(usize, Result<PathBuf, String>)> =
            futures::stream::iter(jobs.into_iter().map(|(i, object, file, sha)| {
                let this = self.clone();
                async move { (i, this.write_one(&object, &file, sha.as_deref()).await) }
            }))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (i, r) in results {
            let ev = &mut events[i];
            let Some(pb::event::Body::Result(res)) = &mut ev.body else {
                continue;
            };
            match r {
                Ok(path) => {
                    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&res.output_json)
                    {
                        v["path"] = serde_json::Value::String(path.display().to_string());
                        res.output_json = serde_json::to_vec(&v).unwrap_or_default();
                    }
                }
                Err(e) => {
                    tracing::error!(task = %ev.task_id, error = %e, "capture not saved");
                    res.outcome = pb::Outcome::Failed as i32;
                    res.error_kind = ErrorClass::CaptureWrite.as_str().into();
                    res.error = e;
                }
            }
        }
    }

    /// The capture object and file the coordinator planned for the task
    /// `ev` reports on: only a known `ssh.collect` task of the event's zone
    /// whose captures the coordinator writes.
    fn planned(&self, ev: &pb::Event) -> Option<(String, String, String)> {
        let v = self.view.read().unwrap_or_else(|p| p.into_inner());
        let t = super::provenance::believed(&v, ev)?;
        if Kind::parse(&t.kind) != Some(Kind::SshCollect) {
            return None;
        }
        let deliver: ssh::Deliver = t
            .params
            .get("deliver")
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_default();
        if deliver == ssh::Deliver::Client {
            return None;
        }
        let file = t.params["file"].as_str()?.to_string();
        let object = layout::capture_object(&ev.job_id, &ev.task_id).ok()?;
        Some((t.zone.clone(), object, file))
    }

    async fn write_one(
        &self,
        (zone, object): &(String, String),
        file: &str,
        sha: Option<&str>,
    ) -> Result<PathBuf, String> {
        let rel = safe_relative(file)?;
        let path = self.dir.join(rel);
        if let Some(sha) = sha
            && let Ok(existing) = tokio::fs::read(&path).await
            && sha256_hex(&existing) == sha
        {
            return Ok(path);
        }
        let body = self
            .objects
            .fetch(zone, object, MAX_CAPTURE_BYTES)
            .await
            .map_err(|e| format!("cannot fetch capture: {e}"))?;
        if let Some(sha) = sha
            && sha256_hex(&body) != sha
        {
            return Err(format!(
                "capture {object} does not match the checksum the worker reported"
            ));
        }
        let p = path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&p, &body))
            .await
            .map_err(|e| format!("capture writer stopped: {e}"))?
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

pub use outpost_api::capture::safe_relative;

fn write_atomic(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::now_v7().simple()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/c.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
