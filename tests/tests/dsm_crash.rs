//! A full server update from Dell Server Manager while the coordinator is
//! killed (-9) again and again at random points: between the parent's
//! claim, a sub-job's claim, its Outpost job, its end and the next
//! sub-job. Whatever the kill points, every component is updated once,
//! every sub-job has one Outpost job and one row per server, and the
//! parent ends `completed`.

use anyhow::{Context, Result};
use outpost_tests::dsm::rig_with;
use outpost_tests::fleet::SETTLE;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::test]
async fn a_full_update_converges_whatever_the_coordinator_is_killed_at() -> Result<()> {
    let mut r = rig_with(88, 100, true).await?;
    let repo = outpost_sim::repo::serve(vec![
        (
            "/bios.exe".into(),
            outpost_sim::redfish::make_image("159", "2.19.1", 50_000),
        ),
        (
            "/idrac.exe".into(),
            outpost_sim::redfish::make_image("25227", "7.10.30.00", 50_000),
        ),
    ])
    .await?;
    r.c.execute(
        "INSERT INTO public.firmware_packages (filename, file_size_bytes, served_url, component_type,
                dell_version, applicable_models, upload_status)
         VALUES ('BIOS.EXE', 50000, $1, 'BIOS', '2.19.1', '{}', 'completed'),
                ('IDRAC.EXE', 50000, $2, 'iDRAC', '7.10.30.00', '{}', 'completed')",
        &[
            &format!("http://{repo}/bios.exe"),
            &format!("http://{repo}/idrac.exe"),
        ],
    )
    .await?;
    let scope = json!({"server_ids": r.servers});
    let parent: Uuid =
        r.c.query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details)
             VALUES ('full_server_update', 'pending', $1, '{}') RETURNING id",
            &[&scope],
        )
        .await?
        .get(0);
    let children: Vec<Uuid> = r
        .c
        .query(
            "INSERT INTO public.jobs (job_type, status, target_scope, details, parent_job_id,
                    component_order)
             SELECT 'firmware_update', 'pending', $1,
                    jsonb_build_object('component', c, 'version', 'latest', 'apply_time', 'OnReset'),
                    $2, n::int
               FROM unnest(ARRAY['iDRAC', 'BIOS', 'CPLD']) WITH ORDINALITY AS x(c, n)
             RETURNING id",
            &[&scope, &parent],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for (round, at) in outpost_tests::chaos::kill_points(4, 100, 1499)
        .into_iter()
        .enumerate()
    {
        tokio::time::sleep(Duration::from_millis(at)).await;
        if r.job(parent).await?.0 != "running" {
            println!("round {round}: the update had ended");
            break;
        }
        r.f.fleet.kill_coordinator().await?;
        println!("round {round}: coordinator killed at +{at} ms");
        r.f.fleet.start_coordinator().await?;
    }
    let until = Instant::now() + SETTLE * 3;
    let (status, d) = loop {
        let (s, d) = r.job(parent).await?;
        if s != "running" && s != "pending" {
            break (s, d);
        }
        anyhow::ensure!(Instant::now() < until, "the update never ended: {d:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "completed", "{d:#}");
    for (i, child) in children.iter().enumerate() {
        let (s, cd) = r.job(*child).await?;
        assert_eq!(s, "completed", "sub-job {i}: {cd:#}");
        let rows = r.rows(*child).await?;
        if i < 2 {
            assert_eq!(rows.len(), 2, "one row per server: {rows:?}");
        }
    }
    // One Outpost job per updated component, whatever was killed when.
    let jobs = r.f.fleet.api.list_jobs().await?;
    let firmware: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["type"] == "redfish.firmware")
        .collect();
    assert_eq!(firmware.len(), 2, "{jobs:#?}");
    for a in r.sim.addrs() {
        let d = r.sim.device(a).context("device")?;
        assert_eq!(d.component_version("159").as_deref(), Some("2.19.1"));
        assert_eq!(d.component_version("25227").as_deref(), Some("7.10.30.00"));
    }
    r.db.drop_db().await;
    Ok(())
}
