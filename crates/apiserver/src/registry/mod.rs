//! The generic resource store between the HTTP handlers and the key-value store, as upstream's
//! `registry/generic/registry/store.go`: create, get, list, one guaranteed update, delete,
//! delete-collection and the start of a watch, for every resource of the resource registry,
//! with the strategy's hooks and the admission chain run in upstream's order.
//!
//! Only this module reads or writes the key-value store: the handlers parse a request, call a
//! [`Storage`] and encode its answer.

mod create;
mod delete;
mod filter;
mod hooks;
mod managed;
mod read;
mod update;

use std::sync::Arc;

use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, GroupResource};
use ferrokube_store::{Revision, Store, StoreError};
use serde_json::Value;

use crate::Inner;
use crate::admission::{Attributes, Operation};

pub use create::CreateOptions;
pub use delete::{DeleteOptions, finalized};
pub use filter::Filter;
pub use hooks::{HookTable, Hooks};
pub use managed::{Writer, manager_name};
pub use read::{ListOptions, ListSink, PageMeta, WatchStart};
pub use update::{Managed, Target, UpdateOptions};

/// The key-value store behind the registry. Its field is private to this module, so that no
/// handler can reach the store but through a [`Storage`].
pub struct Backend(Arc<dyn Store>);

impl Backend {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Backend(store)
    }
}

/// An object as read from the store, with the revision it was last written at (its
/// `metadata.resourceVersion` is set to that revision).
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub object: Value,
    pub revision: Revision,
}

/// The generic store of one resource.
#[derive(Clone, Copy)]
pub struct Storage<'a> {
    inner: &'a Inner,
    info: &'a ResourceInfo,
}

impl<'a> Storage<'a> {
    pub fn new(inner: &'a Inner, info: &'a ResourceInfo) -> Self {
        Storage { inner, info }
    }

    /// The storage of another resource (a plugin reading namespaces, the log handler nodes).
    pub fn of(inner: &'a Inner, group: &str, version: &str, plural: &str) -> Self {
        let info = inner
            .registry
            .find(group, version, plural)
            .unwrap_or_else(|| panic!("{group}/{version} {plural} is a built-in resource"));
        Storage::new(inner, info)
    }

    fn store(&self) -> &'a dyn Store {
        &*self.inner.backend.0
    }

    /// The resource's hooks.
    fn hooks(&self) -> &'a dyn Hooks {
        self.inner.hooks.of(self.info)
    }

    fn resource(&self) -> GroupResource {
        self.info.group_resource()
    }

    /// The namespace of keys: the given one for namespaced resources, none otherwise.
    fn key_namespace<'n>(&self, namespace: Option<&'n str>) -> Option<&'n str> {
        namespace.filter(|_| self.info.namespaced())
    }

    fn key(&self, namespace: Option<&str>, name: &str) -> String {
        self.info.key(self.key_namespace(namespace), name)
    }

    fn error(&self, err: StoreError, name: &str) -> ApiError {
        store_error(err, &self.resource(), name)
    }

    /// Runs the admission chain over one operation.
    async fn admit(&self, attributes: Attributes<'_>) -> Result<(), ApiError> {
        self.inner.admission.admit(&attributes, self.inner).await
    }

    fn attributes<'b>(
        &self,
        operation: Operation,
        namespace: Option<&'b str>,
        name: &'b str,
    ) -> Attributes<'b>
    where
        'a: 'b,
    {
        Attributes {
            operation,
            info: self.info,
            namespace: self.key_namespace(namespace),
            name,
        }
    }
}

/// Whether the store answers within the health check timeout (the health checks' `etcd`).
pub async fn store_reachable(inner: &Inner) -> bool {
    let timeout = inner.options.health_check_timeout;
    let probe = inner.backend.0.current_revision();
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(_)))
}

