//! The garbage collector: deletes objects whose owners are all gone (Background cascade),
//! deletes the dependents of an owner in foreground deletion before releasing it, and orphans
//! the dependents of an owner deleted with `propagationPolicy=Orphan`.
//!
//! It watches every listable resource the API server offers (from discovery), keeps them in
//! caches, and after each change plans over one snapshot (`plan`); before deleting a dangling
//! dependent it checks the owners live, so a cache that lags never deletes a live object's
//! children.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::pacing::{pause_after, timed};
use plan::{Action, Graph};

/// Plan again at least this often, even without events.
const RESYNC: Duration = Duration::from_secs(5);
/// How long a pass waits after a change for more changes to arrive.
const COALESCE: Duration = Duration::from_millis(250);

/// Passes take at most 1/20 of a core while changes keep coming (see `pacing`).
const PASS_SHARE_INVERSE: u32 = 20;

/// One watched resource and its cache.
struct Watched {
    resource: ApiResource,
    namespaced: bool,
    store: Store<DynamicObject>,
}

/// Runs the garbage collector until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    // The caches' watch tasks, stopped (and waited for) on shutdown.
    let mut caches = JoinSet::new();
    tokio::select! {
        () = collect(client, &mut caches) => {}
        () = shutdown => {}
    }
    caches.shutdown().await;
}

async fn collect(client: kube::Client, caches: &mut JoinSet<()>) {
    let changed = Arc::new(Notify::new());
    let watched = loop {
        match watch_everything(&client, &changed, caches).await {
            Ok(watched) => break watched,
            Err(err) => {
                tracing::warn!(error = %err, "garbage collector discovery failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    for w in &watched {
        let _ = w.store.wait_until_ready().await;
    }
    loop {
        let began = tokio::time::Instant::now();
        let mut awaited = Duration::ZERO;
        // The caches' own Arcs: a pass copies no object.
        let snapshot: Vec<(usize, Arc<DynamicObject>)> = watched
            .iter()
            .enumerate()
            .flat_map(|(i, w)| w.store.state().into_iter().map(move |o| (i, o)))
            .collect();
        let graph = Graph::new(snapshot.iter().map(|(_, o)| o.as_ref()));
        for (i, obj) in &snapshot {
            let Some(action) = plan::plan(obj, &graph) else {
                continue;
            };
            let step = act(&client, &watched, &snapshot, &watched[*i], obj, action);
            if let Err(err) = timed(&mut awaited, step).await {
                tracing::warn!(error = %err, object = %obj.name_any(), "garbage collection step failed; retrying");
            }
        }
        let pass = began.elapsed().saturating_sub(awaited);
        let _ = tokio::time::timeout(RESYNC, changed.notified()).await;
        // Let a burst of changes settle into one pass (a pass looks at every object).
        tokio::time::sleep(pause_after(pass, PASS_SHARE_INVERSE, COALESCE)).await;
    }
}

/// Starts a cache of every listable, watchable, deletable resource.
async fn watch_everything(
    client: &kube::Client,
    changed: &Arc<Notify>,
    caches: &mut JoinSet<()>,
) -> Result<Vec<Watched>, kube::Error> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut watched = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            let usable = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                .iter()
                .all(|v| caps.supports_operation(v));
            if !usable || resource.plural == "events" {
                continue;
            }
            let writer = reflector::store::Writer::new(resource.clone());
            let store = writer.as_reader();
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let notify = changed.clone();
            let stream = reflector::reflector(
                writer,
                watcher(api, watcher::Config::default()).modify(keep_what_gc_reads),
            )
            .default_backoff();
            caches.spawn(stream.for_each(move |_| {
                notify.notify_one();
                futures::future::ready(())
            }));
            watched.push(Watched {
                resource,
                namespaced: caps.scope == Scope::Namespaced,
                store,
            });
        }
    }
    Ok(watched)
}

/// Drops all of a cached object but the metadata the collector reads (identity, owners,
/// finalizers, deletion): upstream's collector watches metadata only, and a whole pod as a JSON
/// tree was the largest copy of it in the controllers' memory.
fn keep_what_gc_reads(obj: &mut DynamicObject) {
    obj.data = Value::Null;
    let meta = &mut obj.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    meta.annotations = None;
}

