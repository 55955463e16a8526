//! What a setup, reissue or revoke did, and what the operator does next,
//! as data ([`Report`]) and as text ([`render_report`]).

pub use super::files::FileAction;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// One file of the bundle and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: PathBuf,
    pub action: FileAction,
}

/// What happened to a zone's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneAction {
    /// New identity (new zone, or a revoked zone back in the spec).
    Added,
    /// Unchanged.
    Kept,
    /// In the bundle but no longer in the spec: kept (pass `prune` to
    /// remove it).
    NotInSpec,
    /// Not in the spec and pruned: creds file deleted, user removed.
    Pruned,
    /// New key for the zone; the old creds stop working on reload.
    Reissued,
    /// Creds file deleted, user removed from the conf.
    Revoked,
}

/// A zone and what happened to its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneChange {
    pub zone: String,
    pub action: ZoneAction,
}

/// What the running nats-server needs to pick the changes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerStep {
    /// Nothing changed.
    Nothing,
    /// New bundle: start the server with the conf.
    Start,
    /// Users, permissions or the server certificate changed: reload.
    Reload,
    /// The listen address, store directory or monitoring address changed,
    /// which nats-server cannot reload: restart.
    Restart,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub out_dir: PathBuf,
    pub conf: PathBuf,
    pub ca: PathBuf,
    pub coordinator_creds: PathBuf,
    pub files: Vec<FileChange>,
    pub zones: Vec<ZoneChange>,
    /// Why the server certificate was issued in this run, if it was.
    pub server_cert_issued: Option<String>,
    pub server_step: ServerStep,
    /// Anything else the operator should know.
    pub notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(paths: &super::BundlePaths) -> Report {
        Report {
            out_dir: paths.dir().to_path_buf(),
            conf: paths.conf(),
            ca: paths.ca(),
            coordinator_creds: paths.coordinator_creds(),
            files: Vec::new(),
            zones: Vec::new(),
            server_cert_issued: None,
            server_step: ServerStep::Nothing,
            notes: Vec::new(),
        }
    }

    pub(crate) fn file(&mut self, path: PathBuf, action: FileAction) {
        self.files.push(FileChange { path, action });
    }

    pub(crate) fn zone(&mut self, zone: &str, action: ZoneAction) {
        self.zones.push(ZoneChange {
            zone: zone.to_string(),
            action,
        });
    }

    /// Whether anything on disk changed.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|f| f.action != FileAction::Kept)
    }

    /// The one line saying what the running server needs, if anything.
    pub fn server_line(&self) -> Option<String> {
        let conf = self.conf.display();
        match self.server_step {
            ServerStep::Nothing => None,
            ServerStep::Start => Some(format!("Start the server: nats-server -c {conf}")),
            ServerStep::Reload => Some(
                "Reload the running server to apply: nats-server --signal reload=<pid> \
                 (or kill -HUP <pid>). On reload it closes the connections of identities \
                 no longer in the conf."
                    .to_string(),
            ),
            ServerStep::Restart => Some(format!(
                "Restart the server (its listen, store or monitoring address changed, which a \
                 reload does not apply): nats-server -c {conf}"
            )),
        }
    }
}

fn action_word(a: FileAction) -> &'static str {
    match a {
        FileAction::Created => "created",
        FileAction::Updated => "updated",
        FileAction::Kept => "kept",
        FileAction::Removed => "removed",
    }
}

/// The report as text for the operator: files, zones, next steps.
pub fn render_report(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "NATS bundle in {}", report.out_dir.display());
    for f in &report.files {
        let _ = writeln!(out, "  {:<8} {}", action_word(f.action), f.path.display());
    }
    if let Some(reason) = &report.server_cert_issued {
        let _ = writeln!(out, "Server certificate issued: {reason}.");
    }
    if !report.zones.is_empty() {
        out.push_str("Zones:\n");
        for z in &report.zones {
            let what = match z.action {
                ZoneAction::Added => "new identity",
                ZoneAction::Kept => "kept",
                ZoneAction::NotInSpec => {
                    "not in the configuration any more: kept (prune to remove)"
                }
                ZoneAction::Pruned => "not in the configuration: identity removed",
                ZoneAction::Reissued => "new identity; the previous creds stop working on reload",
                ZoneAction::Revoked => "revoked: creds deleted, user removed from the conf",
            };
            let _ = writeln!(out, "  {:<16} {what}", z.zone);
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "Note: {note}");
    }
    out.push_str("Next steps:\n");
    let mut step = 0;
    let mut next = |out: &mut String, text: String| {
        step += 1;
        let _ = writeln!(out, "  {step}. {text}");
    };
    match report.server_line() {
        Some(line) => next(&mut out, line),
        None => next(
            &mut out,
            "Nothing changed: the running server needs nothing.".into(),
        ),
    }
    let handed_out = |a: ZoneAction| matches!(a, ZoneAction::Added | ZoneAction::Reissued);
    let created_coordinator = report
        .files
        .iter()
        .any(|f| f.path == report.coordinator_creds && f.action == FileAction::Created);
    if created_coordinator {
        next(
            &mut out,
            format!(
                "Coordinator: creds = {}, ca = {}",
                report.coordinator_creds.display(),
                report.ca.display()
            ),
        );
    }
    for z in report.zones.iter().filter(|z| handed_out(z.action)) {
        next(
            &mut out,
            format!(
                "Zone {zone}: give {creds} and {ca} to its workers (creds and ca of their \
                 [nats] settings); keep the creds file secret.",
                zone = z.zone,
                creds = report
                    .out_dir
                    .join(format!("zone-{}.creds", z.zone))
                    .display(),
                ca = report.ca.display(),
            ),
        );
    }
    out
}
