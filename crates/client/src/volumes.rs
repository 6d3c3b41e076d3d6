//! PersistentVolumes and their claims as the PV controller, the scheduler and the kubelet all
//! read them: the annotations they share, and upstream's matching of a claim to a volume
//! (`findMatchingVolume`: a volume pre-bound to the claim first, else the smallest that fits
//! the claim's class, access modes, size, volume mode and selector, and the node when one is
//! chosen).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;

use crate::cache::{Cache, cache};
use crate::quantity::value;

/// The objects a cache's stream touched (applied or deleted), boxed.
pub type Touched<K> = BoxStream<'static, Result<K, kube::runtime::watcher::Error>>;

/// A cache of every claim and its stream. These three are plain functions so that the
/// scheduler, the PV controller and the kubelet share one compiled watch per kind (a generic
/// cache is compiled again in every crate that names it).
pub fn claims_cache(
    client: &kube::Client,
) -> (Cache<PersistentVolumeClaim>, Touched<PersistentVolumeClaim>) {
    let (cache, stream) = cache(Api::all(client.clone()));
    (cache, stream.boxed())
}

/// A cache of every PersistentVolume and its stream.
pub fn volumes_cache(
    client: &kube::Client,
) -> (Cache<PersistentVolume>, Touched<PersistentVolume>) {
    let (cache, stream) = cache(Api::all(client.clone()));
    (cache, stream.boxed())
}

/// A cache of every StorageClass and its stream.
pub fn classes_cache(client: &kube::Client) -> (Cache<StorageClass>, Touched<StorageClass>) {
    let (cache, stream) = cache(Api::all(client.clone()));
    (cache, stream.boxed())
}

/// The provisioner of ferrokube's built-in local-path volumes (k3s's name for it).
pub const LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";
/// The Node annotation that names the directory its kubelet keeps local-path volumes in; a
/// node without it (a simulated one) cannot hold them.
pub const LOCAL_PATH_ANNOTATION: &str = "storage.ferrokube.io/local-path";
/// The finalizer of a provisioned local-path volume: its node's kubelet removes the directory
/// and then the finalizer, so the volume object outlives its data by no more than that.
pub const LOCAL_PATH_FINALIZER: &str = "storage.ferrokube.io/local-path-directory";
/// Upstream's in-use protection finalizers (the StorageObjectInUseProtection admission plugin
/// adds them; the PV controller lifts them once the claim is unused, the volume unbound).
pub const CLAIM_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const VOLUME_PROTECTION: &str = "kubernetes.io/pv-protection";
/// The node the scheduler chose for a claim that waits for its first consumer.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";

/// A merge patch that lifts `finalizer` from an object whose metadata is `meta`, planned from
/// its resourceVersion.
pub fn without_finalizer(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    finalizer: &str,
) -> serde_json::Value {
    let rest: Vec<&String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != finalizer)
        .collect();
    serde_json::json!({"metadata": {"finalizers": rest, "resourceVersion": meta.resource_version}})
}

/// Whether the object carries the finalizer.
pub fn has_finalizer(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    finalizer: &str,
) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// Whether the volume was made by the local-path provisioner.
pub fn is_local_path(pv: &PersistentVolume) -> bool {
    let annotations = pv.metadata.annotations.as_ref();
    annotations
        .and_then(|a| a.get(PROVISIONED_BY))
        .is_some_and(|p| p == LOCAL_PATH_PROVISIONER)
}

/// The class a claim asks for (`""`: none).
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    let spec = claim.spec.as_ref();
    spec.and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

/// The class a volume belongs to (`""`: none).
pub fn volume_class(pv: &PersistentVolume) -> &str {
    let spec = pv.spec.as_ref();
    spec.and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

/// The bytes a claim requests.
pub fn claim_request(claim: &PersistentVolumeClaim) -> i64 {
    let spec = claim.spec.as_ref();
    let requests = spec.and_then(|s| s.resources.as_ref()?.requests.as_ref());
    requests
        .and_then(|r| r.get("storage"))
        .map_or(0, |q| value(q, 1))
}

/// The bytes a volume holds.
pub fn volume_capacity(pv: &PersistentVolume) -> i64 {
    let spec = pv.spec.as_ref();
    spec.and_then(|s| s.capacity.as_ref()?.get("storage"))
        .map_or(0, |q| value(q, 1))
}

/// The volume a claim is bound to, if any.
pub fn claim_volume(claim: &PersistentVolumeClaim) -> Option<&str> {
    let spec = claim.spec.as_ref()?;
    spec.volume_name.as_deref().filter(|v| !v.is_empty())
}

fn mode(mode: Option<&String>) -> &str {
    mode.map_or("Filesystem", String::as_str)
}

/// Whether the volume's claim reference names this claim (its namespace and name, and its
/// UID unless the reference has none).
pub fn refers_to(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    r.name == claim.metadata.name
        && r.namespace == claim.metadata.namespace
        && r.uid
            .as_deref()
            .is_none_or(|uid| uid.is_empty() || Some(uid) == claim.metadata.uid.as_deref())
}

/// Whether the volume can serve the claim: same class, every access mode the claim asks,
/// at least its size, the same volume mode, and the claim's selector matches its labels.
pub fn fits_claim(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let (Some(spec), Some(wanted)) = (pv.spec.as_ref(), claim.spec.as_ref()) else {
        return false;
    };
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    let asked = wanted.access_modes.as_deref().unwrap_or_default();
    let labels = pv.metadata.labels.clone().unwrap_or_default();
    let selected = wanted.selector.as_ref().is_none_or(|s| {
        use kube::core::SelectorExt;
        kube::core::Selector::try_from(s.clone()).is_ok_and(|s| s.matches(&labels))
    });
    volume_class(pv) == claim_class(claim)
        && asked.iter().all(|m| modes.contains(m))
        && volume_capacity(pv) >= claim_request(claim)
        && mode(spec.volume_mode.as_ref()) == mode(wanted.volume_mode.as_ref())
        && selected
}

/// Whether the volume may be used on the node (its node affinity, none: anywhere).
pub fn fits_node(pv: &PersistentVolume, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let required = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref());
    required.is_none_or(|r| crate::node_selector::selector_matches(r, labels, name))
}

