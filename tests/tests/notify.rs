//! Notifications against real receivers on loopback: a Teams, a Slack and
//! a signed generic webhook channel. A failing job notifies each channel
//! once, also when the coordinator is killed and restarted while it runs;
//! a receiver that answers 500 twice gets the message on the third try,
//! every attempt recorded; `outpost notify test` prints what the receiver
//! answered; no secret reaches a log or a record.

use anyhow::{Context, Result, ensure};
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, TWO_ZONES};
use outpost_tests::receivers::{Receiver, verify_signature};
use serde_json::{Value, json};

const HMAC_KEY: &str = "hook-key-7f3a";

/// A signed webhook channel `name` to `hook` for `events` (TOML), its key
/// written to `dir`; `more` adds keys to the table.
fn hook_channel(
    dir: &std::path::Path,
    name: &str,
    hook: &Receiver,
    events: &[&str],
    more: &str,
) -> Result<String> {
    let key_file = dir.join(format!("{name}-key"));
    std::fs::write(&key_file, format!("{HMAC_KEY}\n"))?;
    Ok(format!(
        "\n[[notify]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"{}\"\nevents = {}\n{more}",
        hook.url(),
        key_file.display(),
        json!(events)
    ))
}

/// A self-signed certificate for 127.0.0.1 and its key, and the SMTP
/// password file, in `dir`.
fn smtp_files(
    dir: &std::path::Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem())?;
    std::fs::write(&key, ck.signing_key.serialize_pem())?;
    let pass_file = dir.join("smtp-pass");
    std::fs::write(&pass_file, format!("{SMTP_PASS}\n"))?;
    Ok((cert, key, pass_file))
}

/// The deliveries the API lists.
async fn deliveries(fleet: &Fleet) -> Result<Vec<Value>> {
    let r = fleet.api.get("/api/v1/notifications?limit=1000").await?;
    ensure!(r.status == 200, "{:?}", r.body);
    Ok(r.body.as_array().cloned().unwrap_or_default())
}

/// Requests to `r` about job `id` with `event` (the webhook's document).
fn about(r: &Receiver, id: &str, needle: &str) -> usize {
    r.received()
        .iter()
        .filter(|x| {
            let s = String::from_utf8_lossy(&x.raw);
            s.contains(id) && s.contains(needle)
        })
        .count()
}

