//! The persistent volume controller, as upstream's `pkg/controller/volume/persistentvolume`
//! with k3s's local-path provisioner built in: it binds each claim to the smallest volume that
//! fits it (once its first pod is scheduled, for a `WaitForFirstConsumer` class), makes a
//! local-path volume (a directory on the pod's node) when none fits and the class is
//! `rancher.io/local-path`, keeps the phases of both sides, and reclaims a volume whose claim
//! is gone: `Retain` leaves it `Released`, `Delete` deletes it (the node's kubelet then removes
//! the directory). Claims and volumes are two controllers, each with a cache of the other kind.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use ferrokube_client::cache::{Cache, cache};
use ferrokube_client::events::{Kind, Recorder};
use ferrokube_client::volumes::{
    BIND_COMPLETED, BOUND_BY_CONTROLLER, LOCAL_PATH_FINALIZER, LOCAL_PATH_PROVISIONER,
    PROVISIONED_BY, claim_class, claim_volume, refers_to,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::retry::Retries;
use plan::{ClaimPlan, ClaimView, Note, VolumePlan, plan_claim, plan_volume};

/// How soon a claim that waits for something the controller does not watch (a class, a
/// node's storage, a volume made by hand) is looked at again: upstream's resync period.
const RESYNC: Duration = Duration::from_secs(15);

/// Why a sync could not finish this time; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("a cache never filled: {0}")]
    CacheNotReady(String),
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    volumes: Cache<PersistentVolume>,
    claims: Cache<PersistentVolumeClaim>,
    retries: Retries,
}

/// Runs both controllers until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let (volumes, volume_events) = cache(Api::<PersistentVolume>::all(client.clone()));
    let (claims, claim_events) = cache(Api::<PersistentVolumeClaim>::all(client.clone()));
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), "persistentvolume-controller"),
        client: client.clone(),
        volumes,
        claims,
        retries: Retries::default(),
    });
    let claims_controller = Controller::new(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        watcher::Config::default(),
    )
    // A volume's change concerns the claim it refers to.
    .watches_stream(volume_events, |pv: PersistentVolume| {
        let r = pv.spec?.claim_ref?;
        Some(ObjectRef::new(&r.name?).within(&r.namespace?))
    })
    .graceful_shutdown_on(shutdown.clone())
    .run(reconcile_claim, claim_error, ctx.clone())
    .for_each(|outcome| crate::log_outcome("persistent volume controller (claims)", outcome));
    let volumes_controller = Controller::new(
        Api::<PersistentVolume>::all(client),
        watcher::Config::default(),
    )
    // A claim's change (its deletion above all) concerns its volume, named or provisioned.
    .watches_stream(claim_events, |claim: PersistentVolumeClaim| {
        let provisioned = claim.uid().map(|uid| format!("pvc-{uid}"));
        let named = claim_volume(&claim).map(str::to_owned);
        named
            .into_iter()
            .chain(provisioned)
            .map(|name| ObjectRef::new(&name))
            .collect::<Vec<_>>()
    })
    .graceful_shutdown_on(shutdown)
    .run(reconcile_volume, volume_error, ctx)
    .for_each(|outcome| crate::log_outcome("persistent volume controller (volumes)", outcome));
    futures::join!(claims_controller, volumes_controller);
}

fn claim_error(claim: Arc<PersistentVolumeClaim>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries
        .retry("persistentvolumeclaim", claim.as_ref(), error)
}

fn volume_error(pv: Arc<PersistentVolume>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries.retry("persistentvolume", pv.as_ref(), error)
}

async fn reconcile_claim(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.retries
        .run(claim.as_ref(), sync_claim(claim.clone(), ctx.clone()))
        .await
}

async fn reconcile_volume(pv: Arc<PersistentVolume>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(pv.as_ref(), sync_volume(pv.clone(), ctx.clone()))
        .await
}

async fn ready<K>(cache: &Cache<K>) -> Result<(), Error>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    cache
        .wait_until_ready()
        .await
        .map_err(|e| Error::CacheNotReady(e.to_string()))
}

async fn record(ctx: &Context, regarding: &impl Resource<DynamicType = ()>, note: &Note) {
    let kind = if note.warning {
        Kind::Warning
    } else {
        Kind::Normal
    };
    ctx.recorder
        .publish(
            &regarding.object_ref(&()),
            kind,
            note.reason,
            "",
            &note.message,
        )
        .await;
}

fn claims_api(ctx: &Context, claim: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
    Api::namespaced(ctx.client.clone(), &claim.namespace().unwrap_or_default())
}