/// Whether the volume is free for a claim: not being deleted, and not bound or pre-bound to
/// another claim.
fn free_for(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let claimed = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_some();
    pv.metadata.deletion_timestamp.is_none() && (!claimed || refers_to(pv, claim))
}

/// The volume to bind the claim to: one pre-bound to it, else the smallest free one that fits
/// it (and the node, when given).
pub fn best_volume<'a>(
    claim: &PersistentVolumeClaim,
    volumes: impl IntoIterator<Item = &'a PersistentVolume>,
    node: Option<(&BTreeMap<String, String>, &str)>,
) -> Option<&'a PersistentVolume> {
    let candidates = volumes.into_iter().filter(|pv| {
        free_for(pv, claim)
            && fits_claim(pv, claim)
            && node.is_none_or(|(labels, name)| fits_node(pv, labels, name))
    });
    candidates.min_by_key(|pv| (!refers_to(pv, claim), volume_capacity(pv)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(name: &str, size: &str, extra: serde_json::Value) -> PersistentVolume {
        let mut spec = json!({"accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "capacity": {"storage": size}, "hostPath": {"path": "/d"}, "storageClassName": "slow"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"tier": "gold"}}, "spec": spec}),
        )
        .unwrap()
    }

    fn claim(extra: serde_json::Value) -> PersistentVolumeClaim {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "slow"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(
            json!({"metadata": {"name": "data", "namespace": "shop", "uid": "c1"}, "spec": spec}),
        )
        .unwrap()
    }

    fn names(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume]) -> Option<String> {
        best_volume(claim, volumes, None).and_then(|pv| pv.metadata.name.clone())
    }

    #[test]
    fn the_smallest_fitting_volume_is_chosen() {
        let volumes = [
            pv("big", "10Gi", json!({})),
            pv("small", "2Gi", json!({})),
            pv("tiny", "500Mi", json!({})),
            pv("other-class", "1Gi", json!({"storageClassName": "fast"})),
            pv(
                "taken",
                "1Gi",
                json!({"claimRef": {"namespace": "shop", "name": "else"}}),
            ),
        ];
        let cases = [
            (claim(json!({})), Some("small")),
            (
                claim(json!({"storageClassName": "fast"})),
                Some("other-class"),
            ),
            (claim(json!({"accessModes": ["ReadWriteMany"]})), None),
            (claim(json!({"volumeMode": "Block"})), None),
            (
                claim(json!({"resources": {"requests": {"storage": "20Gi"}}})),
                None,
            ),
            (
                claim(json!({"selector": {"matchLabels": {"tier": "gold"}}})),
                Some("small"),
            ),
            (
                claim(json!({"selector": {"matchLabels": {"tier": "iron"}}})),
                None,
            ),
        ];
        for (c, want) in cases {
            assert_eq!(names(&c, &volumes).as_deref(), want, "{:?}", c.spec);
        }
    }

    #[test]
    fn a_pre_bound_volume_comes_first_and_nodes_are_honoured() {
        let mine = pv(
            "mine",
            "5Gi",
            json!({"claimRef": {"namespace": "shop", "name": "data"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}),
        );
        let other_uid = pv(
            "stale",
            "1Gi",
            json!({"claimRef": {"namespace": "shop", "name": "data", "uid": "old"}}),
        );
        let volumes = [pv("small", "1Gi", json!({})), mine, other_uid];
        let c = claim(json!({}));
        assert_eq!(names(&c, &volumes).as_deref(), Some("mine"));
        let n1 = BTreeMap::from([("kubernetes.io/hostname".to_owned(), "n1".to_owned())]);
        let n2 = BTreeMap::from([("kubernetes.io/hostname".to_owned(), "n2".to_owned())]);
        let on = |labels, name| {
            best_volume(&c, &volumes, Some((labels, name))).and_then(|p| p.metadata.name.clone())
        };
        assert_eq!(on(&n1, "n1").as_deref(), Some("mine"));
        assert_eq!(on(&n2, "n2").as_deref(), Some("small"));
    }
}
