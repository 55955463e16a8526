//! A PostgreSQL database per test, loaded with the fixture schema of the
//! Dell Server Manager app (tests/fixtures/dsm_schema.sql). The server is
//! `OUTPOST_PG_URL` (default `host=127.0.0.1 port=5432 user=postgres`).

use anyhow::{Context, Result};
use tokio_postgres::{Client, NoTls};

pub const FIXTURE: &str = include_str!("../fixtures/dsm_schema.sql");

pub fn server_url() -> String {
    std::env::var("OUTPOST_PG_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

async fn connect(url: &str) -> Result<Client> {
    let (c, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .context("PostgreSQL reachable (set OUTPOST_PG_URL)")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(c)
}

/// A fresh database with the app's schema; dropped by [`TestDb::drop_db`].
pub struct TestDb {
    pub name: String,
    /// Key/value connection string of the database.
    pub url: String,
}

impl TestDb {
    pub async fn new() -> Result<TestDb> {
        let name = format!("outpost_dsm_{}", uuid::Uuid::now_v7().simple());
        let admin = connect(&format!("{} dbname=postgres", server_url())).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = format!("{} dbname={name}", server_url());
        connect(&url)
            .await?
            .batch_execute(FIXTURE)
            .await
            .context("loading the fixture schema")?;
        Ok(TestDb { name, url })
    }

    pub async fn client(&self) -> Result<Client> {
        connect(&self.url).await
    }

    pub async fn drop_db(self) {
        if let Ok(admin) = connect(&format!("{} dbname=postgres", server_url())).await {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}
