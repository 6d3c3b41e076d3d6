//! Defaulting and validation of pod specs and pod templates, shared by Pods, ReplicaSets and
//! Deployments, as upstream's `SetDefaults_PodSpec`/`SetDefaults_Container`/`SetDefaults_Volume`
//! and `ValidatePodSpec`, and the quantities upstream parses while decoding them.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::field::{FieldError, FieldPath};
use crate::quantity::decoded_quantity_error;
use crate::validation::{dns_label_errors, non_negative, validate_labels};

/// Defaults of a pod spec, as they appear in a Deployment's template.
pub fn default_pod_spec(spec: &mut PodSpec) {
    spec.restart_policy
        .get_or_insert_with(|| "Always".to_owned());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.dns_policy
        .get_or_insert_with(|| "ClusterFirst".to_owned());
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".to_owned());
    spec.security_context
        .get_or_insert_with(PodSecurityContext::default);
    for container in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        default_container(container);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        default_volume(volume);
    }
}

/// A volume with no source is an `emptyDir: {}` (upstream's `SetDefaults_Volume`).
///
/// Example: `{name: scratch}` → `{name: scratch, emptyDir: {}}`; `{name: c, configMap: …}`
/// is left as it is.
pub fn default_volume(volume: &mut Volume) {
    if super::volumes::source_count(volume) == 0 {
        volume.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    super::volumes::default_volume_source(volume);
}

/// The first quantity of a pod spec upstream cannot parse, as its decoder's error: container
/// (init, ephemeral) requests and limits, pod resources and overhead, emptyDir size limits and
/// ephemeral volume claim requests.
pub fn check_quantities(spec: &PodSpec) -> Result<(), String> {
    let requirements = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.resources.as_ref())
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| c.resources.as_ref()),
        )
        .chain([spec.resources.as_ref()])
        .flatten();
    let mut maps: Vec<&BTreeMap<String, Quantity>> = Vec::new();
    for r in requirements {
        maps.extend(r.requests.as_ref().into_iter().chain(r.limits.as_ref()));
    }
    maps.extend(spec.overhead.as_ref());
    let mut quantities: Vec<&Quantity> = maps.into_iter().flat_map(BTreeMap::values).collect();
    for volume in spec.volumes.iter().flatten() {
        let claim = volume
            .ephemeral
            .as_ref()
            .and_then(|e| e.volume_claim_template.as_ref())
            .and_then(|t| t.spec.resources.as_ref());
        if let Some(r) = claim {
            let maps = r.requests.iter().chain(r.limits.iter());
            quantities.extend(maps.flat_map(BTreeMap::values));
        }
        let size_limit = volume
            .empty_dir
            .as_ref()
            .and_then(|e| e.size_limit.as_ref());
        quantities.extend(size_limit);
    }
    match quantities.iter().find_map(|q| decoded_quantity_error(&q.0)) {
        Some(e) => Err(e.to_owned()),
        None => Ok(()),
    }
}

/// `check_quantities` of a workload's pod template.
pub fn check_template_quantities(template: &PodTemplateSpec) -> Result<(), String> {
    template.spec.as_ref().map_or(Ok(()), check_quantities)
}

/// Defaults of a container.
pub fn default_container(container: &mut Container) {
    if container.image_pull_policy.is_none() {
        container.image_pull_policy =
            Some(default_pull_policy(container.image.as_deref().unwrap_or("")).to_owned());
    }
    container
        .termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".to_owned());
    container
        .termination_message_policy
        .get_or_insert_with(|| "File".to_owned());
    container
        .resources
        .get_or_insert_with(ResourceRequirements::default);
    for port in container.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_owned());
    }
    super::volumes::default_env(container);
}

