//! The app's notifications for jobs Outpost runs: with the app's
//! `notification_settings` pointing at a Teams receiver, a `power_action`
//! job the bridge runs sends the app's MessageCard once per status the
//! settings ask for, and logs each in `notification_logs` as the app's UI
//! reads them; a job the app's own executor would run (not claimed by
//! Outpost) sends nothing from Outpost.

use anyhow::Result;
use outpost_tests::dsm::rig;
use outpost_tests::fleet::SETTLE;
use outpost_tests::receivers::Receiver;
use serde_json::json;

#[tokio::test]
async fn the_apps_teams_alerts_fire_once_for_the_jobs_outpost_runs() -> Result<()> {
    let teams = Receiver::start(1, "1").await?;
    let mut r = rig(77, 200).await?;
    // As the app's settings page saves it (Teams on, started and done).
    r.c.execute(
        "INSERT INTO public.notification_settings
            (teams_webhook_url, notify_on_job_started, notify_on_job_complete, notify_on_job_failed)
         VALUES ($1, true, true, true)",
        &[&teams.url()],
    )
    .await?;
    let id = r
        .insert(
            "power_action",
            json!({"type": "specific", "server_ids": r.servers}),
            json!({"action": "ForceOff"}),
        )
        .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");

    // Two log rows (running, completed), both success: the receiver's
    // first answer was a 500, retried.
    let logs = outpost_tests::wait_until("the app's notification logs", SETTLE, async || {
        let rows = r
            .c
            .query(
                "SELECT notification_type, status, severity, delivery_details FROM public.notification_logs
                  WHERE job_id = $1 ORDER BY created_at",
                &[&id],
            )
            .await
            .map_err(|e| e.to_string())?;
        if rows.len() >= 2 {
            Ok(rows)
        } else {
            Err(format!("{} rows", rows.len()))
        }
    })
    .await?;
    assert_eq!(logs.len(), 2);
    for row in &logs {
        assert_eq!(row.get::<_, String>(0), "teams");
        assert_eq!(row.get::<_, String>(1), "success");
        assert_eq!(row.get::<_, String>(2), "normal");
    }
    let cards: Vec<serde_json::Value> = teams
        .received()
        .into_iter()
        .filter(|x| x.status == 200)
        .map(|x| x.body)
        .collect();
    assert_eq!(cards.len(), 2, "{cards:#?}");
    let titles: Vec<&str> = cards.iter().filter_map(|c| c["title"].as_str()).collect();
    assert!(
        titles.contains(&"🔄 Job RUNNING") && titles.contains(&"✅ Job COMPLETED"),
        "{titles:?}"
    );
    for c in &cards {
        assert_eq!(c["@type"], "MessageCard");
        assert_eq!(c["sections"][0]["facts"][1]["value"], "Power Action");
        let short: String = id.to_string().chars().take(8).collect();
        assert_eq!(c["sections"][0]["facts"][0]["value"], format!("{short}..."));
    }

    // A restart of the coordinator sends nothing again: once a second
    // job's alerts are out, the restarted notifier has looked at the
    // first job's statuses too.
    r.f.fleet.restart_coordinator().await?;
    let second = r
        .insert(
            "power_action",
            json!({"type": "specific", "server_ids": r.servers}),
            json!({"action": "On"}),
        )
        .await?;
    r.wait_status(second, &["completed", "failed"]).await?;
    outpost_tests::wait_until("the second job's alerts", SETTLE, async || {
        let n: i64 =
            r.c.query_one(
                "SELECT count(*) FROM public.notification_logs WHERE job_id = $1",
                &[&second],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if n == 2 {
            Ok(())
        } else {
            Err(format!("{n} rows"))
        }
    })
    .await?;
    let n: i64 =
        r.c.query_one(
            "SELECT count(*) FROM public.notification_logs WHERE job_id = $1",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(n, 2, "the restart notified again");
    assert_eq!(
        teams.received().iter().filter(|x| x.status == 200).count(),
        4
    );
    Ok(())
}
