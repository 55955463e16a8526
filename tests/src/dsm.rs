//! The Dell Server Manager bridge's test rig: a coordinator with `[dsm]`
//! pointing at a test database (the app's fixture schema, the trigger
//! installed with `outpost dsm install`), a worker in the iDRACs' zone,
//! simulated iDRACs, the app's settings, a credential set and a server
//! row per iDRAC; and helpers that insert jobs the way the app does and
//! read back what its UI reads.

use crate::collect::{CollectFleet, Cred, outpost};
use crate::fleet::SETTLE;
use crate::pg::TestDb;
use anyhow::Result;
use outpost_sim::redfish::RedfishSim;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use uuid::Uuid;

/// The app's encryption key (base64, as the app generates it).
pub const APP_KEY: &str = "YXBwLWtleS0x";

pub const PASS: &str = "calvin-dsm-bridge";

pub struct Rig {
    pub f: CollectFleet,
    pub sim: RedfishSim,
    pub db: TestDb,
    pub c: Client,
    pub servers: Vec<Uuid>,
    _dir: tempfile::TempDir,
}

pub async fn rig(net: u8, poll_ms: u64) -> Result<Rig> {
    rig_with(net, poll_ms, false).await
}

/// `sealed`: zone `alpha` has a key pair and its worker's vault does not
/// hold the app's credential, so only a sealed one can log in.
pub async fn rig_with(net: u8, poll_ms: u64, sealed: bool) -> Result<Rig> {
    let dir = tempfile::tempdir()?;
    let db = TestDb::new().await?;
    let (code, out, err) = outpost(&["dsm", "install", "--database-url", &db.url], &[], "").await?;
    anyhow::ensure!(code == 0, "dsm install: {out}{err}");
    let c = db.client().await?;
    let ips: Vec<String> = (1..=2).map(|i| format!("127.1.{net}.{i}")).collect();
    let sim = crate::idracs::start(&ips, "root", PASS, 701, 0.005).await?;
    let port = sim.addrs()[0].port();
    // The app's data: a credential set, its servers.
    c.execute(
        "INSERT INTO public.activity_settings (encryption_key) VALUES ($1)",
        &[&APP_KEY],
    )
    .await?;
    c.execute(
        "INSERT INTO public.credential_sets (name, username, password_encrypted, credential_type, is_default)
         VALUES ('idrac-prod', 'root', public.encrypt_password($1, $2), 'idrac', true)",
        &[&PASS, &APP_KEY],
    )
    .await?;
    let mut servers = Vec::new();
    for a in sim.addrs() {
        let row = c
            .query_one(
                "INSERT INTO public.servers (ip_address) VALUES ($1) RETURNING id",
                &[&a.ip().to_string()],
            )
            .await?;
        servers.push(row.get(0));
    }
    let dsm = format!(
        "[dsm]\ndatabase_url = \"{}\"\nexecutor_id = \"outpost-test\"\npoll_ms = {poll_ms}\nheartbeat_s = 1\nidrac_port = {port}\n",
        db.url
    );
    let key_file = dir.path().join("alpha.key");
    let zones = if sealed {
        let (code, out, err) = outpost(
            &["zone-key", "generate", "--out", &key_file.to_string_lossy()],
            &[],
            "",
        )
        .await?;
        anyhow::ensure!(code == 0, "zone-key generate: {out}{err}");
        format!(
            "{dsm}[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\n{}",
            out.trim()
        )
    } else {
        format!("{dsm}{}", crate::fleet::TWO_ZONES)
    };
    let creds = if sealed {
        [Cred {
            name: "decoy",
            username: "nobody",
            password: "not-the-idrac-password",
            enable_secret: None,
            default: true,
        }]
    } else {
        [Cred {
            name: "idrac-prod",
            username: "root",
            password: PASS,
            enable_secret: None,
            default: true,
        }]
    };
    let mut f = CollectFleet::start_with_zones(dir.path(), &creds, &[], &zones).await?;
    let key_arg = key_file.to_string_lossy().into_owned();
    let extra: Vec<&str> = if sealed {
        vec!["--zone-key-file", &key_arg]
    } else {
        vec![]
    };
    f.worker("alpha", "alpha-1", &extra).await?;
    Ok(Rig {
        f,
        sim,
        db,
        c,
        servers,
        _dir: dir,
    })
}

impl Rig {
    pub async fn insert(&self, job_type: &str, scope: Value, details: Value) -> Result<Uuid> {
        let row = self
            .c
            .query_one(
                "INSERT INTO public.jobs (job_type, target_scope, details)
                 VALUES ($1::text::public.job_type, $2, $3) RETURNING id",
                &[&job_type, &scope, &details],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn job(&self, id: Uuid) -> Result<(String, Value)> {
        let r = self
            .c
            .query_one(
                "SELECT status::text, coalesce(details, '{}') FROM public.jobs WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok((r.get(0), r.get(1)))
    }

    pub async fn wait_status(&self, id: Uuid, want: &[&str]) -> Result<(String, Value)> {
        let until = Instant::now() + SETTLE;
        loop {
            let (s, d) = self.job(id).await?;
            if want.contains(&s.as_str()) {
                return Ok((s, d));
            }
            anyhow::ensure!(Instant::now() < until, "job {id} stayed {s}: {d:#}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// (status, progress, log, started, completed) of each row of a job.
    pub async fn rows(&self, id: Uuid) -> Result<Vec<(String, i32, String, bool, bool)>> {
        Ok(self
            .c
            .query(
                "SELECT status::text, progress, coalesce(log, ''), started_at IS NOT NULL,
                        completed_at IS NOT NULL
                   FROM public.job_tasks WHERE job_id = $1 ORDER BY created_at",
                &[&id],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }
}
