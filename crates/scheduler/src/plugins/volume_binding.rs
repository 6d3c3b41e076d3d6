//! VolumeBinding, as upstream's plugin: a pod's PersistentVolumeClaims must exist and not be
//! on their way out, and an unbound one must wait for its first consumer (else the pod waits
//! for the claim to bind); a bound claim's volume must allow the node (its node affinity); an
//! unbound claim of a `WaitForFirstConsumer` class needs, on the node, a free volume that fits
//! it or a provisioner that can make one there (the local-path provisioner only on a node that
//! keeps local-path volumes). After the pick, the scheduler names the node on such claims and
//! binds the pod once they are bound (`bind_claims` in the crate root).

use std::sync::Arc;

use ferrokube_client::cache::Cache;
use ferrokube_client::volumes::{
    LOCAL_PATH_ANNOTATION, LOCAL_PATH_PROVISIONER, best_volume, claim_class, claim_volume,
    fits_node,
};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::ObjectRef;

use crate::framework::{Failure, NodeInfo, PodInfo};

pub const REASON_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const REASON_PV_MISSING: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The claims, volumes and classes the scheduler watches.
pub struct Volumes {
    pub claims: Cache<PersistentVolumeClaim>,
    pub volumes: Cache<PersistentVolume>,
    pub classes: Cache<StorageClass>,
}

/// An unbound claim that waits for its first consumer, with its class's provisioner.
pub struct Delayed {
    pub claim: Arc<PersistentVolumeClaim>,
    pub provisioner: String,
}

/// What the filter needs of a pod's claims, worked out once per pod.
#[derive(Default)]
pub struct State {
    /// The volumes of its bound claims (`None`: a claim's volume does not exist).
    bound: Vec<Option<Arc<PersistentVolume>>>,
    pub delayed: Vec<Delayed>,
    /// Every volume, when some claim is unbound (to find one that fits on a node).
    all: Vec<Arc<PersistentVolume>>,
}

impl State {
    pub fn active(&self) -> bool {
        !self.bound.is_empty() || !self.delayed.is_empty()
    }
}

/// The claims a pod's volumes name.
pub fn claim_names(pod: &PodInfo) -> impl Iterator<Item = &str> {
    let volumes = pod.pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes.filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.as_str()))
}

/// Upstream's PreFilter: the pod's claims as the filter needs them, or why no node can do
/// (the claim is missing, being deleted, or unbound and not waiting for a consumer).
pub fn prefilter(pod: &PodInfo, volumes: &Volumes) -> Result<State, String> {
    let mut state = State::default();
    for name in claim_names(pod) {
        let key = ObjectRef::new(name).within(&pod.namespace);
        let Some(claim) = volumes.claims.get(&key) else {
            return Err(format!("persistentvolumeclaim \"{name}\" not found"));
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
        }
        if let Some(volume) = claim_volume(&claim) {
            state
                .bound
                .push(volumes.volumes.get(&ObjectRef::new(volume)));
            continue;
        }
        let class_name = claim_class(&claim);
        let class = (!class_name.is_empty())
            .then(|| volumes.classes.get(&ObjectRef::new(class_name)))
            .flatten();
        let delayed = class
            .as_ref()
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
        if !class_name.is_empty() && class.is_none() {
            return Err(format!(
                "storageclass.storage.k8s.io \"{class_name}\" not found"
            ));
        }
        if !delayed {
            return Err(UNBOUND_IMMEDIATE.to_owned());
        }
        let provisioner = class.map(|c| c.provisioner.clone()).unwrap_or_default();
        state.delayed.push(Delayed { claim, provisioner });
    }
    if !state.delayed.is_empty() {
        state.all = volumes.volumes.state();
    }
    Ok(state)
}

/// Whether the node can hold a volume for the delayed claim: a free one that fits it there,
/// or its provisioner can make one there.
fn can_bind(delayed: &Delayed, node: &NodeInfo, all: &[Arc<PersistentVolume>]) -> bool {
    let on_node = Some((&node.labels, node.name.as_str()));
    if best_volume(&delayed.claim, all.iter().map(Arc::as_ref), on_node).is_some() {
        return true;
    }
    match delayed.provisioner.as_str() {
        "" => false,
        LOCAL_PATH_PROVISIONER => {
            let annotations = node.node.metadata.annotations.as_ref();
            annotations.is_some_and(|a| a.contains_key(LOCAL_PATH_ANNOTATION))
        }
        // An external provisioner says itself where it can provision.
        _ => true,
    }
}

pub fn filter(_pod: &PodInfo, node: &NodeInfo, state: &State) -> Result<(), Failure> {
    for pv in &state.bound {
        match pv {
            None => return Err(Failure::unresolvable(REASON_PV_MISSING)),
            Some(pv) if !fits_node(pv, &node.labels, &node.name) => {
                return Err(Failure::unresolvable(REASON_CONFLICT));
            }
            Some(_) => {}
        }
    }
    if state.delayed.iter().all(|d| can_bind(d, node, &state.all)) {
        Ok(())
    } else {
        Err(Failure::unresolvable(REASON_BIND_CONFLICT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn pv(affinity_node: Option<&str>) -> Arc<PersistentVolume> {
        let affinity = affinity_node.map(|n| {
            json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [n]}]}]}})
        });
        Arc::new(serde_json::from_value(json!({"metadata": {"name": "pv"},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                "hostPath": {"path": "/d"}, "storageClassName": "manual", "nodeAffinity": affinity}})).unwrap())
    }

    fn delayed(class: &str, provisioner: &str) -> Delayed {
        Delayed {
            claim: Arc::new(serde_json::from_value(json!({"metadata": {"name": "c", "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": class}})).unwrap()),
            provisioner: provisioner.to_owned(),
        }
    }

    fn host(name: &str, local_path: bool) -> NodeInfo {
        let annotations = local_path.then(|| json!({LOCAL_PATH_ANNOTATION: "/var/lib/fk/storage"}));
        node(
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
            "annotations": annotations}}),
        )
    }

    #[test]
    fn nodes_are_filtered_by_their_volumes() {
        let p = pod(json!({"containers": []}));
        let bound_to_n1 = State {
            bound: vec![Some(pv(Some("n1")))],
            ..State::default()
        };
        let missing = State {
            bound: vec![None],
            ..State::default()
        };
        let local_path = State {
            delayed: vec![delayed("local-path", LOCAL_PATH_PROVISIONER)],
            ..State::default()
        };
        let manual = State {
            delayed: vec![delayed("manual", "")],
            all: vec![pv(Some("n1"))],
            ..State::default()
        };
        let external = State {
            delayed: vec![delayed("ebs", "ebs.csi.aws.com")],
            ..State::default()
        };
        let reason = |state: &State, n: &NodeInfo| {
            filter(&p, n, state)
                .err()
                .map(|f| f.reasons[0].clone())
                .unwrap_or_default()
        };
        let (n1, n2, hollow) = (host("n1", true), host("n2", true), host("n3", false));
        let cases = [
            (&bound_to_n1, &n1, ""),
            (&bound_to_n1, &n2, REASON_CONFLICT),
            (&missing, &n1, REASON_PV_MISSING),
            (&local_path, &n2, ""),
            (&local_path, &hollow, REASON_BIND_CONFLICT),
            (&manual, &n1, ""),
            (&manual, &n2, REASON_BIND_CONFLICT),
            (&external, &hollow, ""),
        ];
        for (i, (state, n, want)) in cases.iter().enumerate() {
            assert_eq!(reason(state, n), *want, "case {i} on {}", n.name);
        }
        assert!(!State::default().active());
    }
}
