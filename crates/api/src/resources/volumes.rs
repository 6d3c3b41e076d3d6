//! Defaulting and validation of a pod's volumes, volume mounts and environment, as upstream's
//! `SetDefaults_*VolumeSource`/`SetDefaults_ObjectFieldSelector` and `ValidateVolumes`,
//! `ValidateVolumeMounts` and `ValidateEnv`, with their messages.
//!
//! Example: `volumes: [{name: cfg, configMap: {name: app}}]` is stored with `defaultMode: 420`;
//! a mount of a volume that is not there is refused as
//! `spec.containers[0].volumeMounts[0].name: Not found: "nope"`.

use std::collections::HashSet;
use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{
    Container, DownwardAPIVolumeFile, EnvVar, KeyToPath, ObjectFieldSelector, PodSpec, Volume,
};

use crate::field::{FieldError, FieldPath};
use crate::validation::{config_key_errors, dns_label_errors, dns_subdomain_errors};

/// Upstream's default mode of projected files (0644).
pub const DEFAULT_MODE: i32 = 0o644;

pub(crate) const HOST_PATH_TYPES: [&str; 8] = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];
const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const VOLUME_FIELD_PATHS: [&str; 5] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
const RESOURCE_FIELDS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];
const MOUNT_PROPAGATIONS: [&str; 3] = ["Bidirectional", "HostToContainer", "None"];

fn default_selector(selector: &mut Option<ObjectFieldSelector>) {
    if let Some(selector) = selector {
        selector.api_version.get_or_insert_with(|| "v1".to_owned());
    }
}

fn default_items(items: &mut Option<Vec<DownwardAPIVolumeFile>>) {
    for item in items.iter_mut().flatten() {
        default_selector(&mut item.field_ref);
    }
}

