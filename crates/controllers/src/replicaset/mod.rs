//! The ReplicaSet controller: keeps `spec.replicas` pods, created from the template with a
//! controller ownerReference, adopting matching orphans and releasing pods that stop matching,
//! and reports status and Events (SuccessfulCreate, SuccessfulDelete, FailedCreate).

pub mod expectations;
pub mod plan;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::ownership::{ControllerSelector, adopt, controller_uid, owners_of, release};
use crate::pacing::{Pacer, timed};
use crate::retry::Retries;
use expectations::Expectations;
use ferrokube_client::cache::{Cache, cache_of_parts};
use ferrokube_client::clock::{self, SharedClock};
use ferrokube_client::events::{Kind, Recorder};
use ferrokube_client::merge_patch;
use plan::{Decision, decide, deletion_order, is_active, pod_from_template, slow_start_batches};

/// How often a ReplicaSet is looked at again while creations or deletions are unconfirmed.
const RECHECK: Duration = Duration::from_secs(1);
/// One ReplicaSet's scans take at most a tenth of a core (see `pacing`).
const SCAN_SHARE_INVERSE: u32 = 10;
/// Resync even without events.
const RESYNC: Duration = Duration::from_secs(300);

/// Why a reconcile failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// The pod cache never became ready.
    #[error("pod cache not ready: {0}")]
    CacheNotReady(String),
    /// Creating pods failed (the status and a FailedCreate Event say so); the reconcile is
    /// retried with backoff, as upstream requeues it rate-limited.
    #[error("creating pods failed: {0}")]
    CreatePods(String),
}

struct Context {
    client: kube::Client,
    /// Failures in a row per object, for the delay before a retry.
    retries: Retries,
    pods: Cache<Pod>,
    expectations: Expectations,
    /// Keeps the scans of one ReplicaSet's pods to a share of a core under a stream of pod
    /// changes (each change triggers a reconcile; each reconcile scans every pod).
    pacer: Pacer,
    recorder: Recorder,
    /// The wall clock that availability (minReadySeconds) and condition times are read from.
    clock: SharedClock,
}

/// Runs the ReplicaSet controller until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_with_clock(client, clock::system(), shutdown).await;
}

/// [`run`], reading the wall clock from `clock` (a test's clock on paused time).
pub async fn run_with_clock(
    client: kube::Client,
    clock: SharedClock,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    // One watch of all pods feeds the cache the reconciler reads (all pods, for adoption) and
    // triggers the owning ReplicaSets, so a reconcile never runs on a cache older than its
    // trigger.
    let (pods, pod_events) =
        cache_of_parts(Api::<Pod>::all(client.clone()), plan::keep_what_rs_reads);
    let ctx = Arc::new(Context {
        client: client.clone(),
        retries: Retries::default(),
        pods,
        expectations: Expectations::default(),
        pacer: Pacer::new(SCAN_SHARE_INVERSE),
        recorder: Recorder::new(client.clone(), "replicaset-controller"),
        clock,
    });
    let controller = Controller::new(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    );
    let replicasets = controller.store();
    controller
        .watches_stream(pod_events, move |pod: Pod| {
            owners_of(&replicasets, &pod, |rs: &ReplicaSet| {
                rs.spec.as_ref().map(|s| &s.selector)
            })
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| crate::log_outcome("replicaset controller", outcome))
        .await;
}

fn error_policy(rs: Arc<ReplicaSet>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries.retry("replicaset", rs.as_ref(), error)
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(rs.as_ref(), sync(rs.clone(), ctx.clone()))
        .await
}

async fn sync(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.pods
        .wait_until_ready()
        .await
        .map_err(|e| Error::CacheNotReady(e.to_string()))?;
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = rs.namespace().unwrap_or_default();
    let key = format!("{namespace}/{}", rs.name_any());
    if let Some(wait) = ctx.pacer.wait(&key, Instant::now()) {
        return Ok(Action::requeue(wait));
    }
    let scan_began = Instant::now();
    let uid = rs.uid().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let in_namespace: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(&namespace))
        .collect();

    let selector = ControllerSelector::new(
        rs.spec
            .as_ref()
            .map(|s| &s.selector)
            .unwrap_or(&Default::default()),
    );
    let mut owned: Vec<Arc<Pod>> = Vec::new();
    // Time in release and adoption calls: waiting, left out of the scan's pacing.
    let mut awaited = Duration::ZERO;
    for pod in &in_namespace {
        let matches = selector.matches(pod.labels());
        match controller_uid(pod.as_ref()) {
            Some(owner) if owner == uid && matches => owned.push(pod.clone()),
            Some(owner) if owner == uid => {
                timed(&mut awaited, release(&pods_api, pod.as_ref(), &uid)).await?;
            }
            None if is_active(pod) && matches => {
                let adopt = adopt(&pods_api, pod.as_ref(), rs.as_ref());
                if timed(&mut awaited, adopt).await? {
                    owned.push(pod.clone());
                }
            }
            _ => {}
        }
    }
    let active: Vec<&Pod> = owned
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| is_active(p))
        .collect();
    let active_names: HashSet<&str> = active
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    let (pending_creates, pending_deletes) =
        ctx.expectations
            .pending(&key, &active_names, Instant::now());
    let status = plan::status(&rs, &active, ctx.clock.now());
    let scan_ended = Instant::now();
    let scan = (scan_ended - scan_began).saturating_sub(awaited);
    ctx.pacer.record(&key, scan_ended, scan);
    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    tracing::debug!(%key, generation = ?rs.metadata.generation, replicas, active = active.len(), pending_creates, pending_deletes, "reconcile replicaset");
    let mut failure = None;
    match decide(replicas, active.len(), pending_creates, pending_deletes) {
        Decision::Create(n) => failure = create_pods(&ctx, &rs, &pods_api, &key, n).await,
        Decision::Delete(n) => delete_pods(&ctx, &rs, &pods_api, &key, &active, n).await?,
        Decision::Nothing => {}
    }
    update_status(&ctx, &rs, status, failure.clone()).await?;
    if let Some(message) = failure {
        return Err(Error::CreatePods(message));
    }
    let (creates, deletes) = ctx
        .expectations
        .pending(&key, &active_names, Instant::now());
    // A ready pod becomes available only minReadySeconds later, with no event to say so.
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = ctx.clock.now();
    let maturing = min_ready > 0
        && active
            .iter()
            .any(|p| plan::is_ready(p) && !plan::is_available(p, min_ready, now));
    Ok(if creates + deletes > 0 {
        Action::requeue(RECHECK)
    } else if maturing {
        Action::requeue(
            Duration::from_secs(min_ready as u64)
                .min(RESYNC)
                .max(RECHECK),
        )
    } else {
        Action::requeue(RESYNC)
    })
}

