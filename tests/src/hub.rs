//! A clustered hub for one test: `n` plain `nats-server -js` nodes on
//! loopback, routed to each other as cluster `hub`, each with its own
//! store, any of which can be killed and started again. Plain (no TLS, no
//! identities): what is tested here is replication and fail-over, which
//! the secure single server's tests do not change.

use crate::nats::{NatsServer, free_port};
use anyhow::{Context, Result};
use async_nats::jetstream;
use std::time::Duration;

pub struct Hub {
    pub nodes: Vec<NatsServer>,
}

/// The name of node `i` (its `server_name`).
pub fn node_name(i: usize) -> String {
    format!("hub-{i}")
}

impl Hub {
    /// Starts `n` nodes and waits until JetStream answers on each (a meta
    /// leader elected) and a stream of `n` replicas can be placed: every
    /// node joined. A cluster whose node exits at start (a port found
    /// free and taken by another process before the node bound it) or
    /// that does not form within its deadline is started again on new
    /// ports, at most three times.
    pub async fn start(n: usize) -> Result<Hub> {
        let mut last = None;
        for _ in 0..3 {
            let hub = match Self::start_once(n).await {
                Ok(hub) => hub,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match hub.placement_probe(n, Duration::from_secs(30)).await {
                Ok(()) => return Ok(hub),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the hub did not form")))
    }

    /// Creates and deletes a memory stream of `n` replicas until it works
    /// or `within` passes.
    async fn placement_probe(&self, n: usize, within: Duration) -> Result<()> {
        let js = jetstream::new(self.client().await?);
        let until = tokio::time::Instant::now() + within;
        loop {
            let made = js
                .create_stream(jetstream::stream::Config {
                    name: "HUB_PROBE".into(),
                    subjects: vec!["hub.probe".into()],
                    num_replicas: n,
                    storage: jetstream::stream::StorageType::Memory,
                    ..Default::default()
                })
                .await;
            match made {
                Ok(_) => {
                    js.delete_stream("HUB_PROBE").await?;
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() > until => {
                    anyhow::bail!("no stream of {n} replicas can be placed: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn start_once(n: usize) -> Result<Hub> {
        let ports: Vec<(u16, u16)> = (0..n)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_>>()?;
        let routes = ports
            .iter()
            .map(|(_, r)| format!("nats://127.0.0.1:{r}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::with_capacity(n);
        for (i, (port, route)) in ports.iter().enumerate() {
            let extra = vec![
                "--server_name".to_string(),
                node_name(i),
                "--cluster_name".to_string(),
                "hub".to_string(),
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{route}"),
                "--routes".to_string(),
                routes.clone(),
            ];
            let mut node = NatsServer::plain_node(*port, extra)?;
            node.launch()?;
            nodes.push(node);
        }
        for node in &mut nodes {
            node.wait_ready(Duration::from_secs(90)).await?;
        }
        Ok(Hub { nodes })
    }

    /// Every node's URL, comma-separated, as clients are given them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client that may use any live node.
    pub async fn client(&self) -> Result<async_nats::Client> {
        let security = outpost_nats::connect::ClientSecurity {
            insecure: true,
            ..Default::default()
        };
        outpost_nats::connect::connect(&self.urls(), &security, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The index of the node leading stream `name`, and how many replicas
    /// it has (leader included).
    pub async fn stream_placement(&self, name: &str) -> Result<(usize, usize)> {
        let js = jetstream::new(self.client().await?);
        let mut s = js.get_stream(name).await?;
        let info = s.info().await?;
        let cluster = info.cluster.clone().context("stream has no cluster info")?;
        let leader = cluster.leader.context("stream has no leader")?;
        let i = (0..self.nodes.len())
            .find(|i| node_name(*i) == leader)
            .with_context(|| format!("leader {leader} is not a hub node"))?;
        Ok((i, cluster.replicas.len() + 1))
    }

    /// Waits until stream `name` has a leader and `replicas` copies (a
    /// change of replicas elects and catches up in the background);
    /// returns the leader's index.
    pub async fn wait_placement(&self, name: &str, replicas: usize) -> Result<usize> {
        crate::wait_until(
            &format!("{name} led, with {replicas} replicas"),
            Duration::from_secs(60),
            async || match self.stream_placement(name).await {
                Ok((leader, n)) if n == replicas => Ok(leader),
                Ok((_, n)) => Err(format!("{n} replicas")),
                Err(e) => Err(format!("{e:#}")),
            },
        )
        .await
    }
}
