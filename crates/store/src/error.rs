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
    /// etcd answered with an error (its own text, e.g. `etcdserver: no leader`).
    #[error("etcd: {0}")]
    Etcd(String),
    /// The store could not be reached, or did not answer in time (etcd down or hung); the
    /// text says how, for the log.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The value is larger than the store takes (etcd's default request limit, on every
    /// backend).
    #[error("value of {size} bytes for key {key:?} is too large (limit {limit})")]
    TooLarge {
        /// The key written.
        key: String,
        /// The bytes of key and value.
        size: usize,
        /// The most bytes a write may carry.
        limit: usize,
    },
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

/// gRPC codes (`tonic::Code`) that mean etcd was not reached or did not answer in time.
const GRPC_CANCELLED: i32 = 1;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

impl From<etcd_client::Error> for StoreError {
    /// etcd's own errors keep etcd's message (`etcdserver: …`), without the gRPC client's
    /// framing; failures to reach etcd become `Unavailable`.
    fn from(err: etcd_client::Error) -> Self {
        use etcd_client::Error;
        match err {
            Error::GRpcStatus(status) => match i32::from(status.code()) {
                GRPC_CANCELLED | GRPC_DEADLINE_EXCEEDED | GRPC_UNAVAILABLE => {
                    StoreError::Unavailable(status.to_string())
                }
                _ => StoreError::Etcd(status.message().to_owned()),
            },
            Error::TransportError(_) | Error::IoError(_) | Error::EndpointError(_) => {
                StoreError::Unavailable(err.to_string())
            }
            other => StoreError::Etcd(other.to_string()),
        }
    }
}

impl StoreError {
    /// Whether the store itself failed (unreachable, or an internal error), rather than the
    /// request being refused for what it asked.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