async fn set_claim_phase(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    phase: &str,
) -> Result<(), Error> {
    if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase) {
        return Ok(());
    }
    let patch = json!({"status": {"phase": phase}});
    claims_api(ctx, claim)
        .patch_status(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

async fn sync_claim(claim: Arc<PersistentVolumeClaim>, ctx: Arc<Context>) -> Result<Action, Error> {
    if claim.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    ready(&ctx.volumes).await?;
    let volumes = ctx.volumes.state();
    let volumes: Vec<&PersistentVolume> = volumes.iter().map(Arc::as_ref).collect();
    let class_name = claim_class(&claim);
    let class = match class_name {
        "" => None,
        name => {
            Api::<StorageClass>::all(ctx.client.clone())
                .get_opt(name)
                .await?
        }
    };
    let node = match plan::selected_node(&claim) {
        Some(name) => Api::<Node>::all(ctx.client.clone()).get_opt(name).await?,
        None => None,
    };
    let view = ClaimView {
        volumes: &volumes,
        class: class.as_ref(),
        node: node.as_ref(),
    };
    match plan_claim(&claim, &view) {
        ClaimPlan::Done => Ok(Action::await_change()),
        ClaimPlan::Wait(note) => {
            set_claim_phase(&ctx, &claim, "Pending").await?;
            record(&ctx, claim.as_ref(), &note).await;
            Ok(if note.reason == "WaitForFirstConsumer" {
                Action::await_change()
            } else {
                Action::requeue(RESYNC)
            })
        }
        ClaimPlan::Bind(name) => {
            let pv = volumes
                .iter()
                .find(|pv| pv.metadata.name.as_deref() == Some(name.as_str()));
            if let Some(pv) = pv {
                bind(&ctx, &claim, pv).await?;
            }
            Ok(Action::await_change())
        }
        ClaimPlan::Provision { node, root } => {
            let class = class.expect("a provisioning plan has a class");
            provision(&ctx, &claim, &class, &node, &root).await?;
            Ok(Action::await_change())
        }
        ClaimPlan::Lost(note) => {
            set_claim_phase(&ctx, &claim, "Lost").await?;
            record(&ctx, claim.as_ref(), &note).await;
            Ok(Action::await_change())
        }
    }
}

/// The reference a bound volume holds to its claim.
fn claim_ref(claim: &PersistentVolumeClaim) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": claim.namespace(),
        "name": claim.name_any(),
        "uid": claim.uid(),
        "resourceVersion": claim.resource_version(),
    })
}

