//! The environment a container is given, as upstream's `makeEnvironmentVariables`: `envFrom`
//! (ConfigMaps and Secrets, with a prefix) first, then `env` in order, each value with `$(VAR)`
//! references to the variables before it expanded; `valueFrom` reads ConfigMap and Secret keys,
//! the pod's fields (`fieldRef`) and the container's resources (`resourceFieldRef`, limits that
//! are unset reading as the node's allocatable). Command and args are expanded with the result.
//!
//! Example: `envFrom: [{configMapRef: {name: cfg}, prefix: CFG_}]` with `cfg` holding
//! `{mode: fast}`, and `env: [{name: GREETING, value: "mode $(CFG_mode)"}]` give
//! `CFG_mode=fast`, `GREETING=mode fast`. A `cfg` that does not exist fails the container with
//! `configmap "cfg" not found` (upstream's CreateContainerConfigError) unless it is optional.

use std::collections::BTreeMap;

use ferrokube_client::quantity::value;
use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::sources::{Kind, Objects, Referenced};

/// What the node gives a container besides the pod: its address and allocatable resources.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    pub host_ip: String,
    pub milli_cpu: i64,
    pub memory_bytes: i64,
    pub ephemeral_storage_bytes: i64,
}

/// A container's environment and command, resolved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Variables by name (a later source overrides an earlier one, `env` overrides `envFrom`).
    pub env: BTreeMap<String, String>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Upstream's `InvalidEnvironmentVariableNames` warnings, one per source that had any.
    pub skipped: Vec<String>,
}

/// The ConfigMaps and Secrets `container`'s `envFrom` and `env` read.
pub fn referenced(container: &Container) -> Referenced {
    let mut refs = Referenced::default();
    for from in container.env_from.iter().flatten() {
        if let Some(cm) = &from.config_map_ref {
            refs.config_maps.insert(cm.name.clone());
        }
        if let Some(secret) = &from.secret_ref {
            refs.secrets.insert(secret.name.clone());
        }
    }
    for source in container
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.value_from.as_ref())
    {
        if let Some(key) = &source.config_map_key_ref {
            refs.config_maps.insert(key.name.clone());
        }
        if let Some(key) = &source.secret_key_ref {
            refs.secrets.insert(key.name.clone());
        }
    }
    refs
}

/// Whether a key can be an environment variable's name (upstream's relaxed rule, the default
/// since 1.32: printable ASCII other than `=`).
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The pairs of one `envFrom` source, with its name for messages (`configMap ns/name`).
type FromSource = (Vec<(String, String)>, String);

/// One `envFrom` source's pairs, or why the container cannot start; none when it is optional
/// and missing.
fn env_from_pairs(
    from: &k8s_openapi::api::core::v1::EnvFromSource,
    namespace: &str,
    objects: &Objects,
) -> Result<Option<FromSource>, String> {
    let cm = from
        .config_map_ref
        .as_ref()
        .map(|r| (Kind::ConfigMap, &r.name, r.optional));
    let secret = from
        .secret_ref
        .as_ref()
        .map(|r| (Kind::Secret, &r.name, r.optional));
    let Some((kind, name, optional)) = cm.or(secret) else {
        return Ok(None);
    };
    match objects.keys(kind, name, false) {
        Some(keys) => {
            let pairs = keys
                .into_iter()
                .map(|(k, v)| (k.clone(), text(&v)))
                .collect();
            let label = match kind {
                Kind::ConfigMap => "configMap",
                Kind::Secret => "secret",
            };
            Ok(Some((pairs, format!("{label} {namespace}/{name}"))))
        }
        None if optional == Some(true) => Ok(None),
        None => Err(kind.not_found(name)),
    }
}

/// The value of a `configMapKeyRef` or `secretKeyRef`, none when its optional source or key
/// is missing.
fn key_value(
    objects: &Objects,
    (kind, name, key): (Kind, &str, &str),
    optional: bool,
    namespace: &str,
) -> Result<Option<String>, String> {
    let Some(keys) = objects.keys(kind, name, false) else {
        return if optional {
            Ok(None)
        } else {
            Err(kind.not_found(name))
        };
    };
    match keys.get(&key.to_owned()) {
        Some(v) => Ok(Some(text(v))),
        None if optional => Ok(None),
        None => Err(format!(
            "couldn't find key {key} in {} {namespace}/{name}",
            kind.title()
        )),
    }
}