/// `Always` for `:latest` or no tag, `IfNotPresent` otherwise (a digest counts as a tag).
///
/// Examples: `nginx` → Always, `nginx:latest` → Always, `nginx:1.25` → IfNotPresent,
/// `localhost:5000/nginx` → Always, `nginx@sha256:…` → IfNotPresent.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// Validates a pod spec at `path`.
pub fn validate_pod_spec(spec: &PodSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let containers = path.child("containers");
    if spec.containers.is_empty() {
        errors.push(FieldError::required(containers.clone(), ""));
    }
    let mut names = HashSet::new();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| (path.child("initContainers").index(i), c));
    let regular = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| (containers.index(i), c));
    let (volume_errors, volumes) = super::volumes::validate_volumes(spec, path);
    for (at, container) in init.chain(regular) {
        errors.extend(validate_container(container, &at, &mut names));
        errors.extend(super::volumes::validate_mounts(container, &volumes, &at));
        errors.extend(super::volumes::validate_env(container, &at));
    }
    errors.extend(volume_errors);
    if let Some(policy) = spec.restart_policy.as_deref()
        && !["Always", "OnFailure", "Never"].contains(&policy)
    {
        errors.push(FieldError::not_supported(
            path.child("restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        ));
    }
    if let Some(policy) = spec.dns_policy.as_deref()
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&policy)
    {
        errors.push(FieldError::not_supported(
            path.child("dnsPolicy"),
            policy,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ));
    }
    errors.extend(non_negative(
        path.child("terminationGracePeriodSeconds"),
        spec.termination_grace_period_seconds,
    ));
    errors
}

fn validate_container(
    container: &Container,
    path: &FieldPath,
    names: &mut HashSet<String>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if container.name.is_empty() {
        errors.push(FieldError::required(path.child("name"), ""));
    } else {
        for e in dns_label_errors(&container.name) {
            errors.push(FieldError::invalid(
                path.child("name"),
                container.name.as_str(),
                &e,
            ));
        }
        if !names.insert(container.name.clone()) {
            errors.push(FieldError::duplicate(
                path.child("name"),
                container.name.as_str(),
            ));
        }
    }
    if container
        .image
        .as_deref()
        .is_none_or(|i| i.trim().is_empty())
    {
        errors.push(FieldError::required(path.child("image"), ""));
    }
    if let Some(policy) = container.image_pull_policy.as_deref()
        && !["Always", "IfNotPresent", "Never"].contains(&policy)
    {
        errors.push(FieldError::not_supported(
            path.child("imagePullPolicy"),
            policy,
            &["Always", "IfNotPresent", "Never"],
        ));
    }
    for (i, port) in container.ports.iter().flatten().enumerate() {
        let at = path.child("ports").index(i);
        if !(1..=65535).contains(&port.container_port) {
            errors.push(FieldError::invalid(
                at.child("containerPort"),
                port.container_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(host_port) = port.host_port
            && !(0..=65535).contains(&host_port)
        {
            errors.push(FieldError::invalid(
                at.child("hostPort"),
                host_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(protocol) = port.protocol.as_deref()
            && !["SCTP", "TCP", "UDP"].contains(&protocol)
        {
            errors.push(FieldError::not_supported(
                at.child("protocol"),
                protocol,
                &["SCTP", "TCP", "UDP"],
            ));
        }
    }
    errors
}

/// Validates a workload's pod template at `path` (`spec.template`).
pub fn validate_template(template: &PodTemplateSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(meta) = &template.metadata {
        errors.extend(validate_labels(
            meta.labels.as_ref(),
            &path.child("metadata").child("labels"),
        ));
    }
    match &template.spec {
        Some(spec) => {
            errors.extend(validate_pod_spec(spec, &path.child("spec")));
            if let Some(policy) = spec.restart_policy.as_deref()
                && policy != "Always"
            {
                errors.push(FieldError::not_supported(
                    path.child("spec").child("restartPolicy"),
                    policy,
                    &["Always"],
                ));
            }
        }
        None => errors.push(FieldError::required(
            path.child("spec").child("containers"),
            "",
        )),
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sourceless_volumes_default_to_empty_dir() {
        let volume = |v: serde_json::Value| serde_json::from_value::<Volume>(v).unwrap();
        let cases = [
            (
                serde_json::json!({"name": "scratch"}),
                serde_json::json!({"name": "scratch", "emptyDir": {}}),
            ),
            (
                serde_json::json!({"name": "c", "configMap": {"name": "app"}}),
                serde_json::json!({"name": "c", "configMap": {"name": "app", "defaultMode": 420}}),
            ),
            (
                serde_json::json!({"name": "e", "emptyDir": {"medium": "Memory"}}),
                serde_json::json!({"name": "e", "emptyDir": {"medium": "Memory"}}),
            ),
        ];
        for (given, want) in cases {
            let mut v = volume(given.clone());
            default_volume(&mut v);
            assert_eq!(serde_json::to_value(&v).unwrap(), want, "{given}");
        }
    }

    #[test]
    fn malformed_quantities_are_found() {
        let spec = |resources: serde_json::Value, volumes: serde_json::Value| {
            serde_json::from_value::<PodSpec>(serde_json::json!({
                "containers": [{"name": "a", "image": "i", "resources": resources}],
                "volumes": volumes,
            }))
            .unwrap()
        };
        let format = crate::quantity::FORMAT_WRONG;
        let cases = [
            (
                serde_json::json!({"requests": {"cpu": "100m"}}),
                serde_json::json!([]),
                Ok(()),
            ),
            (
                serde_json::json!({"limits": {"cpu": "1e400"}}),
                serde_json::json!([]),
                Ok(()),
            ),
            (
                serde_json::json!({"requests": {"cpu": "1e400x"}}),
                serde_json::json!([]),
                Err(format.to_owned()),
            ),
            (
                serde_json::json!({"limits": {"memory": "64MiB"}}),
                serde_json::json!([]),
                Err(format.to_owned()),
            ),
            (
                serde_json::json!({}),
                serde_json::json!([{"name": "s", "emptyDir": {"sizeLimit": "lots"}}]),
                Err(format.to_owned()),
            ),
        ];
        for (resources, volumes, want) in cases {
            assert_eq!(
                check_quantities(&spec(resources.clone(), volumes)),
                want,
                "{resources}"
            );
        }
    }

    #[test]
    fn pull_policy_table() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("localhost:5000/nginx:v1", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
        ];
        for (image, want) in cases {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn container_errors() {
        let spec = PodSpec {
            containers: vec![
                Container {
                    name: "web".into(),
                    image: Some("nginx".into()),
                    ..Default::default()
                },
                Container {
                    name: "web".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let errors: Vec<_> = validate_pod_spec(&spec, &FieldPath::new("spec"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "spec.containers[1].name: Duplicate value: \"web\"",
                "spec.containers[1].image: Required value"
            ]
        );
    }
}
