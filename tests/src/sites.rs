//! Sites for one test: a hub `nats-server` (JetStream domain `hub`, a
//! leaf node port) and one leaf `nats-server` per site (JetStream in the
//! site's own domain), each joined to the hub through a [`Link`] that the
//! test can cut and restore. Plain servers on loopback: what is tested is
//! what a WAN partition does to the flow of tasks and events.

use crate::nats::{NatsServer, free_port};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The hub's JetStream domain.
pub const HUB_DOMAIN: &str = "hub";

/// Subjects a site's leaf node keeps to itself in both directions (see
/// `outpost_coordinator::sites::layout`).
pub const LEAF_DENY: [&str; 4] = ["outpost.event.>", "$KV.>", "$O.>", "$JS.EVENT.>"];

/// A TCP link between a site and the hub that can be partitioned the way
/// a WAN link fails: bytes stop flowing both ways, silently, and the
/// connections stay open; after [`Link::heal`] the connections that lived
/// through the partition are closed (their streams lost bytes) and new
/// ones flow again.
pub struct Link {
    pub port: u16,
    state: Arc<watch::Sender<(bool, u64)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Listens on a free loopback port, forwarding to `target`.
    pub async fn start(target: u16) -> Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, _) = watch::channel((false, 0u64));
        let state = Arc::new(tx);
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let rx = st.subscribe();
                tokio::spawn(carry(inbound, target, rx));
            }
        });
        Ok(Link { port, state, task })
    }

    /// Cuts the link: nothing crosses until [`Link::heal`].
    pub fn partition(&self) {
        self.state.send_modify(|(cut, gen_)| {
            *cut = true;
            *gen_ += 1;
        });
    }

    /// Restores the link.
    pub fn heal(&self) {
        self.state.send_modify(|(cut, gen_)| {
            *cut = false;
            *gen_ += 1;
        });
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries one connection until either side closes, dropping what is
/// sent while the link is cut and closing once the link changed under it.
async fn carry(inbound: TcpStream, target: u16, rx: watch::Receiver<(bool, u64)>) {
    let born = rx.borrow().1;
    let outbound = if rx.borrow().0 {
        None
    } else {
        TcpStream::connect(("127.0.0.1", target)).await.ok()
    };
    let Some(outbound) = outbound else {
        // Accepted while cut: hold it silently until the link heals.
        let (mut r, _w) = inbound.into_split();
        let mut rx = rx;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                n = r.read(&mut buf) => if !matches!(n, Ok(k) if k > 0) { return },
                changed = rx.changed() => if changed.is_err() || !rx.borrow().0 { return },
            }
        }
    };
    let (ri, wi) = inbound.into_split();
    let (ro, wo) = outbound.into_split();
    tokio::select! {
        _ = pump(ri, wo, rx.clone(), born) => {}
        _ = pump(ro, wi, rx, born) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rx: watch::Receiver<(bool, u64)>,
    born: u64,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = from.read(&mut buf) => {
                let n = match n {
                    Ok(n) if n > 0 => n,
                    _ => return,
                };
                let (cut, gen_) = *rx.borrow();
                if cut {
                    continue;
                }
                if gen_ != born {
                    return;
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let (cut, gen_) = *rx.borrow();
                if !cut && gen_ != born {
                    return;
                }
            }
        }
    }
}

/// One site: its leaf server and its link to the hub.
pub struct Site {
    pub name: String,
    pub zones: Vec<String>,
    pub leaf: NatsServer,
    pub link: Link,
}

/// The hub and its sites.
pub struct Sites {
    pub hub: NatsServer,
    pub sites: Vec<Site>,
    _confs: tempfile::TempDir,
}

impl Sites {
    /// Starts the hub and one leaf per `(site, zones)`, and waits until
    /// each leaf is joined to the hub.
    pub async fn start(sites: &[(&str, &[&str])]) -> Result<Sites> {
        let confs = tempfile::tempdir()?;
        let leaf_port = free_port()?;
        let hub_conf = confs.path().join("hub.conf");
        std::fs::write(
            &hub_conf,
            format!(
                "server_name: \"hub\"\njetstream {{ domain: \"{HUB_DOMAIN}\" }}\nleafnodes {{ listen: \"127.0.0.1:{leaf_port}\" }}\n"
            ),
        )?;
        let mut hub = NatsServer::plain_node(
            free_port()?,
            vec!["-c".into(), hub_conf.display().to_string()],
        )?;
        hub.launch()?;
        hub.wait_ready(Duration::from_secs(60)).await?;
        let deny = LEAF_DENY
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = Vec::new();
        for (name, zones) in sites {
            let link = Link::start(leaf_port).await?;
            let conf = confs.path().join(format!("{name}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: \"leaf-{name}\"\njetstream {{ domain: \"{name}\" }}\nleafnodes {{\n  reconnect: \"1s\"\n  remotes: [ {{ url: \"nats://127.0.0.1:{}\", deny_exports: [{deny}], deny_imports: [{deny}] }} ]\n}}\n",
                    link.port
                ),
            )?;
            let mut leaf = NatsServer::plain_node(
                free_port()?,
                vec!["-c".into(), conf.display().to_string()],
            )?;
            leaf.launch()?;
            leaf.wait_ready(Duration::from_secs(60)).await?;
            out.push(Site {
                name: name.to_string(),
                zones: zones.iter().map(|z| z.to_string()).collect(),
                leaf,
                link,
            });
        }
        let s = Sites {
            hub,
            sites: out,
            _confs: confs,
        };
        for site in &s.sites {
            s.wait_joined(&site.name).await?;
        }
        Ok(s)
    }

    /// Waits until the hub reaches `site`'s JetStream through its leaf.
    pub async fn wait_joined(&self, site: &str) -> Result<()> {
        let client = self.hub.client().await?;
        crate::wait_until(
            &format!("site {site} joined to the hub"),
            Duration::from_secs(60),
            async || {
                let js = async_nats::jetstream::with_domain(client.clone(), site);
                js.query_account()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        )
        .await
        .context("the site's leaf node did not join")
    }

    /// The `[[site]]` tables and `jetstream.domain` for the coordinator.
    pub fn config_toml(&self) -> String {
        let mut s = format!(
            "nats_url = {:?}\n[nats]\ninsecure = true\n[jetstream]\ndomain = \"{HUB_DOMAIN}\"\n",
            self.hub.url()
        );
        for site in &self.sites {
            s.push_str(&format!(
                "[[site]]\nname = \"{}\"\nzones = [{}]\n",
                site.name,
                site.zones
                    .iter()
                    .map(|z| format!("\"{z}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s
    }

    /// The site named `name`.
    pub fn site(&self, name: &str) -> &Site {
        self.sites
            .iter()
            .find(|s| s.name == name)
            .expect("a site of this test")
    }
}
