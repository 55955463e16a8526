//! One notification's content, and how each kind of channel shows it: a
//! Teams Adaptive Card, Slack blocks, a JSON document for webhooks, an
//! email. One message names the job, its outcome and counts, the failed
//! targets with their error classes, a link to the job in the console and
//! the trace id: what an on-call engineer needs at 3 a.m., once.

use super::event::EventKind;
use crate::model::{Counts, JobView, Status};
use serde_json::{Value, json};

/// Failed targets listed in one message at most.
pub const MAX_FAILED: usize = 10;
/// Longest error text shown per target.
const MAX_ERROR: usize = 300;

/// A failed target as a message lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FailedTarget {
    pub target: String,
    pub zone: String,
    pub error_kind: String,
    pub error: String,
}

/// What one notification says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Message {
    pub event: EventKind,
    /// One line: "Job failed: redfish.firmware, 3 of 40 tasks failed".
    pub title: String,
    pub job_id: Option<String>,
    pub job_type: Option<String>,
    pub status: Option<Status>,
    pub zones: Vec<String>,
    pub counts: Option<Counts>,
    pub failed: Vec<FailedTarget>,
    /// Failed targets beyond [`MAX_FAILED`].
    pub failed_more: u64,
    /// Hosts a rollout left in maintenance mode.
    pub hosts: Vec<String>,
    /// The job in the web console.
    pub link: Option<String>,
    pub trace_id: Option<String>,
    /// A test message (`outpost notify test`).
    pub test: bool,
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n).collect();
        out.push('…');
        out
    }
}

impl Message {
    /// The message for `event` of the job `view` (its tasks as far as the
    /// coordinator holds them); `console` is the console's base URL.
    pub fn for_job(event: EventKind, view: &JobView, console: Option<&str>) -> Message {
        let job = &view.job;
        let c = &job.counts;
        let total = c.total();
        let title = match event {
            EventKind::JobStarted => format!("Job started: {}, {total} tasks", job.job_type),
            EventKind::JobSucceeded => {
                format!(
                    "Job succeeded: {}, {} of {total} tasks",
                    job.job_type, c.succeeded
                )
            }
            EventKind::JobFailed => format!(
                "Job failed: {}, {} of {total} tasks failed",
                job.job_type, c.failed
            ),
            EventKind::JobCancelled => format!(
                "Job cancelled: {}, {} of {total} tasks done",
                job.job_type,
                c.succeeded + c.failed
            ),
            EventKind::HostLeftInMaintenance => {
                format!("Rolling update {}: hosts left in maintenance mode", job.id)
            }
            EventKind::ZoneNoWorkers => format!("Job {}", job.id),
        };
        let mut failed: Vec<FailedTarget> = view
            .tasks
            .iter()
            .filter(|t| t.status == Status::Failed)
            .map(|t| FailedTarget {
                target: if t.target.is_empty() {
                    t.id.clone()
                } else {
                    t.target.clone()
                },
                zone: t.zone.clone(),
                error_kind: t.error_kind.clone().unwrap_or_default(),
                error: cut(t.error.as_deref().unwrap_or_default(), MAX_ERROR),
            })
            .collect();
        failed.sort_by(|a, b| a.target.cmp(&b.target));
        let shown = failed.len().min(MAX_FAILED);
        let failed_more = c.failed.saturating_sub(shown as u64);
        failed.truncate(MAX_FAILED);
        let trace_id = job
            .traceparent
            .as_deref()
            .and_then(|t| t.split('-').nth(1))
            .map(str::to_string);
        Message {
            event,
            title,
            job_id: Some(job.id.clone()),
            job_type: Some(job.job_type.clone()),
            status: Some(job.status),
            zones: job.zones.clone(),
            counts: Some(c.clone()),
            failed,
            failed_more,
            hosts: super::event::left_in_maintenance(job),
            link: console.map(|base| format!("{}/#/job/{}", base.trim_end_matches('/'), job.id)),
            trace_id,
            test: false,
        }
    }

