//! The seed's device filter: vendor and role match case-insensitively as
//! substrings, site matches the site code exactly, name_pattern matches the
//! whole name with `*` wildcards (case-insensitive). A device without the
//! filtered attribute does not match. Results are ordered by name.

use super::inventory::{Device, Inventory};
use serde::{Deserialize, Serialize};

/// `device_filter` of a job file; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFilter {
    pub vendor: Option<String>,
    pub site: Option<String>,
    pub role: Option<String>,
    pub name_pattern: Option<String>,
}

fn contains_ci(have: &Option<String>, want: &str) -> bool {
    have.as_ref()
        .is_some_and(|h| h.to_lowercase().contains(&want.to_lowercase()))
}

/// `*` matches any run of characters; everything else is literal.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl DeviceFilter {
    pub fn matches(&self, d: &Device) -> bool {
        let blank = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if let Some(v) = blank(&self.vendor)
            && !contains_ci(&d.vendor, &v)
        {
            return false;
        }
        if let Some(r) = blank(&self.role)
            && !contains_ci(&d.role, &r)
        {
            return false;
        }
        if let Some(s) = blank(&self.site)
            && d.site.as_deref() != Some(s.as_str())
        {
            return false;
        }
        if let Some(p) = blank(&self.name_pattern)
            && !wildcard_match(&p, &d.name)
        {
            return false;
        }
        true
    }
}

/// The devices of `inv` matching `f`, ordered by name.
pub fn select<'a>(inv: &'a Inventory, f: &DeviceFilter) -> Vec<&'a Device> {
    let mut out: Vec<&Device> = inv.devices.iter().filter(|d| f.matches(d)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, vendor: &str, site: &str, role: &str) -> Device {
        Device {
            id: name.into(),
            name: name.into(),
            normalized_name: name.into(),
            management_ip: "10.0.0.1".into(),
            port: None,
            site: Some(site.into()),
            vendor: Some(vendor.into()),
            role: Some(role.into()),
            model: None,
            platform: None,
            zone: None,
            legacy: false,
        }
    }

    #[test]
    fn seed_semantics() {
        let inv = Inventory {
            devices: vec![
                dev("eng-leaf-2", "Cisco Systems", "fra1", "Access Switch"),
                dev("eng-leaf-1", "Cisco Systems", "fra1", "Access Switch"),
                dev("core-1", "Arista Networks", "fra1", "Core"),
                dev("edge-1", "Juniper", "ams2", "Edge Router"),
            ],
            skipped: vec![],
        };
        let names = |f: DeviceFilter| -> Vec<String> {
            select(&inv, &f).iter().map(|d| d.name.clone()).collect()
        };
        assert_eq!(
            names(DeviceFilter {
                vendor: Some("cisco".into()),
                ..Default::default()
            }),
            ["eng-leaf-1", "eng-leaf-2"]
        );
        assert_eq!(
            names(DeviceFilter {
                role: Some("ROUTER".into()),
                ..Default::default()
            }),
            ["edge-1"]
        );
        assert_eq!(
            names(DeviceFilter {
                site: Some("fra".into()),
                ..Default::default()
            }),
            Vec::<String>::new()
        );
        assert_eq!(
            names(DeviceFilter {
                site: Some("ams2".into()),
                ..Default::default()
            }),
            ["edge-1"]
        );
        assert_eq!(
            names(DeviceFilter {
                name_pattern: Some("eng-*-1".into()),
                ..Default::default()
            }),
            ["eng-leaf-1"]
        );
        assert_eq!(
            names(DeviceFilter {
                name_pattern: Some("*1".into()),
                ..Default::default()
            })
            .len(),
            3
        );
        assert!(wildcard_match("a*b*c", "aXXbYYc") && !wildcard_match("a*b", "ab-c"));
    }
}
