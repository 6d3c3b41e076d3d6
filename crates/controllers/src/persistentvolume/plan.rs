//! What the PV controller does next for a claim or a volume, decided from what it sees (pure),
//! as upstream's `syncUnboundClaim`/`syncBoundClaim` and `syncVolume`.

use std::collections::BTreeMap;

use ferrokube_client::volumes::{
    LOCAL_PATH_ANNOTATION, LOCAL_PATH_PROVISIONER, SELECTED_NODE, best_volume, claim_class,
    claim_volume, is_local_path, refers_to,
};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

/// An Event the controller records about the object it syncs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Note {
    fn normal(reason: &'static str, message: impl Into<String>) -> Note {
        Note {
            warning: false,
            reason,
            message: message.into(),
        }
    }

    fn warning(reason: &'static str, message: impl Into<String>) -> Note {
        Note {
            warning: true,
            reason,
            message: message.into(),
        }
    }
}

/// The next step for a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimPlan {
    /// Bound and recorded so on both sides.
    Done,
    /// It stays Pending, for the reason noted; looked at again later.
    Wait(Note),
    /// Bind it to this volume (each side's writes that are not there yet).
    Bind(String),
    /// Make a local-path volume for it on this node, in this directory.
    Provision { node: String, root: String },
    /// Its volume is gone or belongs to another claim.
    Lost(Note),
}

/// What the claim's sync sees besides the claim.
pub struct ClaimView<'a> {
    pub volumes: &'a [&'a PersistentVolume],
    /// The claim's StorageClass, if it names one that exists.
    pub class: Option<&'a StorageClass>,
    /// The node named by the claim's selected-node annotation, if it exists.
    pub node: Option<&'a Node>,
}

/// The node the scheduler chose for the claim, if any.
pub fn selected_node(claim: &PersistentVolumeClaim) -> Option<&str> {
    let annotations = claim.metadata.annotations.as_ref()?;
    annotations.get(SELECTED_NODE).map(String::as_str)
}

/// Whether the class binds a claim only once a pod using it is scheduled.
pub fn waits_for_consumer(class: &StorageClass) -> bool {
    class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
}

fn bound_and_recorded(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let claim_phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    let pv_phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
    let pv_uid = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .and_then(|r| r.uid.as_deref());
    claim_phase == Some("Bound")
        && pv_phase == Some("Bound")
        && pv_uid == claim.metadata.uid.as_deref()
}

/// The plan for a claim that names its volume already.
fn plan_bound(claim: &PersistentVolumeClaim, name: &str, view: &ClaimView) -> ClaimPlan {
    let Some(pv) = view
        .volumes
        .iter()
        .find(|pv| pv.metadata.name.as_deref() == Some(name))
    else {
        return ClaimPlan::Lost(Note::warning(
            "ClaimLost",
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        ));
    };
    let claimed = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_some();
    if claimed && !refers_to(pv, claim) {
        return ClaimPlan::Lost(Note::warning(
            "ClaimMisbound",
            "Two claims are bound to the same volume, this one is bound incorrectly",
        ));
    }
    if bound_and_recorded(claim, pv) {
        ClaimPlan::Done
    } else {
        ClaimPlan::Bind(name.to_owned())
    }
}

fn node_labels(node: &Node) -> (BTreeMap<String, String>, String) {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    (labels, node.metadata.name.clone().unwrap_or_default())
}

