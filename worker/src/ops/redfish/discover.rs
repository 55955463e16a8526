//! `redfish.discover`: one slice of an address range, probed in three
//! stages with their own timeouts — TCP connect to the Redfish port, an
//! unauthenticated look at `/redfish/v1`, then an authenticated read of the
//! system and manager trying the job's credential sets in order. Hundreds
//! of probes run at once; progress reports counts per stage.

use super::client::{Client, RootAnswer};
use super::error::RedfishError;
use super::identify::{Identity, identify};
use super::tls::Pin;
use crate::ops::{OpCtx, OpError};
use futures::StreamExt;
use outpost_kinds::ErrorClass;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub use outpost_kinds::redfish::discover::{CredSet, Params};

/// Whether one of the set's ranges holds `ip`.
fn covers(set: &CredSet, ip: IpAddr) -> bool {
    set.ranges().iter().any(|r| in_range(r, ip))
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
    v.sort_by_key(|(i, s)| (!covers(s, ip), s.priority(), *i));
    v.into_iter().map(|(_, s)| s.name()).collect()
}

/// Expands the slice into addresses (at most a slice's worth).
pub fn addresses(p: &Params) -> Result<Vec<IpAddr>, OpError> {
    let ranges = p
        .ranges()
        .map_err(|e| OpError::permanent(ErrorClass::Params, e))?;
    let mut out = Vec::new();
    for (a, b) in ranges {
        match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                out.extend((u32::from(a)..=u32::from(b)).map(|x| IpAddr::V4(Ipv4Addr::from(x))))
            }
            _ => out.push(a),
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
    /// It answered, but could not be identified or read: a class an
    /// operator can act on (`unavailable`, `malformed`,
    /// `response_too_large`, `timeout`, `tls`, `cert_changed`, `http`, …)
    /// and what happened.
    Error {
        class: String,
        message: String,
    },
}

impl Probe {
    fn error(class: ErrorClass, message: impl Into<String>) -> Probe {
        Probe::Error {
            class: class.as_str().to_string(),
            message: message.into(),
        }
    }
}

impl From<RedfishError> for Probe {
    fn from(e: RedfishError) -> Probe {
        let class = match &e {
            // A handshake or connection that failed after the port accepted.
            RedfishError::Connect { .. } => ErrorClass::Tls,
            other => other.kind(),
        };
        Probe::error(class, e.to_string())
    }
}

/// How long a `Retry-After` asks to wait: delta-seconds or an HTTP date.
pub fn retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// Asks the service root until it answers something other than `503`,
/// honouring `Retry-After` (5 s when absent) until `budget` is spent.
async fn root(ctx: &OpCtx, anon: &Client, budget: Duration) -> Result<RootAnswer, Probe> {
    let until = tokio::time::Instant::now() + budget;
    let mut waited = 0u32;
    loop {
        let a = anon.service_root().await.map_err(Probe::from)?;
        if a.status != 503 {
            return Ok(a);
        }
        let wait = a
            .retry_after
            .as_deref()
            .and_then(|v| retry_after(v, chrono::Utc::now()))
            .unwrap_or(Duration::from_secs(5))
            // A device's number must not overflow the clock.
            .clamp(Duration::from_millis(100), Duration::from_secs(86_400));
        if tokio::time::Instant::now() + wait > until {
            return Err(Probe::error(
                ErrorClass::Unavailable,
                format!(
                    "{} answered 503 Service Unavailable{} (an iDRAC warming up after a reset?); \
                     waited {waited} time(s), and {} more would pass the discovery's \
                     warmup_wait_s of {} s",
                    anon.addr(),
                    a.retry_after
                        .as_deref()
                        .map(|r| format!(" with Retry-After: {r}"))
                        .unwrap_or_default(),
                    humantime(wait),
                    budget.as_secs()
                ),
            ));
        }
        waited += 1;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = ctx.cancel.cancelled() => return Err(Probe::error(ErrorClass::Cancelled, "cancelled")),
        }
    }
}

