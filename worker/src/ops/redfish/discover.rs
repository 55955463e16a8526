//! `redfish.discover`: one slice of an address range, probed in three
//! stages with their own timeouts — TCP connect to the Redfish port, an
//! unauthenticated look at `/redfish/v1`, then an authenticated read of the
//! system and manager trying the job's credential sets in order. Hundreds
//! of probes run at once; progress reports counts per stage.

use super::client::Client;
use super::identify::{Identity, identify};
use super::tls::Pin;
use crate::ops::{OpCtx, OpError};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Runs of addresses: `a.b.c.d` or `a.b.c.d-e.f.g.h`.
    pub slice: Vec<String>,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_http_ms")]
    pub http_timeout_ms: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Credential sets: vault names, tried in order, or
    /// `{"name", "ranges", "priority"}`: sets whose ranges hold the address
    /// come first, then by priority (lower first), then in the given order.
    #[serde(default)]
    pub credentials: Vec<CredSet>,
    /// Legacy TLS (TLS 1.0/1.1, legacy ciphers, over OpenSSL): the job's
    /// or the zone's opt-in.
    #[serde(default)]
    pub legacy_tls: bool,
}

/// One credential set of a discovery.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CredSet {
    Name(String),
    Scoped {
        name: String,
        #[serde(default)]
        ranges: Vec<String>,
        #[serde(default = "default_priority")]
        priority: i64,
    },
}

fn default_priority() -> i64 {
    100
}

impl CredSet {
    fn name(&self) -> &str {
        match self {
            CredSet::Name(n) | CredSet::Scoped { name: n, .. } => n,
        }
    }
    fn priority(&self) -> i64 {
        match self {
            CredSet::Name(_) => default_priority(),
            CredSet::Scoped { priority, .. } => *priority,
        }
    }
    /// Whether one of the set's ranges holds `ip`.
    fn covers(&self, ip: IpAddr) -> bool {
        let CredSet::Scoped { ranges, .. } = self else {
            return false;
        };
        ranges.iter().any(|r| in_range(r, ip))
    }
}

fn in_range(r: &str, ip: IpAddr) -> bool {
    let IpAddr::V4(ip) = ip else {
        return r.parse::<IpAddr>().ok() == Some(ip);
    };
    let x = u32::from(ip);
    if let Some((net, len)) = r.split_once('/') {
        let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
            return false;
        };
        if len > 32 {
            return false;
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        return x & mask == u32::from(net) & mask;
    }
    if let Some((a, b)) = r.split_once('-') {
        let (Ok(a), Ok(b)) = (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>()) else {
            return false;
        };
        return (u32::from(a)..=u32::from(b)).contains(&x);
    }
    r.parse::<Ipv4Addr>().ok() == Some(ip)
}

/// The credential names to try on `ip`, in order.
pub fn order_for(sets: &[CredSet], ip: IpAddr) -> Vec<&str> {
    let mut v: Vec<(usize, &CredSet)> = sets.iter().enumerate().collect();
    v.sort_by_key(|(i, s)| (!s.covers(ip), s.priority(), *i));
    v.into_iter().map(|(_, s)| s.name()).collect()
}

fn default_port() -> u16 {
    443
}
fn default_connect_ms() -> u64 {
    2000
}
fn default_http_ms() -> u64 {
    10_000
}
fn default_concurrency() -> usize {
    256
}