/// What a claim or its class asks of the local-path provisioner that it cannot give (a
/// directory on a node has no size, topology, options or contents to choose), said instead of
/// provisioning without it.
pub fn unsupported_request(claim: &PersistentVolumeClaim, class: &StorageClass) -> Option<String> {
    let spec = claim.spec.as_ref();
    if spec.is_some_and(|s| s.selector.is_some()) {
        return Some("claim Selector is not supported".to_owned());
    }
    if spec.is_some_and(|s| s.data_source.is_some() || s.data_source_ref.is_some()) {
        return Some(
            "the local-path provisioner cannot fill a volume from a data source".to_owned(),
        );
    }
    let asked = [
        (
            "parameters",
            class.parameters.as_ref().is_some_and(|p| !p.is_empty()),
        ),
        (
            "mountOptions",
            class.mount_options.as_ref().is_some_and(|m| !m.is_empty()),
        ),
        (
            "allowedTopologies",
            class
                .allowed_topologies
                .as_ref()
                .is_some_and(|t| !t.is_empty()),
        ),
    ];
    let fields: Vec<&str> = asked
        .iter()
        .filter(|(_, set)| *set)
        .map(|(f, _)| *f)
        .collect();
    (!fields.is_empty()).then(|| {
        format!(
            "the local-path provisioner does not support the class's {}",
            fields.join(", ")
        )
    })
}

/// The plan for a claim, as upstream's PV controller with the local-path provisioner beside it.
pub fn plan_claim(claim: &PersistentVolumeClaim, view: &ClaimView) -> ClaimPlan {
    if let Some(name) = claim_volume(claim) {
        return plan_bound(claim, name, view);
    }
    let class_name = claim_class(claim);
    let delayed = view.class.is_some_and(waits_for_consumer);
    let selected = selected_node(claim);
    if delayed && selected.is_none() {
        return ClaimPlan::Wait(Note::normal(
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
        ));
    }
    let node = view.node.map(node_labels);
    let on_node = node
        .as_ref()
        .filter(|_| delayed)
        .map(|(l, n)| (l, n.as_str()));
    if let Some(pv) = best_volume(claim, view.volumes.iter().copied(), on_node) {
        return ClaimPlan::Bind(pv.metadata.name.clone().unwrap_or_default());
    }
    if class_name.is_empty() {
        return ClaimPlan::Wait(Note::normal(
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set",
        ));
    }
    let Some(class) = view.class else {
        return ClaimPlan::Wait(Note::warning(
            "ProvisioningFailed",
            format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
        ));
    };
    if class.provisioner != LOCAL_PATH_PROVISIONER {
        return ClaimPlan::Wait(Note::normal(
            "ExternalProvisioning",
            format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
                class.provisioner
            ),
        ));
    }
    if let Some(why) = unsupported_request(claim, class) {
        return ClaimPlan::Wait(Note::warning(
            "ProvisioningFailed",
            format!("failed to provision volume with StorageClass \"{class_name}\": {why}"),
        ));
    }
    let Some(selected) = selected.filter(|_| delayed) else {
        return ClaimPlan::Wait(Note::warning(
            "ProvisioningFailed",
            "failed to provision volume with StorageClass \"".to_owned()
                + class_name
                + "\": configuration error, no node was specified (the local-path provisioner needs volumeBindingMode: WaitForFirstConsumer)",
        ));
    };
    let root = view
        .node
        .and_then(|n| n.metadata.annotations.as_ref()?.get(LOCAL_PATH_ANNOTATION));
    match root {
        Some(root) => ClaimPlan::Provision {
            node: selected.to_owned(),
            root: root.clone(),
        },
        None => ClaimPlan::Wait(Note::warning(
            "ProvisioningFailed",
            format!(
                "failed to provision volume with StorageClass \"{class_name}\": node \"{selected}\" keeps no local-path volumes"
            ),
        )),
    }
}

/// The next step for a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumePlan {
    Done,
    /// Set its phase (with a message for `Failed`).
    Phase(&'static str, Option<String>),
    /// Its claim is gone and its policy is Delete: delete the volume (its node's kubelet
    /// removes the directory of a local-path one).
    Delete,
}

