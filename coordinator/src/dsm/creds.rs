//! Which login a server's iDRAC gets, resolved exactly as the app's own
//! executor resolves it: the server's `credential_set_id`, then the
//! server's own iDRAC username and password, then the set that
//! discovered it (`discovered_by_credential_set_id`), then the sets whose
//! IP ranges hold its address (lowest range priority first), then the
//! default set. Pure: the rows are read by `lookup`, the secrets are
//! decrypted and sealed by `seal`.

use std::net::IpAddr;
use uuid::Uuid;

/// A credential set as resolution needs it (no secret).
#[derive(Debug, Clone, PartialEq)]
pub struct SetRow {
    pub id: Uuid,
    pub name: String,
    pub priority: i32,
    pub kind: String,
    pub is_default: bool,
    /// (range, range priority): CIDR, `a-b` or one address.
    pub ranges: Vec<(String, i32)>,
}

/// The credential columns of a server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerCreds {
    pub credential_set_id: Option<Uuid>,
    /// `idrac_username` and `idrac_password_encrypted` are both set.
    pub own_login: bool,
    pub discovered_by: Option<Uuid>,
}

/// Where a server's login comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Choice {
    /// A credential set.
    Set(Uuid),
    /// The server's own `idrac_username` / `idrac_password_encrypted`.
    Server(Uuid),
    /// Nothing in the app: the zone vault's default login.
    VaultDefault,
}

impl Choice {
    /// The credential name tasks carry (`None`: the vault's default).
    pub fn name(&self, sets: &[SetRow]) -> Option<String> {
        match self {
            Choice::Set(id) => sets.iter().find(|s| s.id == *id).map(|s| s.name.clone()),
            Choice::Server(id) => Some(server_credential(*id)),
            Choice::VaultDefault => None,
        }
    }
}

/// The credential name of a server's own login.
pub fn server_credential(id: Uuid) -> String {
    format!("server-{}", id.simple())
}

/// Whether `ip` is in `range` (CIDR, `a-b` inclusive, or one address);
/// an unreadable range holds nothing, as in the app.
pub fn in_range(ip: IpAddr, range: &str) -> bool {
    let range = range.trim();
    if let Some((net, bits)) = range.split_once('/') {
        let (Ok(net), Ok(bits)) = (net.trim().parse::<IpAddr>(), bits.trim().parse::<u32>()) else {
            return false;
        };
        return match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        };
    }
    if let Some((a, b)) = range.split_once('-') {
        return match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a.is_ipv4() == ip.is_ipv4() && a <= ip && ip <= b,
            _ => false,
        };
    }
    range.parse::<IpAddr>().is_ok_and(|r| r == ip)
}

/// The sets whose ranges hold `ip`, lowest range priority first (ties in
/// the order given).
pub fn by_range(ip: IpAddr, sets: &[SetRow]) -> Vec<Uuid> {
    let mut hits: Vec<(i32, usize, Uuid)> = Vec::new();
    for (i, s) in sets.iter().enumerate() {
        if let Some(p) = s
            .ranges
            .iter()
            .filter(|(r, _)| in_range(ip, r))
            .map(|(_, p)| *p)
            .min()
        {
            hits.push((p, i, s.id));
        }
    }
    hits.sort();
    hits.into_iter().map(|(_, _, id)| id).collect()
}

/// The login of the server `id` at `ip`, in the app's order.
pub fn resolve(id: Uuid, ip: &str, server: &ServerCreds, sets: &[SetRow]) -> Choice {
    let known = |s: Option<Uuid>| s.filter(|s| sets.iter().any(|x| x.id == *s));
    if let Some(s) = known(server.credential_set_id) {
        return Choice::Set(s);
    }
    if server.own_login {
        return Choice::Server(id);
    }
    if let Some(s) = known(server.discovered_by) {
        return Choice::Set(s);
    }
    if let Ok(addr) = ip.trim().parse::<IpAddr>()
        && let Some(s) = by_range(addr, sets).into_iter().next()
    {
        return Choice::Set(s);
    }
    // The app falls back to its process's default login; Outpost to the
    // app's default iDRAC set, else the zone vault's default.
    default_set(sets)
        .map(|s| Choice::Set(s.id))
        .unwrap_or(Choice::VaultDefault)
}