/// The modes, hostPath type, field selector versions and token lifetimes upstream defaults.
pub fn default_volume_source(volume: &mut Volume) {
    if let Some(cm) = &mut volume.config_map {
        cm.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(secret) = &mut volume.secret {
        secret.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(d) = &mut volume.downward_api {
        d.default_mode.get_or_insert(DEFAULT_MODE);
        default_items(&mut d.items);
    }
    if let Some(projected) = &mut volume.projected {
        projected.default_mode.get_or_insert(DEFAULT_MODE);
        for source in projected.sources.iter_mut().flatten() {
            if let Some(d) = &mut source.downward_api {
                default_items(&mut d.items);
            }
            if let Some(token) = &mut source.service_account_token {
                token.expiration_seconds.get_or_insert(3600);
            }
        }
    }
    if let Some(host) = &mut volume.host_path {
        host.type_.get_or_insert_with(String::new);
    }
}

/// The env's field selectors get `apiVersion: v1`.
pub fn default_env(container: &mut Container) {
    for env in container.env.iter_mut().flatten() {
        if let Some(from) = &mut env.value_from {
            default_selector(&mut from.field_ref);
        }
    }
}

/// Upstream's `validateLocalDescendingPath`: relative, no `..` parts.
fn descending_path(path: &str, at: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if Path::new(path).is_absolute() {
        errors.push(FieldError::invalid(
            at.clone(),
            path,
            "must be a relative path",
        ));
    }
    if Path::new(path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        errors.push(FieldError::invalid(
            at.clone(),
            path,
            "must not contain '..'",
        ));
    }
    errors
}

/// Upstream's `validateLocalNonReservedPath`: descending, and not starting with `..`.
fn non_reserved_path(path: &str, at: &FieldPath) -> Vec<FieldError> {
    let mut errors = descending_path(path, at);
    if path.starts_with("..") {
        errors.push(FieldError::invalid(
            at.clone(),
            path,
            "must not start with '..'",
        ));
    }
    errors
}

fn mode(mode: Option<i32>, at: FieldPath) -> Option<FieldError> {
    let mode = mode?;
    (!(0..=0o777).contains(&mode)).then(|| {
        FieldError::invalid(
            at,
            mode,
            "must be a number between 0 and 0777 (octal), both inclusive",
        )
    })
}

fn key_items(items: Option<&[KeyToPath]>, at: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().flatten().enumerate() {
        let at = at.child("items").index(i);
        if item.key.is_empty() {
            errors.push(FieldError::required(at.child("key"), ""));
        }
        if item.path.is_empty() {
            errors.push(FieldError::required(at.child("path"), ""));
        }
        errors.extend(non_reserved_path(&item.path, &at.child("path")));
        errors.extend(mode(item.mode, at.child("mode")));
    }
    errors
}

fn field_selector(
    selector: &ObjectFieldSelector,
    valid: &[&str],
    at: &FieldPath,
) -> Vec<FieldError> {
    let path = selector.field_path.as_str();
    let at = at.child("fieldPath");
    if path.is_empty() {
        return vec![FieldError::required(at, "")];
    }
    let subscripted = ["metadata.labels['", "metadata.annotations['"]
        .iter()
        .any(|p| path.starts_with(p) && path.ends_with("']") && path.len() > p.len() + 2);
    if subscripted || valid.contains(&path) {
        return Vec::new();
    }
    vec![FieldError::not_supported(at, path, valid)]
}

fn resource_field(resource: &str, at: FieldPath) -> Option<FieldError> {
    let hugepages = ["limits.hugepages-", "requests.hugepages-"];
    let known =
        RESOURCE_FIELDS.contains(&resource) || hugepages.iter().any(|p| resource.starts_with(p));
    (!known).then(|| FieldError::not_supported(at, resource, &RESOURCE_FIELDS))
}

fn downward_items(items: &[DownwardAPIVolumeFile], at: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = at.child("items").index(i);
        if item.path.is_empty() {
            errors.push(FieldError::required(at.child("path"), ""));
        }
        errors.extend(non_reserved_path(&item.path, &at.child("path")));
        errors.extend(mode(item.mode, at.child("mode")));
        match (&item.field_ref, &item.resource_field_ref) {
            (Some(f), None) => errors.extend(field_selector(
                f,
                &VOLUME_FIELD_PATHS,
                &at.child("fieldRef"),
            )),
            (None, Some(r)) => {
                let at = at.child("resourceFieldRef");
                if r.container_name.as_deref().unwrap_or_default().is_empty() {
                    errors.push(FieldError::required(at.child("containerName"), ""));
                }
                errors.extend(resource_field(&r.resource, at.child("resource")));
            }
            (Some(_), Some(_)) => errors.push(FieldError::invalid(
                at,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            )),
            (None, None) => {}
        }
    }
    errors
}

/// How many sources a volume names (none: the default makes it an emptyDir).
pub(crate) fn source_count(volume: &Volume) -> usize {
    let encoded = serde_json::to_value(volume).unwrap_or_default();
    encoded
        .as_object()
        .map_or(0, |fields| fields.keys().filter(|k| *k != "name").count())
}

fn one_volume(volume: &Volume, at: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if source_count(volume) > 1 {
        errors.push(FieldError::forbidden(
            at.clone(),
            "may not specify more than 1 volume type",
        ));
    }
    if let Some(cm) = &volume.config_map {
        let at = at.child("configMap");
        if cm.name.is_empty() {
            errors.push(FieldError::required(at.child("name"), ""));
        }
        errors.extend(mode(cm.default_mode, at.child("defaultMode")));
        errors.extend(key_items(cm.items.as_deref(), &at));
    }
    if let Some(secret) = &volume.secret {
        let at = at.child("secret");
        if secret.secret_name.as_deref().unwrap_or_default().is_empty() {
            errors.push(FieldError::required(at.child("secretName"), ""));
        }
        errors.extend(mode(secret.default_mode, at.child("defaultMode")));
        errors.extend(key_items(secret.items.as_deref(), &at));
    }
    if let Some(d) = &volume.downward_api {
        let at = at.child("downwardAPI");
        errors.extend(mode(d.default_mode, at.child("defaultMode")));
        errors.extend(downward_items(d.items.as_deref().unwrap_or_default(), &at));
    }
    if let Some(projected) = &volume.projected {
        let at = at.child("projected");
        errors.extend(mode(projected.default_mode, at.child("defaultMode")));
        for (i, source) in projected.sources.iter().flatten().enumerate() {
            let at = at.child("sources").index(i);
            if let Some(cm) = &source.config_map {
                errors.extend(key_items(cm.items.as_deref(), &at.child("configMap")));
            }
            if let Some(s) = &source.secret {
                errors.extend(key_items(s.items.as_deref(), &at.child("secret")));
            }
            if let Some(d) = &source.downward_api {
                let items = d.items.as_deref().unwrap_or_default();
                errors.extend(downward_items(items, &at.child("downwardAPI")));
            }
        }
    }
    if let Some(host) = &volume.host_path {
        let at = at.child("hostPath");
        if host.path.is_empty() {
            errors.push(FieldError::required(at.child("path"), ""));
        }
        if let Some(kind) = host.type_.as_deref()
            && !HOST_PATH_TYPES.contains(&kind)
        {
            errors.push(FieldError::not_supported(
                at.child("type"),
                kind,
                &HOST_PATH_TYPES,
            ));
        }
    }
    errors
}

/// Validates `spec.volumes`; returns the errors and the volumes' names.
pub fn validate_volumes(spec: &PodSpec, path: &FieldPath) -> (Vec<FieldError>, HashSet<String>) {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let at = path.child("volumes").index(i);
        if volume.name.is_empty() {
            errors.push(FieldError::required(at.child("name"), ""));
        } else if !names.insert(volume.name.clone()) {
            errors.push(FieldError::duplicate(
                at.child("name"),
                volume.name.as_str(),
            ));
        }
        for e in dns_label_errors(&volume.name)
            .into_iter()
            .filter(|_| !volume.name.is_empty())
        {
            errors.push(FieldError::invalid(
                at.child("name"),
                volume.name.as_str(),
                &e,
            ));
        }
        errors.extend(one_volume(volume, &at));
    }
    (errors, names)
}

