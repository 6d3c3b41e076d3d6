//! ferrokube's store: an MVCC key-value store with etcd v3 semantics behind one `Store` trait.
//!
//! Backends: [`SqliteStore`] (embedded, the default), [`EtcdStore`] (a real etcd v3 server)
//! and [`MemoryStore`] (for unit tests of other crates). [`open`] picks one from a datastore
//! endpoint as `ferrokube server --datastore-endpoint` takes it.

mod compaction;
mod endpoint;
mod error;
mod etcd;
mod log;
mod memory;
mod route;
mod sqlite;
mod types;
mod watch;

pub use compaction::CompactionPolicy;
pub use endpoint::{Datastore, StoreTuning, open};
pub use error::StoreError;
pub use etcd::{DEFAULT_REQUEST_TIMEOUT, EtcdStore, EtcdStoreOptions};
pub use memory::MemoryStore;
pub use route::{IndexedField, Route};
pub use sqlite::{SqliteStore, SqliteStoreOptions, sqlite_memory_used};
pub use types::{
    EventKind, GetResult, KeyValue, MAX_WRITE_BYTES, RangeOptions, RangeResult, Revision,
    WatchEvent, WriteResult, check_write_size, has_prefix, prefix_end,
};
pub use watch::WatchStream;

use async_trait::async_trait;

/// A key-value store with etcd v3 semantics.
///
/// Invariants every backend keeps (checked by the conformance suite in `tests/`):
/// - every committed write advances one global revision by exactly one;
/// - a read at revision `r` sees exactly the writes with revision `<= r`;
/// - a watch from revision `s` delivers every write with revision `>= s` under its prefix,
///   in revision order, with no gap and no duplicate, or ends with an error;
/// - a create or update whose key and value pass [`MAX_WRITE_BYTES`] fails with `TooLarge`
///   and writes nothing (etcd's default limit, on every backend).
///
/// Keys are relative: the etcd backend puts them under its prefix (default `/registry/`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key, now or at a past `revision`.
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult, StoreError>;

    /// Lists the keys under `prefix` in key order.
    async fn range(&self, prefix: &str, options: RangeOptions) -> Result<RangeResult, StoreError>;

    /// Creates `key`; fails with `AlreadyExists` if it is present.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<WriteResult, StoreError>;

    /// Replaces `key` if its `mod_revision` is `expected`; `Conflict` or `NotFound` otherwise.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<WriteResult, StoreError>;

    /// Deletes `key`, if `expected` is given only when its `mod_revision` matches.
    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<WriteResult, StoreError>;

    /// Streams every change under `prefix` from revision `start` (inclusive), or from now.
    ///
    /// A `start` at or below the compacted revision fails with `Compacted`.
    async fn watch(
        &self,
        prefix: &str,
        start: Option<Revision>,
    ) -> Result<WatchStream, StoreError> {
        self.watch_routed(prefix, start, None).await
    }

    /// `watch`, for a caller that, given a `route`, wants only the events whose object has the
    /// route's field value before or after the change. A backend may leave the others out
    /// (SQLite and memory do, so such a write does not wake this watch; etcd does not); the
    /// caller still filters what it gets.
    async fn watch_routed(
        &self,
        prefix: &str,
        start: Option<Revision>,
        route: Option<&Route>,
    ) -> Result<WatchStream, StoreError>;

    /// Forgets the history before `revision`: reads and watches below it become `Compacted`.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The revision of the latest committed write.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// How many keys exist under `prefix` now.
    async fn count(&self, prefix: &str) -> Result<u64, StoreError>;
}