/// The app's default iDRAC set (the lowest priority of the defaults).
pub fn default_set(sets: &[SetRow]) -> Option<&SetRow> {
    sets.iter()
        .filter(|s| s.is_default && s.kind == "idrac")
        .min_by_key(|s| s.priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: u128, name: &str, ranges: &[(&str, i32)], default: bool) -> SetRow {
        SetRow {
            id: Uuid::from_u128(n),
            name: name.into(),
            priority: 100,
            kind: "idrac".into(),
            is_default: default,
            ranges: ranges.iter().map(|(r, p)| (r.to_string(), *p)).collect(),
        }
    }

    #[test]
    fn ranges_hold_what_the_app_says() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_range(ip("10.0.0.7"), "10.0.0.0/24"));
        assert!(!in_range(ip("10.0.1.7"), "10.0.0.0/24"));
        assert!(in_range(ip("10.0.0.7"), "10.0.0.5 - 10.0.0.9"));
        assert!(!in_range(ip("10.0.0.10"), "10.0.0.5-10.0.0.9"));
        assert!(in_range(ip("10.0.0.7"), "10.0.0.7"));
        assert!(in_range(ip("10.0.0.7"), "10.0.0.1/0"));
        assert!(!in_range(ip("10.0.0.7"), "10.0.0.0/33"));
        assert!(!in_range(ip("10.0.0.7"), "garbage"));
        assert!(in_range(ip("fd00::5"), "fd00::/64"));
    }

    #[test]
    fn the_apps_order_decides() {
        let sets = vec![
            set(1, "assigned", &[], false),
            set(2, "discoverer", &[], false),
            set(3, "wide", &[("10.0.0.0/16", 50)], false),
            set(4, "narrow", &[("10.0.0.0/24", 10)], false),
            set(5, "default", &[], true),
        ];
        let id = Uuid::from_u128(99);
        let mut s = ServerCreds {
            credential_set_id: Some(Uuid::from_u128(1)),
            own_login: true,
            discovered_by: Some(Uuid::from_u128(2)),
        };
        assert_eq!(
            resolve(id, "10.0.0.7", &s, &sets),
            Choice::Set(Uuid::from_u128(1))
        );
        s.credential_set_id = None;
        assert_eq!(resolve(id, "10.0.0.7", &s, &sets), Choice::Server(id));
        s.own_login = false;
        assert_eq!(
            resolve(id, "10.0.0.7", &s, &sets),
            Choice::Set(Uuid::from_u128(2))
        );
        s.discovered_by = None;
        // The range's priority, not the set's, orders ranges.
        assert_eq!(
            resolve(id, "10.0.0.7", &s, &sets),
            Choice::Set(Uuid::from_u128(4))
        );
        assert_eq!(
            resolve(id, "10.0.9.7", &s, &sets),
            Choice::Set(Uuid::from_u128(3))
        );
        assert_eq!(
            resolve(id, "10.9.9.7", &s, &sets),
            Choice::Set(Uuid::from_u128(5))
        );
        // A set that no longer exists is passed over.
        s.credential_set_id = Some(Uuid::from_u128(77));
        assert_eq!(
            resolve(id, "10.9.9.7", &s, &sets),
            Choice::Set(Uuid::from_u128(5))
        );
        assert_eq!(
            resolve(id, "10.9.9.7", &s, &sets[..4]),
            Choice::VaultDefault
        );
        assert_eq!(
            Choice::Server(id).name(&sets).as_deref(),
            Some("server-00000000000000000000000000000063")
        );
    }
}