/// Binds both sides, writing only what is not there yet: the volume's claim reference, its
/// phase, the claim's volume name and annotations, and its status.
async fn bind(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    pv: &PersistentVolume,
) -> Result<(), Error> {
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let name = pv.name_any();
    let reference_uid = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .and_then(|r| r.uid.clone())
        .unwrap_or_default();
    if !refers_to(pv, claim) || reference_uid.is_empty() {
        let mut patch = json!({"metadata": {"resourceVersion": pv.resource_version()},
            "spec": {"claimRef": claim_ref(claim)}});
        if pv
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .is_none()
        {
            patch["metadata"]["annotations"] = json!({BOUND_BY_CONTROLLER: "yes"});
        }
        volumes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        let patch = json!({"status": {"phase": "Bound"}});
        volumes
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    let claims = claims_api(ctx, claim);
    let annotations = claim.metadata.annotations.clone().unwrap_or_default();
    if claim_volume(claim) != Some(name.as_str()) || !annotations.contains_key(BIND_COMPLETED) {
        let mut set = json!({BIND_COMPLETED: "yes"});
        if claim_volume(claim).is_none() {
            set[BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch = json!({"metadata": {"annotations": set}, "spec": {"volumeName": name}});
        claims
            .patch(
                &claim.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    let spec = pv.spec.clone().unwrap_or_default();
    let patch = json!({"status": {"phase": "Bound", "accessModes": spec.access_modes,
        "capacity": spec.capacity}});
    claims
        .patch_status(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// The directory of a claim's local-path volume, named as k3s names it.
pub fn local_path_dir(root: &str, claim: &PersistentVolumeClaim) -> String {
    format!(
        "{}/pvc-{}_{}_{}",
        root.trim_end_matches('/'),
        claim.uid().unwrap_or_default(),
        claim.namespace().unwrap_or_default(),
        claim.name_any()
    )
}

/// The local-path volume for a claim on `node`: a directory under the node's `root`, pinned
/// to the node, already referring to the claim (the next sync binds them).
pub fn local_path_volume(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    root: &str,
) -> serde_json::Value {
    let spec = claim.spec.clone().unwrap_or_default();
    let request = spec.resources.and_then(|r| r.requests).unwrap_or_default();
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": format!("pvc-{}", claim.uid().unwrap_or_default()),
            "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER},
            "finalizers": [LOCAL_PATH_FINALIZER],
        },
        "spec": {
            "accessModes": spec.access_modes,
            "capacity": {"storage": request.get("storage")},
            "hostPath": {"path": local_path_dir(root, claim), "type": "DirectoryOrCreate"},
            "claimRef": claim_ref(claim),
            "persistentVolumeReclaimPolicy": class.reclaim_policy.clone().unwrap_or_else(|| "Delete".to_owned()),
            "storageClassName": class.metadata.name,
            "volumeMode": spec.volume_mode.unwrap_or_else(|| "Filesystem".to_owned()),
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    })
}

async fn provision(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    root: &str,
) -> Result<(), Error> {
    let key = format!(
        "{}/{}",
        claim.namespace().unwrap_or_default(),
        claim.name_any()
    );
    let starting = Note {
        warning: false,
        reason: "Provisioning",
        message: format!("External provisioner is provisioning volume for claim \"{key}\""),
    };
    record(ctx, claim, &starting).await;
    let volume: PersistentVolume =
        serde_json::from_value(local_path_volume(claim, class, node, root))
            .expect("a PersistentVolume");
    let name = volume.name_any();
    match Api::<PersistentVolume>::all(ctx.client.clone())
        .create(&PostParams::default(), &volume)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
        Err(err) => return Err(err.into()),
    }
    let done = Note {
        warning: false,
        reason: "ProvisioningSucceeded",
        message: format!("Successfully provisioned volume {name}"),
    };
    record(ctx, claim, &done).await;
    Ok(())
}

/// The claim a volume refers to, from the cache, or else from the API server itself: a
/// volume is reclaimed only when its claim is gone for certain, never for a cache that lags.
async fn referred_claim(
    ctx: &Context,
    pv: &PersistentVolume,
) -> Result<Option<PersistentVolumeClaim>, Error> {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return Ok(None);
    };
    let (Some(name), Some(namespace)) = (&r.name, &r.namespace) else {
        return Ok(None);
    };
    let cached = ctx.claims.get(&ObjectRef::new(name).within(namespace));
    if let Some(claim) = cached.filter(|c| refers_to(pv, c)) {
        return Ok(Some(claim.as_ref().clone()));
    }
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(api.get_opt(name).await?)
}

async fn sync_volume(pv: Arc<PersistentVolume>, ctx: Arc<Context>) -> Result<Action, Error> {
    ready(&ctx.claims).await?;
    let claim = referred_claim(&ctx, &pv).await?;
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let name = pv.name_any();
    match plan_volume(&pv, claim.as_ref()) {
        VolumePlan::Done => {}
        VolumePlan::Phase(phase, message) => {
            let patch = json!({"status": {"phase": phase, "message": message}});
            volumes
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            if let Some(message) = message {
                let reason = if message.contains("recycler") {
                    "VolumeFailedRecycle"
                } else {
                    "VolumeFailedDelete"
                };
                let note = Note {
                    warning: true,
                    reason,
                    message,
                };
                record(&ctx, pv.as_ref(), &note).await;
            }
        }
        VolumePlan::Delete => {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pv.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match volumes.delete(&name, &params).await {
                Ok(_) => tracing::info!(volume = %name, "deleted a released volume"),
                Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_path_volume_is_pinned_to_its_node_and_names_its_claim() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "shop", "uid": "u1", "resourceVersion": "7"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
        }))
        .unwrap();
        let class: StorageClass =
            serde_json::from_value(json!({"metadata": {"name": "local-path"},
            "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Retain"}))
            .unwrap();
        let pv = local_path_volume(&claim, &class, "n1", "/var/lib/fk/storage/");
        assert_eq!(pv["metadata"]["name"], "pvc-u1");
        assert_eq!(
            pv["spec"]["hostPath"]["path"],
            "/var/lib/fk/storage/pvc-u1_shop_data"
        );
        assert_eq!(pv["spec"]["capacity"]["storage"], "2Gi");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["claimRef"]["uid"], "u1");
        assert_eq!(
            pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
            json!(["n1"])
        );
        let typed: PersistentVolume = serde_json::from_value(pv).unwrap();
        assert!(refers_to(&typed, &claim));
    }
}
