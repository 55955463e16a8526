//! Secrets are not left lying around: the vault password given in the
//! environment is gone from the worker's `/proc/<pid>/environ` once it
//! runs, it can come from a file or systemd's credentials directory
//! instead, and neither the password of a NATS URL nor the zone's nkey
//! seed appears in any log line, even at debug level.

use anyhow::Result;
use outpost_tests::collect::{VAULT_PASS, make_vault};
use outpost_tests::fleet::{START, config_toml, spawn_coordinator};
use outpost_tests::fleet_bin;
use outpost_tests::nats::NatsServer;
use outpost_tests::procs::Proc;
use std::ffi::OsStr;

/// Starts a worker of zone alpha with `extra` flags and `envs`; waits until ready.
async fn worker(
    nats: &NatsServer,
    id: &str,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Result<Proc> {
    let base = ["--zone", "alpha", "--worker-id", id];
    let nats_args = nats.worker_args("alpha");
    let mut args: Vec<&OsStr> = base.iter().map(OsStr::new).collect();
    args.extend(nats_args.iter().map(OsStr::new));
    args.extend(extra.iter().map(OsStr::new));
    let bin = fleet_bin("outpost-worker")?;
    let mut w = Proc::spawn(id, &bin, &args, envs)?;
    w.wait_for_line(|l| l.starts_with("outpost-worker ready"), START)
        .await?;
    Ok(w)
}

#[tokio::test]
async fn the_vault_password_leaves_the_environment_and_may_come_from_files() -> Result<()> {
    let nats = NatsServer::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("coordinator.toml"), config_toml(&nats))?;
    let (_coordinator, _api) =
        spawn_coordinator(dir.path().join("coordinator.toml"), None, &[]).await?;
    let vault = make_vault(dir.path(), &[]).await?;
    let v = vault.to_string_lossy().into_owned();

    // From the environment: read, then erased from the process's environ.
    let w = worker(
        &nats,
        "w-env",
        &["--vault", &v],
        &[("OUTPOST_VAULT_PASS", VAULT_PASS)],
    )
    .await?;
    let pid = w.pid().expect("running");
    let environ = std::fs::read(format!("/proc/{pid}/environ"))?;
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        !environ.contains(VAULT_PASS),
        "the vault password is still in /proc/{pid}/environ"
    );
    assert!(environ.contains("PATH="), "environ unreadable: {environ}");

    // From a file named on the command line.
    let file = dir.path().join("vault-pass");
    std::fs::write(&file, format!("{VAULT_PASS}\n"))?;
    let f = file.to_string_lossy().into_owned();
    worker(
        &nats,
        "w-file",
        &["--vault", &v, "--vault-pass-file", &f],
        &[],
    )
    .await?;

    // From systemd's credentials directory.
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds)?;
    std::fs::write(creds.join("outpost-vault-pass"), VAULT_PASS)?;
    let c = creds.to_string_lossy().into_owned();
    worker(
        &nats,
        "w-systemd",
        &["--vault", &v],
        &[("CREDENTIALS_DIRECTORY", &c)],
    )
    .await?;

    // A wrong password in a file is refused, and not echoed.
    std::fs::write(&file, "not-the-password\n")?;
    let flags = ["--zone", "alpha", "--vault", &v, "--vault-pass-file", &f];
    let nats_args = nats.worker_args("alpha");
    let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    args.extend(nats_args.iter().map(OsStr::new));
    let bin = fleet_bin("outpost-worker")?;
    let mut bad = Proc::spawn("w-bad", &bin, &args, &[])?;
    assert!(!bad.wait_exit(START).await?.success());
    Ok(())
}

#[tokio::test]
async fn a_nats_password_is_in_no_log_line_at_debug_level() -> Result<()> {
    const NATS_PASS: &str = "nats-secret-Wq83z";
    let nats = NatsServer::start_with_user("outpost", NATS_PASS).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("coordinator.toml"), config_toml(&nats))?;
    let (_coordinator, _api) =
        spawn_coordinator(dir.path().join("coordinator.toml"), None, &[]).await?;
    let mut w = worker(&nats, "w-debug", &[], &[("RUST_LOG", "debug")]).await?;
    // Stop it politely so the shutdown path logs too.
    w.term()?;
    w.wait_exit(START).await?;
    let out = [w.stdout(), w.stderr()].concat();
    assert!(
        out.iter().any(|l| l.contains("DEBUG")),
        "no debug lines were logged: {out:?}"
    );
    let leaked: Vec<&String> = out.iter().filter(|l| l.contains(NATS_PASS)).collect();
    assert!(
        leaked.is_empty(),
        "the NATS password was logged: {leaked:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_zone_seed_is_in_no_log_line_at_debug_level() -> Result<()> {
    let nats = NatsServer::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("coordinator.toml"), config_toml(&nats))?;
    let (_coordinator, _api) = spawn_coordinator(
        dir.path().join("coordinator.toml"),
        None,
        &[("RUST_LOG", "debug")],
    )
    .await?;
    let seed_of = |path: std::path::PathBuf| -> Result<String> {
        let text = std::fs::read_to_string(path)?;
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU"))
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no seed in the creds file"))
    };
    let seeds = [
        seed_of(nats.zone_creds("alpha"))?,
        seed_of(nats.coordinator_creds())?,
    ];
    let mut w = worker(&nats, "w-debug", &[], &[("RUST_LOG", "debug")]).await?;
    w.term()?;
    w.wait_exit(START).await?;
    let out = [w.stdout(), w.stderr()].concat();
    assert!(
        out.iter().any(|l| l.contains("DEBUG")),
        "no debug lines: {out:?}"
    );
    for seed in &seeds {
        let leaked: Vec<&String> = out.iter().filter(|l| l.contains(seed.as_str())).collect();
        assert!(leaked.is_empty(), "an nkey seed was logged: {leaked:?}");
    }
    Ok(())
}
