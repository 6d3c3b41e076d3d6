//! Storage: core/v1 PersistentVolumes and PersistentVolumeClaims and storage.k8s.io/v1
//! StorageClasses, with upstream's defaults (`Retain`, `Filesystem`, phase `Pending`,
//! `Delete`, `Immediate`), validation and messages (`ValidatePersistentVolume`,
//! `ValidatePersistentVolumeClaim[Update]`, `ValidateStorageClass[Update]`) and tables.
//!
//! Example: a claim whose class changes after it was made is refused with
//! `spec: Forbidden: spec is immutable after creation except resources.requests and
//! volumeAttributesClassName for bound claims`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

use crate::field::{FieldError, FieldPath};
use crate::resources::volumes::HOST_PATH_TYPES;
use crate::strategy::{Typed, name_and_age};
use crate::table::Column;
use crate::validation::{NameRule, dns_subdomain_errors};

/// The annotation that makes a StorageClass the default one.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// The older way to give a PersistentVolume's mount options.
const MOUNT_OPTIONS_ANNOTATION: &str = "volume.beta.kubernetes.io/mount-options";

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: [&str; 2] = ["Block", "Filesystem"];
const RECLAIM_POLICIES: [&str; 3] = ["Delete", "Recycle", "Retain"];
const CLASS_RECLAIM_POLICIES: [&str; 2] = ["Delete", "Retain"];
const BINDING_MODES: [&str; 2] = ["Immediate", "WaitForFirstConsumer"];

