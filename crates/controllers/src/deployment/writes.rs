//! Carries out a pass's plan through the API, each write with the resourceVersion it was
//! planned from (a merge patch naming it, a delete precondition): a 404 means the object went
//! and the write is moot; a 409 means it changed since it was read, and the pass fails to be
//! retried from the cache; any other error fails the pass too. Events follow the writes that
//! succeeded.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::{Map, json};

use super::annotations::REVISION;
use super::plan::{Change, Deletion, Plan, Rollback, StatusWrite};
use super::template::{NameTaken, name_taken};
use super::{Context, Error};
use crate::ownership::adopt;
use ferrokube_client::events::Kind;
use ferrokube_client::merge_patch;

/// `err` from a write to `object`: a conflict (409) as such.
pub(super) fn failed(object: &str, err: kube::Error) -> Error {
    match err {
        kube::Error::Api(e) if e.code == 409 => Error::Conflict {
            object: object.to_owned(),
            message: e.message,
        },
        err => Error::Api(err),
    }
}

/// A write's outcome: `None` when its object is gone (404).
fn outcome<T>(object: &str, result: Result<T, kube::Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(err) => Err(failed(object, err)),
    }
}

/// Makes the plan's writes in order; stops at the first that fails.
pub(super) async fn carry_out(ctx: &Context, d: &Deployment, plan: Plan) -> Result<(), Error> {
    let namespace = d.namespace().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let d_api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(rs) = plan.create
        && !create(ctx, d, &rs_api, &d_api, rs).await?
    {
        return Ok(());
    }
    for change in plan.changes {
        write_change(ctx, d, &rs_api, change).await?;
    }
    for deletion in plan.deletions {
        delete(&rs_api, deletion).await?;
    }
    // A second write of the Deployment is planned from the object the first one made.
    let mut resource_version = d.resource_version().unwrap_or_default();
    if let Some(status) = plan.status {
        match write_status(&d_api, d, &resource_version, status).await? {
            Some(written) => resource_version = written,
            None => return Ok(()),
        }
    }
    if let Some(rollback) = plan.rollback {
        write_rollback(ctx, &d_api, d, &resource_version, rollback).await?;
    }
    Ok(())
}

/// Creates the new ReplicaSet; whether the rest of the pass may follow. A ReplicaSet already
/// holding its name is looked at live: ours (the cache is behind), an orphan to adopt, or a
/// hash collision to count; in each case the next pass goes on.
async fn create(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    d_api: &Api<Deployment>,
    rs: ReplicaSet,
) -> Result<bool, Error> {
    let name = rs.name_any();
    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    match rs_api.create(&PostParams::default(), &rs).await {
        Ok(_) => {
            if replicas > 0 {
                scaling_event(ctx, d, &name, 0, replicas).await;
            }
            Ok(true)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = rs_api
                .get_opt(&name)
                .await?
                .ok_or_else(|| Error::Conflict {
                    object: name.clone(),
                    message: "it existed and is gone".into(),
                })?;
            match name_taken(&existing, d) {
                NameTaken::Ours => {}
                NameTaken::Adopt => {
                    adopt(rs_api, &existing, d)
                        .await
                        .map_err(|e| failed(&name, e))?;
                }
                NameTaken::Collision => count_collision(d_api, d).await?,
            }
            Ok(false)
        }
        Err(err) => Err(failed(&name, err)),
    }
}

