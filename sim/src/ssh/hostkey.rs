//! Deterministic host keys: the same seed gives the same key across restarts.
//! Ed25519 keys are derived directly from the seed (cheap); RSA keys (needed
//! only by legacy-only devices, whose clients insist on `ssh-rsa`) are
//! generated from a seeded SHA-256 counter-mode stream, once per seed per
//! process, on the blocking pool, and cached.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use russh::keys::ssh_key::private::{Ed25519Keypair, RsaKeypair};
use russh::keys::ssh_key::rand_core::{TryCryptoRng, TryRng};
use russh::keys::ssh_key::sha2::{Digest, Sha256};
use russh::keys::{HashAlg, PrivateKey};

use super::error::SimError;

/// RSA modulus size of legacy devices' host keys. Many old IOS images ship
/// 1024-bit keys; 2048 keeps modern clients that enforce a minimum happy.
pub const RSA_BITS: usize = 2048;

/// A deterministic byte stream: SHA-256(domain || seed || counter) blocks.
/// Good enough to make key generation reproducible; not a secret source.
struct SeededStream {
    seed: u64,
    domain: &'static [u8],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededStream {
    fn new(domain: &'static [u8], seed: u64) -> Self {
        SeededStream {
            seed,
            domain,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut h = Sha256::new();
        h.update(self.domain);
        h.update(self.seed.to_le_bytes());
        h.update(self.counter.to_le_bytes());
        self.block.copy_from_slice(&h.finalize());
        self.counter += 1;
        self.used = 0;
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for b in dst {
            if self.used == self.block.len() {
                self.refill();
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }
}

impl TryRng for SeededStream {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for SeededStream {}

/// The Ed25519 host key of `seed` (microseconds to derive).
pub fn ed25519_key(seed: u64) -> PrivateKey {
    let mut bytes = [0u8; 32];
    SeededStream::new(b"outpost-sim ed25519", seed).fill(&mut bytes);
    PrivateKey::from(Ed25519Keypair::from_seed(&bytes))
}

type RsaSlot = Arc<tokio::sync::OnceCell<PrivateKey>>;

fn rsa_cache() -> &'static Mutex<HashMap<u64, RsaSlot>> {
    static CACHE: OnceLock<Mutex<HashMap<u64, RsaSlot>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The RSA host key of `seed`: generated at most once per process per seed,
/// on the blocking thread pool, then served from the cache.
pub async fn rsa_key(seed: u64) -> Result<PrivateKey, SimError> {
    let slot = {
        let mut cache = rsa_cache().lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(seed).or_default().clone()
    };
    slot.get_or_try_init(|| async move {
        tokio::task::spawn_blocking(move || {
            let mut rng = SeededStream::new(b"outpost-sim rsa", seed);
            RsaKeypair::random(&mut rng, RSA_BITS)
                .map(PrivateKey::from)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|reason| SimError::HostKey { seed, reason })
    })
    .await
    .cloned()
}

/// `SHA256:<base64>` as OpenSSH prints it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_is_deterministic_per_seed() {
        assert_eq!(fingerprint(&ed25519_key(7)), fingerprint(&ed25519_key(7)));
        assert_ne!(fingerprint(&ed25519_key(7)), fingerprint(&ed25519_key(8)));
        assert!(fingerprint(&ed25519_key(7)).starts_with("SHA256:"));
    }
}
