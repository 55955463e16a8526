//! Where crash tests kill: points in time drawn anew every run (the seed
//! is printed, so a failing run can be told apart), spread so kills land
//! in every phase of what the test drives.

/// `n` kill points in ms, each in `from..=to`.
pub fn kill_points(n: usize, from: u64, to: u64) -> Vec<u64> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    println!("kill point seed {seed}");
    let mut x = seed | 1;
    let span = to.saturating_sub(from) + 1;
    (0..n)
        .map(|_| {
            // xorshift: enough spread for kill points.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            from + x % span
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_fall_in_the_range() {
        let p = super::kill_points(200, 100, 1499);
        assert_eq!(p.len(), 200);
        assert!(p.iter().all(|t| (100..=1499).contains(t)), "{p:?}");
        assert!(
            p.iter().any(|t| *t < 500) && p.iter().any(|t| *t > 1100),
            "{p:?}"
        );
    }
}
