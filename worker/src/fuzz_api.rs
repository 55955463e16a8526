//! Entry points for the fuzz targets in `fuzz/` (not an API): each feeds
//! bytes a device could send to the parser that reads them and exercises
//! what the worker then does with the result. They must never panic and
//! never allocate more than the input justifies.

use crate::ops::redfish::{client::Client, identify, inventory, jobs, tls::Pin};
use crate::ops::ssh::{screen::Screen, shell};
use crate::ops::vcenter::{client::MoRef, xml};
use serde_json::Value;
use std::time::Duration;

/// SSH: renders `data` on a screen in chunks (split where the input puts
/// a 0xff byte, so escape sequences get split across reads), checking
/// for prompts and pagers the way the shell does after every read.
pub fn ssh_screen(data: &[u8]) {
    let mut screen = Screen::new();
    let mut base: Option<String> = None;
    for chunk in data.split(|b| *b == 0xff) {
        screen.feed(chunk);
        let line = screen.current_line();
        if shell::looks_like_prompt(&line) {
            // What `find_prompt` learns from a prompt line.
            base.get_or_insert_with(|| line[..line.len() - 1].to_string());
            let _ = shell::strip_echo(&screen.take_completed(), &line);
        }
        let _ = screen.tail(80);
        if line.to_ascii_lowercase().contains("--more--") {
            screen.clear_current_line();
        }
    }
    let _ = base;
    let _ = screen.take();
}

fn redfish_client() -> Option<Client> {
    Client::new(
        "192.0.2.1",
        443,
        Pin::Off,
        "root",
        "fuzz",
        Duration::from_secs(1),
    )
    .ok()
}

/// Redfish: the first byte picks the answer (service root, task or Dell
/// job, firmware inventory member, any body read as JSON), the rest is
/// the body an iDRAC sent.
pub fn redfish(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let Some(c) = redfish_client() else { return };
    let Ok(v) = c.parse("/redfish/v1/fuzz", body) else {
        return;
    };
    match which % 4 {
        0 => {
            let status = u16::from(which) * 3;
            let _ = identify::identify(status, v["Server"].as_str(), Some(&v), v["Www"].as_str());
        }
        1 => {
            if let Ok(j) = jobs::parse(&c, jobs::JOBS, &v) {
                let _ = (
                    j.finished(),
                    j.failed(),
                    j.queued(),
                    j.waits_for_reboot(),
                    j.failure_class(),
                );
            }
        }
        2 => {
            for m in v["Members"].as_array().into_iter().flatten() {
                if let Ok(m) = inventory::member(&c, inventory::FIRMWARE_INVENTORY, m) {
                    let _ = m.component();
                    let _ = m.matches("BIOS");
                }
            }
        }
        _ => {
            let _: Option<Value> = serde_json::from_slice(body).ok();
        }
    }
}

/// vCenter SOAP: parses an answer and walks it the way the client reads
/// `RetrievePropertiesEx` results and faults, and the way
/// `vcenter.inventory` turns a page's objects into its output.
pub fn soap(data: &[u8]) {
    let Ok(root) = xml::parse(data) else { return };
    let _ = root.path(&["Body", "Fault", "faultstring"]);
    if let Some(body) = root.child("Body") {
        for rv in body.children.iter().flat_map(|r| r.all("returnval")) {
            for obj in rv.all("objects") {
                let _ = obj.child("obj").and_then(MoRef::from_node);
                for p in obj.all("propSet") {
                    let _ = (p.text_of("name"), p.child("val").map(|v| &v.ty));
                }
            }
        }
    }
    let _ = root.find("returnval").and_then(MoRef::from_node);
    // `vcenter.inventory` reads every page's objects into its output types.
    if let Some(response) = root.child("Body").and_then(|b| b.children.first()) {
        use crate::ops::vcenter::inventory as inv;
        let page = crate::ops::vcenter::api::read_page(response);
        let containers = inv::Containers::new(&page.objects);
        let mut hosts = Vec::new();
        for (o, p) in &page.objects {
            let _ = inv::cluster_from(o, p, &containers);
            hosts.push(inv::host_from(o, p, &containers));
            let _ = inv::datastore_from(o, p);
            let _ = inv::network_from(o, p);
            let _ = containers.datacenter(Some(o));
        }
        let by_moid = hosts.iter().map(|h| (h.moid.as_str(), h)).collect();
        for (o, p) in &page.objects {
            let _ = inv::vm_from(o, p, &by_moid);
        }
    }
}

/// What a device and a task message hand the worker outside the JSON
/// bodies: a TLS certificate and a handshake signature checked for weak
/// keys (the first byte picks the scheme), a `Retry-After` header, and a
/// discovery slice.
pub fn device_edges(data: &[u8]) {
    use rustls::SignatureScheme as S;
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let mid = rest.len() / 2;
    let (cert, sig) = rest.split_at(mid);
    let _ = crate::ops::redfish::legacy_sig::rsa_bits(cert);
    let scheme = [
        S::RSA_PKCS1_SHA1,
        S::RSA_PKCS1_SHA256,
        S::RSA_PSS_SHA256,
        S::RSA_PSS_SHA512,
    ][usize::from(which) % 4];
    let _ = crate::ops::redfish::legacy_sig::verify(scheme, which & 4 != 0, cert, b"fuzz", sig);
    let text = String::from_utf8_lossy(rest);
    let _ = crate::ops::redfish::discover::retry_after(&text, chrono::Utc::now());
    let slice: Vec<String> = text.split(',').map(str::to_string).collect();
    let p = outpost_kinds::redfish::discover::Params {
        slice,
        port: 443,
        connect_timeout_ms: 1,
        http_timeout_ms: 1,
        concurrency: 1,
        credentials: Vec::new(),
        warmup_wait_s: 0,
        legacy_tls: false,
    };
    if let Ok(ips) = crate::ops::redfish::discover::addresses(&p) {
        assert!(ips.len() as u64 <= outpost_kinds::redfish::discover::MAX_SLICE);
    }
}

/// A firmware image's description as the object store holds it: parsed
/// and checked the way the worker does before fetching any chunk.
pub fn firmware_description(data: &[u8]) {
    if let Ok(info) = crate::images::describe(data, 1 << 20) {
        assert!(info.size <= 1 << 20);
        let _ = (info.chunks, info.digest);
    }
}
