//! Keeping a site's side of the layout while its link comes and goes: the
//! link is probed every second, the layout made once the site answers and
//! checked again now and then, and the sources on both sides restarted
//! when the link returns after a partition.

use super::{SiteConfig, layout};
use crate::config::ZoneConfig;

/// How often a site's layout is checked once it is in place.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a site's link is probed.
const PROBE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the site's JetStream answers through its leaf link now.
async fn reachable(client: &async_nats::Client, site: &str) -> bool {
    let js = async_nats::jetstream::with_domain(client.clone(), site);
    matches!(
        tokio::time::timeout(2 * PROBE, js.query_account()).await,
        Ok(Ok(_))
    )
}

/// Keeps `site`'s layout in place until `stop`: made as soon as the site's
/// leaf node answers (it may be cut off when the coordinator starts), then
/// checked again every [`RECHECK`] (a re-created leaf server starts
/// empty). The link is probed every [`PROBE`]; when it comes back after a
/// partition, the sources on both sides are restarted so the backlog moves
/// at once (see [`layout::resume_sources`]).
pub async fn keep_layout(
    client: async_nats::Client,
    cfg: crate::config::JetStreamConfig,
    site: SiteConfig,
    zones: Vec<ZoneConfig>,
    registry: std::sync::Arc<super::Registry>,
    stop: tokio_util::sync::CancellationToken,
) {
    let Some(hub) = cfg.domain.clone() else {
        return;
    };
    let mut ready = false;
    let mut up = true;
    let mut checked = tokio::time::Instant::now();
    loop {
        let now_up = reachable(&client, &site.name).await;
        if now_up && !up {
            tracing::info!(site = %site.name, "site link is back");
            if ready && let Err(e) = layout::resume_sources(&client, &hub, &site).await {
                tracing::warn!(site = %site.name, error = %e, "cannot restart the site's sources");
            }
        } else if !now_up && up {
            tracing::warn!(site = %site.name, "site link is down: the site's tasks wait at the hub, its events at the site");
        }
        if now_up != up || registry.get(&site.name).since.is_none() {
            registry.update(&site.name, |l| {
                l.up = now_up;
                l.since = Some(crate::model::now_rfc3339());
            });
        }
        up = now_up;
        if up && (!ready || checked.elapsed() >= RECHECK) {
            match layout::ensure_site(&client, &cfg, &hub, &site, &zones).await {
                Ok(()) => {
                    if !ready {
                        tracing::info!(site = %site.name, "site layout ready");
                        registry.update(&site.name, |l| l.layout_ready = true);
                    }
                    ready = true;
                    checked = tokio::time::Instant::now();
                }
                Err(e) => {
                    tracing::warn!(site = %site.name, error = %e, "site layout not made; trying again");
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PROBE) => {}
        }
    }
}
