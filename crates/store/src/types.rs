//! The values the store speaks in: revisions, key-values, write and read results, watch events.

use std::fmt;

/// A store revision: the position of one committed write in the global history.
///
/// Every committed write advances the single global revision by one, so the
/// history is dense: revisions `1, 2, 3, …` each name exactly one Put or Delete.
/// `Revision(0)` means "none" (no previous write, or no compaction yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub i64);

impl Revision {
    /// The revision that names no write.
    pub const ZERO: Revision = Revision(0);

    /// The revision right after this one.
    pub fn next(self) -> Revision {
        Revision(self.0 + 1)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One version of one key, as etcd's `mvccpb.KeyValue`.
///
/// Example: a key created at revision 5 and updated at 9 reads as
/// `create_revision 5, mod_revision 9, version 2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, relative to the store's prefix (e.g. `pods/default/web-1`).
    pub key: String,
    /// The stored bytes.
    pub value: Vec<u8>,
    /// Revision of the write that created this generation of the key.
    pub create_revision: Revision,
    /// Revision of the write that produced this version.
    pub mod_revision: Revision,
    /// Number of writes to this generation of the key: 1 after create.
    pub version: i64,
}

/// Options for [`crate::Store::range`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeOptions {
    /// Start listing at this key (inclusive) instead of at the prefix; used for paging.
    pub start_key: Option<String>,
    /// At most this many items; `None` or `Some(0)` means no limit.
    pub limit: Option<u64>,
    /// Read the state as of this revision; `None` reads the current state.
    pub revision: Option<Revision>,
}

/// The answer to a range read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResult {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// Whether more items matched beyond `limit`.
    pub more: bool,
    /// The revision the read was served at.
    pub revision: Revision,
}

/// The answer to a single-key read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetResult {
    /// The key's version at `revision`, if it existed.
    pub kv: Option<KeyValue>,
    /// The revision the read was served at.
    pub revision: Revision,
}

/// The answer to a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteResult {
    /// The revision of this write.
    pub revision: Revision,
    /// The key's version before this write (`None` for a create).
    pub prev: Option<KeyValue>,
}

/// The kind of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change to one key, as seen by a watcher.
///
/// For a Delete, `kv` carries only the key and `mod_revision` (the revision of
/// the delete), as etcd does; the deleted content is in `prev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// Put or Delete.
    pub kind: EventKind,
    /// The key after the change.
    pub kv: KeyValue,
    /// The key before the change, if it existed.
    pub prev: Option<KeyValue>,
}

impl WatchEvent {
    /// The revision of the write this event reports.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// The exclusive end of the key range covered by `prefix`, as etcd's `WithPrefix`.
///
/// Example: `"pods/"` → `Some(b"pods0")`; the empty prefix covers everything → `None`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = prefix.to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

/// Whether `key` lies in the range that `prefix` covers.
pub fn has_prefix(key: &str, prefix: &str) -> bool {
    key.as_bytes().starts_with(prefix.as_bytes())
}

/// The most bytes of key and value one write may carry, on every backend: etcd's default
/// `--max-request-bytes` (1.5 MiB) less 1 KiB for the rest of its request, so that a write
/// SQLite takes is one etcd would take too.
pub const MAX_WRITE_BYTES: usize = 1_572_864 - 1024;

/// `TooLarge` when `key` and `value` together pass [`MAX_WRITE_BYTES`].
pub fn check_write_size(key: &str, value: &[u8]) -> Result<(), crate::StoreError> {
    let size = key.len() + value.len();
    if size > MAX_WRITE_BYTES {
        return Err(crate::StoreError::TooLarge {
            key: key.to_owned(),
            size,
            limit: MAX_WRITE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        let cases: [(&[u8], Option<&[u8]>); 4] = [
            (b"pods/", Some(b"pods0")),
            (b"a", Some(b"b")),
            (b"a\xff", Some(b"b")),
            (b"", None),
        ];
        for (prefix, want) in cases {
            assert_eq!(prefix_end(prefix).as_deref(), want, "prefix {prefix:?}");
        }
    }
}