#[tokio::test]
async fn a_failed_job_notifies_each_channel_once_across_a_restart() -> Result<()> {
    let teams = Receiver::start(0, "1").await?;
    let slack = Receiver::start(0, "ok").await?;
    let hook = Receiver::start(2, "accepted").await?;
    let dir = tempfile::tempdir()?;
    let url_file = dir.path().join("teams-url");
    std::fs::write(&url_file, format!("{}\n", teams.url()))?;
    let key_file = dir.path().join("hook-key");
    std::fs::write(&key_file, format!("{HMAC_KEY}\n"))?;
    let config = format!(
        r#"[api]
public_url = "https://outpost.example"

[[notify]]
name = "ops-teams"
kind = "teams"
url_file = "{}"
events = ["job.started", "job.failed"]

[[notify]]
name = "ops-slack"
kind = "slack"
url = "{}"
events = ["job.failed", "job.succeeded"]
zones = ["alpha"]

[[notify]]
name = "ops-hook"
kind = "webhook"
url = "{}"
secret_file = "{}"
events = ["job.failed"]
job_types = ["diag.sleep"]
"#,
        url_file.display(),
        slack.url(),
        hook.url(),
        key_file.display()
    );
    // Tables after the zones: the fleet's own top-level keys come first.
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(format!("{TWO_ZONES}{config}")),
        ..FleetOptions::default()
    })
    .await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;

    // A job whose tasks fail after a few seconds; the coordinator is
    // killed while it runs and started again.
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha",
                           "params": {"count": 3, "ms": 3000, "fail": true}}))
        .await?;
    outpost_tests::wait_until("the start notified", SETTLE, async || {
        if about(&teams, &id, "Job started") == 1 {
            Ok(())
        } else {
            Err(format!("{} messages", teams.received().len()))
        }
    })
    .await?;
    fleet.restart_coordinator().await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");

    // Every channel's record ends delivered; the webhook's after 3 tries.
    let records = outpost_tests::wait_until("the deliveries recorded", SETTLE, async || {
        let all = deliveries(&fleet).await.map_err(|e| e.to_string())?;
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|d| d["job_id"] == id.as_str())
            .collect();
        // Teams: started and failed; Slack and the webhook: failed.
        let delivered = mine.iter().filter(|d| d["state"] == "delivered").count();
        if delivered == 4 && mine.len() == 4 {
            Ok(mine)
        } else {
            Err(format!("{mine:#?}"))
        }
    })
    .await?;
    let hook_record = records
        .iter()
        .find(|d| d["channel"] == "ops-hook")
        .context("no webhook record")?;
    let attempts = hook_record["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attempts.len(), 3, "{hook_record:#}");
    assert!(attempts[0]["ok"] == false && attempts[1]["ok"] == false && attempts[2]["ok"] == true);
    assert_eq!(attempts[2]["answer"], "accepted");

    // Exactly one message each (the webhook: three requests of one delivery).
    assert_eq!(
        about(&teams, &id, "Job started"),
        1,
        "{:#?}",
        teams.received()
    );
    assert_eq!(
        about(&teams, &id, "Job failed"),
        1,
        "{:#?}",
        teams.received()
    );
    assert_eq!(about(&slack, &id, "Job failed"), 1);
    let to_hook = hook.received();
    assert_eq!(to_hook.len(), 3, "{to_hook:#?}");
    assert_eq!(to_hook.iter().filter(|r| r.status == 200).count(), 1);
    let delivery_ids: std::collections::BTreeSet<String> = to_hook
        .iter()
        .filter_map(|r| {
            r.headers
                .get("x-outpost-delivery")?
                .to_str()
                .ok()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        delivery_ids.len(),
        1,
        "one delivery id across the retries: {delivery_ids:?}"
    );
    for r in &to_hook {
        verify_signature(HMAC_KEY.as_bytes(), r).map_err(anyhow::Error::msg)?;
    }
    // A forged body does not pass the receiver's check.
    let mut forged = to_hook[2].clone();
    forged.raw.extend_from_slice(b" ");
    assert!(verify_signature(HMAC_KEY.as_bytes(), &forged).is_err());

    // What each says: Teams an Adaptive Card, Slack blocks, the webhook
    // its document; all name the job, the failures, the link and the trace.
    let card = teams
        .received()
        .into_iter()
        .find(|r| String::from_utf8_lossy(&r.raw).contains("Job failed"))
        .context("no failure card")?
        .body;
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(
        content["actions"][0]["url"],
        format!("https://outpost.example/#/job/{id}")
    );
    let slack_msg = &slack.received()[0].body;
    assert!(
        slack_msg["text"]
            .as_str()
            .unwrap_or("")
            .contains("3 of 3 tasks failed"),
        "{slack_msg:#}"
    );
    assert!(
        slack_msg["blocks"].as_array().is_some_and(|b| b.len() >= 3),
        "{slack_msg:#}"
    );
    let doc = &to_hook[2].body;
    assert_eq!(doc["event"], "job.failed");
    assert_eq!(doc["job"]["id"], id.as_str());
    assert_eq!(doc["job"]["counts"]["failed"], 3);
    assert_eq!(doc["failed"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["failed"][0]["error_kind"], "requested");
    let trace = job["traceparent"]
        .as_str()
        .and_then(|t| t.split('-').nth(1))
        .unwrap_or("");
    assert_eq!(doc["trace_id"], trace);

    // The Slack channel is for zone alpha only; the webhook takes
    // diag.sleep jobs of any zone: a diag.sleep job in beta reaches the
    // webhook, not Slack.
    fleet.worker("beta", "beta-1", &[]).await?;
    let other = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1, "ms": 1, "fail": true}}))
        .await?;
    fleet.api.wait_finished(&other, SETTLE).await?;
    outpost_tests::wait_until("the beta job's Teams message", SETTLE, async || {
        if about(&teams, &other, "Job failed") == 1 {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await?;
    outpost_tests::wait_until("the beta job's webhook message", SETTLE, async || {
        if about(&hook, &other, "job.failed") == 1 {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await?;
    assert_eq!(about(&slack, &other, "Job failed"), 0);

    // `outpost notify test` sends one message and prints the answer (run
    // without blocking: the receivers live in this test's runtime).
    let out = tokio::process::Command::new(outpost_tests::fleet_bin("outpost")?)
        .args(["--api", &fleet.api.base, "notify", "test", "ops-slack"])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains("delivered") && text.contains("200") && text.contains("ok"),
        "{text}"
    );
    let out = tokio::process::Command::new(outpost_tests::fleet_bin("outpost")?)
        .args(["--api", &fleet.api.base, "notify", "test", "nope"])
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // The console lists the deliveries, the webhook's with its three tries.
    let b = outpost_tests::browser::Browser::start().await?;
    b.goto(&format!("{}/#/notifications", fleet.api.base))
        .await?;
    let row = format!("tr[data-key='ops-hook.{id}.job.failed']");
    b.wait_text(&format!("{row} td.attempts"), |t| t == "3")
        .await?;
    b.wait_text(&format!("{row} .state"), |t| t == "delivered")
        .await?;
    b.wait_text(&format!("{row} td.error"), |t| t.contains("accepted"))
        .await?;

    // No secret in the coordinator's output or the records.
    let logs = fleet.coordinator.stderr().join("\n") + &fleet.coordinator.stdout().join("\n");
    let records = serde_json::to_string(&deliveries(&fleet).await?)?;
    for secret in [HMAC_KEY, teams.url().as_str()] {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!records.contains(secret), "{secret} in the records");
    }
    Ok(())
}

/// An aiosmtpd server requiring TLS and AUTH, storing messages in a
/// directory.
struct Smtp {
    port: u16,
    dir: tempfile::TempDir,
    _proc: outpost_tests::procs::Proc,
}

impl Smtp {
    async fn start(cert: &std::path::Path, key: &std::path::Path, implicit: bool) -> Result<Smtp> {
        let python = std::env::var("OUTPOST_PYTHON")
            .context("OUTPOST_PYTHON: a Python with aiosmtpd (deploy/test.sh makes one)")?;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/smtp_server.py");
        let port = outpost_tests::nats::free_port()?;
        let dir = tempfile::tempdir()?;
        let port_s = port.to_string();
        let mut args: Vec<&std::ffi::OsStr> = vec![
            script.as_os_str(),
            port_s.as_ref(),
            cert.as_os_str(),
            key.as_os_str(),
            SMTP_USER.as_ref(),
            SMTP_PASS.as_ref(),
            dir.path().as_os_str(),
        ];
        if implicit {
            args.push("--implicit".as_ref());
        }
        let mut proc = outpost_tests::procs::Proc::spawn("smtp", &python, &args, &[])?;
        proc.wait_for_line(|l| l == "ready", SETTLE).await?;
        Ok(Smtp {
            port,
            dir,
            _proc: proc,
        })
    }

    /// The messages stored so far.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        files
            .iter()
            .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
            .collect()
    }
}

const SMTP_USER: &str = "ops@example.com";
const SMTP_PASS: &str = "smtp-pass-4c1e";

#[tokio::test]
async fn email_goes_over_starttls_or_implicit_tls_with_auth() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key, pass_file) = smtp_files(dir.path())?;
    let wrong_file = dir.path().join("wrong-pass");
    std::fs::write(&wrong_file, "not-it\n")?;
    let starttls = Smtp::start(&cert, &key, false).await?;
    let implicit = Smtp::start(&cert, &key, true).await?;
    let channel = |name: &str, scheme: &str, port: u16, pass: &std::path::Path| {
        format!(
            r#"
[[notify]]
name = "{name}"
kind = "email"
smtp_url = "{scheme}://ops%40example.com@127.0.0.1:{port}"
password_file = "{}"
ca_file = "{}"
from = "outpost@example.com"
to = ["oncall@example.com", "lead@example.com"]
events = ["job.failed"]
"#,
            pass.display(),
            cert.display()
        )
    };
    let config = [
        channel("mail", "smtp", starttls.port, &pass_file),
        channel("mail-tls", "smtps", implicit.port, &pass_file),
        channel("mail-wrong", "smtp", starttls.port, &wrong_file),
    ]
    .concat();
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(format!("{TWO_ZONES}{config}")),
        ..FleetOptions::default()
    })
    .await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1, "fail": true}}))
        .await?;
    fleet.api.wait_finished(&id, SETTLE).await?;
    let records = outpost_tests::wait_until("three email deliveries settled", SETTLE, async || {
        let all = deliveries(&fleet).await.map_err(|e| e.to_string())?;
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|d| d["job_id"] == id.as_str())
            .collect();
        let settled = mine
            .iter()
            .filter(|d| d["state"] == "delivered" || d["state"] == "failed")
            .count();
        if settled == 3 {
            Ok(mine)
        } else {
            Err(format!("{mine:#?}"))
        }
    })
    .await?;
    let state = |name: &str| {
        records
            .iter()
            .find(|d| d["channel"] == name)
            .map(|d| d["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(state("mail"), "delivered", "{records:#?}");
    assert_eq!(state("mail-tls"), "delivered", "{records:#?}");
    // A refused login is not retried, and the record says why.
    assert_eq!(state("mail-wrong"), "failed", "{records:#?}");
    let wrong = records
        .iter()
        .find(|d| d["channel"] == "mail-wrong")
        .context("wrong")?;
    assert_eq!(
        wrong["attempts"].as_array().map(Vec::len),
        Some(1),
        "{wrong:#}"
    );
    for server in [&starttls, &implicit] {
        let got = server.messages();
        assert_eq!(got.len(), 1, "{got:#?}");
        let m = &got[0];
        assert_eq!(m["tls"], true, "{m:#}");
        assert_eq!(m["authenticated"], true, "{m:#}");
        assert_eq!(m["to"], json!(["oncall@example.com", "lead@example.com"]));
        // Quoted-printable: undo the soft line breaks.
        let content = m["content"]
            .as_str()
            .unwrap_or("")
            .replace("=\r\n", "")
            .replace("=\n", "");
        let content = content.as_str();
        assert!(
            content.contains("Subject: [Outpost] Job failed: diag.sleep, 2 of 2 tasks failed"),
            "{content}"
        );
        assert!(content.contains(&format!("/#/job/{id}")), "{content}");
    }
    // `outpost notify test` prints the server's reply.
    let out = tokio::process::Command::new(outpost_tests::fleet_bin("outpost")?)
        .args(["--api", &fleet.api.base, "notify", "test", "mail"])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text.contains("250") && text.contains("stored"), "{text}");
    assert_eq!(starttls.messages().len(), 2);
    // No password in the logs or the records.
    let logs = fleet.coordinator.stderr().join("\n");
    let records = serde_json::to_string(&deliveries(&fleet).await?)?;
    assert!(!logs.contains(SMTP_PASS) && !records.contains(SMTP_PASS));
    Ok(())
}

#[tokio::test]
async fn kills_at_random_points_never_send_a_message_twice() -> Result<()> {
    // The receiver fails its first three requests, so kills also land
    // between retries.
    let hook = Receiver::start(3, "accepted").await?;
    let dir = tempfile::tempdir()?;
    let config = hook_channel(
        dir.path(),
        "hook",
        &hook,
        &["job.succeeded", "job.failed"],
        "",
    )?;
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(format!("{TWO_ZONES}{config}")),
        ..FleetOptions::default()
    })
    .await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let mut jobs = Vec::new();
    let sleeps = outpost_tests::chaos::kill_points(4, 100, 1299);
    let kills = outpost_tests::chaos::kill_points(4, 0, 2499);
    for (round, (ms, kill_at)) in sleeps.into_iter().zip(kills).enumerate() {
        let fail = round % 2 == 0;
        jobs.push(
            fleet
                .api
                .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha",
                                   "params": {"count": 2, "ms": ms, "fail": fail}}))
                .await?,
        );
        // Kill at a random point: before the job ends, while its message
        // is sent, or between the receiver's failures and the retry.
        tokio::time::sleep(std::time::Duration::from_millis(kill_at)).await;
        fleet.kill_coordinator().await?;
        fleet.start_coordinator().await?;
    }
    for id in &jobs {
        fleet.api.wait_finished(id, SETTLE).await?;
    }
    // Every job's delivery settles: delivered, or interrupted by a kill in
    // the middle of an attempt (then it is not sent again).
    let records = outpost_tests::wait_until("every delivery settled", SETTLE * 2, async || {
        let all = deliveries(&fleet).await.map_err(|e| e.to_string())?;
        let settled: Vec<Value> = all
            .into_iter()
            .filter(|d| d["state"] == "delivered" || d["state"] == "interrupted")
            .collect();
        if jobs
            .iter()
            .all(|id| settled.iter().any(|d| d["job_id"] == id.as_str()))
        {
            Ok(settled)
        } else {
            Err(format!("{settled:#?}"))
        }
    })
    .await?;
    let got = hook.received();
    for id in &jobs {
        let mine: Vec<&Value> = records
            .iter()
            .filter(|d| d["job_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "one record per job and event: {mine:#?}");
        let key = mine[0]["key"].as_str().unwrap_or_default();
        let accepted = got
            .iter()
            .filter(|r| r.status == 200)
            .filter(|r| {
                r.headers
                    .get("x-outpost-delivery")
                    .is_some_and(|v| v == key)
            })
            .count();
        match mine[0]["state"].as_str() {
            Some("delivered") => assert_eq!(accepted, 1, "{key}: {accepted} accepted"),
            _ => assert!(accepted <= 1, "{key}: {accepted} accepted"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_email_digest_gathers_the_events_of_its_window() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key, pass_file) = smtp_files(dir.path())?;
    let smtp = Smtp::start(&cert, &key, false).await?;
    // A 12-second window: four jobs that end within it make at most two
    // digests (one window boundary can fall among them).
    let config = format!(
        r#"
[[notify]]
name = "digest"
kind = "email"
smtp_url = "smtp://ops%40example.com@127.0.0.1:{}"
password_file = "{}"
ca_file = "{}"
from = "outpost@example.com"
to = ["oncall@example.com"]
events = ["job.failed"]
digest_minutes = 0.2
"#,
        smtp.port,
        pass_file.display(),
        cert.display()
    );
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(format!("{TWO_ZONES}{config}")),
        ..FleetOptions::default()
    })
    .await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let mut jobs = Vec::new();
    for _ in 0..4 {
        jobs.push(
            fleet
                .api
                .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1, "ms": 1, "fail": true}}))
                .await?,
        );
    }
    for id in &jobs {
        fleet.api.wait_finished(id, SETTLE).await?;
    }
    outpost_tests::wait_until("the digests delivered", SETTLE, async || {
        let all = deliveries(&fleet).await.map_err(|e| e.to_string())?;
        let delivered = all.iter().filter(|d| d["state"] == "delivered").count();
        if delivered == 4 {
            Ok(())
        } else {
            Err(format!("{all:#?}"))
        }
    })
    .await?;
    let mails = smtp.messages();
    assert!(
        (1..=2).contains(&mails.len()),
        "{} digests for 4 events",
        mails.len()
    );
    let text: Vec<String> = mails
        .iter()
        .map(|m| {
            m["content"]
                .as_str()
                .unwrap_or("")
                .replace("=\r\n", "")
                .replace("=\n", "")
        })
        .collect();
    for id in &jobs {
        let n = text.iter().filter(|t| t.contains(id.as_str())).count();
        assert_eq!(n, 1, "job {id} in {n} digests");
    }
    assert!(
        text.iter().all(|t| t.contains("notifications")),
        "{text:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_zone_without_a_live_worker_is_reported_once() -> Result<()> {
    let hook = Receiver::start(0, "ok").await?;
    let dir = tempfile::tempdir()?;
    // Three seconds without a worker is enough here.
    let config = hook_channel(
        dir.path(),
        "zones",
        &hook,
        &["zone.no_workers"],
        "no_workers_minutes = 0.05\n",
    )?;
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(format!("{TWO_ZONES}{config}")),
        ..FleetOptions::default()
    })
    .await?;
    // Alpha has a worker; beta has none.
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let msg = outpost_tests::wait_until("beta reported", SETTLE, async || {
        match hook.received().first() {
            Some(r) => Ok(r.clone()),
            None => Err("nothing yet".to_string()),
        }
    })
    .await?;
    verify_signature(HMAC_KEY.as_bytes(), &msg).map_err(anyhow::Error::msg)?;
    assert_eq!(msg.body["event"], "zone.no_workers");
    assert!(
        msg.body["title"]
            .as_str()
            .unwrap_or("")
            .contains("Zone beta"),
        "{:#}",
        msg.body
    );
    // It stays one message while beta stays empty: its record is settled
    // and the next checks find it.
    let records = outpost_tests::wait_until("the record settled", SETTLE, async || {
        let all = deliveries(&fleet).await.map_err(|e| e.to_string())?;
        if all
            .iter()
            .any(|d| d["zone"] == "beta" && d["state"] == "delivered")
        {
            Ok(all)
        } else {
            Err(format!("{all:#?}"))
        }
    })
    .await?;
    assert!(records.iter().all(|d| d["zone"] != "alpha"), "{records:#?}");
    let before = hook.received().len();
    // A negative can only be watched for a while: five seconds, about
    // three more zone checks, while beta stays empty.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(hook.received().len(), before, "{:#?}", hook.received());
    assert_eq!(before, 1);
    Ok(())
}

