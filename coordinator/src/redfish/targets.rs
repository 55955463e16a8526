//! Discovery targets: a CIDR (`10.20.0.0/22`), a range
//! (`10.20.0.10-10.20.3.200`) or single addresses, refused at submit time
//! when malformed, reversed, IPv6 beyond a single address, or larger than a
//! /16 without an explicit override. Addresses are de-duplicated across
//! entries, then split by zone and cut into slices of contiguous runs, one
//! task per slice.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use thiserror::Error;

/// Most addresses a job may scan without `allow_large`: a /16.
pub const DEFAULT_LIMIT: u64 = 1 << 16;
/// Most addresses a job may scan at all: a /12.
pub const HARD_LIMIT: u64 = 1 << 20;

/// A target entry that cannot be scanned, naming it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    #[error("{entry:?} is not an address, a CIDR or an a.b.c.d-e.f.g.h range")]
    Malformed { entry: String },
    #[error("{entry:?}: the range ends before it starts")]
    Reversed { entry: String },
    #[error("{entry:?}: IPv6 ranges are not scanned; list IPv6 addresses one by one")]
    Ipv6Range { entry: String },
    #[error("{count} addresses is more than a /16 ({DEFAULT_LIMIT}); set allow_large to scan it")]
    TooLarge { count: u64 },
    #[error("{count} addresses is more than the limit of {HARD_LIMIT}")]
    OverHardLimit { count: u64 },
}

/// An inclusive run of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Run {
    pub first: u32,
    pub last: u32,
}

impl Run {
    pub fn len(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// `a.b.c.d` or `a.b.c.d-e.f.g.h`.
    pub fn render(&self) -> String {
        if self.first == self.last {
            Ipv4Addr::from(self.first).to_string()
        } else {
            format!(
                "{}-{}",
                Ipv4Addr::from(self.first),
                Ipv4Addr::from(self.last)
            )
        }
    }
}

/// Parses one entry into a run of IPv4 addresses (or a single IPv6 address).
fn parse_entry(entry: &str) -> Result<Result<Run, IpAddr>, TargetError> {
    let e = entry.trim();
    let malformed = || TargetError::Malformed {
        entry: entry.to_string(),
    };
    if e.is_empty() || e != entry {
        return Err(malformed());
    }
    if let Some((net, bits)) = e.split_once('/') {
        let ip: IpAddr = net.parse().map_err(|_| malformed())?;
        let bits: u8 = bits.parse().map_err(|_| malformed())?;
        let IpAddr::V4(v4) = ip else {
            return Err(TargetError::Ipv6Range {
                entry: entry.to_string(),
            });
        };
        if bits > 32 {
            return Err(malformed());
        }
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        let base = u32::from(v4) & mask;
        let top = base | !mask;
        // Network and broadcast addresses are not hosts, except in /31 and /32.
        let run = if bits <= 30 {
            Run {
                first: base + 1,
                last: top - 1,
            }
        } else {
            Run {
                first: base,
                last: top,
            }
        };
        return Ok(Ok(run));
    }
    if let Some((a, b)) = e.split_once('-') {
        let a: IpAddr = a.parse().map_err(|_| malformed())?;
        let b: IpAddr = b.parse().map_err(|_| malformed())?;
        let (IpAddr::V4(a), IpAddr::V4(b)) = (a, b) else {
            return Err(TargetError::Ipv6Range {
                entry: entry.to_string(),
            });
        };
        let (first, last) = (u32::from(a), u32::from(b));
        if last < first {
            return Err(TargetError::Reversed {
                entry: entry.to_string(),
            });
        }
        return Ok(Ok(Run { first, last }));
    }
    match e.parse::<IpAddr>().map_err(|_| malformed())? {
        IpAddr::V4(v4) => Ok(Ok(Run {
            first: u32::from(v4),
            last: u32::from(v4),
        })),
        v6 => Ok(Err(v6)),
    }
}

/// Every address of `entries`, as sorted disjoint runs plus IPv6 singles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub runs: Vec<Run>,
    pub v6: Vec<IpAddr>,
}

impl Targets {
    pub fn count(&self) -> u64 {
        self.runs.iter().map(Run::len).sum::<u64>() + self.v6.len() as u64
    }
}

/// Parses and merges `entries`; `allow_large` lifts the /16 limit.
pub fn parse(entries: &[String], allow_large: bool) -> Result<Targets, (usize, TargetError)> {
    let mut runs = Vec::new();
    let mut v6 = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match parse_entry(e).map_err(|err| (i, err))? {
            Ok(r) => runs.push(r),
            Err(a) => v6.push(a),
        }
    }
    runs.sort();
    let mut merged: Vec<Run> = Vec::with_capacity(runs.len());
    for r in runs {
        match merged.last_mut() {
            Some(m) if u64::from(r.first) <= u64::from(m.last) + 1 => m.last = m.last.max(r.last),
            _ => merged.push(r),
        }
    }
    v6.sort();
    v6.dedup();
    let t = Targets { runs: merged, v6 };
    let count = t.count();
    if count > HARD_LIMIT {
        return Err((0, TargetError::OverHardLimit { count }));
    }
    if count > DEFAULT_LIMIT && !allow_large {
        return Err((0, TargetError::TooLarge { count }));
    }
    Ok(t)
}

