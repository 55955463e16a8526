//! What the coordinator knows of each site's link, for `GET /api/v1/sites`
//! and `outpost site list`: whether the site's JetStream answers through
//! its leaf link (probed every second by the keeper), since when, and how
//! far each side's sources lag (asked when the list is read).

use super::SiteConfig;
use async_nats::jetstream;
use outpost_proto::layout;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// One site's link as last probed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Link {
    /// The site's JetStream answered the last probe.
    pub up: bool,
    /// When the link last changed (RFC 3339), if it did since start-up.
    pub since: Option<String>,
    /// The coordinator has made the site's streams and consumers.
    pub layout_ready: bool,
}

/// Every configured site's link.
#[derive(Debug, Default)]
pub struct Registry {
    links: RwLock<BTreeMap<String, Link>>,
}

impl Registry {
    pub fn new(sites: &[SiteConfig]) -> Registry {
        Registry {
            links: RwLock::new(
                sites
                    .iter()
                    .map(|s| (s.name.clone(), Link::default()))
                    .collect(),
            ),
        }
    }

    pub(super) fn update(&self, site: &str, change: impl FnOnce(&mut Link)) {
        let mut links = self.links.write().unwrap_or_else(|p| p.into_inner());
        change(links.entry(site.to_string()).or_default());
    }

    pub fn get(&self, site: &str) -> Link {
        let links = self.links.read().unwrap_or_else(|p| p.into_inner());
        links.get(site).cloned().unwrap_or_default()
    }
}

/// What the API needs to list sites.
#[derive(Debug, Default)]
pub struct Sites {
    pub config: Vec<SiteConfig>,
    pub hub_domain: Option<String>,
    pub registry: std::sync::Arc<Registry>,
    pub routes: std::sync::Arc<super::Routes>,
}

/// One row of `GET /api/v1/sites`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub name: String,
    pub zones: Vec<String>,
    #[serde(flatten)]
    pub link: Link,
    /// Events (and results) stored at the site, not yet at the hub.
    pub events_behind: Option<u64>,
    /// Tasks stored at the hub for the site, not yet at the site (known
    /// only while the link is up).
    pub tasks_behind: Option<u64>,
}

/// `stream`'s info as the server sends it (the client's own type drops
/// the sources' `external`, which tells apart the sources of one name).
async fn stream_info(js: &jetstream::Context, stream: &str) -> Option<serde_json::Value> {
    js.request(format!("STREAM.INFO.{stream}"), &serde_json::json!({}))
        .await
        .ok()
}

/// The lag of the source whose API prefix is `api`, in a stream's info.
fn source_lag(info: &serde_json::Value, api: &str) -> Option<u64> {
    info["sources"]
        .as_array()?
        .iter()
        .find(|s| s["external"]["api"].as_str() == Some(api))
        .and_then(|s| s["lag"].as_u64())
}

/// Every site with its link and lags.
pub async fn views(
    client: &async_nats::Client,
    hub_domain: Option<&str>,
    sites: &[SiteConfig],
    registry: &Registry,
) -> Vec<SiteView> {
    let hub = jetstream::new(client.clone());
    // One read of the hub's events stream serves every site.
    let events = stream_info(&hub, layout::EVENTS_STREAM).await;
    let mut out = Vec::new();
    for site in sites {
        let link = registry.get(&site.name);
        let events_behind = events
            .as_ref()
            .and_then(|i| source_lag(i, &format!("$JS.{}.API", site.name)));
        let tasks_behind = match (link.up, hub_domain) {
            (true, Some(d)) => {
                let js = jetstream::with_domain(client.clone(), &site.name);
                let ask = stream_info(&js, layout::TASKS_STREAM);
                tokio::time::timeout(std::time::Duration::from_secs(2), ask)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|i| source_lag(&i, &format!("$JS.{d}.API")))
            }
            _ => None,
        };
        out.push(SiteView {
            name: site.name.clone(),
            zones: site.zones.clone(),
            link,
            events_behind,
            tasks_behind,
        });
    }
    out
}