fn phase(pv: &PersistentVolume) -> &str {
    let status = pv.status.as_ref();
    status.and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

fn set_phase(pv: &PersistentVolume, wanted: &'static str) -> VolumePlan {
    if phase(pv) == wanted {
        VolumePlan::Done
    } else {
        VolumePlan::Phase(wanted, None)
    }
}

/// What happens to a volume whose claim is gone, by its reclaim policy.
fn reclaim(pv: &PersistentVolume) -> VolumePlan {
    let spec = pv.spec.as_ref();
    let policy = spec
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    let provisioned = is_local_path(pv);
    let name = pv.metadata.name.as_deref().unwrap_or_default();
    match policy {
        "Delete" if provisioned => VolumePlan::Delete,
        "Delete" => failed(
            pv,
            format!(
                "error getting deleter volume plugin for volume \"{name}\": no deletable volume plugin matched"
            ),
        ),
        "Recycle" => failed(
            pv,
            format!(
                "error getting recycler volume plugin for volume \"{name}\": no recyclable volume plugin matched"
            ),
        ),
        _ => set_phase(pv, "Released"),
    }
}

fn failed(pv: &PersistentVolume, message: String) -> VolumePlan {
    if phase(pv) == "Failed" {
        VolumePlan::Done
    } else {
        VolumePlan::Phase("Failed", Some(message))
    }
}

/// The plan for a volume, given the claim its reference names (`None`: that claim does not
/// exist, as read from the API server itself).
pub fn plan_volume(pv: &PersistentVolume, claim: Option<&PersistentVolumeClaim>) -> VolumePlan {
    if pv.metadata.deletion_timestamp.is_some() {
        return VolumePlan::Done;
    }
    let reference = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let Some(reference) = reference else {
        return set_phase(pv, "Available");
    };
    let pre_bound = reference.uid.as_deref().unwrap_or_default().is_empty();
    match claim {
        Some(claim) if refers_to(pv, claim) => {
            if claim_volume(claim) == pv.metadata.name.as_deref() {
                set_phase(pv, "Bound")
            } else if pre_bound {
                set_phase(pv, "Available")
            } else {
                VolumePlan::Done
            }
        }
        _ if pre_bound => set_phase(pv, "Available"),
        _ if matches!(phase(pv), "Released" | "Failed") && reclaim(pv) == VolumePlan::Done => {
            VolumePlan::Done
        }
        _ => reclaim(pv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokube_client::volumes::PROVISIONED_BY;
    use serde_json::{Value, json};

    fn claim(annotations: Value, spec: Value) -> PersistentVolumeClaim {
        let mut s = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "local-path"});
        s.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        serde_json::from_value(
            json!({"metadata": {"name": "data", "namespace": "shop", "uid": "c1",
            "annotations": annotations}, "spec": s, "status": {"phase": "Pending"}}),
        )
        .unwrap()
    }

    fn class(provisioner: &str, mode: &str) -> StorageClass {
        serde_json::from_value(
            json!({"metadata": {"name": "local-path"}, "provisioner": provisioner,
            "volumeBindingMode": mode, "reclaimPolicy": "Delete"}),
        )
        .unwrap()
    }

    fn node(root: Option<&str>) -> Node {
        let annotations = root.map(|r| json!({LOCAL_PATH_ANNOTATION: r}));
        serde_json::from_value(
            json!({"metadata": {"name": "n1", "annotations": annotations,
            "labels": {"kubernetes.io/hostname": "n1"}}}),
        )
        .unwrap()
    }

    fn pv(name: &str, claim_ref: Value, phase: &str, annotations: Value) -> PersistentVolume {
        serde_json::from_value(
            json!({"metadata": {"name": name, "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                "hostPath": {"path": "/d"}, "storageClassName": "local-path", "claimRef": claim_ref,
                "persistentVolumeReclaimPolicy": "Delete"},
            "status": {"phase": phase}}),
        )
        .unwrap()
    }

    fn reason(plan: &ClaimPlan) -> String {
        match plan {
            ClaimPlan::Wait(n) | ClaimPlan::Lost(n) => format!("{}: {}", n.reason, n.message),
            other => format!("{other:?}"),
        }
    }

    /// A claim, its class and node, the volumes there are, and the plan wanted.
    type Case<'a> = (
        PersistentVolumeClaim,
        Option<&'a StorageClass>,
        Option<&'a Node>,
        Vec<&'a PersistentVolume>,
        &'a str,
    );

    #[test]
    fn unbound_claims_table() {
        let wffc = class(LOCAL_PATH_PROVISIONER, "WaitForFirstConsumer");
        let immediate = class(LOCAL_PATH_PROVISIONER, "Immediate");
        let external = class("ebs.csi.aws.com", "WaitForFirstConsumer");
        let (ready, bare) = (node(Some("/var/lib/fk/storage")), node(None));
        let free = pv("pv-free", Value::Null, "Available", Value::Null);
        let selected = json!({SELECTED_NODE: "n1"});
        let cases: Vec<Case> = vec![
            (
                claim(Value::Null, json!({})),
                Some(&wffc),
                None,
                vec![],
                "WaitForFirstConsumer: waiting for first consumer to be created before binding",
            ),
            (
                claim(selected.clone(), json!({})),
                Some(&wffc),
                Some(&ready),
                vec![],
                "Provision { node: \"n1\", root: \"/var/lib/fk/storage\" }",
            ),
            (
                claim(selected.clone(), json!({})),
                Some(&wffc),
                Some(&ready),
                vec![&free],
                "Bind(\"pv-free\")",
            ),
            (
                claim(selected.clone(), json!({})),
                Some(&wffc),
                Some(&bare),
                vec![],
                "ProvisioningFailed: failed to provision volume with StorageClass \"local-path\": node \"n1\" keeps no local-path volumes",
            ),
            (
                claim(Value::Null, json!({})),
                Some(&immediate),
                None,
                vec![&free],
                "Bind(\"pv-free\")",
            ),
            (
                claim(Value::Null, json!({})),
                Some(&immediate),
                None,
                vec![],
                "ProvisioningFailed: failed to provision volume with StorageClass \"local-path\": configuration error, no node was specified (the local-path provisioner needs volumeBindingMode: WaitForFirstConsumer)",
            ),
            (
                claim(selected.clone(), json!({})),
                Some(&external),
                Some(&ready),
                vec![],
                "ExternalProvisioning: Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
            ),
            (
                claim(Value::Null, json!({"storageClassName": ""})),
                None,
                None,
                vec![],
                "FailedBinding: no persistent volumes available for this claim and no storage class is set",
            ),
            (
                claim(Value::Null, json!({"storageClassName": "gone"})),
                None,
                None,
                vec![],
                "ProvisioningFailed: storageclass.storage.k8s.io \"gone\" not found",
            ),
        ];
        for (c, class, node, volumes, want) in cases {
            let view = ClaimView {
                volumes: &volumes,
                class,
                node,
            };
            assert_eq!(
                reason(&plan_claim(&c, &view)),
                want,
                "{:?}",
                c.metadata.annotations
            );
        }
    }

    #[test]
    fn what_local_path_cannot_give_is_refused() {
        let plain = class(LOCAL_PATH_PROVISIONER, "WaitForFirstConsumer");
        let mut fancy = plain.clone();
        fancy.parameters = Some(BTreeMap::from([("nodePath".into(), "/x".into())]));
        fancy.mount_options = Some(vec!["noatime".into()]);
        let cases = [
            (claim(Value::Null, json!({})), &plain, None),
            (
                claim(
                    Value::Null,
                    json!({"selector": {"matchLabels": {"a": "b"}}}),
                ),
                &plain,
                Some("claim Selector is not supported"),
            ),
            (
                claim(
                    Value::Null,
                    json!({"dataSource": {"kind": "PersistentVolumeClaim", "name": "src"}}),
                ),
                &plain,
                Some("the local-path provisioner cannot fill a volume from a data source"),
            ),
            (
                claim(Value::Null, json!({})),
                &fancy,
                Some(
                    "the local-path provisioner does not support the class's parameters, mountOptions",
                ),
            ),
        ];
        for (c, class, want) in cases {
            assert_eq!(
                unsupported_request(&c, class).as_deref(),
                want,
                "{:?}",
                c.spec
            );
        }
        let view = ClaimView {
            volumes: &[],
            class: Some(&fancy),
            node: None,
        };
        let selected = claim(json!({SELECTED_NODE: "n1"}), json!({}));
        assert_eq!(
            reason(&plan_claim(&selected, &view)),
            "ProvisioningFailed: failed to provision volume with StorageClass \"local-path\": the local-path provisioner does not support the class's parameters, mountOptions"
        );
    }

    #[test]
    fn bound_claims_table() {
        let bound_claim = || {
            let mut c = claim(Value::Null, json!({"volumeName": "pv1"}));
            c.status.as_mut().unwrap().phase = Some("Bound".into());
            c
        };
        let mine = json!({"namespace": "shop", "name": "data", "uid": "c1"});
        let cases = [
            (pv("pv1", mine.clone(), "Bound", Value::Null), "Done"),
            (
                pv("pv1", mine.clone(), "Available", Value::Null),
                "Bind(\"pv1\")",
            ),
            (
                pv("pv1", Value::Null, "Available", Value::Null),
                "Bind(\"pv1\")",
            ),
            (
                pv(
                    "pv1",
                    json!({"namespace": "shop", "name": "other"}),
                    "Bound",
                    Value::Null,
                ),
                "ClaimMisbound: Two claims are bound to the same volume, this one is bound incorrectly",
            ),
            (
                pv("pv2", mine.clone(), "Bound", Value::Null),
                "ClaimLost: Bound claim has lost its PersistentVolume. Data on the volume is lost!",
            ),
        ];
        for (volume, want) in cases {
            let view = ClaimView {
                volumes: &[&volume],
                class: None,
                node: None,
            };
            assert_eq!(
                reason(&plan_claim(&bound_claim(), &view)),
                want,
                "{:?}",
                volume.spec
            );
        }
    }

    #[test]
    fn volumes_table() {
        let mine = json!({"namespace": "shop", "name": "data", "uid": "c1"});
        let local = json!({PROVISIONED_BY: LOCAL_PATH_PROVISIONER});
        let bound = claim(Value::Null, json!({"volumeName": "pv1"}));
        let other = {
            let mut c = bound.clone();
            c.metadata.uid = Some("c2".into());
            c
        };
        let retained = {
            let mut v = pv("pv1", mine.clone(), "Bound", Value::Null);
            v.spec.as_mut().unwrap().persistent_volume_reclaim_policy = Some("Retain".into());
            v
        };
        let cases = [
            (pv("pv1", Value::Null, "Pending", Value::Null), None, VolumePlan::Phase("Available", None)),
            (pv("pv1", mine.clone(), "Available", Value::Null), Some(&bound), VolumePlan::Phase("Bound", None)),
            (pv("pv1", mine.clone(), "Bound", Value::Null), Some(&bound), VolumePlan::Done),
            (pv("pv1", mine.clone(), "Bound", local.clone()), None, VolumePlan::Delete),
            (pv("pv1", mine.clone(), "Bound", local.clone()), Some(&other), VolumePlan::Delete),
            (retained.clone(), None, VolumePlan::Phase("Released", None)),
            (pv("pv1", mine.clone(), "Bound", Value::Null), None, VolumePlan::Phase("Failed",
                Some("error getting deleter volume plugin for volume \"pv1\": no deletable volume plugin matched".into()))),
            (pv("pv1", mine.clone(), "Failed", Value::Null), None, VolumePlan::Done),
            (pv("pv1", json!({"namespace": "shop", "name": "later"}), "Pending", Value::Null), None,
                VolumePlan::Phase("Available", None)),
        ];
        for (volume, claim, want) in cases {
            assert_eq!(
                plan_volume(&volume, claim),
                want,
                "{:?} {:?}",
                volume.spec,
                volume.status
            );
        }
        let mut released = retained;
        released.status.as_mut().unwrap().phase = Some("Released".into());
        assert_eq!(plan_volume(&released, None), VolumePlan::Done);
    }
}
