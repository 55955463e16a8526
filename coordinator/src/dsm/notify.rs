//! The app's own job notifications for the jobs Outpost runs. The app
//! sends them from its `update-job` edge function, which Outpost never
//! calls (it writes job state straight into the tables), so without this
//! an operator who set up Teams or email alerts in the app would hear
//! nothing. Here they follow the app's settings and rules, and are
//! logged where the app's UI shows them:
//!
//! - `notification_settings` (its first row): `notify_on_job_started`
//!   (status `running`), `notify_on_job_complete` (`completed`),
//!   `notify_on_job_failed` (`failed`); `cancelled` never notifies.
//! - Email when `smtp_host`, `smtp_user` and `smtp_from_email` are set,
//!   to `smtp_user`, as the app sends it: subject `✅ Job COMPLETED:
//!   <type>`, a plain-text body. Unlike the app, TLS is checked: port 465
//!   is TLS from the first byte, any other port must offer STARTTLS.
//! - Teams when `teams_webhook_url` is set: the app's MessageCard (title,
//!   colour, facts Job ID, Type, Severity, Timestamp).
//! - Severity: `critical` for a failed job of a type in
//!   `critical_job_types`, `high` for another failed job, else `normal`.
//! - One `notification_logs` row per channel and event: `email` or
//!   `teams`, `success` or `failed`, the error, `delivery_details`.
//!
//! At most once per (job, status) across restarts and coordinators: the
//! claim is a record in KV `outpost_notify` (`dsm.<job>.<status>`), as for
//! Outpost's own channels. Only jobs this executor claimed
//! (`details.outpost_executor`) and statuses of the last 15 minutes are
//! looked at, so the app's own executor's jobs and old jobs never are.

use super::DsmConfig;
use super::db::DbError;
use crate::notify::config::{Channel, ChannelKind, NotifyConfig};
use async_nats::jetstream::kv;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the app's jobs are looked at.
const POLL: Duration = Duration::from_secs(2);
/// Attempts per channel while the receiver fails transiently.
const ATTEMPTS: u32 = 3;

/// The app's notification settings (its first row).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub smtp_host: Option<String>,
    pub smtp_port: i32,
    pub smtp_user: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_from_email: Option<String>,
    pub teams_webhook_url: Option<String>,
    pub on_complete: bool,
    pub on_failed: bool,
    pub on_started: bool,
    pub critical_job_types: Vec<String>,
}

async fn settings(db: &Client) -> Result<Option<Settings>, DbError> {
    let Some(row) = db
        .query_opt(
            "SELECT smtp_host, coalesce(smtp_port, 587), smtp_user, smtp_password, smtp_from_email,
                    teams_webhook_url, coalesce(notify_on_job_complete, true),
                    coalesce(notify_on_job_failed, true), coalesce(notify_on_job_started, false),
                    coalesce(critical_job_types, '{}')
               FROM public.notification_settings ORDER BY created_at LIMIT 1",
            &[],
        )
        .await?
    else {
        return Ok(None);
    };
    let at = super::row::At::new(&row, "notification_settings");
    let text = |i: usize, c: &'static str| -> Result<Option<String>, DbError> {
        Ok(at.opt::<String>(i, c)?.filter(|s| !s.trim().is_empty()))
    };
    Ok(Some(Settings {
        smtp_host: text(0, "smtp_host")?,
        smtp_port: at.get(1, "smtp_port")?,
        smtp_user: text(2, "smtp_user")?,
        smtp_password: text(3, "smtp_password")?,
        smtp_from_email: text(4, "smtp_from_email")?,
        teams_webhook_url: text(5, "teams_webhook_url")?,
        on_complete: at.get(6, "notify_on_job_complete")?,
        on_failed: at.get(7, "notify_on_job_failed")?,
        on_started: at.get(8, "notify_on_job_started")?,
        critical_job_types: at.get(9, "critical_job_types")?,
    }))
}

impl Settings {
    fn wants(&self, status: &str) -> bool {
        match status {
            "completed" => self.on_complete,
            "failed" => self.on_failed,
            "running" => self.on_started,
            _ => false,
        }
    }

