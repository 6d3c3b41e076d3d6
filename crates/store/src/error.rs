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
    /// The SQLite backend failed to read or write its file (`context` says at what, when more
    /// than the query itself); `source` is the failure, with its own causes.
    #[error("sqlite: {context}{source}")]
    Sqlite {
        context: String,
        #[source]
        source: Source,
    },
    /// etcd answered with an error (its own text, e.g. `etcdserver: no leader`).
    #[error("etcd: {0}")]
    Etcd(String),
    /// etcd refused a request as larger than its limit (`etcdserver: request is too large`).
    #[error("etcd: {0}")]
    EtcdTooLarge(String),
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

/// An error from below the store, kept whole (with its chain of causes) where a string once
/// stood; two are equal when they read the same, so that `StoreError` stays comparable.
#[derive(Clone, Debug)]
pub struct Source(pub std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Source {}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Source {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl StoreError {
    /// A SQLite backend failure at `context` (`"creating /data: "`), caused by `source`.
    pub fn sqlite(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Sqlite {
            context: context.into(),
            source: Source(std::sync::Arc::new(source)),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::sqlite("", err)
    }
}

/// gRPC codes (`tonic::Code`) that mean etcd was not reached or did not answer in time.
const GRPC_CANCELLED: i32 = 1;
/// gRPC codes of etcd's refusals told apart below.
const GRPC_INVALID_ARGUMENT: i32 = 3;
const GRPC_OUT_OF_RANGE: i32 = 11;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

impl From<etcd_client::Error> for StoreError {
    /// etcd's own errors keep etcd's message (`etcdserver: …`), without the gRPC client's
    /// framing; failures to reach etcd become `Unavailable`.
    fn from(err: etcd_client::Error) -> Self {
        use etcd_client::Error;
        match err {
            Error::GRpcStatus(ref status) => match i32::from(status.code()) {
                GRPC_CANCELLED | GRPC_DEADLINE_EXCEEDED | GRPC_UNAVAILABLE => {
                    StoreError::Unavailable(status.to_string())
                }
                _ if etcd_refusal(&err) == Some(EtcdRefusal::TooLarge) => {
                    StoreError::EtcdTooLarge(status.message().to_owned())
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

/// The refusals of etcd the store tells apart, known as etcd's Go client knows them
/// (`rpctypes`): by gRPC code and exact message, not by searching an error's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EtcdRefusal {
    /// A read or watch below the compacted revision.
    Compacted,
    /// A read above the current revision.
    FutureRevision,
    /// A request over etcd's size limit.
    TooLarge,
}

/// Which of etcd's known refusals `err` is, if any.
pub(crate) fn etcd_refusal(err: &etcd_client::Error) -> Option<EtcdRefusal> {
    let etcd_client::Error::GRpcStatus(status) = err else {
        return None;
    };
    match (i32::from(status.code()), status.message()) {
        (GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted") => {
            Some(EtcdRefusal::Compacted)
        }
        (GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision") => {
            Some(EtcdRefusal::FutureRevision)
        }
        (GRPC_INVALID_ARGUMENT, "etcdserver: request is too large") => Some(EtcdRefusal::TooLarge),
        _ => None,
    }
}

impl StoreError {
    /// Whether the store itself failed (unreachable, or an internal error), rather than the
    /// request being refused for what it asked.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: tonic::Code, message: &str) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(tonic::Status::new(code, message))
    }

    #[test]
    fn etcds_refusals_are_told_by_code_and_message() {
        use tonic::Code;
        let compacted = "etcdserver: mvcc: required revision has been compacted";
        let future = "etcdserver: mvcc: required revision is a future revision";
        let too_large = "etcdserver: request is too large";
        let cases = [
            (
                status(Code::OutOfRange, compacted),
                Some(EtcdRefusal::Compacted),
            ),
            (
                status(Code::OutOfRange, future),
                Some(EtcdRefusal::FutureRevision),
            ),
            (
                status(Code::InvalidArgument, too_large),
                Some(EtcdRefusal::TooLarge),
            ),
            // The same words under another code, or inside another message, are not etcd's.
            (status(Code::Unknown, compacted), None),
            (
                status(Code::OutOfRange, &format!("proxy: {compacted}")),
                None,
            ),
            (status(Code::Unavailable, "etcdserver: no leader"), None),
        ];
        for (err, want) in cases {
            assert_eq!(etcd_refusal(&err), want, "{err}");
        }
        assert!(matches!(
            StoreError::from(status(Code::InvalidArgument, too_large)),
            StoreError::EtcdTooLarge(_)
        ));
        assert!(matches!(
            StoreError::from(status(Code::Unavailable, "etcdserver: no leader")),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(status(Code::OutOfRange, compacted)),
            StoreError::Etcd(_)
        ));
    }

    #[test]
    fn a_sqlite_failure_keeps_its_cause() {
        use std::error::Error;
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let err = StoreError::sqlite("creating /data: ", io);
        assert_eq!(err.to_string(), "sqlite: creating /data: permission denied");
        let source = err.source().expect("a source");
        assert_eq!(source.to_string(), "permission denied");
        assert_eq!(err.clone(), err, "comparable, as before");
        let from_sqlite = StoreError::from(rusqlite::Error::InvalidQuery);
        assert!(from_sqlite.source().is_some());
    }
}
