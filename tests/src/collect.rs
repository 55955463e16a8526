//! Harness for the SSH collection tests: a zone vault made with the
//! `outpost vault` CLI, inventory and job files, a fleet whose coordinator
//! knows the inventory and capture directory and whose workers unlock the
//! vault, and a runner for `outpost run-job` / `run-jobs` whose home is a
//! directory of the test (where captures go without a `base_path`).

use crate::fleet::{Fleet, FleetOptions, TWO_ZONES};
use crate::fleet_bin;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Password of the test vaults.
pub const VAULT_PASS: &str = "vault-test-pass";

/// One credential for [`make_vault`].
pub struct Cred<'a> {
    pub name: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub enable_secret: Option<&'a str>,
    pub default: bool,
}

impl Cred<'static> {
    /// The one default credential an iDRAC test fleet needs: `idrac`,
    /// user `root`.
    pub fn idrac(password: &'static str) -> Vec<Cred<'static>> {
        vec![Cred {
            name: "idrac",
            username: "root",
            password,
            enable_secret: None,
            default: true,
        }]
    }
}

/// Runs `outpost` with `args` (and stdin); returns exit code, stdout, stderr.
pub async fn outpost(
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: &str,
) -> Result<(i32, String, String)> {
    outpost_in(None, args, envs, stdin).await
}

/// As [`outpost`], run in the directory `cwd` when given.
pub async fn outpost_in(
    cwd: Option<&Path>,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: &str,
) -> Result<(i32, String, String)> {
    let mut cmd = tokio::process::Command::new(fleet_bin("outpost")?);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("OUTPOST_VAULT_KDF_COST", "test")
        .env_remove("OUTPOST_VAULT_PASS")
        .env_remove("VELOCITYCMDB_VAULT_PASS")
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().context("starting outpost")?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes()).await?;
    }
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .context("outpost did not finish within 300 s")??;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Creates a vault at `dir/vault.json` holding `creds`.
pub async fn make_vault(dir: &Path, creds: &[Cred<'_>]) -> Result<PathBuf> {
    let path = dir.join("vault.json");
    let p = path.to_string_lossy().into_owned();
    let env = [("OUTPOST_VAULT_PASS", VAULT_PASS)];
    let (code, out, err) = outpost(&["vault", "--vault", &p, "init"], &env, "").await?;
    if code != 0 {
        bail!("vault init failed ({code}): {out}{err}");
    }
    for c in creds {
        let mut args = vec![
            "vault",
            "--vault",
            &p,
            "add",
            c.name,
            "--username",
            c.username,
            "--password-stdin",
        ];
        let mut stdin = format!("{}\n", c.password);
        if let Some(e) = c.enable_secret {
            args.push("--enable-secret-stdin");
            stdin.push_str(e);
            stdin.push('\n');
        }
        if c.default {
            args.push("--default");
        }
        let (code, out, err) = outpost(&args, &env, &stdin).await?;
        if code != 0 {
            bail!("vault add {} failed ({code}): {out}{err}", c.name);
        }
    }
    Ok(path)
}

/// One inventory row (CSV inventory).
pub struct Row<'a> {
    pub name: &'a str,
    pub ip: &'a str,
    pub port: u16,
    pub vendor: &'a str,
    pub platform: &'a str,
    pub zone: &'a str,
    pub legacy: bool,
}

/// Writes a CSV inventory.
pub fn write_inventory(path: &Path, rows: &[Row<'_>]) -> Result<()> {
    let mut s =
        String::from("name,management_ip,port,vendor,role,site,model,platform,zone,legacy\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},access,lab1,TEST-1,{},{},{}\n",
            r.name, r.ip, r.port, r.vendor, r.platform, r.zone, r.legacy
        ));
    }
    std::fs::write(path, s)?;
    Ok(())
}

/// A VelocityCollector v2.0 job file.
pub fn job_file(job_id: &str, commands: &str, name_pattern: Option<&str>, timeout: u64) -> Value {
    serde_json::json!({
        "job_id": job_id,
        "capture_type": "configs",
        "device_filter": { "vendor": null, "site": null, "role": null, "name_pattern": name_pattern },
        "commands": { "command": commands, "output_directory": "configs" },
        "execution": { "timeout": timeout, "inter_command_time": 0, "max_workers": 12 },
        "storage": { "filename_pattern": "{device_name}.txt" }
    })
}

