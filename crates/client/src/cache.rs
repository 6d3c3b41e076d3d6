//! A reflector cache whose readiness any number of reconciles can await at once.
//!
//! kube-runtime's `Store::wait_until_ready` polls one shared oneshot receiver, which keeps only
//! the waker of the last task that polled it: when two reconciles wait together, the first is
//! never woken and its object is stuck for good (seen after a restart, when every object is
//! reconciled before the first list completes). Readiness here is a `watch` channel instead.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// A cache of all objects of one kind, filled by the stream [`cache`] returns.
pub struct Cache<K: Resource + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    store: Store<K>,
    ready: watch::Receiver<bool>,
}

impl<K: Resource + Clone + 'static> Cache<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// Waits until the first complete list has been applied.
    pub async fn wait_until_ready(&self) -> Result<(), watch::error::RecvError> {
        self.ready.clone().wait_for(|ready| *ready).await.map(drop)
    }

    /// Whether the first complete list has been applied.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Every cached object.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// The cached object `key` names, if any.
    pub fn get(&self, key: &reflector::ObjectRef<K>) -> Option<Arc<K>> {
        self.store.get(key)
    }
}

/// A cache of every `K` and the stream that fills it, yielding each object it touches (for a
/// controller's `watches_stream`, so reconciles never read a cache older than their trigger).
pub fn cache<K>(
    api: Api<K>,
) -> (
    Cache<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    cache_of_parts(api, |_| {})
}

/// [`cache`], holding each object as `keep` leaves it (beyond `trimmed`): only the fields its
/// reader uses, as upstream's informers' transforms.
pub fn cache_of_parts<K>(
    api: Api<K>,
    keep: fn(&mut K),
) -> (
    Cache<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    cache_selected(api, watcher::Config::default(), keep)
}

/// [`cache_of_parts`] of the objects `config` selects (a field selector, say).
pub fn cache_selected<K>(
    api: Api<K>,
    config: watcher::Config,
    keep: fn(&mut K),
) -> (
    Cache<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let (ready_tx, ready) = watch::channel(false);
    let events = trimmed(watcher(api, config)).modify(keep);
    let stream = reflector::reflector(writer, events)
        .default_backoff()
        .inspect(move |event| {
            if let Ok(watcher::Event::InitDone) = event {
                ready_tx.send_replace(true);
            }
        })
        .touched_objects();
    (Cache { store, ready }, stream)
}

/// `events` with each object's `metadata.managedFields` dropped, as upstream's scheduler and
/// controller manager do for their informers (`TransformStripManagedFields`): no component
/// reads them, and as JSON trees they were the largest part of a cached Pod (with 10,000 Pods
/// in the caches, the server's resident memory fell from ~1.5 GB to ~0.9 GB without them).
pub fn trimmed<K, S>(events: S) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>
where
    K: Resource,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    events.modify(|obj: &mut K| obj.meta_mut().managed_fields = None)
}