/// The value of a `fieldRef` path (the API server admits only these).
pub fn field_value(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)?
            .strip_suffix("']")
            .map(str::to_owned)
    };
    let from_map = |map: &Option<BTreeMap<String, String>>, key: String| {
        map.as_ref()
            .and_then(|m| m.get(&key).cloned())
            .unwrap_or_default()
    };
    if let Some(key) = subscript("metadata.labels['") {
        return Ok(from_map(&meta.labels, key));
    }
    if let Some(key) = subscript("metadata.annotations['") {
        return Ok(from_map(&meta.annotations, key));
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_owned(),
        "status.podIP" | "status.podIPs" => pod_ip.to_owned(),
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

/// The value of a `resourceFieldRef` for `container` (the one it names, else this one):
/// CPU in whole units of the divisor rounded up, memory, storage and huge pages in bytes per
/// divisor rounded up; an unset limit reads as the node's allocatable.
pub fn resource_value(
    pod: &Pod,
    container: &Container,
    selector: &ResourceFieldSelector,
    node: &NodeFacts,
) -> Result<String, String> {
    let target = match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => super::plan::container(pod, name)
            .ok_or_else(|| format!("container {name} not found in the pod"))?,
        None => container,
    };
    let (list, resource) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {}", selector.resource))?;
    let known = ["cpu", "memory", "ephemeral-storage"].contains(&resource)
        || resource.starts_with("hugepages-");
    if !known {
        return Err(format!(
            "unsupported container resource : {}",
            selector.resource
        ));
    }
    let resources = target.resources.as_ref();
    let listed = match list {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => {
            return Err(format!(
                "unsupported container resource : {}",
                selector.resource
            ));
        }
    };
    let quantity = listed.and_then(|l| l.get(resource));
    let one = Quantity("1".into());
    let divisor = selector.divisor.as_ref().unwrap_or(&one);
    let allocatable = |resource: &str| match resource {
        "cpu" => node.milli_cpu,
        "memory" => node.memory_bytes,
        "ephemeral-storage" => node.ephemeral_storage_bytes,
        _ => 0,
    };
    let scale = if resource == "cpu" { 1000 } else { 1 };
    let amount = match (quantity, list) {
        (Some(q), _) => value(q, scale),
        (None, "limits") => allocatable(resource),
        (None, _) => 0,
    };
    // An unset divisor, or the "0" upstream's API writes for one, is 1.
    let per = match value(divisor, scale) {
        0 => scale,
        per => per,
    };
    Ok((amount / per + i64::from(amount % per > 0)).to_string())
}