fn api_for(client: &kube::Client, w: &Watched, obj: &DynamicObject) -> Api<DynamicObject> {
    match obj.namespace() {
        Some(ns) if w.namespaced => Api::namespaced_with(client.clone(), &ns, &w.resource),
        _ => Api::all_with(client.clone(), &w.resource),
    }
}

fn find<'a>(
    watched: &'a [Watched],
    snapshot: &'a [(usize, Arc<DynamicObject>)],
    uid: &str,
) -> Option<(&'a Watched, &'a DynamicObject)> {
    snapshot
        .iter()
        .find(|(_, o)| o.metadata.uid.as_deref() == Some(uid))
        .map(|(i, o)| (&watched[*i], o.as_ref()))
}

async fn act(
    client: &kube::Client,
    watched: &[Watched],
    snapshot: &[(usize, Arc<DynamicObject>)],
    w: &Watched,
    obj: &DynamicObject,
    action: Action,
) -> Result<(), kube::Error> {
    let api = api_for(client, w, obj);
    match action {
        Action::DeleteDangling => {
            if owners_alive(client, watched, obj).await? {
                return Ok(());
            }
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions {
                    uid: obj.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            tracing::info!(object = %obj.name_any(), kind = %w.resource.kind, "deleting object whose owners are gone");
            ignore_gone(api.delete(&obj.name_any(), &params).await.map(|_| ()))
        }
        Action::DeleteDependents(uids) => {
            for uid in uids {
                if let Some((dw, dependent)) = find(watched, snapshot, &uid) {
                    let params = DeleteParams {
                        propagation_policy: Some(PropagationPolicy::Foreground),
                        ..Default::default()
                    };
                    ignore_gone(
                        api_for(client, dw, dependent)
                            .delete(&dependent.name_any(), &params)
                            .await
                            .map(|_| ()),
                    )?;
                }
            }
            Ok(())
        }
        Action::OrphanDependents(uids) => {
            let owner_uid = obj.metadata.uid.clone().unwrap_or_default();
            for uid in uids {
                if let Some((dw, dependent)) = find(watched, snapshot, &uid) {
                    let refs: Vec<_> = dependent
                        .owner_references()
                        .iter()
                        .filter(|r| r.uid != owner_uid)
                        .cloned()
                        .collect();
                    let refs = if refs.is_empty() {
                        Value::Null
                    } else {
                        json!(refs)
                    };
                    let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": dependent.resource_version()}});
                    ignore_gone(
                        patch_merge(&api_for(client, dw, dependent), dependent, &patch).await,
                    )?;
                }
            }
            Ok(())
        }
        Action::RemoveFinalizer(finalizer) => {
            let left: Vec<&String> = obj
                .finalizers()
                .iter()
                .filter(|f| *f != finalizer)
                .collect();
            let left = if left.is_empty() {
                Value::Null
            } else {
                json!(left)
            };
            let patch = json!({"metadata": {"finalizers": left, "resourceVersion": obj.resource_version()}});
            ignore_gone(patch_merge(&api, obj, &patch).await)
        }
    }
}

async fn patch_merge(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    patch: &Value,
) -> Result<(), kube::Error> {
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await
    .map(|_| ())
}

/// A 404 or 409 means the object moved on meanwhile: the next pass sees its new state.
fn ignore_gone(result: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        other => other,
    }
}

/// Whether any owner of `obj` exists, read live (by name, compared by uid).
async fn owners_alive(
    client: &kube::Client,
    watched: &[Watched],
    obj: &DynamicObject,
) -> Result<bool, kube::Error> {
    for owner in obj.owner_references() {
        let Some(w) = watched
            .iter()
            .find(|w| w.resource.api_version == owner.api_version && w.resource.kind == owner.kind)
        else {
            // An owner of a kind this server does not serve cannot be checked: keep the object.
            return Ok(true);
        };
        let api: Api<DynamicObject> = match obj.namespace() {
            Some(ns) if w.namespaced => Api::namespaced_with(client.clone(), &ns, &w.resource),
            _ => Api::all_with(client.clone(), &w.resource),
        };
        match api.get_opt(&owner.name).await? {
            Some(live) if live.meta().uid.as_deref() == Some(owner.uid.as_str()) => {
                return Ok(true);
            }
            _ => {}
        }
    }
    Ok(false)
}
