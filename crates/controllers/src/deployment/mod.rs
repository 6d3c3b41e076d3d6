//! The Deployment controller: one ReplicaSet per template (`<deployment>-<pod-template-hash>`),
//! rolled between with RollingUpdate (maxSurge/maxUnavailable) or Recreate, revisions and
//! rollback, history cleanup, status and conditions, and ScalingReplicaSet events.
//!
//! A reconcile reads the Deployment and its ReplicaSets from the caches, adopts orphans,
//! plans the pass with the pure [`plan::plan`] and carries it out (`writes`): every write
//! names the resourceVersion it was planned from, so one planned from a stale object fails
//! with a conflict and the pass is retried from the cache. A rollout that makes no progress
//! is looked at again when its deadline passes, not polled.

mod annotations;
pub mod plan;
mod progress;
mod recreate;
mod replicas;
mod rollback;
mod rolling;
mod sync;
mod template;
mod writes;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;

use crate::ownership::{adopt, controller_uid, owners_of, selector_matches};
use crate::retry::Retries;
use ferrokube_client::cache::{Cache, cache};
use ferrokube_client::clock::{self, SharedClock};
use ferrokube_client::events::Recorder;

/// Why a reconcile failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A write was planned from an object that changed since it was read (409); the retry
    /// plans again from the cache.
    #[error("{object} changed since it was read: {message}")]
    Conflict { object: String, message: String },
    /// An API request failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// The ReplicaSet cache never became ready.
    #[error("ReplicaSet cache not ready: {0}")]
    CacheNotReady(String),
}

struct Context {
    client: kube::Client,
    /// Failures in a row per object, for the delay before a retry.
    retries: Retries,
    replicasets: Cache<ReplicaSet>,
    recorder: Recorder,
    clock: SharedClock,
}

/// Runs the Deployment controller until `shutdown` resolves.
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
    let (replicasets, rs_events) = cache(Api::<ReplicaSet>::all(client.clone()));
    let ctx = Arc::new(Context {
        client: client.clone(),
        retries: Retries::default(),
        replicasets,
        recorder: Recorder::new(client.clone(), "deployment-controller"),
        clock,
    });
    let controller = Controller::new(Api::<Deployment>::all(client), watcher::Config::default());
    let deployments = controller.store();
    controller
        .watches_stream(rs_events, move |rs: ReplicaSet| {
            owners_of(&deployments, &rs, |d: &Deployment| {
                d.spec.as_ref().map(|s| &s.selector)
            })
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| crate::log_outcome("deployment controller", outcome))
        .await;
}

fn error_policy(d: Arc<Deployment>, error: &Error, ctx: Arc<Context>) -> Action {
    if let Error::Conflict { .. } = error {
        // A cache a moment behind a write: normal, retried at once.
        let delay = ctx.retries.failed(d.as_ref());
        tracing::debug!(deployment = %d.name_any(), error = %error, retry_in = ?delay, "conflict");
        return Action::requeue(delay);
    }
    ctx.retries.retry("deployment", d.as_ref(), error)
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(d.as_ref(), sync(d.clone(), ctx.clone()))
        .await
}

/// One pass: read, adopt, plan, write.
async fn sync(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.replicasets
        .wait_until_ready()
        .await
        .map_err(|e| Error::CacheNotReady(e.to_string()))?;
    let Some(owned) = owned_replicasets(&ctx, &d).await? else {
        // The adoption's own event brings the pass back with the adopted ReplicaSet as written.
        return Ok(Action::await_change());
    };
    let plan = plan::plan(&d, &owned, ctx.clock.now());
    tracing::debug!(deployment = %d.name_any(), generation = ?d.metadata.generation, ?plan, "reconcile deployment");
    let recheck = plan.recheck;
    writes::carry_out(&ctx, &d, plan).await?;
    Ok(recheck.map_or_else(Action::await_change, Action::requeue))
}

/// The ReplicaSets the Deployment controls (`getReplicaSetsForDeployment`); `None` when it
/// adopted orphans its selector matches, whose cached copies are then out of date.
async fn owned_replicasets(
    ctx: &Context,
    d: &Deployment,
) -> Result<Option<Vec<ReplicaSet>>, Error> {
    let namespace = d.namespace().unwrap_or_default();
    let uid = d.uid().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let mut owned = Vec::new();
    let mut adopted = false;
    for rs in ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|rs| rs.namespace().as_deref() == Some(&namespace))
    {
        match controller_uid(rs.as_ref()) {
            Some(owner) if owner == uid => owned.push((*rs).clone()),
            None if d.metadata.deletion_timestamp.is_none()
                && rs.metadata.deletion_timestamp.is_none()
                && selector_matches(&selector, rs.labels()) =>
            {
                adopted |= adopt(&rs_api, rs.as_ref(), d)
                    .await
                    .map_err(|e| writes::failed(&rs.name_any(), e))?;
            }
            _ => {}
        }
    }
    Ok((!adopted).then_some(owned))
}