/// Cuts `targets` into slices of at most `slice` addresses per zone;
/// `zone_of` places an address (an error names the first unplaceable one).
pub fn split<E>(
    targets: &Targets,
    slice: u64,
    mut zone_of: impl FnMut(IpAddr) -> Result<String, E>,
) -> Result<BTreeMap<String, Vec<Vec<Run>>>, E> {
    let slice = slice.max(1);
    let mut per_zone: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for r in &targets.runs {
        let mut a = r.first;
        loop {
            let zone = zone_of(IpAddr::V4(Ipv4Addr::from(a)))?;
            let runs = per_zone.entry(zone).or_default();
            match runs.last_mut() {
                Some(last) if last.last.checked_add(1) == Some(a) => last.last = a,
                _ => runs.push(Run { first: a, last: a }),
            }
            if a == r.last {
                break;
            }
            a += 1;
        }
    }
    let mut out: BTreeMap<String, Vec<Vec<Run>>> = BTreeMap::new();
    for (zone, runs) in per_zone {
        let slices = out.entry(zone).or_default();
        let mut cur: Vec<Run> = Vec::new();
        let mut n = 0u64;
        for r in runs {
            let mut first = r.first;
            loop {
                let room = slice - n;
                let take = room.min(u64::from(r.last - first) + 1);
                let last = first + (take - 1) as u32;
                cur.push(Run { first, last });
                n += take;
                if n == slice {
                    slices.push(std::mem::take(&mut cur));
                    n = 0;
                }
                if last == r.last {
                    break;
                }
                first = last + 1;
            }
        }
        if !cur.is_empty() {
            slices.push(cur);
        }
    }
    for a in &targets.v6 {
        let zone = zone_of(*a)?;
        out.entry(zone).or_default().push(Vec::new());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn cidr_range_and_list_merge() {
        let t = parse(
            &s(&["10.0.0.0/30", "10.0.0.3-10.0.0.5", "10.0.0.9", "10.0.0.5"]),
            false,
        )
        .unwrap();
        assert_eq!(
            t.runs.iter().map(Run::render).collect::<Vec<_>>(),
            ["10.0.0.1-10.0.0.5", "10.0.0.9"]
        );
        assert_eq!(t.count(), 6);
        assert_eq!(parse(&s(&["10.0.0.7/32"]), false).unwrap().count(), 1);
    }

    #[test]
    fn malformed_reversed_ipv6_and_large_are_refused() {
        for (e, want) in [
            ("10.0.0.300", "not an address"),
            ("10.0.0.0/33", "not an address"),
            ("10.0.0.9-10.0.0.1", "ends before"),
            ("fe80::/64", "IPv6"),
            (" 10.0.0.1", "not an address"),
            ("10.0.0.1-", "not an address"),
        ] {
            let err = parse(&s(&[e]), false).unwrap_err().1.to_string();
            assert!(err.contains(want), "{e}: {err}");
        }
        assert!(matches!(
            parse(&s(&["10.0.0.0/15"]), false),
            Err((_, TargetError::TooLarge { .. }))
        ));
        assert!(parse(&s(&["10.0.0.0/15"]), true).is_ok());
        assert!(parse(&s(&["10.0.0.0/16"]), false).is_ok());
        assert!(matches!(
            parse(&s(&["10.0.0.0/8"]), true),
            Err((_, TargetError::OverHardLimit { .. }))
        ));
    }

    #[test]
    fn split_by_zone_and_slice() {
        let t = parse(&s(&["10.0.0.1-10.0.0.10", "10.1.0.1-10.1.0.3"]), false).unwrap();
        let out = split(&t, 4, |ip| -> Result<String, String> {
            match ip {
                IpAddr::V4(v) if v.octets()[1] == 0 => Ok("a".into()),
                IpAddr::V4(_) => Ok("b".into()),
                _ => Err("v6".into()),
            }
        })
        .unwrap();
        let a: Vec<Vec<String>> = out["a"]
            .iter()
            .map(|sl| sl.iter().map(Run::render).collect())
            .collect();
        assert_eq!(
            a,
            [
                vec!["10.0.0.1-10.0.0.4"],
                vec!["10.0.0.5-10.0.0.8"],
                vec!["10.0.0.9-10.0.0.10"]
            ]
        );
        assert_eq!(out["b"].len(), 1);
        let err = split(&t, 4, |_| -> Result<String, String> {
            Err("no zone".into())
        })
        .unwrap_err();
        assert_eq!(err, "no zone");
    }
}
