//! Watch lines shared between watches: a store event that several unfiltered watches of one
//! resource deliver is decoded and encoded once, not once per watch.
//!
//! Example: a pod's status write, seen by the scheduler's, the ReplicaSet controller's and
//! the garbage collector's watches of all pods, is turned into its
//! `{"type":"MODIFIED","object":{…}}` line by whichever of them gets to it first; the others
//! send the same bytes. Lines are kept for the last `CAPACITY` events, at most `BYTES` of them
//! (always the latest): a watch that falls further behind encodes its own line.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use ferrokube_store::Revision;

/// Lines kept: enough for every watch that keeps up to find the line of the event it is at
/// (a fifth of a second of a 10,000-pod rollout's events); one that is further behind encodes
/// its own. With 4,096 and 32 MiB, the lines were a fifth of the server's heap at 10,000 pods.
const CAPACITY: usize = 1024;
/// Bytes of lines kept.
const BYTES: usize = 8 << 20;

/// One event's line for one served resource: group, version, plural and the event's revision.
pub type LineKey = (&'static str, &'static str, &'static str, Revision);

/// Recently encoded watch lines.
#[derive(Default)]
pub struct SharedLines {
    /// Lock order: the only lock; held only to look up or insert, never while encoding.
    lines: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    by_key: HashMap<LineKey, Bytes>,
    /// Keys in insertion order, for evicting the oldest.
    order: VecDeque<LineKey>,
    /// Bytes of the lines in `by_key`.
    bytes: usize,
}

impl SharedLines {
    /// The line for `key`, encoded by `encode` unless another watch did it already. `None`
    /// when `encode` has nothing to send (nothing is kept then).
    pub fn get_or_encode(
        &self,
        key: LineKey,
        encode: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        if let Some(line) = self
            .lines
            .lock()
            .expect("watch lines lock")
            .by_key
            .get(&key)
        {
            return Some(line.clone());
        }
        let line = encode()?;
        let mut lines = self.lines.lock().expect("watch lines lock");
        match lines.by_key.insert(key, line.clone()) {
            None => lines.order.push_back(key),
            Some(replaced) => lines.bytes -= replaced.len(),
        }
        lines.bytes += line.len();
        while lines.order.len() > CAPACITY || (lines.bytes > BYTES && lines.order.len() > 1) {
            if let Some(oldest) = lines.order.pop_front()
                && let Some(evicted) = lines.by_key.remove(&oldest)
            {
                lines.bytes -= evicted.len();
            }
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(revision: i64) -> LineKey {
        ("", "v1", "pods", Revision(revision))
    }

    #[test]
    fn the_first_watch_encodes_and_the_others_reuse_its_line() {
        let shared = SharedLines::default();
        let mut encoded = 0;
        for _ in 0..3 {
            let line = shared.get_or_encode(key(7), || {
                encoded += 1;
                Some(Bytes::from_static(b"{\"type\":\"ADDED\"}\n"))
            });
            assert_eq!(line.as_deref(), Some(&b"{\"type\":\"ADDED\"}\n"[..]));
        }
        assert_eq!(encoded, 1);
        let other_version = ("", "v2", "pods", Revision(7));
        let line = shared.get_or_encode(other_version, || Some(Bytes::from_static(b"v2\n")));
        assert_eq!(line.as_deref(), Some(&b"v2\n"[..]), "versions do not share");
    }

    #[test]
    fn nothing_to_send_is_not_kept_and_old_lines_are_evicted() {
        let shared = SharedLines::default();
        assert_eq!(shared.get_or_encode(key(1), || None), None);
        for revision in 0..(CAPACITY as i64 + 10) {
            shared.get_or_encode(key(revision), || Some(Bytes::from(revision.to_string())));
        }
        let lines = shared.lines.lock().unwrap();
        assert_eq!(lines.by_key.len(), CAPACITY);
        assert!(!lines.by_key.contains_key(&key(0)), "the oldest went first");
        assert!(lines.by_key.contains_key(&key(CAPACITY as i64 + 9)));
    }

    #[test]
    fn big_lines_are_kept_up_to_the_byte_bound() {
        let shared = SharedLines::default();
        let mib = 1 << 20;
        for revision in 0..100 {
            shared.get_or_encode(key(revision), || Some(Bytes::from(vec![b'x'; mib])));
        }
        let lines = shared.lines.lock().unwrap();
        assert_eq!(lines.by_key.len(), BYTES / mib);
        assert_eq!(lines.bytes, BYTES);
        assert!(lines.by_key.contains_key(&key(99)), "the latest stays");
        drop(lines);
        // One line larger than the bound is still kept, alone.
        shared.get_or_encode(key(100), || Some(Bytes::from(vec![b'x'; BYTES + 1])));
        assert_eq!(shared.lines.lock().unwrap().by_key.len(), 1);
    }
}
