//! The persistent volume controller, as upstream's `pkg/controller/volume/persistentvolume`
//! with k3s's local-path provisioner built in: it binds each claim to the smallest volume that
//! fits it (once its first pod is scheduled, for a `WaitForFirstConsumer` class), makes a
//! local-path volume (a directory on the pod's node) when none fits and the class is
//! `rancher.io/local-path`, keeps the phases of both sides, and reclaims a volume whose claim
//! is gone: `Retain` leaves it `Released`, `Delete` deletes it (the node's kubelet then removes
//! the directory).

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use ferrokube_client::cache::Cache;
use ferrokube_client::events::{Kind, Recorder};
use ferrokube_client::volumes::{
    BIND_COMPLETED, BOUND_BY_CONTROLLER, CLAIM_PROTECTION, LOCAL_PATH_FINALIZER,
    LOCAL_PATH_PROVISIONER, PROVISIONED_BY, VOLUME_PROTECTION, claim_class, claim_volume,
    claims_cache, has_finalizer, refers_to, volumes_cache, without_finalizer,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use plan::{ClaimPlan, ClaimView, Note, VolumePlan, plan_claim, plan_volume};

/// How often every claim and volume is synced again, whatever changed: upstream's resync
/// period. A claim that waits for something not watched here (a class, a node's storage) and a
/// sync that failed are taken up again then.
const RESYNC: Duration = Duration::from_secs(15);

/// Why a sync could not finish this time; it is retried at the next resync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    volumes: Cache<PersistentVolume>,
    claims: Cache<PersistentVolumeClaim>,
}

/// What the loop reacts to.
enum Input {
    Claim(Box<PersistentVolumeClaim>),
    Volume(Box<PersistentVolume>),
    Resync,
}

/// Runs the controller until `shutdown` resolves: one loop, syncing each claim and volume a
/// watch touches (and what it refers to), and all of them every 15 seconds. Claims and
/// volumes are few beside pods, so one sync at a time keeps up.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (volumes, volume_events) = volumes_cache(&client);
    let (claims, claim_events) = claims_cache(&client);
    let ctx = Context {
        recorder: Recorder::new(client.clone(), "persistentvolume-controller"),
        client,
        volumes,
        claims,
    };
    let ticks = futures::stream::unfold((), |()| async {
        tokio::time::sleep(RESYNC).await;
        Some((Input::Resync, ()))
    });
    let inputs = futures::stream::select(
        claim_events.filter_map(|e| {
            futures::future::ready(logged(e, "claims").map(|c| Input::Claim(Box::new(c))))
        }),
        futures::stream::select(
            volume_events.filter_map(|e| {
                futures::future::ready(logged(e, "volumes").map(|v| Input::Volume(Box::new(v))))
            }),
            ticks,
        ),
    );
    let mut inputs = std::pin::pin!(inputs);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut started = false;
    loop {
        let input = tokio::select! {
            input = inputs.next() => input,
            () = &mut shutdown => None,
        };
        let Some(input) = input else {
            return;
        };
        // Until both caches are filled nothing is synced (a sync must not wait for a cache
        // this loop fills); then everything is, at once.
        if !ctx.claims.is_ready() || !ctx.volumes.is_ready() {
            continue;
        }
        let input = if started { input } else { Input::Resync };
        started = true;
        handle(&ctx, input).await;
    }
}

/// The object, or `None` with the error logged (the watch retries with a backoff).
fn logged<K>(event: Result<K, watcher::Error>, what: &str) -> Option<K> {
    event
        .inspect_err(|e| tracing::warn!(error = %e, "watching {what} failed; retrying"))
        .ok()
}

/// Syncs what one input concerns; a failure is logged and retried at the next resync.
async fn handle(ctx: &Context, input: Input) {
    let outcome = match input {
        Input::Claim(claim) => claim_touched(ctx, &claim).await,
        Input::Volume(pv) => volume_touched(ctx, &pv).await,
        Input::Resync => resync(ctx).await,
    };
    if let Err(err) = outcome {
        tracing::warn!(error = %err, "persistent volume controller sync failed; retrying at the next resync");
    }
}

fn cached_claim(ctx: &Context, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
    ctx.claims.get(&ObjectRef::new(name).within(namespace))
}

