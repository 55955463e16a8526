//! Dell's firmware catalog (`Catalog.xml`, the app's "Dell online
//! catalog" source): read as a stream, bounded in what it keeps, and the
//! newest package of a component for the servers' models chosen from it.
//! The iDRACs fetch the chosen image themselves, from the catalog's base
//! location (`SimpleUpdate`), as they would from the firmware library.
//!
//! Only what selection needs is kept of each `SoftwareComponent`: its
//! `path` and `vendorVersion`, `ComponentType`, display name, the device
//! component ids it updates and the system models it supports.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Most components kept (Dell's full catalog holds some tens of thousands).
pub const MAX_ENTRIES: usize = 200_000;
/// Most bytes of a catalog.
pub const MAX_BYTES: usize = 256 << 20;
/// Longest text kept of one field.
const MAX_TEXT: usize = 512;
/// Most models or devices kept per component.
const MAX_LIST: usize = 2_000;

/// One package of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub version: String,
    pub component_type: String,
    pub name: String,
    pub component_ids: Vec<String>,
    pub models: Vec<String>,
}

/// A parsed catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// `Manifest/@baseLocation`, e.g. `downloads.dell.com`.
    pub base_location: String,
    /// `Manifest/@baseLocationAccessProtocols`, e.g. `HTTPS`.
    pub protocols: Vec<String>,
    pub entries: Vec<Entry>,
}

fn clip(s: &str) -> String {
    s.chars()
        .take(MAX_TEXT)
        .collect::<String>()
        .trim()
        .to_string()
}

fn attr(e: &BytesStart, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| clip(&v)))
}

/// Where the parser is inside a component.
#[derive(Clone, Copy, PartialEq, Eq)]
enum In {
    Other,
    Name,
    Model,
}

