//! Expectations: the pods a ReplicaSet controller created or deleted that its cache has not
//! shown yet, so a stale cache never makes it create or delete twice.
//!
//! Example: after creating `web-abcde`, the next reconcile (before the watch delivers the
//! pod) counts one pending creation; once the cache holds `web-abcde`, it counts none.
//! Times are tokio's clock, so that tests under `tokio::time::pause()` can let one expire.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long an expectation is trusted before the cache is believed instead.
pub const TTL: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Pending {
    creates: HashMap<String, Instant>,
    deletes: HashMap<String, Instant>,
}

/// Pending creations and deletions per ReplicaSet (`namespace/name`).
#[derive(Default)]
pub struct Expectations {
    /// Lock order: the only lock; never held across an await.
    by_owner: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    pub fn created(&self, owner: &str, pod: &str, now: Instant) {
        self.by_owner
            .lock()
            .expect("expectations lock")
            .entry(owner.to_owned())
            .or_default()
            .creates
            .insert(pod.to_owned(), now);
    }

    pub fn deleted(&self, owner: &str, pod: &str, now: Instant) {
        self.by_owner
            .lock()
            .expect("expectations lock")
            .entry(owner.to_owned())
            .or_default()
            .deletes
            .insert(pod.to_owned(), now);
    }

    /// (creations not yet in the cache, deletions whose pod the cache still shows active),
    /// forgetting what the cache has caught up with or what is older than [`TTL`].
    pub fn pending(
        &self,
        owner: &str,
        active_in_cache: &HashSet<&str>,
        now: Instant,
    ) -> (usize, usize) {
        let mut by_owner = self.by_owner.lock().expect("expectations lock");
        let Some(pending) = by_owner.get_mut(owner) else {
            return (0, 0);
        };
        pending.creates.retain(|pod, at| {
            !active_in_cache.contains(pod.as_str()) && now.duration_since(*at) < TTL
        });
        pending.deletes.retain(|pod, at| {
            active_in_cache.contains(pod.as_str()) && now.duration_since(*at) < TTL
        });
        let counts = (pending.creates.len(), pending.deletes.len());
        if counts == (0, 0) {
            by_owner.remove(owner);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_until_the_cache_catches_up_or_expires() {
        let expectations = Expectations::default();
        let start = Instant::now();
        expectations.created("ns/web", "web-a", start);
        expectations.created("ns/web", "web-b", start);
        expectations.deleted("ns/web", "web-old", start);
        let cache: HashSet<&str> = ["web-a", "web-old"].into();
        assert_eq!(expectations.pending("ns/web", &cache, start), (1, 1));
        let later: HashSet<&str> = ["web-a", "web-b"].into();
        assert_eq!(expectations.pending("ns/web", &later, start), (0, 0));
        expectations.created("ns/web", "web-c", start);
        assert_eq!(
            expectations.pending("ns/web", &HashSet::new(), start + TTL),
            (0, 0),
            "expired"
        );
        assert_eq!(
            expectations.pending("ns/other", &HashSet::new(), start),
            (0, 0)
        );
    }
}
