//! Which `outpost_pins` bucket holds a zone's pinned certificates: the
//! hub's for a zone whose workers connect to the hub, the site's own
//! (reached through its JetStream domain) for a zone at a site, where its
//! workers pin and check them (see `crate::sites::layout`).

use crate::sites::Routes;
use async_nats::jetstream::{self, kv};
use outpost_proto::layout;
use std::sync::Arc;
use std::time::Duration;

/// How long opening a site's bucket may take (a cut-off site does not answer).
const OPEN_DEADLINE: Duration = Duration::from_secs(5);

/// The pin buckets of every zone.
#[derive(Clone)]
pub struct PinStores {
    client: async_nats::Client,
    hub: kv::Store,
    routes: Arc<Routes>,
    /// Site buckets opened so far: opening one is a stream-info round
    /// trip through the leaf, not to be paid per pin.
    opened: Arc<std::sync::Mutex<std::collections::HashMap<String, kv::Store>>>,
}

impl PinStores {
    pub fn new(client: async_nats::Client, hub: kv::Store, routes: Arc<Routes>) -> PinStores {
        PinStores {
            client,
            hub,
            routes,
            opened: Arc::default(),
        }
    }

    /// The bucket of `zone`'s pins; an error names the site that did not
    /// answer.
    pub async fn for_zone(&self, zone: &str) -> Result<kv::Store, String> {
        let Some(site) = self.routes.get(zone) else {
            return Ok(self.hub.clone());
        };
        let cached = {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            opened.get(site).cloned()
        };
        if let Some(store) = cached {
            return Ok(store);
        }
        let js = jetstream::with_domain(self.client.clone(), site);
        match tokio::time::timeout(OPEN_DEADLINE, js.get_key_value(layout::PINS_BUCKET)).await {
            Ok(Ok(store)) => {
                let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
                opened.insert(site.clone(), store.clone());
                Ok(store)
            }
            Ok(Err(e)) => Err(format!("the pins of site {site} (zone {zone}): {e}")),
            Err(_) => Err(format!(
                "site {site} (zone {zone}) did not answer: its pins are kept there"
            )),
        }
    }
}