#[tokio::test]
async fn a_rollout_that_leaves_a_host_in_maintenance_says_which() -> Result<()> {
    use outpost_tests::rolling::{Rig, RigOptions};
    let hook = Receiver::start(0, "ok").await?;
    let dir = tempfile::tempdir()?;
    let r = Rig::start(RigOptions {
        net: 76,
        extra_tables: Some(hook_channel(
            dir.path(),
            "rollouts",
            &hook,
            &["rollout.host_left_in_maintenance"],
            "",
        )?),
        ..RigOptions::default()
    })
    .await?;
    // r650-2 fails mid-flash: the rollout stops and leaves it in maintenance.
    r.device(1).set_faults(outpost_sim::redfish::Faults {
        fail_job: true,
        ..Default::default()
    });
    let id = r.f.fleet.api.submit_ok(&r.job(json!({}))).await?;
    let job = r.f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    let msg = outpost_tests::wait_until("the maintenance message", SETTLE, async || {
        hook.received()
            .into_iter()
            .find(|m| m.body["event"] == "rollout.host_left_in_maintenance")
            .ok_or_else(|| "nothing yet".to_string())
    })
    .await?;
    verify_signature(HMAC_KEY.as_bytes(), &msg).map_err(anyhow::Error::msg)?;
    assert_eq!(
        msg.body["hosts_in_maintenance"],
        json!(["r650-2"]),
        "{:#}",
        msg.body
    );
    assert_eq!(msg.body["job"]["id"], id.as_str());
    Ok(())
}