/// A claim changed or went: sync it if it is there, and the volumes it names or was given.
async fn claim_touched(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    let current = cached_claim(
        ctx,
        &claim.namespace().unwrap_or_default(),
        &claim.name_any(),
    );
    if let Some(current) = &current {
        sync_claim(ctx, current).await?;
    }
    let provisioned = claim.uid().map(|uid| format!("pvc-{uid}"));
    let named = claim_volume(claim).map(str::to_owned);
    for name in named.into_iter().chain(provisioned) {
        if let Some(pv) = ctx.volumes.get(&ObjectRef::new(&name)) {
            sync_volume(ctx, &pv).await?;
        }
    }
    Ok(())
}

/// A volume changed or went: sync it if it is there, and the claim it refers to.
async fn volume_touched(ctx: &Context, pv: &PersistentVolume) -> Result<(), Error> {
    if let Some(current) = ctx.volumes.get(&ObjectRef::new(&pv.name_any())) {
        sync_volume(ctx, &current).await?;
    }
    let reference = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    if let Some(r) = reference {
        let (namespace, name) = (
            r.namespace.clone().unwrap_or_default(),
            r.name.clone().unwrap_or_default(),
        );
        if let Some(claim) = cached_claim(ctx, &namespace, &name) {
            sync_claim(ctx, &claim).await?;
        }
    }
    Ok(())
}

async fn resync(ctx: &Context) -> Result<(), Error> {
    let mut failed = None;
    for claim in ctx.claims.state() {
        if let Err(err) = sync_claim(ctx, &claim).await {
            failed = Some(err);
        }
    }
    for pv in ctx.volumes.state() {
        if let Err(err) = sync_volume(ctx, &pv).await {
            failed = Some(err);
        }
    }
    failed.map_or(Ok(()), Err)
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

/// A merge patch of the claim, or of its status.
async fn patch_claim(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    status: bool,
    patch: &serde_json::Value,
) -> Result<(), Error> {
    let (api, name, params) = (
        claims_api(ctx, claim),
        claim.name_any(),
        PatchParams::default(),
    );
    if status {
        api.patch_status(&name, &params, &Patch::Merge(patch))
            .await?;
    } else {
        api.patch(&name, &params, &Patch::Merge(patch)).await?;
    }
    Ok(())
}

/// A merge patch of the volume, or of its status.
async fn patch_volume(
    ctx: &Context,
    name: &str,
    status: bool,
    patch: &serde_json::Value,
) -> Result<(), Error> {
    let (api, params) = (
        Api::<PersistentVolume>::all(ctx.client.clone()),
        PatchParams::default(),
    );
    if status {
        api.patch_status(name, &params, &Patch::Merge(patch))
            .await?;
    } else {
        api.patch(name, &params, &Patch::Merge(patch)).await?;
    }
    Ok(())
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
    patch_claim(ctx, claim, true, &json!({"status": {"phase": phase}})).await
}

/// Whether a pod that has not finished names the claim (upstream's pvc-protection check).
fn used_by(pods: &[Pod], claim: &str) -> bool {
    pods.iter().any(|pod| {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let finished = matches!(phase, Some("Succeeded" | "Failed"));
        let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
        let names = volumes.filter_map(|v| v.persistent_volume_claim.as_ref());
        !finished && names.into_iter().any(|c| c.claim_name == claim)
    })
}

/// A claim being deleted loses its protection once no unfinished pod uses it.
async fn release_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    if !has_finalizer(&claim.metadata, CLAIM_PROTECTION) {
        return Ok(());
    }
    let pods: Api<Pod> =
        Api::namespaced(ctx.client.clone(), &claim.namespace().unwrap_or_default());
    let pods = pods.list(&ListParams::default()).await?.items;
    if used_by(&pods, &claim.name_any()) {
        return Ok(());
    }
    let patch = without_finalizer(&claim.metadata, CLAIM_PROTECTION);
    patch_claim(ctx, claim, false, &patch).await
}