/// `input` with each `$(NAME)` that `lookup` knows replaced by its value; `$$` is a literal `$`
/// and any other reference is kept as written (upstream's `expansion.Expand`).
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(end) => {
                    let name = &tail[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value of one `env` entry, or none when its optional source is missing.
fn env_value(
    pod: &Pod,
    container: &Container,
    entry: &k8s_openapi::api::core::v1::EnvVar,
    env: &BTreeMap<String, String>,
    (objects, pod_ip, node): (&Objects, &str, &NodeFacts),
) -> Result<Option<String>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let Some(source) = &entry.value_from else {
        let raw = entry.value.as_deref().unwrap_or_default();
        return Ok(Some(expand(raw, |name| env.get(name).cloned())));
    };
    if let Some(key) = &source.config_map_key_ref {
        let named = (Kind::ConfigMap, key.name.as_str(), key.key.as_str());
        return key_value(objects, named, key.optional == Some(true), namespace);
    }
    if let Some(key) = &source.secret_key_ref {
        let named = (Kind::Secret, key.name.as_str(), key.key.as_str());
        return key_value(objects, named, key.optional == Some(true), namespace);
    }
    if let Some(field) = &source.field_ref {
        return field_value(pod, &field.field_path, pod_ip, &node.host_ip).map(Some);
    }
    if let Some(selector) = &source.resource_field_ref {
        return resource_value(pod, container, selector, node).map(Some);
    }
    Ok(None)
}

/// The container's environment and command, or the reason it cannot start (upstream's
/// CreateContainerConfigError message).
pub fn resolve(
    pod: &Pod,
    container: &Container,
    objects: &Objects,
    pod_ip: &str,
    node: &NodeFacts,
) -> Result<Resolved, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut resolved = Resolved::default();
    for from in container.env_from.iter().flatten() {
        let Some((pairs, source)) = env_from_pairs(from, namespace, objects)? else {
            continue;
        };
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let mut invalid = Vec::new();
        for (key, v) in pairs {
            let name = format!("{prefix}{key}");
            if is_env_name(&name) {
                resolved.env.insert(name, v);
            } else {
                invalid.push(name);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            resolved.skipped.push(format!(
                "Keys [{}] from the EnvFrom {source} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }
    for entry in container.env.iter().flatten() {
        let facts = (objects, pod_ip, node);
        if let Some(v) = env_value(pod, container, entry, &resolved.env, facts)? {
            resolved.env.insert(entry.name.clone(), v);
        }
    }
    let env = &resolved.env;
    let expand_all = |list: &Option<Vec<String>>| -> Vec<String> {
        list.iter()
            .flatten()
            .map(|s| expand(s, |name| env.get(name).cloned()))
            .collect()
    };
    resolved.command = expand_all(&container.command);
    resolved.args = expand_all(&container.args);
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use serde_json::json;
    use std::collections::BTreeSet;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                "labels": {"app": "web"}, "annotations": {"note": "hi"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "default", "containers": containers},
        }))
        .unwrap()
    }

    fn objects() -> Objects {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg"}, "data": {"mode": "fast", "level": "3", "bad=key": "x"},
        }))
        .unwrap();
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds"}, "data": {"password": "czNjcjN0"},
        }))
        .unwrap();
        Objects {
            config_maps: BTreeMap::from([("cfg".into(), cm)]),
            secrets: BTreeMap::from([("creds".into(), secret)]),
            tokens: BTreeMap::new(),
            claims: BTreeMap::new(),
        }
    }

    fn node() -> NodeFacts {
        NodeFacts {
            host_ip: "10.0.0.5".into(),
            milli_cpu: 4000,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 100 << 30,
        }
    }

    fn resolve_one(container: serde_json::Value) -> Result<Resolved, String> {
        let p = pod(json!([container]));
        let c = &p.spec.as_ref().unwrap().containers[0];
        resolve(&p, c, &objects(), "10.42.0.7", &node())
    }

    fn env_of(container: serde_json::Value) -> BTreeMap<String, String> {
        resolve_one(container).unwrap().env
    }

    #[test]
    fn expansion_as_upstream() {
        let vars = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        let lookup = |n: &str| vars.get(n).cloned();
        let cases = [
            ("$(A)", "1"),
            ("x$(A)y$(A)", "x1y1"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$", "$"),
            ("$(A", "$(A"),
            ("a$b", "a$b"),
            ("end$", "end$"),
            ("$()", "$()"),
            ("ünï$(A)cödé", "ünï1cödé"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "{input}");
        }
    }

    #[test]
    fn env_from_with_prefix_and_env_overrides() {
        let env = env_of(json!({"name": "c", "image": "i",
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                        {"secretRef": {"name": "creds"}}],
            "env": [{"name": "CFG_mode", "value": "slow"},
                    {"name": "SUMMARY", "value": "$(CFG_mode)/$(password)/$(NOPE)"}]}));
        assert_eq!(env["CFG_mode"], "slow");
        assert_eq!(env["CFG_level"], "3");
        assert_eq!(env["password"], "s3cr3t");
        assert_eq!(env["SUMMARY"], "slow/s3cr3t/$(NOPE)");
        assert!(!env.contains_key("CFG_bad=key"));
        let skipped = resolve_one(json!({"name": "c", "image": "i",
            "envFrom": [{"configMapRef": {"name": "cfg"}}]}))
        .unwrap()
        .skipped;
        assert_eq!(
            skipped,
            [
                "Keys [bad=key] from the EnvFrom configMap shop/cfg were skipped since they are considered invalid environment variable names."
            ]
        );
    }

    #[test]
    fn key_refs_and_missing_sources() {
        let env = env_of(json!({"name": "c", "image": "i", "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": true}}},
            {"name": "NOKEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": true}}},
        ]}));
        assert_eq!(env["MODE"], "fast");
        assert_eq!(env["PW"], "s3cr3t");
        assert!(!env.contains_key("GONE") && !env.contains_key("NOKEY"));
        let failure = |env: serde_json::Value| {
            resolve_one(json!({"name": "c", "image": "i", "env": env})).unwrap_err()
        };
        let cm_key = |name: &str, key: &str| json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": name, "key": key}}}]);
        assert_eq!(failure(cm_key("nope", "k")), "configmap \"nope\" not found");
        assert_eq!(
            failure(cm_key("cfg", "k")),
            "couldn't find key k in ConfigMap shop/cfg"
        );
        let secret_key =
            json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]);
        assert_eq!(
            failure(secret_key),
            "couldn't find key k in Secret shop/creds"
        );
        let missing_from = resolve_one(json!({"name": "c", "image": "i",
            "envFrom": [{"secretRef": {"name": "nope"}}]}));
        assert_eq!(missing_from.unwrap_err(), "secret \"nope\" not found");
        let optional_from = resolve_one(json!({"name": "c", "image": "i",
            "envFrom": [{"configMapRef": {"name": "nope", "optional": true}}]}));
        assert!(optional_from.unwrap().env.is_empty());
    }

    #[test]
    fn field_refs() {
        let field =
            |path: &str| json!({"name": "V", "valueFrom": {"fieldRef": {"fieldPath": path}}});
        let cases = [
            ("metadata.name", "web"),
            ("metadata.namespace", "shop"),
            ("metadata.uid", "u-1"),
            ("metadata.labels['app']", "web"),
            ("metadata.labels['none']", ""),
            ("metadata.annotations['note']", "hi"),
            ("spec.nodeName", "n1"),
            ("spec.serviceAccountName", "default"),
            ("status.hostIP", "10.0.0.5"),
            ("status.hostIPs", "10.0.0.5"),
            ("status.podIP", "10.42.0.7"),
            ("status.podIPs", "10.42.0.7"),
        ];
        for (path, want) in cases {
            let env = env_of(json!({"name": "c", "image": "i", "env": [field(path)]}));
            assert_eq!(env["V"], want, "{path}");
        }
    }

    #[test]
    fn resource_field_refs_with_divisors_and_allocatable() {
        let containers = json!([
            {"name": "app", "image": "i", "resources": {
                "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"}}},
            {"name": "side", "image": "i"},
        ]);
        let p = pod(containers);
        let side = &p.spec.as_ref().unwrap().containers[1];
        let cases = [
            (None, "limits.cpu", None, "1"),
            (None, "limits.cpu", Some("1m"), "500"),
            (None, "requests.cpu", Some("1m"), "250"),
            (None, "limits.memory", None, "67108864"),
            (None, "limits.memory", Some("1Mi"), "64"),
            (None, "requests.memory", Some("1Mi"), "32"),
            (Some("side"), "limits.cpu", None, "4"),
            (Some("side"), "limits.memory", Some("1Gi"), "8"),
            (Some("side"), "requests.cpu", None, "0"),
            (Some("side"), "limits.ephemeral-storage", Some("1Gi"), "100"),
            (None, "limits.cpu", Some("0"), "1"),
            (None, "limits.memory", Some("0"), "67108864"),
        ];
        for (container, resource, divisor, want) in cases {
            let selector = ResourceFieldSelector {
                container_name: Some(container.unwrap_or("app").into()),
                resource: resource.into(),
                divisor: divisor.map(|d| Quantity(d.into())),
            };
            let got = resource_value(&p, side, &selector, &node()).unwrap();
            assert_eq!(got, want, "{container:?} {resource} {divisor:?}");
        }
        let own = ResourceFieldSelector {
            resource: "limits.cpu".into(),
            ..Default::default()
        };
        assert_eq!(resource_value(&p, side, &own, &node()).unwrap(), "4");
    }

    #[test]
    fn command_and_args_are_expanded() {
        let resolved = resolve_one(json!({"name": "c", "image": "i",
            "command": ["sh", "-c", "echo $(MODE) $$(MODE)"], "args": ["$(MODE)"],
            "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}}]}))
        .unwrap();
        assert_eq!(resolved.command, ["sh", "-c", "echo fast $(MODE)"]);
        assert_eq!(resolved.args, ["fast"]);
    }

    #[test]
    fn references_are_collected() {
        let p = pod(json!([{"name": "c", "image": "i",
            "envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "s"}}],
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "b", "key": "k"}}},
                    {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]));
        let refs = referenced(&p.spec.as_ref().unwrap().containers[0]);
        assert_eq!(refs.config_maps, BTreeSet::from(["a".into(), "b".into()]));
        assert_eq!(refs.secrets, BTreeSet::from(["s".into()]));
    }
}