/// The API error for a store error about `name` of `resource`.
pub fn store_error(err: StoreError, resource: &GroupResource, name: &str) -> ApiError {
    match err {
        StoreError::NotFound { .. } => ApiError::not_found(resource, name),
        StoreError::AlreadyExists { .. } => ApiError::already_exists(resource, name),
        StoreError::Conflict { .. } => ApiError::conflict(resource, name),
        StoreError::Compacted {
            requested,
            compacted,
        } => ApiError::gone(format!(
            "too old resource version: {} ({})",
            requested.0, compacted.0
        )),
        StoreError::FutureRevision { requested, current } => ApiError::timeout(format!(
            "Too large resource version: {}, current: {}",
            requested.0, current.0
        )),
        StoreError::Unavailable(detail) => {
            tracing::warn!(resource = %resource, name, %detail, "store unavailable");
            ApiError::request_timeout()
        }
        StoreError::TooLarge { .. } => ApiError::unclassified(ETCD_TOO_LARGE),
        StoreError::EtcdTooLarge(_) => ApiError::unclassified(ETCD_TOO_LARGE),
        other => ApiError::internal(other.to_string()),
    }
}

/// What etcd answers a write over its request limit; upstream passes it on as a 500.
const ETCD_TOO_LARGE: &str = "etcdserver: request is too large";

/// The `Status` that ends a watch whose store stream failed: 410 Expired when the revision it
/// needs is gone (the client relists), else an internal error the client retries
/// (upstream's `interpretWatchError`).
pub fn watch_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Compacted { .. } | StoreError::WatchLagged { .. } => {
            ApiError::gone(format!("too old resource version: {err}"))
        }
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "watch ended: store unavailable");
            ApiError::internal("the store is unavailable")
        }
        other => ApiError::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_as_upstream_answers_them() {
        let pods = GroupResource::new("", "pods");
        let unavailable = || StoreError::Unavailable("tonic::transport::Error(...)".into());
        let too_large = StoreError::TooLarge {
            key: "k".into(),
            size: 2,
            limit: 1,
        };
        let lagged = StoreError::WatchLagged {
            at: Revision(5),
            reason: "compacted".into(),
        };
        // (error, code, reason, message)
        let writes = [
            (
                unavailable(),
                504,
                "Timeout",
                "Timeout: request did not complete within requested timeout - context deadline exceeded",
            ),
            (too_large, 500, "", "etcdserver: request is too large"),
            (
                StoreError::EtcdTooLarge("etcdserver: request is too large".into()),
                500,
                "",
                "etcdserver: request is too large",
            ),
            (
                StoreError::Etcd("etcdserver: no leader".into()),
                500,
                "InternalError",
                "Internal error occurred: etcd: etcdserver: no leader",
            ),
        ];
        for (err, code, reason, message) in writes {
            let got = store_error(err, &pods, "p");
            assert_eq!(
                (got.code, got.reason, got.message.as_str()),
                (code, reason, message)
            );
        }
        let watches = [
            (unavailable(), 500, "InternalError"),
            (lagged, 410, "Expired"),
            (StoreError::Closed, 500, "InternalError"),
        ];
        for (err, code, reason) in watches {
            let got = watch_error(err);
            assert_eq!((got.code, got.reason), (code, reason), "{}", got.message);
            assert!(!got.message.contains("tonic"), "{}", got.message);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A registry over the memory store, for table tests that need no HTTP server.

    use std::sync::Arc;

    use ferrokube_store::MemoryStore;

    use crate::{ApiServer, ApiServerOptions};

    /// An API server over an empty memory store, with the system namespaces.
    pub async fn server() -> ApiServer {
        server_with(|_| {}).await
    }

    /// `server()`, with hooks of the test's own.
    pub async fn server_with(hooks: impl FnOnce(&mut super::HookTable)) -> ApiServer {
        let mut server = ApiServer::new(Arc::new(MemoryStore::new()), ApiServerOptions::default());
        let inner = Arc::get_mut(&mut server.inner).expect("a new server is not shared");
        hooks(&mut inner.hooks);
        server.bootstrap().await.expect("bootstrap");
        server
    }
}