/// Expands the slice into addresses; the coordinator already checked it.
pub fn addresses(slice: &[String]) -> Result<Vec<IpAddr>, OpError> {
    let mut out = Vec::new();
    for s in slice {
        let bad = || OpError::permanent("params", format!("{s:?} is not an address or a range"));
        match s.split_once('-') {
            Some((a, b)) => {
                let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
                let b: Ipv4Addr = b.parse().map_err(|_| bad())?;
                let (a, b) = (u32::from(a), u32::from(b));
                if b < a || b - a > 1 << 16 {
                    return Err(bad());
                }
                out.extend((a..=b).map(|x| IpAddr::V4(Ipv4Addr::from(x))));
            }
            None => out.push(s.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// What one address turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Closed,
    Filtered,
    NotRedfish,
    OtherRedfish(Option<String>),
    /// An iDRAC none of the credentials opened.
    Locked {
        cert: Option<String>,
    },
    Found(Value),
    Error(String),
}

async fn tcp(addr: SocketAddr, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Probe::Found(Value::Null),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Closed,
        Ok(Err(_)) | Err(_) => Probe::Filtered,
    }
}

/// Reads the identity fields of an authenticated iDRAC.
async fn read_idrac(c: &mut Client) -> Result<Value, super::error::RedfishError> {
    let sys = c.get("/redfish/v1/Systems/System.Embedded.1").await?;
    let mgr = c
        .get("/redfish/v1/Managers/iDRAC.Embedded.1")
        .await
        .unwrap_or(Value::Null);
    let nic = c
        .get("/redfish/v1/Managers/iDRAC.Embedded.1/EthernetInterfaces/NIC.1")
        .await
        .unwrap_or(Value::Null);
    let s = |v: &Value, k: &str| v[k].as_str().map(str::to_string);
    Ok(json!({
        "manufacturer": s(&sys, "Manufacturer"),
        "model": s(&sys, "Model"),
        "service_tag": s(&sys, "SKU"),
        "serial": s(&sys, "SerialNumber"),
        "host_name": s(&sys, "HostName"),
        "bios_version": s(&sys, "BiosVersion"),
        "power_state": s(&sys, "PowerState"),
        "health": sys["Status"]["Health"].as_str(),
        "idrac_version": s(&mgr, "FirmwareVersion"),
        "idrac_mac": s(&nic, "PermanentMACAddress").or_else(|| s(&nic, "MACAddress")),
    }))
}

async fn probe(ctx: &OpCtx, p: &Params, ip: IpAddr) -> Probe {
    let addr = SocketAddr::new(ip, p.port);
    if let p2 @ (Probe::Closed | Probe::Filtered) =
        tcp(addr, Duration::from_millis(p.connect_timeout_ms)).await
    {
        return p2;
    }
    let host = ip.to_string();
    let http = Duration::from_millis(p.http_timeout_ms);
    let anon = match Client::open(&host, p.port, Pin::FirstUse, p.legacy_tls, "", "", http) {
        Ok(c) => c,
        Err(e) => return Probe::Error(e.to_string()),
    };
    let identity = match anon.service_root().await {
        Ok((status, server, body, challenge)) => identify(
            status,
            server.as_deref(),
            body.as_ref(),
            challenge.as_deref(),
        ),
        Err(e) if e.kind() == "timeout" || e.kind() == "tls" => {
            return Probe::Error(e.to_string());
        }
        Err(_) => return Probe::NotRedfish,
    };
    match identity {
        Identity::NotRedfish => return Probe::NotRedfish,
        Identity::OtherRedfish(v) => return Probe::OtherRedfish(v),
        Identity::Idrac | Identity::ChallengeOnly => {}
    }
    let cert = anon.certificate();
    if let (Some(seen), Ok(Some(pinned))) = (&cert, ctx.env.pins.get(&host, p.port).await)
        && *seen != pinned
    {
        return Probe::Error(format!(
            "certificate of {addr} changed: pinned {pinned}, presented {seen}"
        ));
    }
    for name in order_for(&p.credentials, ip) {
        let Ok(login) = ctx.credential(Some(name)) else {
            continue;
        };
        let pin = cert.clone().map(Pin::Expect).unwrap_or(Pin::FirstUse);
        let Ok(mut c) = Client::open(
            &host,
            p.port,
            pin,
            p.legacy_tls,
            &login.username,
            login.password.as_str(),
            http,
        ) else {
            continue;
        };
        let r = read_idrac(&mut c).await;
        c.logout().await;
        match r {
            Ok(mut v) => {
                v["address"] = json!(host);
                v["port"] = json!(p.port);
                v["credential"] = json!(name);
                v["cert_sha256"] = json!(c.certificate());
                return Probe::Found(v);
            }
            Err(e) if e.kind() == "auth" => continue,
            Err(e) => return Probe::Error(e.to_string()),
        }
    }
    Probe::Locked { cert }
}

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let p: Params = ctx.params()?;
    let ips = addresses(&p.slice)?;
    let total = ips.len();
    let concurrency = p.concurrency.clamp(1, 4096);
    let mut results = futures::stream::iter(ips.into_iter().map(|ip| {
        let p = &p;
        async move { (ip, probe(ctx, p, ip).await) }
    }))
    .buffer_unordered(concurrency);
    let (mut closed, mut filtered, mut open, mut redfish, mut idrac) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut found = Vec::new();
    let mut locked = Vec::new();
    let mut other = Vec::new();
    let mut errors = Vec::new();
    let mut done = 0usize;
    loop {
        let next = tokio::select! {
            n = results.next() => n,
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        };
        let Some((ip, r)) = next else { break };
        done += 1;
        match r {
            Probe::Closed => closed += 1,
            Probe::Filtered => filtered += 1,
            Probe::NotRedfish => open += 1,
            Probe::OtherRedfish(v) => {
                open += 1;
                redfish += 1;
                other.push(json!({ "address": ip.to_string(), "vendor": v }));
            }
            Probe::Locked { cert } => {
                open += 1;
                redfish += 1;
                idrac += 1;
                locked.push(
                    json!({ "address": ip.to_string(), "port": p.port, "cert_sha256": cert }),
                );
            }
            Probe::Found(v) => {
                open += 1;
                redfish += 1;
                idrac += 1;
                found.push(v);
            }
            Probe::Error(e) => {
                open += 1;
                errors.push(json!({ "address": ip.to_string(), "error": e }));
            }
        }
        if done.is_multiple_of(64) || done == total {
            ctx.progress(
                (done * 100 / total.max(1)) as u32,
                format!(
                    "probed {done}/{total}: {open} open, {redfish} redfish, {} authenticated",
                    found.len()
                ),
            );
        }
    }
    Ok(json!({
        "scanned": total,
        "closed": closed,
        "filtered": filtered,
        "open": open,
        "redfish": redfish,
        "idrac": idrac,
        "found": found,
        "locked": locked,
        "other_redfish": other,
        "errors": errors,
    }))
}
