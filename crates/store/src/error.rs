//! The ways a store operation can fail; normal outcomes such as a conflict are variants, not panics.

use crate::types::{KeyValue, Revision};

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// `create` found the key already present.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The key that exists.
        key: String,
    },
    /// `update` or `delete` found no such key.
    #[error("key {key:?} not found")]
    NotFound {
        /// The key that is absent.
        key: String,
    },
    /// `update` or `delete` expected another `mod_revision`; `current` is what is stored now.
    #[error("conflict on key {:?}: expected mod revision {expected}, current is {}", current.key, current.mod_revision)]
    Conflict {
        /// The revision the caller expected.
        expected: Revision,
        /// The key's current version.
        current: Box<KeyValue>,
    },
    /// The requested revision was removed by compaction.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The store's compacted revision.
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// A watcher could not keep up and could not be caught up from the log.
    #[error("watcher fell behind at revision {at} and could not be caught up: {reason}")]
    WatchLagged {
        /// The next revision the watcher would have delivered.
        at: Revision,
        /// Why catching up failed.
        reason: String,
    },
    /// The SQLite backend failed to read or write its file.
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// The etcd backend failed to talk to etcd.
    #[error("etcd: {0}")]
    Etcd(String),
    /// The store was closed while the operation was pending.
    #[error("store is closed")]
    Closed,
    /// A datastore endpoint could not be understood.
    #[error("invalid datastore endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Sqlite(err.to_string())
    }
}

impl From<etcd_client::Error> for StoreError {
    fn from(err: etcd_client::Error) -> Self {
        StoreError::Etcd(err.to_string())
    }
}
