//! The JetStream layout of sites, kept by the coordinator on both sides of
//! each site's leaf link:
//!
//! - **Tasks** of a site's zones are published on the hub to
//!   `outpost.site.<site>.task.<zone>.<kind>` and kept there in the site's
//!   stream `OUTPOST_SITE_<site>` (limits retention, as long as events).
//!   The site's own `OUTPOST_TASKS` (limits retention, in the site's
//!   domain) sources it, mapping the subjects back to `outpost.task.<zone>.<kind>`,
//!   and the zones' consumers live there. A source resumes after the last
//!   message it stored, so a partition delays tasks and loses none (a work
//!   queue on the hub could not be sourced without loss: nats-server 2.10
//!   sources with unacknowledged consumers).
//! - **Events** go to the site's `OUTPOST_EVENTS` (its zones' subjects);
//!   the hub's `OUTPOST_EVENTS` sources every site's.
//! - **Worker presence** and **SSH captures** are written at the site and
//!   sourced by the hub's bucket and stores of the same names.
//! - **Cancel records** and **firmware images** are written on the hub and
//!   sourced by the site (its zones' keys only).
//! - **Leases, host keys, checkpoints and pins** are the site's own.
//!
//! - **Max-deliveries advisories** are kept at the site and sourced by the
//!   hub's `OUTPOST_ADVISORIES`.
//!
//! The site's leaf node must not forward `outpost.event.>`, `$KV.>`, `$O.>`
//! and `$JS.EVENT.>` in either direction (`deny_exports` and `deny_imports` of its
//! remote): the same buckets exist on both sides, and only sourcing may
//! carry their messages across.

use super::SiteConfig;
use crate::bus::{
    Bus, BusError, ensure_kv, ensure_object_store, layout_err, storage, zone_consumer_config,
};
use crate::config::{JetStreamConfig, ZoneConfig};
use async_nats::jetstream::{self, stream};
use outpost_proto::layout;
use std::time::Duration;

/// How long sourced or de-duplicated task and event ids are remembered.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

fn external(domain: &str) -> Option<stream::External> {
    Some(stream::External {
        api_prefix: format!("$JS.{domain}.API"),
        delivery_prefix: None,
    })
}

