//! The web console in a real browser (headless Chromium over WebDriver)
//! against a live fleet with an API token: sign in, submit a job and
//! watch it reach 100 % live, cancel another, filter the job list, see
//! the workers; the session cookie is HTTP-only and same-site, and a
//! request riding on it from another origin, or changing something
//! without the console's header, is refused. Screenshots go to
//! `OUTPOST_SCREENSHOTS` (the README's come from there) or the target
//! directory.

use anyhow::{Context, Result, ensure};
use outpost_tests::browser::{Browser, PATIENCE};
use outpost_tests::fleet::{Fleet, SETTLE};
use serde_json::json;
use std::path::PathBuf;

const TOKEN: &str = "console-test-token-4d1f";

fn shots() -> PathBuf {
    std::env::var_os("OUTPOST_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console"))
}

/// Puts `doc` in the submit page's editor and presses `button`.
async fn submit(b: &Browser, base: &str, doc: &serde_json::Value) -> Result<String> {
    b.goto(&format!("{base}/#/submit")).await?;
    let area = b.wait_for("#job-doc").await?;
    b.clear(&area).await?;
    b.type_into(&area, &doc.to_string()).await?;
    b.click(&b.wait_for("#submit").await?).await?;
    b.wait_for("#job-progress").await?;
    let url = b.url().await?;
    let id = url
        .rsplit_once("#/job/")
        .map(|(_, id)| id.to_string())
        .with_context(|| format!("submit did not open the job page: {url}"))?;
    Ok(id)
}

#[tokio::test]
async fn an_operator_signs_in_submits_watches_and_cancels_in_a_browser() -> Result<()> {
    let mut fleet = Fleet::start_with_token(Some(TOKEN)).await?;
    fleet.worker("alpha", "console-w1", &[]).await?;
    fleet.worker("beta", "console-w2", &[]).await?;
    fleet.api.wait_workers(SETTLE, |w| w.len() == 2).await?;
    let b = Browser::start().await?;
    let dir = shots();
    let run = walk_through(&fleet, &b, &dir).await;
    on_failure(&b, &dir, "walk-through", run).await
}

/// Keeps what the page showed and logged when `run` failed.
async fn on_failure(b: &Browser, dir: &std::path::Path, name: &str, run: Result<()>) -> Result<()> {
    if let Err(e) = &run {
        let _ = b.screenshot(&dir.join(format!("failure-{name}.png"))).await;
        let errors = b.page_errors().await.unwrap_or_default();
        let html = b
            .run("return document.getElementById('main').innerText;", vec![])
            .await
            .unwrap_or_default();
        eprintln!(
            "console failure at {}: {e:#}\npage errors: {errors:#?}\npage text: {}",
            b.url().await.unwrap_or_default(),
            html.as_str().unwrap_or_default()
        );
    }
    run
}

