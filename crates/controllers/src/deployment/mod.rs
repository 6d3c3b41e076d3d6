//! The Deployment controller: one ReplicaSet per template (`<deployment>-<pod-template-hash>`),
//! rolled between with RollingUpdate (maxSurge/maxUnavailable) or Recreate, revisions and
//! rollback by template equality, history cleanup, status and conditions, and
//! ScalingReplicaSet events.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::ownership::{adopt, controller_reference, controller_uid, owners_of, selector_matches};
use crate::retry::Retries;
use ferrokube_client::cache::{Cache, cache};
use ferrokube_client::events::{Kind, Recorder};
use ferrokube_client::merge_patch;
use plan::{
    HASH_LABEL, MAX_REPLICAS, NameTaken, equal_ignore_hash, fenceposts, name_taken, new_replicas,
    old_scale_down_budget, proportional_sizes, template_hash,
};

const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Look again this soon while a rollout is in progress.
const RECHECK: Duration = Duration::from_secs(1);

/// Why a reconcile failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("ReplicaSet cache not ready: {0}")]
    CacheNotReady(String),
}

struct Context {
    client: kube::Client,
    /// Failures in a row per object, for the delay before a retry.
    retries: Retries,
    replicasets: Cache<ReplicaSet>,
    recorder: Recorder,
}

/// Runs the Deployment controller until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (replicasets, rs_events) = cache(Api::<ReplicaSet>::all(client.clone()));
    let ctx = Arc::new(Context {
        client: client.clone(),
        retries: Retries::default(),
        replicasets,
        recorder: Recorder::new(client.clone(), "deployment-controller"),
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
        .for_each(|result| {
            match result {
                Err(kube::runtime::controller::Error::ObjectNotFound(_)) | Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "deployment controller"),
            }
            futures::future::ready(())
        })
        .await;
}

fn error_policy(d: Arc<Deployment>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries.retry("deployment", d.as_ref(), error)
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(d.as_ref(), sync(d.clone(), ctx.clone()))
        .await
}

/// Whether the Deployment's strategy is Recreate (otherwise RollingUpdate).
fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// The ReplicaSet for the Deployment's current template.
fn new_replicaset(d: &Deployment, hash: &str, replicas: i32, revision: i64) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let mut template = spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.into());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.into());
    let mut labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.into());
    let mut annotations = d.annotations().clone();
    annotations.retain(|k, _| !k.starts_with("kubectl.kubernetes.io/last-applied-configuration"));
    annotations.insert(REVISION.into(), revision.to_string());
    annotations.insert(DESIRED.into(), spec.replicas.unwrap_or(1).to_string());
    annotations.insert(
        MAX_REPLICAS.into(),
        (spec.replicas.unwrap_or(1) + fenceposts(d).0).to_string(),
    );
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_reference(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
}