/// Counts a hash collision in `status.collisionCount`; the next pass hashes with it.
async fn count_collision(d_api: &Api<Deployment>, d: &Deployment) -> Result<(), Error> {
    let count = d
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let patch = json!({
        "metadata": {"resourceVersion": d.resource_version()},
        "status": {"collisionCount": count + 1},
    });
    let result = d_api
        .patch_status(
            &d.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
    outcome(&d.name_any(), result).map(drop)
}

/// Changes one ReplicaSet's replicas, annotations and minReadySeconds.
async fn write_change(
    ctx: &Context,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    change: Change,
) -> Result<(), Error> {
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(change.resource_version));
    if !change.annotations.is_empty() {
        metadata.insert("annotations".into(), json!(change.annotations));
    }
    let mut spec = Map::new();
    if let Some((_, to)) = change.scale {
        spec.insert("replicas".into(), json!(to));
    }
    if let Some(seconds) = change.min_ready_seconds {
        spec.insert("minReadySeconds".into(), json!(seconds));
    }
    let patch = json!({"metadata": metadata, "spec": spec});
    let result = rs_api
        .patch(&change.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    if outcome(&change.name, result)?.is_some()
        && let Some((from, to)) = change.scale
    {
        scaling_event(ctx, d, &change.name, from, to).await;
    }
    Ok(())
}

/// Deletes an old ReplicaSet if it is still as read.
async fn delete(rs_api: &Api<ReplicaSet>, deletion: Deletion) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(deletion.resource_version),
            uid: None,
        }),
        ..DeleteParams::background()
    };
    outcome(&deletion.name, rs_api.delete(&deletion.name, &params).await).map(drop)
}

/// Writes the status and the revision annotation (which /status writes too, without bumping
/// the generation); the Deployment's new resourceVersion, or `None` if it is gone.
async fn write_status(
    d_api: &Api<Deployment>,
    d: &Deployment,
    resource_version: &str,
    write: StatusWrite,
) -> Result<Option<String>, Error> {
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(resource_version));
    if let Some(revision) = write.revision {
        metadata.insert("annotations".into(), json!({REVISION: revision}));
    }
    // From the status read to the new one: counts that fell to zero are cleared, not kept.
    let status = merge_patch::between_values(d.status.as_ref(), &write.status);
    let patch = json!({"metadata": metadata, "status": status});
    let result = d_api
        .patch_status(
            &d.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
    Ok(outcome(&d.name_any(), result)?.map(|d| d.resource_version().unwrap_or_default()))
}

/// Writes a rollback's template and annotations, and its Event.
async fn write_rollback(
    ctx: &Context,
    d_api: &Api<Deployment>,
    d: &Deployment,
    resource_version: &str,
    rollback: Rollback,
) -> Result<(), Error> {
    let annotations = merge_patch::between_values(Some(d.annotations()), &rollback.annotations);
    let mut patch = json!({
        "metadata": {"resourceVersion": resource_version, "annotations": annotations},
    });
    if let Some(template) = &rollback.template {
        let current = d.spec.as_ref().map(|s| &s.template);
        patch["spec"] = json!({"template": merge_patch::between_values(current, template)});
    }
    let result = d_api
        .patch(
            &d.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
    if outcome(&d.name_any(), result)?.is_some() {
        let (kind, reason, note) = rollback.event;
        publish(ctx, d, kind, reason, "Rollback", &note).await;
    }
    Ok(())
}

/// Upstream's ScalingReplicaSet event: "Scaled up replica set web-5d8f from 0 to 3".
async fn scaling_event(ctx: &Context, d: &Deployment, replicaset: &str, from: i32, to: i32) {
    let direction = if to > from { "up" } else { "down" };
    let note = format!("Scaled {direction} replica set {replicaset} from {from} to {to}");
    publish(ctx, d, Kind::Normal, "ScalingReplicaSet", "Scale", &note).await;
}

async fn publish(
    ctx: &Context,
    d: &Deployment,
    kind: Kind,
    reason: &str,
    action: &str,
    note: &str,
) {
    ctx.recorder
        .publish(&d.object_ref(&()), kind, reason, action, note)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("message", "Reason")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn only_a_404_is_ignored_and_a_409_is_a_conflict() {
        assert!(matches!(
            outcome("rs", Ok::<_, kube::Error>(1)),
            Ok(Some(1))
        ));
        assert!(matches!(outcome::<()>("rs", Err(api_error(404))), Ok(None)));
        assert!(matches!(
            outcome::<()>("rs", Err(api_error(409))),
            Err(Error::Conflict { object, .. }) if object == "rs"
        ));
        for code in [400, 403, 422, 500, 504] {
            assert!(
                matches!(
                    outcome::<()>("rs", Err(api_error(code))),
                    Err(Error::Api(_))
                ),
                "{code}"
            );
        }
    }
}