async fn walk_through(fleet: &Fleet, b: &Browser, dir: &std::path::Path) -> Result<()> {
    let base = fleet.api.base.clone();

    // Signed out, the console asks for the token and refuses a wrong one.
    b.goto(&format!("{base}/")).await?;
    let token = b.wait_for("#token").await?;
    b.screenshot(&dir.join("sign-in.png")).await?;
    b.type_into(&token, "not-the-token").await?;
    b.click(&b.wait_for("#sign-in").await?).await?;
    b.wait_text("p.error", |t| t.contains("not the API token"))
        .await?;
    b.clear(&token).await?;
    b.type_into(&token, TOKEN).await?;
    b.click(&b.wait_for("#sign-in").await?).await?;
    b.wait_text("h1", |t| t == "Jobs").await?;

    // The session is a cookie the page's script cannot read.
    let cookies = b.cookies().await?;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "outpost_session")
        .with_context(|| format!("no session cookie: {cookies:?}"))?;
    ensure!(
        session["httpOnly"] == true,
        "cookie not HttpOnly: {session}"
    );
    ensure!(
        session["sameSite"] == "Strict",
        "cookie not SameSite=Strict: {session}"
    );
    let seen_by_script = b.run("return document.cookie;", vec![]).await?;
    ensure!(
        !seen_by_script
            .as_str()
            .unwrap_or("")
            .contains("outpost_session"),
        "the script can read the session: {seen_by_script}"
    );
    let cookie = format!(
        "outpost_session={}",
        session["value"].as_str().unwrap_or("")
    );

    // Submit a job and watch it reach 100 % without reloading.
    let quick = submit(
        b,
        &base,
        &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 6, "ms": 1500}}),
    )
    .await?;
    // On a loaded machine the job may end before the page first looks;
    // the events log below is filled only by the live stream.
    b.wait_text("#job-status", |t| t == "running" || t == "succeeded")
        .await?;
    let mid = b.wait_for("#job-progress").await?;
    let seen_mid = b.attribute(&mid, "aria-valuenow").await?;
    b.wait_text("#job-status", |t| t == "succeeded").await?;
    let bar = b.wait_for("#job-progress").await?;
    ensure!(
        b.attribute(&bar, "aria-valuenow").await?.as_deref() == Some("100"),
        "the job ended but its bar is not at 100 % (was {seen_mid:?} while running)"
    );
    b.wait_text("#events", |t| t.contains("succeeded")).await?;
    let doc = fleet.api.job_document(&quick).await?;
    let trace = doc["traceparent"]
        .as_str()
        .and_then(|t| t.split('-').nth(1))
        .context("the job has no traceparent")?
        .to_string();
    b.wait_text("#trace-id", |t| t == trace).await?;
    b.screenshot(&dir.join("job.png")).await?;

    // Cancel a long job from its page (after the browser's confirm).
    let long = submit(
        b,
        &base,
        &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1, "ms": 600000}}),
    )
    .await?;
    b.wait_text("#job-status", |t| t == "running").await?;
    b.click(&b.wait_for("#cancel").await?).await?;
    b.accept_dialog().await?;
    b.wait_text("#job-status", |t| t == "cancelled").await?;
    let api_view = fleet.api.job(&long).await?;
    ensure!(api_view["status"] == "cancelled", "API says {api_view}");

    // The list filters by status; the other job is not among the cancelled.
    b.goto(&format!("{base}/#/jobs?status=cancelled")).await?;
    b.wait_for(&format!("tr[data-job='{long}']")).await?;
    ensure!(
        b.find(&format!("tr[data-job='{quick}']")).await?.is_none(),
        "a succeeded job is listed under cancelled"
    );
    b.goto(&format!("{base}/#/jobs?type=diag.sleep&zone=alpha"))
        .await?;
    b.wait_for(&format!("tr[data-job='{quick}']")).await?;
    ensure!(
        b.find(&format!("tr[data-job='{long}']")).await?.is_none(),
        "a job of zone beta is listed under zone alpha"
    );
    b.goto(&format!("{base}/#/jobs")).await?;
    b.wait_for(&format!("tr[data-job='{long}']")).await?;
    b.screenshot(&dir.join("jobs.png")).await?;

    // Workers by zone, with capacity and in-flight.
    b.goto(&format!("{base}/#/workers")).await?;
    b.wait_for("tr[data-worker='console-w1']").await?;
    b.wait_text("caption", |t| {
        t.contains("Zone alpha") && t.contains("slots busy")
    })
    .await?;
    b.screenshot(&dir.join("workers.png")).await?;

    // Nothing the page does breaks its content security policy or throws
    // (the 401 of the wrong token above is logged, and expected).
    let errors: Vec<String> = b
        .page_errors()
        .await?
        .into_iter()
        .filter(|e| !(e.contains("/api/v1/session") && e.contains("401")))
        .collect();
    ensure!(errors.is_empty(), "the page logged errors: {errors:#?}");

    // The cookie alone works for reads from the console's origin ...
    let http = reqwest::Client::new();
    let read = http
        .get(format!("{base}/api/v1/jobs"))
        .header("cookie", &cookie)
        .send()
        .await?;
    ensure!(read.status() == 200, "cookie read: {}", read.status());
    // ... but not from another site's page, nor for a change without the
    // console's header (what a forged form would send).
    let foreign = http
        .get(format!("{base}/api/v1/jobs"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await?;
    ensure!(
        foreign.status() == 403,
        "foreign origin: {}",
        foreign.status()
    );
    let forged = http
        .post(format!("{base}/api/v1/jobs/{quick}/cancel"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .send()
        .await?;
    ensure!(
        forged.status() == 403,
        "cancel without the header: {}",
        forged.status()
    );
    let bogus = http
        .get(format!("{base}/api/v1/jobs"))
        .header("cookie", "outpost_session=9999999999.00.00")
        .send()
        .await?;
    ensure!(bogus.status() == 401, "forged cookie: {}", bogus.status());

    // Signing out ends the session in the browser.
    b.goto(&format!("{base}/#/jobs")).await?;
    b.click(&b.wait_for("#sign-out").await?).await?;
    b.wait_for("#token").await?;
    ensure!(
        !b.cookies()
            .await?
            .iter()
            .any(|c| c["name"] == "outpost_session"),
        "the cookie stayed after sign-out"
    );
    Ok(())
}

/// How many elements match `css` now.
async fn count(b: &Browser, css: &str) -> Result<u64> {
    Ok(b.run(
        "return document.querySelectorAll(arguments[0]).length;",
        vec![json!(css)],
    )
    .await?
    .as_u64()
    .unwrap_or(0))
}

#[tokio::test]
async fn the_rollout_grid_and_a_new_certificate_in_a_browser_without_a_token() -> Result<()> {
    use outpost_tests::rolling::{Rig, RigOptions};
    let r = Rig::start(RigOptions {
        net: 78,
        clusters: 2,
        hosts_per_cluster: 3,
        ..RigOptions::default()
    })
    .await?;
    let b = Browser::start().await?;
    let dir = shots();
    let run = rollout_and_pins(&r, &b, &dir).await;
    on_failure(&b, &dir, "rollout", run).await
}

async fn rollout_and_pins(
    r: &outpost_tests::rolling::Rig,
    b: &Browser,
    dir: &std::path::Path,
) -> Result<()> {
    let api = &r.f.fleet.api;
    let base = api.base.clone();

    // On loopback without a token the console opens without signing in.
    let id = api
        .submit_ok(&r.job(json!({"min_healthy_hosts": 2})))
        .await?;
    b.goto(&format!("{base}/#/rollouts")).await?;
    b.wait_text("h1", |t| t == "Rollouts").await?;
    outpost_tests::wait_until(
        "a host under way in the grid (or, on a slow machine, all done)",
        PATIENCE,
        async || {
            let running = count(b, "li.host.s-running")
                .await
                .map_err(|e| e.to_string())?;
            let done = count(b, "li.host.s-succeeded")
                .await
                .map_err(|e| e.to_string())?;
            if running > 0 || done == 6 {
                Ok(())
            } else {
                Err(format!("{running} running, {done} done"))
            }
        },
    )
    .await?;
    b.screenshot(&dir.join("rollouts.png")).await?;
    ensure!(count(b, ".grid-row").await? == 2, "one row per cluster");
    ensure!(count(b, "li.host").await? == 6, "one cell per host");
    outpost_tests::wait_until(
        "every host succeeded in the grid",
        PATIENCE * 4,
        async || match count(b, "li.host.s-succeeded").await {
            Ok(6) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;
    let job = api.job(&id).await?;
    ensure!(job["status"] == "succeeded", "{job:#}");

    // Inventory: a board's certificate changes; the operator accepts the
    // fingerprint read on its console, and operations run again.
    let inventory = async |targets: &[String]| -> Result<serde_json::Value> {
        let id = api
            .submit_ok(&json!({"type": "redfish.inventory", "targets": targets,
                               "params": {"port": r.port, "credential": "idrac"}}))
            .await?;
        api.wait_finished(&id, SETTLE).await
    };
    let job = inventory(&r.ips).await?;
    ensure!(job["status"] == "succeeded", "{job:#}");
    let moved = r.sim.addrs()[1];
    r.sim.rotate_certificate(moved)?;
    let new = r.sim.fingerprint(moved).context("no fingerprint")?;
    let job = inventory(&r.ips[1..2]).await?;
    ensure!(
        outpost_tests::api::tasks(&job)[0]["error_kind"] == "cert_changed",
        "{job:#}"
    );
    let row = format!("tr[data-address='{}']", r.ips[1]);
    b.goto(&format!("{base}/#/inventory")).await?;
    b.wait_for(&row).await?;
    let shown = b
        .wait_text(&format!("{row} code.pin"), |t| !t.is_empty())
        .await?;
    ensure!(
        shown != new,
        "the new certificate is pinned before anyone accepted it"
    );
    b.screenshot(&dir.join("inventory.png")).await?;
    let field = b.wait_for(&format!("{row} input.fp")).await?;
    b.type_into(&field, &new).await?;
    b.click(&b.wait_for(&format!("{row} button.accept")).await?)
        .await?;
    b.accept_dialog().await?;
    b.wait_text(&format!("{row} code.pin"), |t| t == new)
        .await?;
    let job = inventory(&r.ips[1..2]).await?;
    ensure!(job["status"] == "succeeded", "{job:#}");
    Ok(())
}
