//! Sites: places whose workers reach NATS through a leaf node of their
//! own, so that a site keeps working while its link to the hub is down.
//! A site's leaf node runs JetStream in its own domain (the site's name);
//! the coordinator keeps, in that domain, the streams and buckets the
//! site's workers use (see [`layout`]): tasks flow to the site by stream
//! sourcing from the hub, events and worker presence flow back the same
//! way, and both wait out a partition on their side of it.
//!
//! This module owns the `[[site]]` configuration and its checks.

mod keeper;
pub mod layout;
pub mod status;

pub use keeper::keep_layout;
pub use status::Registry;

use crate::config::ZoneConfig;
use serde::Deserialize;
use std::collections::HashSet;

/// One `[[site]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's name, which is also its leaf node's JetStream domain.
    pub name: String,
    /// The zones whose workers run at this site (each a `[[zone]]`).
    pub zones: Vec<String>,
}

/// The site of each zone that is at a site.
pub type Routes = std::collections::HashMap<String, String>;

/// The routes of `sites`: computed once from the configuration and shared
/// by dispatch, the pin buckets, the API and the max-deliveries watch.
pub fn routes(sites: &[SiteConfig]) -> Routes {
    sites
        .iter()
        .flat_map(|s| s.zones.iter().map(|z| (z.clone(), s.name.clone())))
        .collect()
}

/// The site a zone belongs to, if any.
pub fn site_of<'a>(sites: &'a [SiteConfig], zone: &str) -> Option<&'a SiteConfig> {
    sites.iter().find(|s| s.zones.iter().any(|z| z == zone))
}

/// Checks a site or domain name (`outpost_proto::layout::validate_site`).
fn validate_name(what: &str, name: &str) -> Result<(), String> {
    outpost_proto::layout::validate_site(name).map_err(|e| {
        format!("{what}: {e} (only a-z, 0-9, '_' and '-' are allowed, 1 to 32 characters)")
    })
}

/// Checks the sites against the zones and the hub's JetStream domain.
pub fn validate(
    sites: &[SiteConfig],
    zones: &[ZoneConfig],
    hub_domain: Option<&str>,
) -> Result<(), String> {
    if sites.is_empty() {
        if let Some(d) = hub_domain {
            validate_name("jetstream.domain", d)?;
        }
        return Ok(());
    }
    let Some(hub) = hub_domain else {
        return Err(
            "[[site]] needs jetstream.domain: the JetStream domain of the hub (its nats-server's jetstream.domain)"
                .into(),
        );
    };
    validate_name("jetstream.domain", hub)?;
    let known: HashSet<&str> = zones.iter().map(|z| z.name.as_str()).collect();
    let mut names = HashSet::new();
    let mut placed = HashSet::new();
    for site in sites {
        validate_name("site", &site.name)?;
        if site.name == hub {
            return Err(format!(
                "site {:?} has the hub's domain name: every site needs its own domain",
                site.name
            ));
        }
        if !names.insert(site.name.as_str()) {
            return Err(format!("site {:?} is declared twice", site.name));
        }
        if site.zones.is_empty() {
            return Err(format!("site {:?} has no zones", site.name));
        }
        for zone in &site.zones {
            if !known.contains(zone.as_str()) {
                return Err(format!(
                    "site {:?}: zone {zone:?} is not a [[zone]] of this configuration",
                    site.name
                ));
            }
            if !placed.insert(zone.as_str()) {
                return Err(format!(
                    "zone {zone:?} is placed in two sites (or twice in site {:?})",
                    site.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(names: &[&str]) -> Vec<ZoneConfig> {
        names.iter().map(|n| ZoneConfig::new(n, vec![])).collect()
    }

    fn site(name: &str, zones: &[&str]) -> SiteConfig {
        SiteConfig {
            name: name.into(),
            zones: zones.iter().map(|z| z.to_string()).collect(),
        }
    }

    #[test]
    fn sites_need_a_hub_domain_known_zones_and_zones_in_one_site() {
        let z = zones(&["a", "b", "c"]);
        assert!(validate(&[site("fra1", &["a", "b"])], &z, Some("hub")).is_ok());
        let e = validate(&[site("fra1", &["a"])], &z, None).unwrap_err();
        assert!(e.contains("jetstream.domain"), "{e}");
        let e = validate(&[site("fra1", &["x"])], &z, Some("hub")).unwrap_err();
        assert!(e.contains("\"x\" is not a [[zone]]"), "{e}");
        let e = validate(&[site("s1", &["a"]), site("s2", &["a"])], &z, Some("hub")).unwrap_err();
        assert!(e.contains("two sites"), "{e}");
        let e = validate(&[site("hub", &["a"])], &z, Some("hub")).unwrap_err();
        assert!(e.contains("hub's domain"), "{e}");
        let e = validate(&[site("s1", &["a"]), site("s1", &["b"])], &z, Some("hub")).unwrap_err();
        assert!(e.contains("declared twice"), "{e}");
        let e = validate(&[site("Fra.1", &["a"])], &z, Some("hub")).unwrap_err();
        assert!(e.contains("only a-z"), "{e}");
        let e = validate(&[site("s1", &[])], &z, Some("hub")).unwrap_err();
        assert!(e.contains("no zones"), "{e}");
        assert_eq!(
            site_of(&[site("s1", &["b"])], "b").map(|s| s.name.as_str()),
            Some("s1")
        );
        assert!(site_of(&[site("s1", &["b"])], "a").is_none());
    }
}