fn humantime(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
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
        "cpu_count": sys["ProcessorSummary"]["Count"].as_u64(),
        "memory_gb": sys["MemorySummary"]["TotalSystemMemoryGiB"].as_f64().map(|g| g.round() as u64),
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
        Err(e) => return Probe::from(e),
    };
    let answer = match root(ctx, &anon, Duration::from_secs(p.warmup_wait_s)).await {
        Ok(a) => a,
        Err(probe) => return probe,
    };
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let identity = identify(
        answer.status,
        answer.server.as_deref(),
        body.as_ref(),
        answer.challenge.as_deref(),
    );
    if identity == Identity::NotRedfish {
        // An answer that claims to be JSON, or comes from a server that
        // says it is an iDRAC, but does not parse is a device to look at,
        // not an address to drop.
        let claims_json = answer.body.first().is_some_and(|b| *b == b'{');
        if answer.status >= 500 {
            return Probe::error(
                ErrorClass::Http,
                format!(
                    "{}: GET /redfish/v1 answered HTTP {}",
                    anon.addr(),
                    answer.status
                ),
            );
        }
        if answer.status == 200 && body.is_none() && claims_json {
            let e = serde_json::from_slice::<Value>(&answer.body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Probe::error(
                ErrorClass::Malformed,
                format!(
                    "{}: GET /redfish/v1 answered JSON that does not parse ({e})",
                    anon.addr()
                ),
            );
        }
    }
    match identity {
        Identity::NotRedfish => return Probe::NotRedfish,
        Identity::OtherRedfish(v) => return Probe::OtherRedfish(v),
        Identity::Idrac | Identity::ChallengeOnly => {}
    }
    let cert = anon.certificate();
    if let (Some(seen), Ok(Some(pinned))) = (&cert, ctx.env.pins.get(&host, p.port).await)
        && *seen != pinned
    {
        return Probe::error(
            ErrorClass::CertChanged,
            format!(
                "certificate of {addr} changed: pinned {pinned}, presented {seen}; \
                 if expected, accept it with `outpost pins accept {host}{}`",
                if p.port == 443 {
                    String::new()
                } else {
                    format!(" --port {}", p.port)
                }
            ),
        );
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
                if let Some(r) = body.as_ref().and_then(|b| b["RedfishVersion"].as_str()) {
                    v["redfish_version"] = json!(r);
                }
                v["cert_sha256"] = json!(c.certificate());
                return Probe::Found(v);
            }
            Err(e) if e.kind() == ErrorClass::Auth => continue,
            Err(e) => return Probe::from(e),
        }
    }
    Probe::Locked { cert }
}

/// Every credential set must name a credential this worker can open;
/// none at all means the vault's default. Checked before any probe, so a
/// typo fails the discovery naming it instead of reporting every iDRAC
/// `locked`.
fn check_credentials(ctx: &OpCtx, p: &mut Params) -> Result<(), OpError> {
    if p.credentials.is_empty() {
        let login = ctx.credential(None).map_err(|e| match e {
            OpError::Permanent { message, .. } => OpError::permanent(
                ErrorClass::NoCredentials,
                format!(
                    "the discovery names no credential sets and there is no default to use: {message}"
                ),
            ),
            other => other,
        })?;
        p.credentials = vec![CredSet::Name(login.name.clone())];
        return Ok(());
    }
    for set in &p.credentials {
        if let Err(e) = ctx.credential(Some(set.name())) {
            let why = match e {
                OpError::Permanent { message, .. } | OpError::Retryable { message, .. } => message,
                OpError::Cancelled => return Err(OpError::Cancelled),
            };
            return Err(OpError::permanent(
                ErrorClass::UnknownCredential,
                format!("credential set {:?}: {why}", set.name()),
            ));
        }
    }
    Ok(())
}

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let mut p: Params = ctx.params()?;
    let ips = addresses(&p)?;
    check_credentials(ctx, &mut p)?;
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
                let tried = order_for(&p.credentials, ip);
                locked.push(json!({ "address": ip.to_string(), "port": p.port,
                                    "cert_sha256": cert, "tried": tried }));
            }
            Probe::Found(v) => {
                open += 1;
                redfish += 1;
                idrac += 1;
                found.push(v);
            }
            Probe::Error { class, message } => {
                open += 1;
                errors.push(json!({ "address": ip.to_string(), "port": p.port,
                                    "class": class, "error": message }));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = chrono::DateTime::parse_from_rfc2822("Mon, 30 Nov 2026 04:00:00 GMT")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Mon, 30 Nov 2026 04:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past asks for no wait; garbage is no answer.
        assert_eq!(
            retry_after("Mon, 30 Nov 2026 03:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