    fn severity(&self, status: &str, job_type: &str) -> &'static str {
        match status {
            "failed" if self.critical_job_types.iter().any(|t| t == job_type) => "critical",
            "failed" => "high",
            _ => "normal",
        }
    }

    /// The email channel the settings describe, if complete.
    fn email(&self) -> Option<Channel> {
        let (host, user, from) = (
            self.smtp_host.as_ref()?,
            self.smtp_user.as_ref()?,
            self.smtp_from_email.as_ref()?,
        );
        let scheme = if self.smtp_port == 465 {
            "smtps"
        } else {
            "smtp"
        };
        let user_enc: String = user
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let cfg = NotifyConfig {
            smtp_url: Some(format!("{scheme}://{user_enc}@{host}:{}", self.smtp_port)),
            from: Some(from.clone()),
            // The app sends to its SMTP user: it has no recipient list.
            to: vec![user.clone()],
            ..bare("dsm-email", ChannelKind::Email)
        };
        let mut ch = trusting(cfg)?;
        ch.password = self.smtp_password.clone().map(zeroize::Zeroizing::new);
        Some(ch)
    }

    fn teams(&self) -> Option<Channel> {
        let url = self.teams_webhook_url.as_ref()?;
        let mut ch = trusting(bare("dsm-teams", ChannelKind::Teams))?;
        ch.url = Some(zeroize::Zeroizing::new(url.clone()));
        Some(ch)
    }
}

/// A channel of `cfg` trusting the system's CAs; `None` (said in the log)
/// when they cannot be read.
fn trusting(cfg: NotifyConfig) -> Option<Channel> {
    Channel::new(cfg)
        .inspect_err(|e| tracing::warn!(error = %e, "DSM notification channel not usable"))
        .ok()
}

/// A channel of `kind` with nothing set (what the app's settings fill in).
fn bare(name: &str, kind: ChannelKind) -> NotifyConfig {
    NotifyConfig {
        name: name.into(),
        kind,
        url: None,
        url_file: None,
        secret_file: None,
        smtp_url: None,
        password_file: None,
        starttls: true,
        from: None,
        to: Vec::new(),
        ca_file: None,
        events: Vec::new(),
        job_types: None,
        zones: None,
        digest_minutes: None,
        no_workers_minutes: 5.0,
    }
}

/// A job type as the app's cards name it (`firmware_update` → "Firmware Update").
fn readable(job_type: &str) -> String {
    job_type
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn emoji(status: &str, critical: bool) -> &'static str {
    match status {
        "completed" => "✅",
        "failed" if critical => "🚨",
        "failed" => "❌",
        "running" => "🔄",
        _ => "❓",
    }
}

/// The app's Teams MessageCard for `status` of the job.
pub fn teams_card(
    id: Uuid,
    job_type: &str,
    status: &str,
    severity: &str,
    details: &Value,
) -> Value {
    let critical = severity == "critical";
    let color = match status {
        "completed" => "28a745",
        "failed" if critical => "FF0000",
        "failed" => "dc3545",
        "running" => "007bff",
        _ => "6c757d",
    };
    let badge = match status {
        "completed" => "✅ SUCCESS",
        "failed" if critical => "🚨 CRITICAL",
        "failed" => "❌ FAILED",
        _ => "🔄 RUNNING",
    };
    let up = status.to_uppercase();
    let title = if critical {
        format!("{} CRITICAL: JOB {up}", emoji(status, true))
    } else {
        format!("{} Job {up}", emoji(status, false))
    };
    let short: String = id.to_string().chars().take(8).collect();
    let sev = match severity {
        "critical" => "CRITICAL",
        "high" => "High",
        _ => "Normal",
    };
    let mut facts = vec![
        json!({"name": "Job ID", "value": format!("{short}...")}),
        json!({"name": "Type", "value": readable(job_type)}),
        json!({"name": "Severity", "value": sev}),
        json!({"name": "Timestamp", "value": chrono::Utc::now().to_rfc3339()}),
    ];
    let text = details["error"]
        .as_str()
        .map(|e| e.chars().take(150).collect::<String>())
        .or_else(|| details["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    if let Some(t) = details["outpost_trace_id"].as_str() {
        facts.push(json!({"name": "Trace", "value": t}));
    }
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": format!("Job {status}: {}", readable(job_type)),
        "themeColor": color,
        "title": title,
        "sections": [{
            "activityTitle": format!("{badge} - {}", readable(job_type)),
            "facts": facts,
            "text": text,
        }],
    });
    if critical {
        card["importance"] = json!("high");
    }
    card
}