/// Validates a container's `volumeMounts` against the pod's volumes.
pub fn validate_mounts(
    container: &Container,
    volumes: &HashSet<String>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut paths = HashSet::new();
    for (i, mount) in container.volume_mounts.iter().flatten().enumerate() {
        let at = path.child("volumeMounts").index(i);
        if mount.name.is_empty() {
            errors.push(FieldError::required(at.child("name"), ""));
        } else if !volumes.contains(&mount.name) {
            errors.push(FieldError::not_found(at.child("name"), mount.name.as_str()));
        }
        if mount.mount_path.is_empty() {
            errors.push(FieldError::required(at.child("mountPath"), ""));
        } else if !paths.insert(mount.mount_path.clone()) {
            errors.push(FieldError::invalid(
                at.child("mountPath"),
                mount.mount_path.as_str(),
                "must be unique",
            ));
        }
        let sub_path = mount.sub_path.as_deref().unwrap_or_default();
        errors.extend(descending_path(sub_path, &at.child("subPath")));
        if let Some(expr) = mount.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            if !sub_path.is_empty() {
                errors.push(FieldError::invalid(
                    at.child("subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errors.extend(descending_path(expr, &at.child("subPathExpr")));
        }
        if let Some(rro) = mount.recursive_read_only.as_deref() {
            let at = at.child("recursiveReadOnly");
            if !["Disabled", "IfPossible", "Enabled"].contains(&rro) {
                let supported = ["Disabled", "Enabled", "IfPossible"];
                errors.push(FieldError::not_supported(at, rro, &supported));
            } else if rro != "Disabled" && mount.read_only != Some(true) {
                errors.push(FieldError::forbidden(
                    at,
                    "may only be specified when readOnly is true",
                ));
            }
        }
        if let Some(p) = mount.mount_propagation.as_deref()
            && !MOUNT_PROPAGATIONS.contains(&p)
        {
            errors.push(FieldError::not_supported(
                at.child("mountPropagation"),
                p,
                &MOUNT_PROPAGATIONS,
            ));
        }
    }
    errors
}

fn key_ref(name: &str, key: &str, at: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(at.child("name"), ""));
    } else {
        for e in dns_subdomain_errors(name) {
            errors.push(FieldError::invalid(at.child("name"), name, &e));
        }
    }
    if key.is_empty() {
        errors.push(FieldError::required(at.child("key"), ""));
    } else {
        for e in config_key_errors(key) {
            errors.push(FieldError::invalid(at.child("key"), key, &e));
        }
    }
    errors
}

fn value_from(env: &EnvVar, at: &FieldPath) -> Vec<FieldError> {
    let Some(from) = &env.value_from else {
        return Vec::new();
    };
    let at = at.child("valueFrom");
    let mut errors = Vec::new();
    let mut sources = 0;
    if let Some(f) = &from.field_ref {
        sources += 1;
        errors.extend(field_selector(f, &ENV_FIELD_PATHS, &at.child("fieldRef")));
    }
    if let Some(r) = &from.resource_field_ref {
        sources += 1;
        let at = at.child("resourceFieldRef");
        errors.extend(resource_field(&r.resource, at.child("resource")));
    }
    if let Some(k) = &from.config_map_key_ref {
        sources += 1;
        errors.extend(key_ref(&k.name, &k.key, &at.child("configMapKeyRef")));
    }
    if let Some(k) = &from.secret_key_ref {
        sources += 1;
        errors.extend(key_ref(&k.name, &k.key, &at.child("secretKeyRef")));
    }
    match sources {
        0 => errors.push(FieldError::invalid(
            at.clone(),
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        )),
        1 => {}
        _ => errors.push(FieldError::invalid(at.clone(), "", "may not have more than one field specified at a time")),
    }
    if sources > 0 && !env.value.as_deref().unwrap_or_default().is_empty() {
        errors.push(FieldError::invalid(
            at,
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    errors
}

/// Upstream's relaxed environment variable names (the default since 1.32).
fn env_name_errors(name: &str) -> Option<String> {
    let printable = name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'=');
    (!printable).then(|| {
        "a valid environment variable name must consist only of printable ASCII characters other than '='".to_owned()
    })
}

/// Validates a container's `env` and `envFrom`.
pub fn validate_env(container: &Container, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, env) in container.env.iter().flatten().enumerate() {
        let at = path.child("env").index(i);
        if env.name.is_empty() {
            errors.push(FieldError::required(at.child("name"), ""));
        } else if let Some(e) = env_name_errors(&env.name) {
            errors.push(FieldError::invalid(at.child("name"), env.name.as_str(), &e));
        }
        errors.extend(value_from(env, &at));
    }
    for (i, from) in container.env_from.iter().flatten().enumerate() {
        let at = path.child("envFrom").index(i);
        if let Some(prefix) = from.prefix.as_deref().filter(|p| !p.is_empty())
            && let Some(e) = env_name_errors(prefix)
        {
            errors.push(FieldError::invalid(at.child("prefix"), prefix, &e));
        }
        let refs = [
            from.config_map_ref
                .as_ref()
                .map(|r| ("configMapRef", &r.name)),
            from.secret_ref.as_ref().map(|r| ("secretRef", &r.name)),
        ];
        let named: Vec<_> = refs.into_iter().flatten().collect();
        if named.len() > 1 {
            errors.push(FieldError::invalid(
                at.clone(),
                "",
                "may not have more than one field specified at a time",
            ));
        }
        for (field, name) in named {
            if name.is_empty() {
                errors.push(FieldError::required(at.child(field).child("name"), ""));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn errors_of(v: serde_json::Value) -> Vec<String> {
        let spec = spec(v);
        let path = FieldPath::new("spec");
        let (mut errors, names) = validate_volumes(&spec, &path);
        for (i, c) in spec.containers.iter().enumerate() {
            let at = path.child("containers").index(i);
            errors.extend(validate_mounts(c, &names, &at));
            errors.extend(validate_env(c, &at));
        }
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_as_upstream() {
        let mut volumes: Vec<Volume> = serde_json::from_value(json!([
            {"name": "a", "configMap": {"name": "cm"}},
            {"name": "b", "secret": {"secretName": "s", "defaultMode": 256}},
            {"name": "c", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"name": "d", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
            {"name": "e", "hostPath": {"path": "/tmp"}},
        ]))
        .unwrap();
        volumes.iter_mut().for_each(default_volume_source);
        let encoded = serde_json::to_value(&volumes).unwrap();
        assert_eq!(encoded[0]["configMap"]["defaultMode"], 420);
        assert_eq!(encoded[1]["secret"]["defaultMode"], 256);
        assert_eq!(
            encoded[2]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"],
            "v1"
        );
        assert_eq!(encoded[3]["projected"]["defaultMode"], 420);
        assert_eq!(
            encoded[3]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3600
        );
        assert_eq!(encoded[4]["hostPath"]["type"], "");
    }

    #[test]
    fn volume_errors_as_upstream() {
        let errors = errors_of(json!({"containers": [], "volumes": [
            {"name": "a", "configMap": {"name": "", "defaultMode": 1000,
                "items": [{"key": "k", "path": "../x"}]}},
            {"name": "a", "emptyDir": {}, "hostPath": {"path": "/x", "type": "Dir"}},
            {"name": "Bad_Name", "secret": {}},
            {"name": "d", "downwardAPI": {"items": [{"path": "p", "fieldRef": {"fieldPath": "status.podIP"}},
                {"path": "q", "resourceFieldRef": {"resource": "limits.cpu"}}]}},
        ]}));
        let want = [
            "spec.volumes[0].configMap.name: Required value",
            "spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
            "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
            "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not start with '..'",
            "spec.volumes[1].name: Duplicate value: \"a\"",
            "spec.volumes[1]: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[1].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
            "spec.volumes[2].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.volumes[2].secret.secretName: Required value",
            "spec.volumes[3].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: \"status.podIP\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\"",
            "spec.volumes[3].downwardAPI.items[1].resourceFieldRef.containerName: Required value",
        ];
        assert_eq!(errors, want);
    }

    #[test]
    fn mount_and_env_errors_as_upstream() {
        let errors = errors_of(
            json!({"volumes": [{"name": "v", "emptyDir": {}}], "containers": [
            {"name": "c", "image": "i",
             "volumeMounts": [
                {"name": "nope", "mountPath": "/a"},
                {"name": "v", "mountPath": "/a", "subPath": "/abs"},
                {"name": "v", "mountPath": "/b", "subPath": "x", "subPathExpr": "$(X)", "mountPropagation": "Sideways"},
                {"name": "v", "mountPath": "/c", "recursiveReadOnly": "Enabled"},
             ],
             "env": [
                {"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"},
                    "configMapKeyRef": {"name": "cm", "key": "k"}}},
                {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
                {"name": "D", "valueFrom": {"secretKeyRef": {"name": "", "key": "bad key"}}},
                {"name": "E", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "F=G", "value": "x"},
             ]}]}),
        );
        let want = [
            "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique",
            "spec.containers[0].volumeMounts[1].subPath: Invalid value: \"/abs\": must be a relative path",
            "spec.containers[0].volumeMounts[2].subPathExpr: Invalid value: \"$(X)\": subPathExpr and subPath are mutually exclusive",
            "spec.containers[0].volumeMounts[2].mountPropagation: Unsupported value: \"Sideways\": supported values: \"Bidirectional\", \"HostToContainer\", \"None\"",
            "spec.containers[0].volumeMounts[3].recursiveReadOnly: Forbidden: may only be specified when readOnly is true",
            "spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not have more than one field specified at a time",
            "spec.containers[0].env[2].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\"",
            "spec.containers[0].env[3].valueFrom.secretKeyRef.name: Required value",
            "spec.containers[0].env[3].valueFrom.secretKeyRef.key: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            "spec.containers[0].env[5].name: Invalid value: \"F=G\": a valid environment variable name must consist only of printable ASCII characters other than '='",
        ];
        assert_eq!(errors, want);
    }
}
