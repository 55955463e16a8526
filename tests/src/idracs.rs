//! Simulated iDRACs for fleet tests and benchmarks: one per address, all
//! on the same port (found free on the first address), as real iDRACs all
//! answer on 443.

use anyhow::Result;
use outpost_sim::redfish::{IdracSpec, RedfishSim};

/// Starts iDRACs on `ips` with one login; `index` numbers their service
/// tags from `first_index`; device time runs at `scale`.
pub async fn start(
    ips: &[String],
    user: &str,
    password: &str,
    first_index: u64,
    scale: f64,
) -> Result<RedfishSim> {
    let mut port = 0;
    let mut specs = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let mut s = IdracSpec::new(
            format!("{ip}:{port}").parse()?,
            user,
            password,
            first_index + i as u64,
        );
        s.timings.scale = scale;
        if port == 0 {
            let probe = RedfishSim::start(vec![s.clone()]).await?;
            port = probe.addrs()[0].port();
            probe.stop().await;
            s.listen = format!("{ip}:{port}").parse()?;
        }
        specs.push(s);
    }
    Ok(RedfishSim::start(specs).await?)
}
