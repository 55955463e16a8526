//! Where a simulator may listen. On the machine's own network, loopback
//! only (127.0.0.0/8): a simulator never takes a real interface's address.
//! Inside a named network namespace (`ip netns add`, as
//! `deploy/local-sites.sh` makes each site), every address is one the
//! namespace's creator gave it, so any address may be used there — when
//! asked for (`--in-namespace`).

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;

/// Whether this process runs in a named network namespace: one that
/// `ip netns add` made (its handle is bound under /run/netns).
pub fn in_own_namespace() -> bool {
    let id = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let Some(own) = id(std::path::Path::new("/proc/self/ns/net")) else {
        return false;
    };
    let Ok(named) = std::fs::read_dir("/run/netns") else {
        return false;
    };
    named.flatten().any(|e| id(&e.path()) == Some(own))
}

/// Whether a simulator may listen on `ip`.
pub fn may_listen(ip: Ipv4Addr, in_namespace: bool) -> bool {
    ip.is_loopback() || (in_namespace && in_own_namespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_always_other_addresses_only_in_a_namespace_of_our_own() {
        assert!(may_listen(Ipv4Addr::new(127, 3, 0, 1), false));
        assert!(!may_listen(Ipv4Addr::new(10, 78, 1, 10), false));
        // The test itself runs in the machine's namespace (or cannot tell).
        assert_eq!(
            may_listen(Ipv4Addr::new(10, 78, 1, 10), true),
            in_own_namespace()
        );
    }
}