/// The app's email for `status` of the job: subject and body.
pub fn email_text(id: Uuid, job_type: &str, status: &str, details: &Value) -> (String, String) {
    let subject = format!(
        "{} Job {}: {job_type}",
        emoji(status, false),
        status.to_uppercase()
    );
    let mut body =
        format!("Job Notification\n\nJob ID: {id}\nType: {job_type}\nStatus: {status}\n");
    if !details.is_null() {
        let pretty = serde_json::to_string_pretty(details).unwrap_or_default();
        body.push_str(&format!(
            "Details: {}\n",
            pretty.chars().take(20_000).collect::<String>()
        ));
    }
    body.push_str("\n---\nThis is an automated notification from your Server Management System (sent by Outpost).\n");
    (subject, body)
}

/// Runs until `stop`: connects, then looks at the app's jobs every
/// [`POLL`]; a lost connection is made again.
pub async fn run(cfg: DsmConfig, store: kv::Store, stop: CancellationToken) -> Result<(), String> {
    let mut backoff = Duration::from_secs(1);
    let tls = cfg.tls();
    loop {
        let connected = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            c = super::db::connect(&cfg.database_url, &tls) => c,
        };
        let db = match connected {
            Ok((db, _)) => {
                backoff = Duration::from_secs(1);
                db
            }
            Err(e) => {
                tracing::warn!(error = %e, "DSM notifications: cannot reach the app's database; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        loop {
            if let Err(e) = poll(&db, &store, &cfg.executor_id(), &stop).await {
                tracing::warn!(error = %e, "DSM notifications: poll failed; reconnecting");
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

async fn poll(
    db: &Client,
    store: &kv::Store,
    executor: &str,
    stop: &CancellationToken,
) -> Result<(), DbError> {
    let Some(settings) = settings(db).await? else {
        return Ok(());
    };
    let rows = db
        .query(
            "SELECT id, job_type::text, status::text, coalesce(details, '{}'::jsonb),
                    started_at IS NOT NULL
               FROM public.jobs
              WHERE details->>'outpost_executor' = $1
                AND status::text IN ('running', 'completed', 'failed')
                AND coalesce(completed_at, started_at, created_at) > now() - interval '15 minutes'",
            &[&executor],
        )
        .await?;
    for row in rows {
        let at = super::row::At::new(&row, "jobs");
        let (id, job_type, now, details, started): (Uuid, String, String, Value, bool) = (
            at.get(0, "id")?,
            at.get(1, "job_type")?,
            at.get(2, "status")?,
            at.get(3, "details")?,
            at.get(4, "started_at")?,
        );
        // A job that ran and ended between two looks still started: its
        // `running` alert goes first, as the app's executor would have sent it.
        let mut reached = Vec::new();
        if started || now == "running" {
            reached.push("running".to_string());
        }
        if now != "running" {
            reached.push(now);
        }
        for status in reached {
            if settings.wants(&status) {
                notify_one(db, store, &settings, id, &job_type, &status, &details, stop).await?;
            }
        }
    }
    Ok(())
}

/// Claims (job, status) and, when this coordinator got the claim, sends
/// and logs it.
#[allow(clippy::too_many_arguments)]
async fn notify_one(
    db: &Client,
    store: &kv::Store,
    settings: &Settings,
    id: Uuid,
    job_type: &str,
    status: &str,
    details: &Value,
    stop: &CancellationToken,
) -> Result<(), DbError> {
    {
        let key = format!("dsm.{}.{status}", id.simple());
        let claim = json!({"key": key, "job_id": id, "status": status, "state": "sending",
                           "created_at": crate::model::now_rfc3339()});
        match store.create(&key, claim.to_string().into()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, job = %id, "DSM notification not claimed; not sent");
                return Ok(());
            }
        }
        deliver(db, settings, id, job_type, status, details, stop).await?;
        let done = json!({"key": key, "job_id": id, "status": status, "state": "done",
                          "created_at": crate::model::now_rfc3339()});
        let _ = store.put(&key, done.to_string().into()).await;
    }
    Ok(())
}

/// Sends to each channel the settings describe and logs each result.
async fn deliver(
    db: &Client,
    s: &Settings,
    id: Uuid,
    job_type: &str,
    status: &str,
    details: &Value,
    stop: &CancellationToken,
) -> Result<(), DbError> {
    let severity = s.severity(status, job_type);
    if let Some(ch) = s.email() {
        let (subject, body) = email_text(id, job_type, status, details);
        let r = crate::notify::send::with_retries(stop, ATTEMPTS, Duration::from_secs(1), || {
            crate::notify::email::send_text(&ch, subject.clone(), body.clone())
        })
        .await;
        log(db, "email", id, severity, r).await?;
    }
    if let Some(ch) = s.teams() {
        let card = teams_card(id, job_type, status, severity, details);
        let body = serde_json::to_vec(&card).unwrap_or_default();
        let delivery = format!("dsm.{}.{status}", id.simple());
        let r = crate::notify::send::with_retries(stop, ATTEMPTS, Duration::from_secs(1), || {
            crate::notify::send::post(&ch, body.clone(), &delivery)
        })
        .await;
        log(db, "teams", id, severity, r).await?;
    }
    Ok(())
}

/// One `notification_logs` row, as the app writes it.
async fn log(
    db: &Client,
    kind: &str,
    job: Uuid,
    severity: &str,
    r: Result<crate::notify::send::Answer, crate::notify::send::SendError>,
) -> Result<(), DbError> {
    let (status, error, details) = match &r {
        Ok(a) => (
            "success",
            None,
            json!({"success": true, "code": a.code, "answer": a.text, "sent_by": "outpost"}),
        ),
        Err(e) => (
            "failed",
            Some(e.to_string()),
            json!({"error": e.to_string(), "sent_by": "outpost"}),
        ),
    };
    match &r {
        Ok(_) => tracing::info!(job = %job, channel = kind, "DSM notification sent"),
        Err(e) => {
            tracing::warn!(job = %job, channel = kind, error = %e, "DSM notification not sent")
        }
    }
    db.execute(
        "INSERT INTO public.notification_logs
            (notification_type, job_id, status, error_message, delivery_details, is_test, severity)
         VALUES ($1, $2, $3, $4, $5, false, $6)",
        &[&kind, &job, &status, &error, &details, &severity],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_and_emails_read_like_the_apps() {
        let id = Uuid::parse_str("0a1b2c3d-0000-4000-8000-000000000000").unwrap();
        let card = teams_card(
            id,
            "firmware_update",
            "failed",
            "critical",
            &json!({"error": "boom"}),
        );
        assert_eq!(card["@type"], "MessageCard");
        assert_eq!(card["themeColor"], "FF0000");
        assert_eq!(card["title"], "🚨 CRITICAL: JOB FAILED");
        assert_eq!(card["importance"], "high");
        assert_eq!(card["sections"][0]["facts"][0]["value"], "0a1b2c3d...");
        assert_eq!(card["sections"][0]["facts"][1]["value"], "Firmware Update");
        assert_eq!(card["sections"][0]["text"], "boom");
        let (subject, body) = email_text(id, "power_action", "completed", &json!({}));
        assert_eq!(subject, "✅ Job COMPLETED: power_action");
        assert!(body.starts_with("Job Notification\n\nJob ID: 0a1b2c3d-"));
        let s = Settings {
            critical_job_types: vec!["firmware_update".into()],
            on_failed: true,
            ..Settings::default()
        };
        assert_eq!(s.severity("failed", "firmware_update"), "critical");
        assert_eq!(s.severity("failed", "power_action"), "high");
        assert!(s.wants("failed") && !s.wants("cancelled") && !s.wants("running"));
    }
}
