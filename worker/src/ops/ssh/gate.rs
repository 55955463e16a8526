//! The handshake gate: at most [`HANDSHAKES_PER_ADDRESS`] sessions of this
//! worker are between TCP connect and the end of authentication with one
//! `host:port` at a time. OpenSSH drops unauthenticated connections beyond
//! `MaxStartups` (default `10:30:100`: some from the 11th, all from the
//! 100th), and so do many network devices with few vty lines; a job of 100
//! devices behind one address (a jump host, a terminal server, a lab)
//! would otherwise trip it and live on retries. Authenticated sessions do
//! not count, so collection itself stays as parallel as the job allows.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Concurrent handshakes to one address, below sshd's `MaxStartups` start.
pub const HANDSHAKES_PER_ADDRESS: usize = 8;

/// One gate per address with a handshake in flight or waiting; an address
/// nobody uses any more is removed, so the map is bounded by the sessions
/// in flight.
static GATES: LazyLock<Mutex<HashMap<String, Arc<Semaphore>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A place in an address's gate, given back on drop.
pub struct Pass {
    addr: String,
    permit: Option<OwnedSemaphorePermit>,
}

/// Waits for a handshake slot for `addr`.
pub async fn enter(addr: &str) -> Pass {
    let gate = GATES
        .lock()
        .map(|mut g| {
            g.entry(addr.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(HANDSHAKES_PER_ADDRESS)))
                .clone()
        })
        .unwrap_or_else(|_| Arc::new(Semaphore::new(HANDSHAKES_PER_ADDRESS)));
    // The semaphore is never closed: acquiring fails only if it were.
    let permit = gate.acquire_owned().await.ok();
    Pass {
        addr: addr.to_string(),
        permit,
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Ok(mut g) = GATES.lock()
            && g.get(&self.addr).is_some_and(|s| Arc::strong_count(s) == 1)
        {
            g.remove(&self.addr);
        }
    }
}

/// Addresses with a gate now (for tests).
#[cfg(test)]
fn gates() -> usize {
    GATES.lock().map(|g| g.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_address_admits_a_bounded_number_of_handshakes() {
        let addr = "gate-test:22";
        let mut held = Vec::new();
        for _ in 0..HANDSHAKES_PER_ADDRESS {
            held.push(enter(addr).await);
        }
        // Full for this address; another address is not held up.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), enter(addr))
                .await
                .is_err()
        );
        let other = tokio::time::timeout(Duration::from_secs(5), enter("gate-other:22"))
            .await
            .expect("another address waits for nothing");
        drop(other);
        let waiter = tokio::spawn(enter(addr));
        held.pop();
        let p = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("a freed slot admits the waiter")
            .expect("join");
        drop(p);
        held.clear();
        // Nobody uses the addresses any more: their gates are gone.
        assert_eq!(gates(), 0);
    }
}