/// Creates `n` pods in slow-start batches; returns the error message of the first failure.
async fn create_pods(
    ctx: &Context,
    rs: &ReplicaSet,
    pods_api: &Api<Pod>,
    key: &str,
    n: usize,
) -> Option<String> {
    let template = pod_from_template(rs);
    let params = PostParams::default();
    for batch in slow_start_batches(n) {
        let results = futures::future::join_all(
            (0..batch).map(|_| create_pod(&ctx.client, pods_api, &params, &template)),
        )
        .await;
        let mut failed = None;
        for result in results {
            match result {
                Ok(name) => {
                    ctx.expectations.created(key, &name, Instant::now());
                    publish(
                        ctx,
                        rs,
                        Kind::Normal,
                        "SuccessfulCreate",
                        "Create",
                        format!("Created pod: {name}"),
                    )
                    .await;
                }
                Err(err) => failed = Some(err.to_string()),
            }
        }
        if let Some(err) = failed {
            publish(
                ctx,
                rs,
                Kind::Warning,
                "FailedCreate",
                "Create",
                format!("Error creating: {err}"),
            )
            .await;
            return Some(err);
        }
    }
    None
}

/// Creates a pod from `template` and returns its name, the only part of the answer read: the
/// rest of the created pod is not needed, and decoding it cost more than the request.
async fn create_pod(
    client: &kube::Client,
    pods_api: &Api<Pod>,
    params: &PostParams,
    template: &Pod,
) -> Result<String, kube::Error> {
    #[derive(serde::Deserialize)]
    struct Created {
        metadata: Named,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let body = serde_json::to_vec(template).map_err(kube::Error::SerdeError)?;
    let request = kube::core::Request::new(pods_api.resource_url()).create(params, body);
    let answer = ferrokube_client::send(client, request).await?;
    let created: Created = serde_json::from_str(&answer).map_err(kube::Error::SerdeError)?;
    Ok(created.metadata.name)
}

async fn delete_pods(
    ctx: &Context,
    rs: &ReplicaSet,
    pods_api: &Api<Pod>,
    key: &str,
    active: &[&Pod],
    n: usize,
) -> Result<(), Error> {
    let mut ranked: Vec<&Pod> = active.to_vec();
    ranked.sort_by(|a, b| deletion_order(a, b));
    for pod in ranked.into_iter().take(n) {
        let name = pod.name_any();
        // Only the pod as ranked: one that changed since (became ready, say) fails with 409,
        // and the retry ranks the pods again from the fresh cache.
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.uid(),
                resource_version: pod.resource_version(),
            }),
            ..DeleteParams::default()
        };
        match pods_api.delete(&name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(err) => return Err(err.into()),
        }
        ctx.expectations.deleted(key, &name, Instant::now());
        publish(
            ctx,
            rs,
            Kind::Normal,
            "SuccessfulDelete",
            "Delete",
            format!("Deleted pod: {name}"),
        )
        .await;
    }
    Ok(())
}

/// Writes `status` (computed from the pods the reconcile saw) with the ReplicaFailure
/// condition of this reconcile's creations, if the ReplicaSet is unchanged since it was read:
/// a newer one fails with 409 and the reconcile is retried on it.
async fn update_status(
    ctx: &Context,
    rs: &ReplicaSet,
    mut status: k8s_openapi::api::apps::v1::ReplicaSetStatus,
    failure: Option<String>,
) -> Result<(), Error> {
    let conditions = status.conditions.take().unwrap_or_default();
    let conditions = plan::with_replica_failure(conditions, failure, ctx.clock.now());
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    if rs.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    // From the status read to the new one: counts that fell to zero are cleared, not kept.
    let patch = json!({
        "metadata": {"resourceVersion": rs.resource_version()},
        "status": merge_patch::between_values(rs.status.as_ref(), &status),
    });
    match api
        .patch_status(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

async fn publish(
    ctx: &Context,
    rs: &ReplicaSet,
    kind: Kind,
    reason: &str,
    action: &str,
    note: String,
) {
    ctx.recorder
        .publish(&rs.object_ref(&()), kind, reason, action, &note)
        .await;
}