    /// A message about no job: its event and title only.
    fn about_no_job(event: EventKind, title: String) -> Message {
        Message {
            event,
            title,
            job_id: None,
            job_type: None,
            status: None,
            zones: Vec::new(),
            counts: None,
            failed: Vec::new(),
            failed_more: 0,
            hosts: Vec::new(),
            link: None,
            trace_id: None,
            test: false,
        }
    }

    /// `zone` has had no live worker since `since`.
    pub fn no_workers(zone: &str, since: &str) -> Message {
        Message {
            zones: vec![zone.to_string()],
            ..Self::about_no_job(
                EventKind::ZoneNoWorkers,
                format!("Zone {zone} has no live worker (since {since})"),
            )
        }
    }

    /// The message `outpost notify test CHANNEL` sends.
    pub fn test(channel: &str) -> Message {
        Message {
            test: true,
            ..Self::about_no_job(
                EventKind::JobSucceeded,
                format!("Test message from Outpost to channel {channel}"),
            )
        }
    }

    fn good(&self) -> bool {
        matches!(self.event, EventKind::JobSucceeded | EventKind::JobStarted)
    }

    /// Name/value lines for the facts of a card or an email.
    pub fn facts(&self) -> Vec<(String, String)> {
        let mut f = Vec::new();
        if let Some(id) = &self.job_id {
            f.push(("Job".into(), id.clone()));
        }
        if let Some(t) = &self.job_type {
            f.push(("Type".into(), t.clone()));
        }
        if let Some(s) = self.status {
            f.push(("Status".into(), s.as_str().into()));
        }
        if !self.zones.is_empty() {
            f.push(("Zones".into(), self.zones.join(", ")));
        }
        if let Some(c) = &self.counts {
            f.push((
                "Tasks".into(),
                format!(
                    "{} succeeded, {} failed, {} cancelled, {} unfinished of {}",
                    c.succeeded,
                    c.failed,
                    c.cancelled,
                    c.unfinished(),
                    c.total()
                ),
            ));
        }
        if !self.hosts.is_empty() {
            f.push(("In maintenance".into(), self.hosts.join(", ")));
        }
        if let Some(t) = &self.trace_id {
            f.push(("Trace".into(), t.clone()));
        }
        f
    }