async fn sync_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    if claim.metadata.deletion_timestamp.is_some() {
        return release_claim(ctx, claim).await;
    }
    let volumes = ctx.volumes.state();
    let volumes: Vec<&PersistentVolume> = volumes.iter().map(Arc::as_ref).collect();
    let class_name = claim_class(claim);
    let class = match class_name {
        "" => None,
        name => {
            Api::<StorageClass>::all(ctx.client.clone())
                .get_opt(name)
                .await?
        }
    };
    let node = match plan::selected_node(claim) {
        Some(name) => Api::<Node>::all(ctx.client.clone()).get_opt(name).await?,
        None => None,
    };
    let view = ClaimView {
        volumes: &volumes,
        class: class.as_ref(),
        node: node.as_ref(),
    };
    match plan_claim(claim, &view) {
        ClaimPlan::Done => Ok(()),
        ClaimPlan::Wait(note) => {
            set_claim_phase(ctx, claim, "Pending").await?;
            record(ctx, claim, &note).await;
            Ok(())
        }
        ClaimPlan::Bind(name) => {
            let pv = volumes
                .iter()
                .find(|pv| pv.metadata.name.as_deref() == Some(name.as_str()));
            if let Some(pv) = pv {
                bind(ctx, claim, pv).await?;
            }
            Ok(())
        }
        ClaimPlan::Provision { node, root } => {
            let class = class.expect("a provisioning plan has a class");
            provision(ctx, claim, &class, &node, &root).await?;
            Ok(())
        }
        ClaimPlan::Lost(note) => {
            set_claim_phase(ctx, claim, "Lost").await?;
            record(ctx, claim, &note).await;
            Ok(())
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
        patch_volume(ctx, &name, false, &patch).await?;
    }
    if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        patch_volume(ctx, &name, true, &json!({"status": {"phase": "Bound"}})).await?;
    }
    let annotations = claim.metadata.annotations.clone().unwrap_or_default();
    if claim_volume(claim) != Some(name.as_str()) || !annotations.contains_key(BIND_COMPLETED) {
        let mut set = json!({BIND_COMPLETED: "yes"});
        if claim_volume(claim).is_none() {
            set[BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch = json!({"metadata": {"annotations": set}, "spec": {"volumeName": name}});
        patch_claim(ctx, claim, false, &patch).await?;
    }
    let spec = pv.spec.clone().unwrap_or_default();
    let patch = json!({"status": {"phase": "Bound", "accessModes": spec.access_modes,
        "capacity": spec.capacity}});
    patch_claim(ctx, claim, true, &patch).await
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

async fn sync_volume(ctx: &Context, pv: &PersistentVolume) -> Result<(), Error> {
    if pv.metadata.deletion_timestamp.is_some() {
        // A volume being deleted loses its protection once it is not bound.
        let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
        if has_finalizer(&pv.metadata, VOLUME_PROTECTION) && phase != Some("Bound") {
            let patch = without_finalizer(&pv.metadata, VOLUME_PROTECTION);
            patch_volume(ctx, &pv.name_any(), false, &patch).await?;
        }
        return Ok(());
    }
    let claim = referred_claim(ctx, pv).await?;
    let name = pv.name_any();
    match plan_volume(pv, claim.as_ref()) {
        VolumePlan::Done => {}
        VolumePlan::Phase(phase, message) => {
            let patch = json!({"status": {"phase": phase, "message": message}});
            patch_volume(ctx, &name, true, &patch).await?;
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
                record(ctx, pv, &note).await;
            }
        }
        VolumePlan::Delete => {
            // Released first: a bound volume's protection would hold its deletion.
            let patch = json!({"status": {"phase": "Released"}});
            patch_volume(ctx, &name, true, &patch).await?;
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pv.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
            match volumes.delete(&name, &params).await {
                Ok(_) => tracing::info!(volume = %name, "deleted a released volume"),
                Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_in_use_until_its_pods_finish() {
        let pod = |claim: &str, phase: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"},
                "spec": {"containers": [], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]},
                "status": {"phase": phase}}))
            .unwrap()
        };
        let cases = [
            (vec![], false),
            (vec![pod("data", "Running")], true),
            (vec![pod("data", "Pending")], true),
            (vec![pod("data", "Succeeded"), pod("data", "Failed")], false),
            (vec![pod("other", "Running")], false),
        ];
        for (pods, want) in cases {
            assert_eq!(used_by(&pods, "data"), want, "{pods:?}");
        }
    }

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
