//! A short-lived cache of SCIM tokens that verified, so that an identity
//! provider's burst of lookups costs one database read per token per TTL
//! instead of one per request. Keys are SHA-256 digests of the presented
//! token: the cache never holds a secret. Only successes are cached; a
//! revocation takes effect within one TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Entries beyond this are dropped wholesale: a flood of distinct valid
/// tokens cannot grow memory without bound.
const MAX_ENTRIES: usize = 10_000;

pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Uuid, Instant)>>,
}

impl TokenCache {
    /// A zero TTL disables the cache.
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The IAM of a token that verified less than one TTL ago.
    pub fn get(&self, token: &str) -> Option<Uuid> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = Self::key(token);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&key) {
            Some((iam, at)) if at.elapsed() < self.ttl => Some(*iam),
            _ => None,
        }
    }

    pub fn put(&self, token: &str, iam: Uuid) {
        if self.ttl.is_zero() {
            return;
        }
        let key = Self::key(token);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (iam, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_within_ttl_and_disabled_at_zero() {
        let iam = Uuid::new_v4();
        let c = TokenCache::new(Duration::from_secs(60));
        assert_eq!(c.get("t"), None);
        c.put("t", iam);
        assert_eq!(c.get("t"), Some(iam));
        assert_eq!(c.get("u"), None);
        let off = TokenCache::new(Duration::ZERO);
        off.put("t", iam);
        assert_eq!(off.get("t"), None);
        let expired = TokenCache::new(Duration::from_nanos(1));
        expired.put("t", iam);
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(expired.get("t"), None);
    }
}