/// A fleet for collection tests.
pub struct CollectFleet {
    pub fleet: Fleet,
    /// The coordinator's `capture_dir` (jobs submitted through the API).
    pub captures: PathBuf,
    /// `HOME` of the `outpost` runs.
    pub home: PathBuf,
    pub vault: PathBuf,
    pub inventory: PathBuf,
}

impl CollectFleet {
    /// NATS, a coordinator reading `inventory`, and no workers yet.
    pub async fn start(dir: &Path, creds: &[Cred<'_>], rows: &[Row<'_>]) -> Result<CollectFleet> {
        Self::start_with_zones(dir, creds, rows, TWO_ZONES).await
    }

    /// As [`CollectFleet::start`] with other `[[zone]]` tables.
    pub async fn start_with_zones(
        dir: &Path,
        creds: &[Cred<'_>],
        rows: &[Row<'_>],
        zones: &str,
    ) -> Result<CollectFleet> {
        Self::start_with_env(dir, creds, rows, zones, Vec::new()).await
    }

    /// As [`CollectFleet::start_with_zones`], the coordinator with `envs`.
    pub async fn start_with_env(
        dir: &Path,
        creds: &[Cred<'_>],
        rows: &[Row<'_>],
        zones: &str,
        envs: Vec<(String, String)>,
    ) -> Result<CollectFleet> {
        let inventory = dir.join("inventory.csv");
        write_inventory(&inventory, rows)?;
        let captures = dir.join("captures");
        let home = dir.join("home");
        std::fs::create_dir_all(&home)?;
        let vault = make_vault(dir, creds).await?;
        // Top-level keys go first; `[[inventory]]` is a table, after the zones.
        let fleet = Fleet::start_with(FleetOptions {
            extra_config: Some(format!("capture_dir = \"{}\"", captures.display())),
            zones: Some(format!(
                "{zones}\n[[inventory]]\ntype = \"csv\"\npath = \"{}\"\n",
                inventory.display()
            )),
            envs,
            ..FleetOptions::default()
        })
        .await?;
        Ok(CollectFleet {
            fleet,
            captures,
            home,
            vault,
            inventory,
        })
    }

    /// A worker of `zone` with the vault, quick retries and `extra` flags.
    pub async fn worker(&mut self, zone: &str, id: &str, extra: &[&str]) -> Result<()> {
        self.worker_with_env(zone, id, extra, &[]).await
    }

    /// As [`CollectFleet::worker`], with more environment.
    pub async fn worker_with_env(
        &mut self,
        zone: &str,
        id: &str,
        extra: &[&str],
        envs: &[(String, String)],
    ) -> Result<()> {
        let v = self.vault.to_string_lossy().into_owned();
        let mut args = vec!["--vault", v.as_str(), "--retry-base-ms", "100"];
        args.extend_from_slice(extra);
        let mut env: Vec<(&str, &str)> = vec![("OUTPOST_VAULT_PASS", VAULT_PASS)];
        env.extend(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.fleet.worker_env(zone, id, &args, &env).await?;
        // Live once its presence is listed (what `run-job` checks).
        self.fleet
            .api
            .wait_workers(Duration::from_secs(30), |ws| {
                ws.iter().any(|w| w["worker_id"] == id)
            })
            .await?;
        Ok(())
    }

    /// Where `outpost run-job` writes captures for a job file without
    /// `storage.base_path`: VelocityCollector's `~/.vcollector/collections`.
    pub fn collections(&self) -> PathBuf {
        self.home.join(".vcollector/collections")
    }

    /// Runs `outpost` against this fleet's API, with [`CollectFleet::home`] as `HOME`.
    pub async fn outpost(&self, args: &[&str], stdin: &str) -> Result<(i32, String, String)> {
        self.outpost_in(None, args, stdin).await
    }

    /// As [`CollectFleet::outpost`], run in the directory `cwd` when given.
    pub async fn outpost_in(
        &self,
        cwd: Option<&Path>,
        args: &[&str],
        stdin: &str,
    ) -> Result<(i32, String, String)> {
        let home = self.home.to_string_lossy().into_owned();
        outpost_in(
            cwd,
            args,
            &[("OUTPOST_API", &self.fleet.api.base), ("HOME", &home)],
            stdin,
        )
        .await
    }
}
