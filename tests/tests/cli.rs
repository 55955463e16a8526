//! The `outpost` CLI against a real fleet: submit and follow, exit codes
//! that say whether the job succeeded, clear errors for bad input.

use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::fleet_bin;
use outpost_tests::procs::Proc;
use std::ffi::OsStr;

async fn outpost(fleet: &Fleet, args: &[&str]) -> anyhow::Result<(i32, Vec<String>, Vec<String>)> {
    outpost_env(fleet, args, &[]).await
}

/// Runs the CLI against the fleet with `envs` added to its environment.
async fn outpost_env(
    fleet: &Fleet,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<(i32, Vec<String>, Vec<String>)> {
    let mut all: Vec<&OsStr> = vec!["--api".as_ref(), fleet.api.base.as_ref()];
    all.extend(args.iter().map(OsStr::new));
    let mut p = Proc::spawn("outpost", fleet_bin("outpost")?, &all, envs)?;
    let status = p.wait_exit(SETTLE).await?;
    // Let the output pumps drain what the process wrote before exiting.
    tokio::task::yield_now().await;
    let mut out = p.stdout();
    for _ in 0..100 {
        if !out.is_empty() || status.code() == Some(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        out = p.stdout();
    }
    Ok((status.code().unwrap_or(-1), out, p.stderr()))
}

#[tokio::test]
async fn submit_follows_the_job_and_exit_code_tells_the_outcome() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let dir = tempfile::tempdir()?;
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"type":"diag.sleep","zone":"alpha","params":{"count":3,"ms":600}}"#,
    )?;
    let (code, out, err) = outpost(&fleet, &["submit", good.to_str().unwrap_or_default()]).await?;
    assert_eq!(code, 0, "stdout {out:?} stderr {err:?}");
    assert!(
        out[0].starts_with("job ") && out[0].ends_with(" submitted"),
        "{out:?}"
    );
    let id = out[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        out.iter()
            .filter(|l| l.contains(" started on alpha-1"))
            .count(),
        3,
        "{out:?}"
    );
    assert_eq!(
        out.last().map(String::as_str),
        Some(format!("job {id} succeeded: 3/3 succeeded").as_str()),
        "{out:?}"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type":"diag.sleep","zone":"alpha","params":{"count":2,"ms":1,"fail":true}}"#,
    )?;
    let (code, out, _) = outpost(&fleet, &["submit", bad.to_str().unwrap_or_default()]).await?;
    assert_eq!(code, 1, "a failed job exits 1: {out:?}");
    assert!(
        out.iter().any(|l| l.contains("failed: requested")),
        "{out:?}"
    );

    let (code, out, _) = outpost(&fleet, &["job", &id]).await?;
    assert_eq!(code, 0, "{out:?}");
    assert!(out[0].contains("succeeded"), "{out:?}");
    let (code, out, _) = outpost(&fleet, &["jobs"]).await?;
    assert_eq!(code, 0);
    assert_eq!(out.len(), 3, "header and two jobs: {out:?}");
    let (code, out, _) = outpost(&fleet, &["workers"]).await?;
    assert_eq!(code, 0);
    assert!(
        out.iter()
            .any(|l| l.starts_with("alpha") && l.contains("alpha-1")),
        "{out:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_and_cancel_give_clear_answers() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let dir = tempfile::tempdir()?;
    let unknown_zone = dir.path().join("zone.json");
    std::fs::write(
        &unknown_zone,
        r#"{"type":"diag.sleep","zone":"gamma","params":{"count":1}}"#,
    )?;
    let (code, _, err) = outpost(
        &fleet,
        &["submit", unknown_zone.to_str().unwrap_or_default()],
    )
    .await?;
    assert_eq!(code, 2);
    assert!(
        err.iter()
            .any(|l| l.contains("400") && l.contains("field zone")),
        "{err:?}"
    );
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{\"type\": ")?;
    let (code, _, err) =
        outpost(&fleet, &["submit", not_json.to_str().unwrap_or_default()]).await?;
    assert_eq!(code, 2);
    assert!(
        err.iter()
            .any(|l| l.contains("broken.json") && l.contains("not valid JSON")),
        "{err:?}"
    );
    let (code, _, err) = outpost(&fleet, &["job", "no-such-job"]).await?;
    assert_eq!(code, 2);
    assert!(err.iter().any(|l| l.contains("404")), "{err:?}");

    // No worker in beta: the job waits; `job` says so (3), cancel ends it (1).
    let queued = dir.path().join("queued.json");
    std::fs::write(
        &queued,
        r#"{"type":"diag.sleep","zone":"beta","params":{"count":2}}"#,
    )?;
    let (code, out, _) = outpost(
        &fleet,
        &["submit", "--detach", queued.to_str().unwrap_or_default()],
    )
    .await?;
    assert_eq!(code, 0);
    let id = out[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let (code, _, _) = outpost(&fleet, &["job", &id]).await?;
    assert_eq!(code, 3, "a pending job is not finished");
    let (code, out, _) = outpost(&fleet, &["cancel", &id]).await?;
    assert_eq!(code, 0, "{out:?}");
    let (code, out, _) = outpost(&fleet, &["job", &id, "--follow"]).await?;
    assert_eq!(code, 1, "{out:?}");
    assert!(
        out.last().is_some_and(|l| l.contains("cancelled")),
        "{out:?}"
    );
    let unreachable = Proc::spawn(
        "outpost",
        fleet_bin("outpost")?,
        &[
            "--api".as_ref(),
            "http://127.0.0.1:1".as_ref(),
            "jobs".as_ref(),
        ],
        &[],
    );
    let mut p = unreachable?;
    let status = p.wait_exit(SETTLE).await?;
    assert_eq!(status.code(), Some(2));
    Ok(())
}

#[tokio::test]
async fn the_token_comes_from_the_environment_or_a_file_never_argv() -> anyhow::Result<()> {
    const TOKEN: &str = "cli-t0ken-under-test";
    let fleet = Fleet::start_with_token(Some(TOKEN)).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n"))?;
    let file = file.to_str().unwrap_or_default();

    // On the command line it is refused before anything is sent.
    let (code, _, err) = outpost(&fleet, &["--token", TOKEN, "jobs"]).await?;
    assert_eq!(code, 2, "{err:?}");
    assert!(
        err.iter()
            .any(|l| l.contains("OUTPOST_API_TOKEN") && l.contains("--token-file")),
        "the refusal must point to the alternatives: {err:?}"
    );
    assert!(
        err.iter().all(|l| !l.contains(TOKEN)),
        "the refusal repeats the token: {err:?}"
    );
    // Without a token: the API's 401.
    let (code, _, err) = outpost(&fleet, &["jobs"]).await?;
    assert_eq!(code, 2);
    assert!(err.iter().any(|l| l.contains("401")), "{err:?}");
    // From the environment, and from a file (its line end trimmed).
    let (code, out, err) = outpost_env(&fleet, &["jobs"], &[("OUTPOST_API_TOKEN", TOKEN)]).await?;
    assert_eq!(code, 0, "{out:?} {err:?}");
    let (code, out, err) = outpost(&fleet, &["--token-file", file, "workers"]).await?;
    assert_eq!(code, 0, "{out:?} {err:?}");
    let (code, _, err) = outpost(&fleet, &["--token-file", "/nonexistent/token", "jobs"]).await?;
    assert_eq!(code, 2);
    assert!(
        err.iter().any(|l| l.contains("/nonexistent/token")),
        "{err:?}"
    );
    Ok(())
}