    fn failed_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .failed
            .iter()
            .map(|f| format!("{} ({}): {}: {}", f.target, f.zone, f.error_kind, f.error))
            .collect();
        if self.failed_more > 0 {
            lines.push(format!("… and {} more failed", self.failed_more));
        }
        lines
    }

    /// The generic webhook's JSON document.
    pub fn webhook_json(&self, delivery: &str) -> Value {
        json!({
            "delivery": delivery,
            "event": self.event.as_str(),
            "test": self.test,
            "title": self.title,
            "job": self.job_id.as_ref().map(|id| json!({
                "id": id,
                "type": self.job_type,
                "status": self.status.map(|s| s.as_str()),
                "zones": self.zones,
                "counts": self.counts,
            })),
            "failed": self.failed,
            "failed_more": self.failed_more,
            "hosts_in_maintenance": self.hosts,
            "link": self.link,
            "trace_id": self.trace_id,
        })
    }

    /// Slack's incoming-webhook body: a fallback `text` and blocks.
    pub fn slack_json(&self) -> Value {
        let mut blocks = vec![json!({
            "type": "header",
            "text": {"type": "plain_text", "text": cut(&self.title, 150)},
        })];
        let facts: Vec<Value> = self
            .facts()
            .into_iter()
            .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(&v))}))
            .take(10)
            .collect();
        if !facts.is_empty() {
            blocks.push(json!({"type": "section", "fields": facts}));
        }
        let failed = self.failed_lines();
        if !failed.is_empty() {
            let text = failed
                .iter()
                .map(|l| format!("• {}", slack_escape(l)))
                .collect::<Vec<_>>()
                .join("\n");
            blocks.push(
                json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, 2900)}}),
            );
        }
        if let Some(link) = &self.link {
            blocks.push(json!({"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open in the console"}, "url": link}
            ]}));
        }
        json!({"text": self.title, "blocks": blocks})
    }

    /// A Teams incoming-webhook message carrying an Adaptive Card.
    pub fn teams_json(&self) -> Value {
        let color = if self.good() { "Good" } else { "Attention" };
        let mut body = vec![json!({
            "type": "TextBlock", "text": self.title, "weight": "Bolder", "size": "Medium",
            "color": color, "wrap": true,
        })];
        let facts: Vec<Value> = self
            .facts()
            .into_iter()
            .map(|(k, v)| json!({"title": k, "value": v}))
            .collect();
        if !facts.is_empty() {
            body.push(json!({"type": "FactSet", "facts": facts}));
        }
        let failed = self.failed_lines();
        if !failed.is_empty() {
            body.push(json!({"type": "TextBlock", "text": "Failed targets", "weight": "Bolder", "wrap": true}));
            for l in failed {
                body.push(json!({"type": "TextBlock", "text": l, "wrap": true, "spacing": "None"}));
            }
        }
        let mut card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        });
        if let Some(link) = &self.link {
            card["actions"] =
                json!([{"type": "Action.OpenUrl", "title": "Open in the console", "url": link}]);
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        })
    }

    /// An email's subject and plain-text body.
    pub fn email(&self) -> (String, String) {
        let mut body = String::new();
        body.push_str(&self.title);
        body.push_str("\n\n");
        for (k, v) in self.facts() {
            body.push_str(&format!("{k}: {v}\n"));
        }
        let failed = self.failed_lines();
        if !failed.is_empty() {
            body.push_str("\nFailed targets:\n");
            for l in failed {
                body.push_str(&format!("  {l}\n"));
            }
        }
        if let Some(link) = &self.link {
            body.push_str(&format!("\nOpen in the console: {link}\n"));
        }
        body.push_str("\n-- \nOutpost\n");
        (format!("[Outpost] {}", self.title), body)
    }
}

/// Slack's mrkdwn escapes.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobRules, JobState, NewTask, TaskState};

    fn failed_job() -> JobView {
        let mut job = JobState::pending(
            "j1",
            "redfish.firmware",
            vec!["fra1".into()],
            None,
            json!({}),
        );
        job.status = Status::Failed;
        job.counts = Counts {
            succeeded: 28,
            failed: 12,
            ..Counts::default()
        };
        job.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        let tasks = (0..12)
            .map(|i| {
                let mut t = TaskState::pending(
                    format!("j1-{i:03}"),
                    "j1",
                    "fra1".into(),
                    "redfish.firmware",
                    format!("10.0.0.{i}"),
                    json!({}),
                );
                t.status = Status::Failed;
                t.error_kind = Some("auth".into());
                t.error = Some("<b>401</b> from the iDRAC".into());
                t
            })
            .collect();
        JobView { job, tasks }
    }

    #[test]
    fn a_failed_job_names_its_outcome_targets_link_and_trace() {
        let m = Message::for_job(
            EventKind::JobFailed,
            &failed_job(),
            Some("https://outpost.lab/"),
        );
        assert_eq!(
            m.title,
            "Job failed: redfish.firmware, 12 of 40 tasks failed"
        );
        assert_eq!(m.failed.len(), MAX_FAILED);
        assert_eq!(m.failed_more, 2);
        assert_eq!(m.link.as_deref(), Some("https://outpost.lab/#/job/j1"));
        assert_eq!(
            m.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let teams = m.teams_json();
        let card = &teams["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["actions"][0]["url"], "https://outpost.lab/#/job/j1");
        let slack = m.slack_json();
        assert!(slack["blocks"].to_string().contains("&lt;b&gt;401"));
        let hook = m.webhook_json("d1");
        assert_eq!(hook["event"], "job.failed");
        assert_eq!(hook["job"]["counts"]["failed"], 12);
        let (subject, body) = m.email();
        assert!(subject.starts_with("[Outpost] Job failed"));
        assert!(body.contains("10.0.0.0 (fra1): auth:") && body.contains("… and 2 more failed"));
    }
}