/// A source of stream `name` in `domain`, keeping the subjects `filters`
/// as they are (none: all).
fn source(name: &str, domain: &str, filters: &[String]) -> stream::Source {
    stream::Source {
        name: name.to_string(),
        external: external(domain),
        subject_transforms: filters
            .iter()
            .map(|f| stream::SubjectTransform {
                source: f.clone(),
                destination: f.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Creates stream `config.name` or, when it exists with other sources or
/// subjects, updates those.
async fn ensure_stream(js: &jetstream::Context, config: stream::Config) -> Result<(), BusError> {
    let name = config.name.clone();
    match js.get_stream(&name).await {
        Ok(mut existing) => {
            let info = existing
                .info()
                .await
                .map_err(|e| layout_err(&name, e))?
                .config
                .clone();
            if !same_sources(&info.sources, &config.sources) || info.subjects != config.subjects {
                let mut updated = info;
                updated.sources = config.sources;
                updated.subjects = config.subjects;
                js.update_stream(updated)
                    .await
                    .map_err(|e| layout_err(&name, e))?;
            }
            Ok(())
        }
        Err(_) => js
            .create_stream(config)
            .await
            .map(|_| ())
            .map_err(|e| layout_err(&name, e)),
    }
}

/// What a source is made of here (the server fills in other fields).
fn source_key(s: &stream::Source) -> (String, Option<String>, Vec<(String, String)>) {
    (
        s.name.clone(),
        s.external.as_ref().map(|e| e.api_prefix.clone()),
        s.subject_transforms
            .iter()
            .map(|t| (t.source.clone(), t.destination.clone()))
            .collect(),
    )
}

fn same_sources(a: &Option<Vec<stream::Source>>, b: &Option<Vec<stream::Source>>) -> bool {
    let keys = |x: &Option<Vec<stream::Source>>| {
        let mut k: Vec<_> = x.iter().flatten().map(source_key).collect();
        k.sort();
        k
    };
    keys(a) == keys(b)
}

/// Adds `wanted` to the sources of hub stream `name` (sources of sites no
/// longer configured are left: their data stays readable).
async fn add_sources(
    js: &jetstream::Context,
    name: &str,
    wanted: Vec<stream::Source>,
) -> Result<(), BusError> {
    let mut stream = js.get_stream(name).await.map_err(|e| layout_err(name, e))?;
    let mut config = stream
        .info()
        .await
        .map_err(|e| layout_err(name, e))?
        .config
        .clone();
    let mut sources = config.sources.clone().unwrap_or_default();
    let mut changed = false;
    for w in wanted {
        let same = |s: &stream::Source| {
            s.name == w.name
                && s.external.as_ref().map(|e| &e.api_prefix)
                    == w.external.as_ref().map(|e| &e.api_prefix)
        };
        match sources.iter_mut().find(|s| same(s)) {
            Some(s) if source_key(s) == source_key(&w) => {}
            Some(s) => {
                *s = w;
                changed = true;
            }
            None => {
                sources.push(w);
                changed = true;
            }
        }
    }
    if changed {
        config.sources = Some(sources);
        js.update_stream(config)
            .await
            .map_err(|e| layout_err(name, e))?;
    }
    Ok(())
}

/// The hub's side: each site's task stream, and the sources that bring
/// the sites' events, presence and captures back. (The hub's consumers of
/// site zones stay idle: their tasks never reach the hub's tasks stream.)
pub async fn ensure_hub(
    bus: &Bus,
    cfg: &JetStreamConfig,
    sites: &[SiteConfig],
) -> Result<(), BusError> {
    if sites.is_empty() {
        return Ok(());
    }
    let js = &bus.js;
    let keep = Duration::from_secs(cfg.events_max_age_hours * 3600);
    for site in sites {
        let name = layout::site_tasks_stream(&site.name);
        ensure_stream(
            js,
            stream::Config {
                name: name.clone(),
                subjects: vec![layout::site_tasks_wildcard(&site.name)],
                retention: stream::RetentionPolicy::Limits,
                max_age: keep,
                storage: storage(cfg),
                num_replicas: cfg.replicas,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            },
        )
        .await?;
        crate::bus::ensure_replicas(js, &name, cfg.replicas).await?;
        for zone in &site.zones {
            let captures = layout::captures_store(zone).map_err(|e| layout_err(zone, e))?;
            let captures_stream = layout::object_stream(&captures);
            add_sources(
                js,
                &captures_stream,
                vec![source(&captures_stream, &site.name, &[])],
            )
            .await?;
        }
    }
    add_sources(
        js,
        layout::EVENTS_STREAM,
        sites
            .iter()
            .map(|s| source(layout::EVENTS_STREAM, &s.name, &[]))
            .collect(),
    )
    .await?;
    crate::engine::gave_up::ensure_stream(js, cfg)
        .await
        .map_err(|e| layout_err(crate::engine::gave_up::ADVISORIES_STREAM, e))?;
    add_sources(
        js,
        crate::engine::gave_up::ADVISORIES_STREAM,
        sites
            .iter()
            .map(|s| source(crate::engine::gave_up::ADVISORIES_STREAM, &s.name, &[]))
            .collect(),
    )
    .await?;
    let workers = layout::kv_stream(layout::WORKERS_BUCKET);
    add_sources(
        js,
        &workers,
        sites
            .iter()
            .map(|s| source(&workers, &s.name, &[]))
            .collect(),
    )
    .await
}

/// The site's side, in its own domain (reached through its leaf node):
/// its tasks stream sourcing the hub's, its events stream, its buckets,
/// its captures and firmware stores, and its zones' consumers.
pub async fn ensure_site(
    client: &async_nats::Client,
    cfg: &JetStreamConfig,
    hub_domain: &str,
    site: &SiteConfig,
    zones: &[ZoneConfig],
) -> Result<(), BusError> {
    let js = jetstream::with_domain(client.clone(), &site.name);
    // A site is one leaf server: one copy of everything.
    let local = JetStreamConfig {
        replicas: 1,
        ..cfg.clone()
    };
    let keep = Duration::from_secs(cfg.events_max_age_hours * 3600);
    let zones: Vec<&ZoneConfig> = zones
        .iter()
        .filter(|z| site.zones.contains(&z.name))
        .collect();

    let mut tasks_source = source(&layout::site_tasks_stream(&site.name), hub_domain, &[]);
    tasks_source.subject_transforms = vec![stream::SubjectTransform {
        source: layout::site_tasks_wildcard(&site.name),
        destination: layout::TASKS_WILDCARD.to_string(),
    }];
    ensure_stream(
        &js,
        stream::Config {
            name: layout::TASKS_STREAM.to_string(),
            subjects: Vec::new(),
            // Limits, not a work queue: a source (re)started finds where it
            // stopped by the last message it stored, which a work queue
            // would have deleted once acked.
            retention: stream::RetentionPolicy::Limits,
            max_age: keep,
            storage: storage(&local),
            duplicate_window: DUPLICATE_WINDOW,
            sources: Some(vec![tasks_source]),
            ..Default::default()
        },
    )
    .await?;
    ensure_stream(
        &js,
        stream::Config {
            name: layout::EVENTS_STREAM.to_string(),
            subjects: zones
                .iter()
                .map(|z| format!("outpost.event.{}.*", z.name))
                .collect(),
            retention: stream::RetentionPolicy::Limits,
            max_age: keep,
            storage: storage(&local),
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        },
    )
    .await?;
    ensure_kv(
        &js,
        layout::LEASES_BUCKET,
        Duration::from_secs(cfg.lease_ttl_secs),
        &local,
    )
    .await?;
    ensure_kv(
        &js,
        layout::WORKERS_BUCKET,
        Duration::from_secs(cfg.presence_ttl_secs),
        &local,
    )
    .await?;
    ensure_kv(&js, layout::HOSTKEYS_BUCKET, Duration::ZERO, &local).await?;
    ensure_kv(&js, layout::PINS_BUCKET, Duration::ZERO, &local).await?;
    ensure_kv(&js, layout::CHECKPOINTS_BUCKET, keep, &local).await?;
    // Read-only copies of the hub's: no subjects of their own, so nothing
    // but the source writes them.
    let cancels = layout::kv_stream(layout::CANCELS_BUCKET);
    ensure_stream(
        &js,
        stream::Config {
            name: cancels.clone(),
            subjects: Vec::new(),
            max_messages_per_subject: 1,
            max_age: keep,
            allow_direct: true,
            allow_rollup: true,
            deny_delete: true,
            discard: stream::DiscardPolicy::New,
            storage: storage(&local),
            sources: Some(vec![source(
                &cancels,
                hub_domain,
                &zones
                    .iter()
                    .map(|z| format!("$KV.{}.{}.>", layout::CANCELS_BUCKET, z.name))
                    .collect::<Vec<_>>(),
            )]),
            ..Default::default()
        },
    )
    .await?;
    let firmware = layout::object_stream(layout::FIRMWARE_STORE);
    ensure_stream(
        &js,
        stream::Config {
            name: firmware.clone(),
            subjects: Vec::new(),
            allow_direct: true,
            allow_rollup: true,
            discard: stream::DiscardPolicy::New,
            storage: storage(&local),
            sources: Some(vec![source(&firmware, hub_domain, &[])]),
            ..Default::default()
        },
    )
    .await?;
    crate::engine::gave_up::ensure_stream(&js, &local)
        .await
        .map_err(|e| layout_err(crate::engine::gave_up::ADVISORIES_STREAM, e))?;
    let tasks = js
        .get_stream(layout::TASKS_STREAM)
        .await
        .map_err(|e| layout_err(layout::TASKS_STREAM, e))?;
    for zone in zones {
        let captures = layout::captures_store(&zone.name).map_err(|e| layout_err(&zone.name, e))?;
        ensure_object_store(&js, &captures, keep, &local).await?;
        for kind in outpost_kinds::Kind::ALL {
            let config = zone_consumer_config(zone, kind.as_str(), cfg)?;
            let name = config.durable_name.clone().unwrap_or_default();
            tasks
                .create_consumer(config)
                .await
                .map_err(|e| layout_err(&format!("consumer {name} at site {}", site.name), e))?;
        }
    }
    Ok(())
}

/// Re-starts the sources of stream `name` whose API prefix is `api`, by
/// taking them out and putting them back. JetStream retries a source that
/// failed with a growing back-off (tens of seconds after a long
/// partition); this makes it resume at once. A source put back starts
/// after the last message the stream holds from it, so nothing is lost or
/// copied twice.
async fn restart_sources(js: &jetstream::Context, name: &str, api: &str) -> Result<(), BusError> {
    let mut stream = js.get_stream(name).await.map_err(|e| layout_err(name, e))?;
    let config = stream
        .info()
        .await
        .map_err(|e| layout_err(name, e))?
        .config
        .clone();
    let sources = config.sources.clone().unwrap_or_default();
    let (matching, rest): (Vec<_>, Vec<_>) = sources
        .into_iter()
        .partition(|s| s.external.as_ref().is_some_and(|e| e.api_prefix == api));
    if matching.is_empty() {
        return Ok(());
    }
    let mut without = config.clone();
    without.sources = Some(rest);
    js.update_stream(without)
        .await
        .map_err(|e| layout_err(name, e))?;
    js.update_stream(config)
        .await
        .map_err(|e| layout_err(name, e))?;
    Ok(())
}

/// After `site`'s link came back: restarts the hub's sources of the site
/// and the site's sources of the hub, so the backlog on both sides moves
/// at once.
pub async fn resume_sources(
    client: &async_nats::Client,
    hub_domain: &str,
    site: &SiteConfig,
) -> Result<(), BusError> {
    let hub = jetstream::new(client.clone());
    let site_api = format!("$JS.{}.API", site.name);
    restart_sources(&hub, layout::EVENTS_STREAM, &site_api).await?;
    restart_sources(&hub, &layout::kv_stream(layout::WORKERS_BUCKET), &site_api).await?;
    restart_sources(&hub, crate::engine::gave_up::ADVISORIES_STREAM, &site_api).await?;
    for zone in &site.zones {
        let captures = layout::captures_store(zone).map_err(|e| layout_err(zone, e))?;
        restart_sources(&hub, &layout::object_stream(&captures), &site_api).await?;
    }
    let js = jetstream::with_domain(client.clone(), &site.name);
    let hub_api = format!("$JS.{hub_domain}.API");
    restart_sources(&js, layout::TASKS_STREAM, &hub_api).await?;
    restart_sources(&js, &layout::kv_stream(layout::CANCELS_BUCKET), &hub_api).await?;
    restart_sources(
        &js,
        &layout::object_stream(layout::FIRMWARE_STORE),
        &hub_api,
    )
    .await
}