async fn sync(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.replicasets
        .wait_until_ready()
        .await
        .map_err(|e| Error::CacheNotReady(e.to_string()))?;
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = d.namespace().unwrap_or_default();
    let uid = d.uid().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let mut owned: Vec<ReplicaSet> = Vec::new();
    for rs in ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|rs| rs.namespace().as_deref() == Some(&namespace))
    {
        match controller_uid(rs.as_ref()) {
            Some(owner) if owner == uid => owned.push((*rs).clone()),
            None if rs.metadata.deletion_timestamp.is_none()
                && selector_matches(&selector, rs.labels())
                && adopt(&rs_api, rs.as_ref(), d.as_ref()).await? =>
            {
                owned.push((*rs).clone())
            }
            _ => {}
        }
    }
    tracing::debug!(deployment = %d.name_any(), generation = ?d.metadata.generation, owned = ?owned.iter().map(|rs| (rs.name_any(), rs.spec.as_ref().and_then(|s| s.replicas))).collect::<Vec<_>>(), "reconcile deployment");
    let spec = d.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1);
    let max_revision = owned.iter().map(revision).max().unwrap_or(0);
    let Some(new) = owned
        .iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, &spec.template))
        })
        .cloned()
    else {
        create_new(&ctx, &d, &rs_api, &owned, max_revision).await?;
        return Ok(Action::requeue(RECHECK));
    };
    if revision(&new) < max_revision {
        // A rollback brought an old template back: its ReplicaSet becomes the newest revision,
        // and its former revisions are kept in `revision-history` (e.g. "1" after 1 → 4).
        let mut history: Vec<String> = new
            .annotations()
            .get(REVISION_HISTORY)
            .map(|h| h.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        history.push(revision(&new).to_string());
        let annotations =
            json!({REVISION: (max_revision + 1).to_string(), REVISION_HISTORY: history.join(",")});
        let patch = json!({"metadata": {"annotations": annotations}});
        rs_api
            .patch(
                &new.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        return Ok(Action::requeue(RECHECK));
    }
    let old: Vec<&ReplicaSet> = owned.iter().filter(|rs| rs.uid() != new.uid()).collect();
    if is_scaling_event(&owned, replicas) {
        // Replicas changed (mid-rollout or not): resize, then roll on the next pass.
        scale_to_replicas(&ctx, &d, &rs_api, &new, &old, replicas).await?;
        update_status(&ctx, &d, &new, &owned).await?;
        return Ok(Action::requeue(RECHECK));
    }
    if !spec.paused.unwrap_or(false) {
        let recreate = is_recreate(&d);
        if recreate {
            recreate_step(&ctx, &d, &rs_api, &new, &old, replicas).await?;
        } else {
            rolling_step(&ctx, &d, &rs_api, &owned, &new, &old, replicas).await?;
        }
        cleanup(&rs_api, &old, spec.revision_history_limit.unwrap_or(10)).await?;
    }
    let complete = update_status(&ctx, &d, &new, &owned).await?;
    Ok(if complete {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::requeue(RECHECK)
    })
}

/// Whether an active ReplicaSet was sized for another replica count (upstream's
/// `isScalingEvent`, read from the desired-replicas annotation).
fn is_scaling_event(owned: &[ReplicaSet], replicas: i32) -> bool {
    owned.iter().filter(|rs| spec_replicas(rs) > 0).any(|rs| {
        rs.annotations()
            .get(DESIRED)
            .and_then(|v| v.parse::<i32>().ok())
            .is_some_and(|desired| desired != replicas)
    })
}

/// Upstream's `scale`: one active (or the newest) ReplicaSet takes all the replicas; a
/// saturated new one sends the old to zero; otherwise a rolling Deployment's active
/// ReplicaSets are resized in proportion.
async fn scale_to_replicas(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    new: &ReplicaSet,
    old: &[&ReplicaSet],
    replicas: i32,
) -> Result<(), Error> {
    let all: Vec<&ReplicaSet> = old.iter().copied().chain(std::iter::once(new)).collect();
    let active: Vec<&ReplicaSet> = all
        .iter()
        .copied()
        .filter(|rs| spec_replicas(rs) > 0)
        .collect();
    match active.as_slice() {
        [] => return scale(ctx, d, rs_api, new, replicas).await,
        [only] => return scale(ctx, d, rs_api, only, replicas).await,
        _ => {}
    }
    let saturated = spec_replicas(new) == replicas
        && new
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            == replicas;
    if saturated {
        for rs in old.iter().filter(|rs| spec_replicas(rs) > 0) {
            scale(ctx, d, rs_api, rs, 0).await?;
        }
        return Ok(());
    }
    let recreate = is_recreate(d);
    if recreate {
        return Ok(());
    }
    for (name, size) in proportional_sizes(d, &active) {
        if let Some(rs) = active.iter().find(|rs| rs.name_any() == name) {
            scale(ctx, d, rs_api, rs, size).await?;
        }
    }
    Ok(())
}

async fn create_new(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    owned: &[ReplicaSet],
    max_revision: i64,
) -> Result<(), Error> {
    let spec = d.spec.clone().unwrap_or_default();
    let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&spec.template, collision_count);
    let recreate = is_recreate(d);
    let draft = new_replicaset(d, &hash, 0, max_revision + 1);
    let all: Vec<&ReplicaSet> = owned.iter().chain(std::iter::once(&draft)).collect();
    let replicas = if recreate || spec.paused.unwrap_or(false) {
        0
    } else {
        new_replicas(d, &all, &draft)
    };
    let rs = new_replicaset(d, &hash, replicas, max_revision + 1);
    match rs_api.create(&PostParams::default(), &rs).await {
        Ok(created) => {
            if replicas > 0 {
                scaling_event(ctx, d, &created.name_any(), 0, replicas).await;
            }
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let Some(existing) = rs_api.get_opt(&rs.name_any()).await? else {
                return Ok(()); // gone meanwhile: the next pass creates it
            };
            match name_taken(&existing, d) {
                NameTaken::Ours => Ok(()),
                NameTaken::Adopt => {
                    adopt(rs_api, &existing, d).await?;
                    Ok(())
                }
                NameTaken::Collision => count_collision(ctx, d, collision_count).await,
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Counts a hash collision in `status.collisionCount`; the next pass hashes with it.
async fn count_collision(
    ctx: &Context,
    d: &Deployment,
    collision_count: Option<i32>,
) -> Result<(), Error> {
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    let patch = json!({"status": {"collisionCount": collision_count.unwrap_or(0) + 1}});
    api.patch_status(
        &d.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

async fn scale(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    rs: &ReplicaSet,
    to: i32,
) -> Result<(), Error> {
    let from = spec_replicas(rs);
    if from == to {
        return Ok(());
    }
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let annotations = json!({DESIRED: replicas.to_string(), MAX_REPLICAS: (replicas + fenceposts(d).0).to_string()});
    let patch = json!({"metadata": {"annotations": annotations}, "spec": {"replicas": to}});
    rs_api
        .patch(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    scaling_event(ctx, d, &rs.name_any(), from, to).await;
    Ok(())
}

/// Upstream's ScalingReplicaSet event: "Scaled up replica set web-5d8f from 0 to 3".
async fn scaling_event(ctx: &Context, d: &Deployment, replicaset: &str, from: i32, to: i32) {
    let direction = if to > from { "up" } else { "down" };
    let note = format!("Scaled {direction} replica set {replicaset} from {from} to {to}");
    ctx.recorder
        .publish(
            &d.object_ref(&()),
            Kind::Normal,
            "ScalingReplicaSet",
            "Scale",
            &note,
        )
        .await;
}

async fn recreate_step(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    new: &ReplicaSet,
    old: &[&ReplicaSet],
    replicas: i32,
) -> Result<(), Error> {
    for rs in old.iter().filter(|rs| spec_replicas(rs) > 0) {
        scale(ctx, d, rs_api, rs, 0).await?;
    }
    // Never old and new pods at once: wait until every old pod is gone.
    if old
        .iter()
        .all(|rs| spec_replicas(rs) == 0 && status_replicas(rs) == 0)
    {
        scale(ctx, d, rs_api, new, replicas).await?;
    }
    Ok(())
}

async fn rolling_step(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    owned: &[ReplicaSet],
    new: &ReplicaSet,
    old: &[&ReplicaSet],
    replicas: i32,
) -> Result<(), Error> {
    let all: Vec<&ReplicaSet> = owned.iter().collect();
    let target = if old.iter().all(|rs| spec_replicas(rs) == 0) {
        replicas
    } else {
        new_replicas(d, &all, new)
    };
    let mut new_now = new.clone();
    if target != spec_replicas(new) {
        scale(ctx, d, rs_api, new, target).await?;
        new_now.spec.get_or_insert_with(Default::default).replicas = Some(target);
    }
    let all_now: Vec<&ReplicaSet> = old
        .iter()
        .copied()
        .chain(std::iter::once(&new_now))
        .collect();
    let mut budget = old_scale_down_budget(d, &all_now, &new_now);
    let mut oldest_first: Vec<&ReplicaSet> = old.to_vec();
    oldest_first.sort_by_key(|rs| revision(rs));
    for rs in oldest_first {
        if budget <= 0 {
            break;
        }
        let current = spec_replicas(rs);
        let down = current.min(budget);
        if down > 0 {
            scale(ctx, d, rs_api, rs, current - down).await?;
            budget -= down;
        }
    }
    Ok(())
}

/// Deletes the oldest scaled-down ReplicaSets beyond `limit`.
async fn cleanup(rs_api: &Api<ReplicaSet>, old: &[&ReplicaSet], limit: i32) -> Result<(), Error> {
    let mut idle: Vec<&&ReplicaSet> = old
        .iter()
        .filter(|rs| spec_replicas(rs) == 0 && status_replicas(rs) == 0)
        .collect();
    idle.sort_by_key(|rs| revision(rs));
    let excess = idle.len().saturating_sub(limit.max(0) as usize);
    for rs in idle.into_iter().take(excess) {
        match rs_api
            .delete(&rs.name_any(), &DeleteParams::background())
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// A condition, keeping the previous times while its status (transition) or reason (update)
/// stays the same.
fn condition(
    kind: &str,
    status: bool,
    reason: &str,
    message: String,
    previous: Option<&DeploymentCondition>,
) -> DeploymentCondition {
    let now = Time(jiff::Timestamp::now());
    let status = if status { "True" } else { "False" }.to_owned();
    let same_status = previous.filter(|p| p.status == status);
    let same_reason = same_status.filter(|p| p.reason.as_deref() == Some(reason));
    DeploymentCondition {
        type_: kind.into(),
        status,
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: same_reason
            .and_then(|p| p.last_update_time.clone())
            .or(Some(now.clone())),
        last_transition_time: same_status
            .and_then(|p| p.last_transition_time.clone())
            .or(Some(now)),
    }
}

/// Writes the status; returns whether the rollout is complete.
async fn update_status(
    ctx: &Context,
    d: &Deployment,
    new: &ReplicaSet,
    owned: &[ReplicaSet],
) -> Result<bool, Error> {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let (_, max_unavailable) = fenceposts(d);
    let sum = |f: &dyn Fn(&ReplicaSet) -> i32| owned.iter().map(f).sum::<i32>();
    let total = sum(&status_replicas);
    let updated = status_replicas(new);
    let ready = sum(&|rs| {
        rs.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
    });
    let available = sum(&|rs| {
        rs.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
    });
    let complete = updated == replicas && total == replicas && available == replicas;
    let previous = d.status.clone().unwrap_or_default();
    let find = |kind: &str| {
        previous
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind)
            .cloned()
    };
    let has_minimum = available >= replicas - max_unavailable;
    let available_condition = if has_minimum {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            find("Available").as_ref(),
        )
    } else {
        condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            find("Available").as_ref(),
        )
    };
    let name = new.name_any();
    let previous_progressing = find("Progressing");
    let made_progress = updated > previous.updated_replicas.unwrap_or(0)
        || ready > previous.ready_replicas.unwrap_or(0)
        || available > previous.available_replicas.unwrap_or(0)
        || d.metadata.generation != previous.observed_generation;
    let deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    let stalled_since = previous_progressing
        .as_ref()
        .and_then(|c| c.last_update_time.as_ref())
        .map(|t| t.0);
    let already_timed_out = previous_progressing
        .as_ref()
        .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
    // Once timed out, a rollout stays so until it makes progress again (as upstream).
    let timed_out = !complete
        && !made_progress
        && (already_timed_out
            || stalled_since.is_some_and(|t| {
                jiff::Timestamp::now().as_second() - t.as_second() > i64::from(deadline)
            }));
    let progressing = if complete {
        condition(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{name}\" has successfully progressed."),
            previous_progressing.as_ref(),
        )
    } else if timed_out {
        condition(
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{name}\" has timed out progressing."),
            previous_progressing.as_ref(),
        )
    } else {
        // Progress refreshes the condition's update time; the deadline counts from there.
        let refreshed = previous_progressing.filter(|_| !made_progress);
        condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{name}\" is progressing."),
            refreshed.as_ref(),
        )
    };
    let status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: crate::nonzero(total),
        updated_replicas: crate::nonzero(updated),
        ready_replicas: crate::nonzero(ready),
        available_replicas: crate::nonzero(available),
        unavailable_replicas: crate::nonzero((replicas - available).max(0)),
        collision_count: previous.collision_count,
        conditions: Some(vec![available_condition, progressing]),
        terminating_replicas: None,
    };
    let unchanged = |a: &DeploymentStatus, b: &DeploymentStatus| {
        let strip = |s: &DeploymentStatus| {
            let mut s = s.clone();
            for c in s.conditions.iter_mut().flatten() {
                c.last_update_time = None;
                c.last_transition_time = None;
            }
            s
        };
        strip(a) == strip(b)
    };
    let revision_annotation = revision(new).to_string();
    let annotated = d.annotations().get(REVISION) == Some(&revision_annotation);
    if !unchanged(&status, &previous) || !annotated {
        let api: Api<Deployment> =
            Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
        // The revision annotation goes through /status, which does not bump the generation.
        // From the status read to the new one: counts that fell to zero are cleared, not kept.
        let status = merge_patch::between_values(d.status.as_ref(), &status);
        let patch =
            json!({"metadata": {"annotations": {REVISION: revision_annotation}}, "status": status});
        match api
            .patch_status(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(complete)
}