/// The catalog as UTF-8: Dell writes it in UTF-16 with a byte-order mark.
fn utf8(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let units = |be: bool| {
        bytes[2..].chunks_exact(2).map(move |c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
    };
    let text = match bytes {
        [0xFF, 0xFE, ..] => char::decode_utf16(units(false)),
        [0xFE, 0xFF, ..] => char::decode_utf16(units(true)),
        [0xEF, 0xBB, 0xBF, rest @ ..] => return Ok(std::borrow::Cow::Borrowed(rest)),
        _ => return Ok(std::borrow::Cow::Borrowed(bytes)),
    };
    let s: String = text
        .map(|c| c.map_err(|e| format!("the catalog is not valid UTF-16: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(std::borrow::Cow::Owned(s.into_bytes()))
}

/// Parses a catalog; the error names what is wrong and where.
pub fn parse(xml: &[u8]) -> Result<Catalog, String> {
    if xml.len() > MAX_BYTES {
        return Err(format!(
            "the catalog is larger than {} MiB",
            MAX_BYTES >> 20
        ));
    }
    let xml = utf8(xml)?;
    let mut r = Reader::from_reader(&xml[..]);
    let mut buf = Vec::new();
    let mut cat = Catalog::default();
    let mut cur: Option<Entry> = None;
    let mut at = In::Other;
    loop {
        let ev = r.read_event_into(&mut buf).map_err(|e| {
            format!(
                "the catalog is not XML at byte {}: {e}",
                r.buffer_position()
            )
        })?;
        match ev {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"Manifest" => {
                    cat.base_location = attr(&e, b"baseLocation").unwrap_or_default();
                    cat.protocols = attr(&e, b"baseLocationAccessProtocols")
                        .unwrap_or_default()
                        .split(',')
                        .map(|p| p.trim().to_ascii_uppercase())
                        .filter(|p| !p.is_empty())
                        .collect();
                }
                b"SoftwareComponent" => {
                    if cat.entries.len() >= MAX_ENTRIES {
                        return Err(format!(
                            "the catalog lists more than {MAX_ENTRIES} components"
                        ));
                    }
                    cur = Some(Entry {
                        path: attr(&e, b"path").unwrap_or_default(),
                        version: attr(&e, b"vendorVersion").unwrap_or_default(),
                        ..Entry::default()
                    });
                }
                b"ComponentType" => {
                    if let Some(c) = cur.as_mut() {
                        c.component_type = attr(&e, b"value").unwrap_or_default();
                    }
                }
                b"Device" => {
                    if let Some(c) = cur.as_mut()
                        && let Some(id) = attr(&e, b"componentID")
                        && c.component_ids.len() < MAX_LIST
                    {
                        c.component_ids.push(id);
                    }
                }
                b"Name" if cur.is_some() => at = In::Name,
                b"Model" if cur.is_some() => at = In::Model,
                _ => {}
            },
            Event::Text(t) => {
                if let Some(c) = cur.as_mut() {
                    let text = t.decode().map(|s| clip(&s)).unwrap_or_default();
                    push_text(c, at, &text);
                }
            }
            Event::CData(t) => {
                if let Some(c) = cur.as_mut() {
                    let text = clip(&String::from_utf8_lossy(&t));
                    push_text(c, at, &text);
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"SoftwareComponent" => {
                    if let Some(c) = cur.take()
                        && !c.path.is_empty()
                        && !c.version.is_empty()
                    {
                        cat.entries.push(c);
                    }
                    at = In::Other;
                }
                b"Name" | b"Model" => at = In::Other,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if cat.entries.is_empty() {
        return Err("the catalog lists no software component".into());
    }
    Ok(cat)
}

fn push_text(c: &mut Entry, at: In, text: &str) {
    if text.is_empty() {
        return;
    }
    match at {
        In::Name if c.name.is_empty() => c.name = text.to_string(),
        In::Model if c.models.len() < MAX_LIST && !c.models.iter().any(|m| m == text) => {
            c.models.push(text.to_string())
        }
        _ => {}
    }
}

/// Whether `e` is a package of `component` (the app's filter names:
/// `BIOS`, `iDRAC`, `NIC`, `RAID`, `PSU`, or a catalog `ComponentType`).
fn is_component(e: &Entry, component: &str) -> bool {
    let c = component.to_ascii_lowercase();
    let name = e.name.to_ascii_lowercase();
    match c.as_str() {
        "bios" => {
            e.component_type.eq_ignore_ascii_case("BIOS")
                || e.component_ids.iter().any(|i| i == "159")
        }
        "idrac" => e.component_ids.iter().any(|i| i == "25227") || name.contains("idrac"),
        "nic" => name.contains("network") || name.contains("ethernet") || name.contains("nic "),
        "raid" => name.contains("raid") || name.contains("perc"),
        "psu" => name.contains("power supply"),
        _ => e.component_type.eq_ignore_ascii_case(component),
    }
}

/// Whether `e` supports a server whose model is `model` (`PowerEdge R650`
/// against the catalog's `R650`).
fn supports(e: &Entry, model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    e.models.is_empty()
        || e.models.iter().any(|x| {
            let x = x.to_ascii_lowercase();
            !x.is_empty()
                && (m == x || m.ends_with(&format!(" {x}")) || x.ends_with(&format!(" {m}")))
        })
}

/// The newest package of `component` for servers of `models`: its
/// version and the URL the iDRACs fetch it from (`fallback_scheme` when
/// the catalog names no protocol: the catalog's own URL's).
pub fn select(
    cat: &Catalog,
    component: &str,
    models: &[String],
    fallback_scheme: &str,
) -> Result<(String, String), String> {
    let best = cat
        .entries
        .iter()
        .filter(|e| is_component(e, component) && models.iter().all(|m| supports(e, m)))
        .max_by(|a, b| super::full_update::version_cmp(&a.version, &b.version))
        .ok_or_else(|| {
            format!(
                "the Dell catalog has no {component} package for {}",
                if models.is_empty() {
                    "these servers".to_string()
                } else {
                    models.join(", ")
                }
            )
        })?;
    let scheme = if cat.protocols.iter().any(|p| p == "HTTPS") {
        "https"
    } else if cat.protocols.iter().any(|p| p == "HTTP") {
        "http"
    } else {
        fallback_scheme
    };
    let base = cat.base_location.trim_matches('/');
    let path = best.path.trim_start_matches('/');
    Ok((best.version.clone(), format!("{scheme}://{base}/{path}")))
}

/// Where the catalog comes from when the job names none.
pub const DEFAULT_URL: &str = "https://downloads.dell.com/catalog/Catalog.xml";

/// Downloads a catalog: HTTPS (plain HTTP only from a loopback address,
/// for a local mirror), at most [`MAX_BYTES`], within five minutes.
pub async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("catalog URL {url:?}: {e}"))?;
    let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
    let loopback = host
        .parse::<std::net::IpAddr>()
        .map(|a| a.is_loopback())
        .unwrap_or_else(|_| host.eq_ignore_ascii_case("localhost"));
    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
        return Err(format!(
            "catalog URL {url:?}: must be https:// (http:// only for a mirror on this host)"
        ));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(300))
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut resp = client
        .get(u)
        .send()
        .await
        .map_err(|e| format!("catalog {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("catalog {url}: HTTP {}", resp.status()));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("catalog {url}: {e}"))?
    {
        if out.len() + chunk.len() > MAX_BYTES {
            return Err(format!(
                "catalog {url} is larger than {} MiB",
                MAX_BYTES >> 20
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-16"?>
<Manifest baseLocation="downloads.example" baseLocationAccessProtocols="HTTPS" version="24.01">
  <SoftwareComponent path="FOLDER1/BIOS_A_2.9.0.EXE" vendorVersion="2.9.0">
    <Name><Display lang="en"><![CDATA[Dell PowerEdge R650 BIOS]]></Display></Name>
    <ComponentType value="BIOS"><Display lang="en">BIOS</Display></ComponentType>
    <SupportedDevices><Device componentID="159" embedded="1"><Display lang="en">BIOS</Display></Device></SupportedDevices>
    <SupportedSystems><Brand key="3" prefix="PE"><Display lang="en">PowerEdge</Display>
      <Model systemID="0A25"><Display lang="en"><![CDATA[R650]]></Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
  <SoftwareComponent path="FOLDER2/BIOS_A_2.19.1.EXE" vendorVersion="2.19.1">
    <Name><Display lang="en">Dell PowerEdge R650 BIOS</Display></Name>
    <ComponentType value="BIOS"/>
    <SupportedDevices><Device componentID="159"/></SupportedDevices>
    <SupportedSystems><Brand><Model systemID="0A25"><Display>R650</Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
  <SoftwareComponent path="FOLDER3/BIOS_B_9.0.0.EXE" vendorVersion="9.0.0">
    <Name><Display lang="en">Dell PowerEdge R740 BIOS</Display></Name>
    <ComponentType value="BIOS"/>
    <SupportedSystems><Brand><Model><Display>R740</Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
  <SoftwareComponent path="FOLDER4/iDRAC_7.10.EXE" vendorVersion="7.10.30.00">
    <Name><Display lang="en">iDRAC with Lifecycle Controller</Display></Name>
    <ComponentType value="FRMW"/>
    <SupportedDevices><Device componentID="25227"/></SupportedDevices>
  </SoftwareComponent>
</Manifest>"#;

    #[test]
    fn the_newest_package_for_the_model_is_chosen() {
        let cat = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(cat.entries.len(), 4);
        assert_eq!(cat.entries[0].name, "Dell PowerEdge R650 BIOS");
        assert_eq!(cat.entries[0].models, vec!["R650".to_string()]);
        let models = vec!["PowerEdge R650".to_string()];
        assert_eq!(
            select(&cat, "BIOS", &models, "https").unwrap(),
            (
                "2.19.1".into(),
                "https://downloads.example/FOLDER2/BIOS_A_2.19.1.EXE".into()
            )
        );
        assert_eq!(
            select(&cat, "iDRAC", &models, "https").unwrap().0,
            "7.10.30.00"
        );
        assert!(
            select(&cat, "RAID", &models, "https")
                .unwrap_err()
                .contains("no RAID package")
        );
        assert!(select(&cat, "BIOS", &["PowerEdge R640".into()], "https").is_err());
    }

    #[test]
    fn dells_utf16_is_read() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in SAMPLE.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(parse(&bytes).unwrap(), parse(SAMPLE.as_bytes()).unwrap());
        assert!(
            parse(&[0xFF, 0xFE, 0x00, 0xD8]).is_err(),
            "a lone surrogate"
        );
    }

    #[test]
    fn what_is_not_a_catalog_is_named() {
        assert!(
            parse(b"<Manifest>")
                .unwrap_err()
                .contains("no software component")
        );
        assert!(parse(b"<<<").is_err());
        assert!(parse(b"").is_err());
    }
}