const PV_COLUMNS: [Column; 11] = [
    Column::NAME,
    Column::new(
        "Capacity",
        "string",
        "capacity is the description of the persistent volume's resources and capacity.",
    ),
    Column::new(
        "Access Modes",
        "string",
        "accessModes contains all ways the volume can be mounted.",
    ),
    Column::new(
        "Reclaim Policy",
        "string",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
    ),
    Column::new(
        "Status",
        "string",
        "phase indicates if a volume is available, bound to a claim, or released by a claim.",
    ),
    Column::new(
        "Claim",
        "string",
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
    ),
    Column::new("StorageClass", "string", "StorageClass of the pv"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    Column::new(
        "Reason",
        "string",
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
    ),
    Column::AGE,
    Column::wide(
        "VolumeMode",
        "string",
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
    ),
];
const PVC_COLUMNS: [Column; 9] = [
    Column::NAME,
    Column::new(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    Column::new(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    Column::new(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
    ),
    Column::new(
        "Access Modes",
        "string",
        "accessModes contains the desired access modes the volume should have.",
    ),
    Column::new("StorageClass", "string", "StorageClass of the pvc"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    Column::AGE,
    Column::wide(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim.",
    ),
];
const CLASS_COLUMNS: [Column; 6] = [
    Column::NAME,
    Column::new(
        "Provisioner",
        "string",
        "Indicates the type of the provisioner.",
    ),
    Column::new(
        "ReclaimPolicy",
        "string",
        "Indicates the type of the reclaim policy.",
    ),
    Column::new(
        "VolumeBindingMode",
        "string",
        "Indicates the type of volume binding mode.",
    ),
    Column::new(
        "AllowVolumeExpansion",
        "string",
        "Indicates whether the storage class allow volume expand.",
    ),
    Column::AGE,
];

pub fn persistent_volumes() -> Typed<PersistentVolume> {
    Typed {
        default: default_volume,
        validate: validate_volume,
        validate_update: validate_volume_update,
        decode_check: |pv: &PersistentVolume| {
            let capacity = pv.spec.as_ref().and_then(|s| s.capacity.as_ref());
            quantities(capacity)
        },
        columns: &PV_COLUMNS,
        cells: volume_cells,
        has_status: true,
        ..Typed::plain(NameRule::Subdomain)
    }
}

pub fn persistent_volume_claims() -> Typed<PersistentVolumeClaim> {
    Typed {
        default: default_claim,
        validate: validate_claim,
        validate_update: validate_claim_update,
        decode_check: |pvc: &PersistentVolumeClaim| {
            let resources = pvc.spec.as_ref().and_then(|s| s.resources.as_ref());
            quantities(resources.and_then(|r| r.requests.as_ref()))?;
            quantities(resources.and_then(|r| r.limits.as_ref()))
        },
        columns: &PVC_COLUMNS,
        cells: claim_cells,
        has_status: true,
        ..Typed::plain(NameRule::Subdomain)
    }
}

pub fn storage_classes() -> Typed<StorageClass> {
    Typed {
        default: |sc: &mut StorageClass| {
            sc.reclaim_policy.get_or_insert_with(|| "Delete".to_owned());
            sc.volume_binding_mode
                .get_or_insert_with(|| "Immediate".to_owned());
        },
        validate: validate_class,
        validate_update: validate_class_update,
        columns: &CLASS_COLUMNS,
        cells: class_cells,
        ..Typed::plain(NameRule::Subdomain)
    }
}

/// Upstream refuses a malformed quantity while decoding.
fn quantities(list: Option<&BTreeMap<String, Quantity>>) -> Result<(), String> {
    for q in list.into_iter().flat_map(|l| l.values()) {
        if let Some(why) = crate::quantity::decoded_quantity_error(&q.0) {
            return Err(why.to_owned());
        }
    }
    Ok(())
}

/// Whether a quantity is above zero (its number part is not all zeros).
fn positive(q: &Quantity) -> bool {
    let number: String =
        q.0.trim_start_matches('+')
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
    !q.0.starts_with('-') && number.chars().any(|c| ('1'..='9').contains(&c))
}

fn default_volume(pv: &mut PersistentVolume) {
    let spec = pv.spec.get_or_insert_with(PersistentVolumeSpec::default);
    spec.persistent_volume_reclaim_policy
        .get_or_insert_with(|| "Retain".to_owned());
    spec.volume_mode
        .get_or_insert_with(|| "Filesystem".to_owned());
    if let Some(host) = spec.host_path.as_mut() {
        host.type_.get_or_insert_with(String::new);
    }
    pv.status
        .get_or_insert_with(Default::default)
        .phase
        .get_or_insert_with(|| "Pending".to_owned());
}

fn default_claim(pvc: &mut PersistentVolumeClaim) {
    let spec = pvc
        .spec
        .get_or_insert_with(PersistentVolumeClaimSpec::default);
    spec.volume_mode
        .get_or_insert_with(|| "Filesystem".to_owned());
    pvc.status
        .get_or_insert_with(Default::default)
        .phase
        .get_or_insert_with(|| "Pending".to_owned());
}

/// Upstream's access-mode checks: at least one, each known, ReadWriteOncePod alone.
fn access_mode_errors(modes: &[String], at: FieldPath, required: &str) -> Vec<FieldError> {
    if modes.is_empty() {
        return vec![FieldError::required(at, required)];
    }
    let mut errors: Vec<FieldError> = modes
        .iter()
        .filter(|m| !ACCESS_MODES.contains(&m.as_str()))
        .map(|m| FieldError::not_supported(at.clone(), m.as_str(), &ACCESS_MODES))
        .collect();
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        errors.push(FieldError::forbidden(
            at,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errors
}

fn one_of(value: Option<&String>, at: FieldPath, supported: &[&str]) -> Option<FieldError> {
    let value = value?;
    (!supported.contains(&value.as_str()))
        .then(|| FieldError::not_supported(at, value.as_str(), supported))
}

fn class_name_errors(name: Option<&String>, at: FieldPath) -> Vec<FieldError> {
    let name = name.map(String::as_str).unwrap_or_default();
    if name.is_empty() {
        return Vec::new();
    }
    dns_subdomain_errors(name)
        .iter()
        .map(|e| FieldError::invalid(at.clone(), name, e))
        .collect()
}

/// The volume sources a PV names, by field name.
fn volume_sources(spec: &PersistentVolumeSpec) -> Vec<String> {
    const NOT_SOURCES: [&str; 8] = [
        "accessModes",
        "capacity",
        "claimRef",
        "mountOptions",
        "nodeAffinity",
        "persistentVolumeReclaimPolicy",
        "storageClassName",
        "volumeMode",
    ];
    let encoded = serde_json::to_value(spec).unwrap_or_default();
    let fields = encoded.as_object().into_iter().flatten();
    fields
        .map(|(k, _)| k)
        .filter(|k| !NOT_SOURCES.contains(&k.as_str()) && *k != "volumeAttributesClassName")
        .cloned()
        .collect()
}

fn validate_volume(pv: &PersistentVolume) -> Vec<FieldError> {
    let at = FieldPath::new("spec");
    let Some(spec) = &pv.spec else {
        return vec![FieldError::required(at, "")];
    };
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    let mut errors = access_mode_errors(modes, at.child("accessModes"), "");
    match &spec.capacity {
        None => errors.push(FieldError::required(at.child("capacity"), "")),
        Some(c) if c.is_empty() => errors.push(FieldError::required(at.child("capacity"), "")),
        Some(capacity) => {
            if !capacity.contains_key("storage") || capacity.len() > 1 {
                let names: Vec<&str> = capacity.keys().map(String::as_str).collect();
                errors.push(FieldError::not_supported(
                    at.child("capacity"),
                    json!(names),
                    &["storage"],
                ));
            }
        }
    }
    errors.extend(one_of(
        spec.persistent_volume_reclaim_policy.as_ref(),
        at.child("persistentVolumeReclaimPolicy"),
        &RECLAIM_POLICIES,
    ));
    errors.extend(one_of(
        spec.volume_mode.as_ref(),
        at.child("volumeMode"),
        &VOLUME_MODES,
    ));
    errors.extend(class_name_errors(
        spec.storage_class_name.as_ref(),
        at.child("storageClassName"),
    ));
    let sources = volume_sources(spec);
    match sources.as_slice() {
        [] => errors.push(FieldError::required(
            at.clone(),
            "must specify a volume type",
        )),
        [_] => {}
        [_, more @ ..] => errors.push(FieldError::forbidden(
            at.child(&more[0]),
            "may not specify more than 1 volume type",
        )),
    }
    if let Some(host) = &spec.host_path {
        let at = at.child("hostPath");
        if host.path.is_empty() {
            errors.push(FieldError::required(at.child("path"), ""));
        } else if host.path.split('/').any(|part| part == "..") {
            errors.push(FieldError::invalid(
                at.child("path"),
                host.path.as_str(),
                "must not contain '..'",
            ));
        }
        errors.extend(one_of(
            host.type_.as_ref(),
            at.child("type"),
            &HOST_PATH_TYPES,
        ));
        // Upstream's `checkMountOption`: hostPath volumes take no mount options, given in the
        // spec or in the older annotation.
        let annotated = pv
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(MOUNT_OPTIONS_ANNOTATION));
        if annotated || spec.mount_options.as_ref().is_some_and(|o| !o.is_empty()) {
            errors.push(FieldError::forbidden(
                FieldPath::new("metadata")
                    .child("annotations")
                    .child(MOUNT_OPTIONS_ANNOTATION),
                "may not specify mount options for this volume type",
            ));
        }
    }
    if let Some(local) = &spec.local {
        if local.path.is_empty() {
            errors.push(FieldError::required(at.child("local").child("path"), ""));
        }
        if spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
            .is_none()
        {
            errors.push(FieldError::required(
                at.child("nodeAffinity"),
                "Local volume requires node affinity",
            ));
        }
    }
    errors
}

fn validate_volume_update(new: &PersistentVolume, old: &PersistentVolume) -> Vec<FieldError> {
    let sources = |pv: &PersistentVolume| {
        let spec = serde_json::to_value(pv.spec.clone().unwrap_or_default()).unwrap_or_default();
        let names = pv.spec.as_ref().map(volume_sources).unwrap_or_default();
        names
            .iter()
            .map(|n| (n.clone(), spec.get(n).cloned()))
            .collect::<Vec<_>>()
    };
    if sources(new) != sources(old) {
        return vec![FieldError::forbidden(
            FieldPath::new("spec").child("persistentvolumesource"),
            "spec.persistentvolumesource is immutable after creation",
        )];
    }
    Vec::new()
}

fn validate_claim(pvc: &PersistentVolumeClaim) -> Vec<FieldError> {
    let at = FieldPath::new("spec");
    let Some(spec) = &pvc.spec else {
        return vec![FieldError::required(at, "")];
    };
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    let mut errors = access_mode_errors(
        modes,
        at.child("accessModes"),
        "at least 1 access mode is required",
    );
    let storage_at = at.child("resources").key("storage");
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    match storage {
        None => errors.push(FieldError::required(storage_at, "")),
        Some(q) if !positive(q) => errors.push(FieldError::invalid(
            storage_at,
            q.0.as_str(),
            "must be greater than zero",
        )),
        Some(_) => {}
    }
    errors.extend(one_of(
        spec.volume_mode.as_ref(),
        at.child("volumeMode"),
        &VOLUME_MODES,
    ));
    errors.extend(class_name_errors(
        spec.storage_class_name.as_ref(),
        at.child("storageClassName"),
    ));
    errors
}

/// Upstream's `ValidatePersistentVolumeClaimUpdate`: the spec stays as it was, but for the
/// storage request of a bound claim, the class of an unbound claim that had none, and the
/// volume name of a claim that had none (the binding).
fn validate_claim_update(
    new: &PersistentVolumeClaim,
    old: &PersistentVolumeClaim,
) -> Vec<FieldError> {
    let (Some(new_spec), Some(old_spec)) = (&new.spec, &old.spec) else {
        return Vec::new();
    };
    let mut old_spec = old_spec.clone();
    let bound = old_spec
        .volume_name
        .as_deref()
        .is_some_and(|v| !v.is_empty());
    if !bound {
        old_spec.volume_name.clone_from(&new_spec.volume_name);
        if old_spec.storage_class_name.is_none() {
            old_spec
                .storage_class_name
                .clone_from(&new_spec.storage_class_name);
        }
    }
    if bound {
        let requests = new_spec.resources.as_ref().and_then(|r| r.requests.clone());
        old_spec
            .resources
            .get_or_insert_with(Default::default)
            .requests = requests;
    }
    old_spec
        .volume_attributes_class_name
        .clone_from(&new_spec.volume_attributes_class_name);
    if &old_spec == new_spec {
        return Vec::new();
    }
    vec![FieldError::forbidden(
        FieldPath::new("spec"),
        "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
    )]
}

fn validate_class(sc: &StorageClass) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if sc.provisioner.is_empty() {
        errors.push(FieldError::required(FieldPath::new("provisioner"), ""));
    } else {
        errors.extend(
            crate::validation::qualified_name_errors(&sc.provisioner)
                .iter()
                .map(|e| {
                    FieldError::invalid(FieldPath::new("provisioner"), sc.provisioner.as_str(), e)
                }),
        );
    }
    errors.extend(one_of(
        sc.reclaim_policy.as_ref(),
        FieldPath::new("reclaimPolicy"),
        &CLASS_RECLAIM_POLICIES,
    ));
    match &sc.volume_binding_mode {
        None => errors.push(FieldError::required(
            FieldPath::new("volumeBindingMode"),
            "",
        )),
        Some(mode) => errors.extend(one_of(
            Some(mode),
            FieldPath::new("volumeBindingMode"),
            &BINDING_MODES,
        )),
    }
    let parameters = sc.parameters.as_ref().map_or(0, BTreeMap::len);
    if parameters > 512 {
        errors.push(FieldError::forbidden(
            FieldPath::new("parameters"),
            &format!("may not specify more than 512 parameters (got {parameters})"),
        ));
    }
    errors
}

fn validate_class_update(new: &StorageClass, old: &StorageClass) -> Vec<FieldError> {
    let empty = BTreeMap::new();
    let mut errors = Vec::new();
    let same_parameters =
        new.parameters.as_ref().unwrap_or(&empty) == old.parameters.as_ref().unwrap_or(&empty);
    if !same_parameters {
        errors.push(FieldError::forbidden(
            FieldPath::new("parameters"),
            "updates to parameters are forbidden.",
        ));
    }
    if new.provisioner != old.provisioner {
        errors.push(FieldError::forbidden(
            FieldPath::new("provisioner"),
            "updates to provisioner are forbidden.",
        ));
    }
    if new.reclaim_policy != old.reclaim_policy {
        errors.push(FieldError::forbidden(
            FieldPath::new("reclaimPolicy"),
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    if new.volume_binding_mode != old.volume_binding_mode {
        errors.push(FieldError::invalid(
            FieldPath::new("volumeBindingMode"),
            new.volume_binding_mode.clone().unwrap_or_default(),
            "field is immutable",
        ));
    }
    errors
}

/// Upstream's `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, comma-separated.
pub fn access_modes_text(modes: &[String]) -> String {
    const SHORT: [(&str, &str); 4] = [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ];
    let present: Vec<&str> = SHORT
        .iter()
        .filter(|(long, _)| modes.iter().any(|m| m == long))
        .map(|(_, short)| *short)
        .collect();
    present.join(",")
}

fn storage_text(capacity: Option<&BTreeMap<String, Quantity>>) -> String {
    capacity
        .and_then(|c| c.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

fn unset(value: Option<&String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| "<unset>".to_owned())
}

fn volume_cells(pv: &PersistentVolume, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&pv.metadata, now);
    let spec = pv.spec.clone().unwrap_or_default();
    let status = pv.status.clone().unwrap_or_default();
    let claim = spec.claim_ref.as_ref().map_or_else(String::new, |c| {
        format!(
            "{}/{}",
            c.namespace.as_deref().unwrap_or_default(),
            c.name.as_deref().unwrap_or_default()
        )
    });
    let phase = if pv.metadata.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        status.phase.clone().unwrap_or_default()
    };
    vec![
        name,
        json!(storage_text(spec.capacity.as_ref())),
        json!(access_modes_text(
            spec.access_modes.as_deref().unwrap_or_default()
        )),
        json!(spec.persistent_volume_reclaim_policy.unwrap_or_default()),
        json!(phase),
        json!(claim),
        json!(spec.storage_class_name.unwrap_or_default()),
        json!(unset(spec.volume_attributes_class_name.as_ref())),
        json!(status.reason.unwrap_or_default()),
        age,
        json!(unset(spec.volume_mode.as_ref())),
    ]
}

fn claim_cells(pvc: &PersistentVolumeClaim, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&pvc.metadata, now);
    let spec = pvc.spec.clone().unwrap_or_default();
    let status = pvc.status.clone().unwrap_or_default();
    let volume = spec.volume_name.clone().unwrap_or_default();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            storage_text(status.capacity.as_ref()),
            access_modes_text(status.access_modes.as_deref().unwrap_or_default()),
        )
    };
    let phase = if pvc.metadata.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        status.phase.clone().unwrap_or_default()
    };
    vec![
        name,
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(spec.storage_class_name.unwrap_or_default()),
        json!(unset(spec.volume_attributes_class_name.as_ref())),
        age,
        json!(unset(spec.volume_mode.as_ref())),
    ]
}

/// Whether a StorageClass carries the default-class annotation set to `true`.
pub fn is_default_class(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> bool {
    metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|v| v == "true")
}

fn class_cells(sc: &StorageClass, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&sc.metadata, now);
    let name = if is_default_class(&sc.metadata) {
        json!(format!("{} (default)", name.as_str().unwrap_or_default()))
    } else {
        name
    };
    vec![
        name,
        json!(sc.provisioner),
        json!(
            sc.reclaim_policy
                .clone()
                .unwrap_or_else(|| "Delete".to_owned())
        ),
        json!(
            sc.volume_binding_mode
                .clone()
                .unwrap_or_else(|| "Immediate".to_owned())
        ),
        json!(sc.allow_volume_expansion.unwrap_or(false)),
        age,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message()))
            .collect()
    }

    fn pv(spec: Value) -> PersistentVolume {
        serde_json::from_value(json!({"metadata": {"name": "pv1"}, "spec": spec})).unwrap()
    }

    fn pvc(spec: Value) -> PersistentVolumeClaim {
        serde_json::from_value(json!({"metadata": {"name": "c", "namespace": "d"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn volume_validation_as_upstream() {
        let good = json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
            "hostPath": {"path": "/data", "type": ""}});
        assert!(validate_volume(&pv(good)).is_empty());
        let cases = [
            (
                json!({"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}),
                "spec.accessModes: Required value",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}}),
                "spec.capacity: Required value",
            ),
            (
                json!({"accessModes": ["RWO"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}),
                "spec.accessModes: Unsupported value: \"RWO\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}),
                "spec: Required value: must specify a volume type",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                    "hostPath": {"path": "/d"}, "local": {"path": "/d"},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": []}}}),
                "spec.local: Forbidden: may not specify more than 1 volume type",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "local": {"path": "/d"}}),
                "spec.nodeAffinity: Required value: Local volume requires node affinity",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/a/../b"}}),
                "spec.hostPath.path: Invalid value: \"/a/../b\": must not contain '..'",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce", "ReadWriteOncePod"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}),
                "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}, "mountOptions": ["ro"]}),
                "metadata.annotations.volume.beta.kubernetes.io/mount-options: Forbidden: may not specify mount options for this volume type",
            ),
        ];
        for (spec, want) in cases {
            let got = messages(&validate_volume(&pv(spec.clone())));
            assert!(got.iter().any(|m| m == want), "{spec}: {got:?}");
        }
    }

    #[test]
    fn claim_validation_as_upstream() {
        let good = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        assert!(validate_claim(&pvc(good)).is_empty());
        let cases = [
            (
                json!({"resources": {"requests": {"storage": "1Gi"}}}),
                "spec.accessModes: Required value: at least 1 access mode is required",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"]}),
                "spec.resources[storage]: Required value",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "0"}}}),
                "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
            ),
            (
                json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "Fast"}),
                "spec.storageClassName: Invalid value: \"Fast\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ),
        ];
        for (spec, want) in cases {
            let got = messages(&validate_claim(&pvc(spec.clone())));
            assert!(got.iter().any(|m| m == want), "{spec}: {got:?}");
        }
    }

    #[test]
    fn claim_updates_as_upstream() {
        let base = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        let unbound = pvc(base.clone());
        let mut bound_spec = base.clone();
        bound_spec["volumeName"] = json!("pv1");
        let bound = pvc(bound_spec.clone());
        let forbidden = "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";
        let mut bigger = bound_spec.clone();
        bigger["resources"]["requests"]["storage"] = json!("2Gi");
        let mut reclassed = bound_spec.clone();
        reclassed["storageClassName"] = json!("fast");
        let mut unbound_bigger = base.clone();
        unbound_bigger["resources"]["requests"]["storage"] = json!("2Gi");
        let mut classed = base.clone();
        classed["storageClassName"] = json!("fast");
        let cases = [
            (&bound_spec, &unbound, None),
            (&bigger, &bound, None),
            (&classed, &unbound, None),
            (&reclassed, &bound, Some(forbidden)),
            (&unbound_bigger, &unbound, Some(forbidden)),
            (&base, &bound, Some(forbidden)),
        ];
        for (new, old, want) in cases {
            let got = messages(&validate_claim_update(&pvc(new.clone()), old));
            assert_eq!(got.first().map(String::as_str), want, "{new}");
        }
    }

    #[test]
    fn class_validation_and_updates() {
        let class = |v: Value| -> StorageClass { serde_json::from_value(v).unwrap() };
        let mut sc =
            class(json!({"metadata": {"name": "s"}, "provisioner": "rancher.io/local-path"}));
        (storage_classes().default)(&mut sc);
        assert_eq!(sc.reclaim_policy.as_deref(), Some("Delete"));
        assert_eq!(sc.volume_binding_mode.as_deref(), Some("Immediate"));
        assert!(validate_class(&sc).is_empty());
        let bad = class(
            json!({"metadata": {"name": "s"}, "provisioner": "", "reclaimPolicy": "Recycle", "volumeBindingMode": "Later"}),
        );
        assert_eq!(
            messages(&validate_class(&bad)),
            [
                "provisioner: Required value",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
        let mut changed = sc.clone();
        changed.provisioner = "other.io/x".into();
        changed.volume_binding_mode = Some("WaitForFirstConsumer".into());
        assert_eq!(
            messages(&validate_class_update(&changed, &sc)),
            [
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
            ]
        );
    }

    #[test]
    fn tables_as_upstream() {
        let now = Timestamp::UNIX_EPOCH;
        let mut volume = pv(json!({"accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "capacity": {"storage": "2Gi"}, "hostPath": {"path": "/d"},
            "claimRef": {"namespace": "d", "name": "c"}, "storageClassName": "local-path"}));
        default_volume(&mut volume);
        let cells = volume_cells(&volume, now);
        assert_eq!(
            &cells[1..9],
            [
                json!("2Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Pending"),
                json!("d/c"),
                json!("local-path"),
                json!("<unset>"),
                json!("")
            ]
        );
        assert_eq!(cells[10], json!("Filesystem"));
        let mut claim = pvc(
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
        );
        default_claim(&mut claim);
        assert_eq!(
            &claim_cells(&claim, now)[1..7],
            [
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!(""),
                json!("<unset>")
            ]
        );
        let sc: StorageClass = serde_json::from_value(json!({"metadata": {"name": "local-path",
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}}, "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer"})).unwrap();
        assert_eq!(
            &class_cells(&sc, now)[..5],
            [
                json!("local-path (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false)
            ]
        );
    }
}
