//! Validation shared by every resource: object names, label keys and values, and the parts of
//! `metadata` a client may set, with upstream's messages.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::field::{FieldError, FieldPath};

/// Which rule an object's name follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most resources).
    Subdomain,
    /// DNS-1123 label (namespaces).
    Label,
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Problems with `s` as a DNS-1123 subdomain, as upstream's `IsDNS1123Subdomain` words them.
pub fn dns_subdomain_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 253 {
        errors.push("must be no more than 253 characters".to_owned());
    }
    if !s.split('.').all(is_dns_label) {
        errors.push(SUBDOMAIN_MSG.to_owned());
    }
    errors
}

/// Problems with `s` as a DNS-1123 label.
pub fn dns_label_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push("must be no more than 63 characters".to_owned());
    }
    if !is_dns_label(s) {
        errors.push(LABEL_MSG.to_owned());
    }
    errors
}

fn is_label_value_body(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Problems with a label value.
pub fn label_value_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push("must be no more than 63 characters".to_owned());
    }
    if !s.is_empty() && !is_label_value_body(s) {
        errors.push(LABEL_VALUE_MSG.to_owned());
    }
    errors
}

/// Problems with a qualified name (`[prefix/]name`), as label and annotation keys are.
pub fn qualified_name_errors(s: &str) -> Vec<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    let mut errors = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_owned());
        } else {
            errors.extend(
                dns_subdomain_errors(prefix)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > 63 {
            errors.push("name part must be no more than 63 characters".to_owned());
        }
        if !is_label_value_body(name) {
            errors.push(QUALIFIED_NAME_MSG.to_owned());
        }
    }
    errors
}

/// Problems with a ConfigMap or Secret key, as upstream's `IsConfigMapKey` words them.
///
/// Example: `../x` → "must not start with '..'"; `a b` → the config key message.
pub fn config_key_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 253 {
        errors.push("must be no more than 253 characters".to_owned());
    }
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if s.is_empty() || !s.as_bytes().iter().all(allowed) {
        errors.push(CONFIG_KEY_MSG.to_owned());
    }
    match s {
        "." => errors.push("must not be '.'".to_owned()),
        ".." => errors.push("must not be '..'".to_owned()),
        _ if s.starts_with("..") => errors.push("must not start with '..'".to_owned()),
        _ => {}
    }
    errors
}

/// Upstream's `ValidateNonnegativeField`: an error for a negative value, if it is set.
pub fn non_negative(path: FieldPath, value: Option<impl Into<i64>>) -> Option<FieldError> {
    let value = value?.into();
    (value < 0).then(|| FieldError::invalid(path, value, "must be greater than or equal to 0"))
}

/// Validates a label map at `path`.
pub fn validate_labels(
    labels: Option<&BTreeMap<String, String>>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        for e in qualified_name_errors(key) {
            errors.push(FieldError::invalid(path.clone(), key.as_str(), &e));
        }
        for e in label_value_errors(value) {
            errors.push(FieldError::invalid(path.key(key), value.as_str(), &e));
        }
    }
    errors
}

/// Validates what every object's metadata must satisfy.
pub fn validate_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
) -> Vec<FieldError> {
    let path = FieldPath::new("metadata");
    let mut errors = Vec::new();
    match meta.name.as_deref().filter(|n| !n.is_empty()) {
        None if meta.generate_name.as_deref().is_none_or(str::is_empty) => {
            errors.push(FieldError::required(
                path.child("name"),
                "name or generateName is required",
            ));
        }
        None => {}
        Some(name) => {
            let problems = match rule {
                NameRule::Subdomain => dns_subdomain_errors(name),
                NameRule::Label => dns_label_errors(name),
            };
            errors.extend(
                problems
                    .iter()
                    .map(|e| FieldError::invalid(path.child("name"), name, e)),
            );
        }
    }
    match (
        namespaced,
        meta.namespace.as_deref().filter(|n| !n.is_empty()),
    ) {
        (true, None) => errors.push(FieldError::required(path.child("namespace"), "")),
        (false, Some(_)) => {
            errors.push(FieldError::forbidden(
                path.child("namespace"),
                "not allowed on this type",
            ));
        }
        _ => {}
    }
    errors.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errors.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errors.extend(validate_owner_references(
        meta.owner_references.as_deref().unwrap_or_default(),
        &path.child("ownerReferences"),
    ));
    errors.extend(validate_finalizers(
        meta.finalizers.as_deref().unwrap_or_default(),
        &path.child("finalizers"),
    ));
    errors
}

/// The most bytes an object's annotations may hold, keys and values together (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Upstream's `ValidateAnnotations`: qualified-name keys (case does not matter) and at most
/// 256 KiB in all.
pub fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut total = 0;
    for (key, value) in annotations.into_iter().flatten() {
        for e in qualified_name_errors(&key.to_lowercase()) {
            errors.push(FieldError::invalid(path.clone(), key.as_str(), &e));
        }
        total += key.len() + value.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errors.push(FieldError::too_long(
            path.clone(),
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
    errors
}

/// The (group, version) of an `apiVersion` as upstream's `ParseGroupVersion` reads it, or
/// `None` when it has more than one `/` (upstream then has no version either).
fn group_version(api_version: &str) -> Option<(&str, &str)> {
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [""] => Some(("", "")),
        [version] => Some(("", version)),
        [group, version] => Some((group, version)),
        _ => None,
    }
}

/// An owner reference as Go's `%#v` prints it (a set pointer shows its value, as Go would
/// show an address).
fn go_owner_reference(r: &OwnerReference) -> String {
    let pointer = |b: Option<bool>| b.map_or("(*bool)(nil)".to_owned(), |b| format!("&{b}"));
    format!(
        "v1.OwnerReference{{APIVersion:{:?}, Kind:{:?}, Name:{:?}, UID:{:?}, Controller:{}, BlockOwnerDeletion:{}}}",
        r.api_version,
        r.kind,
        r.name,
        r.uid,
        pointer(r.controller),
        pointer(r.block_owner_deletion)
    )
}

/// Upstream's `validateOwnerReference`; the path is the list's, not the item's, as upstream's.
fn validate_owner_reference(r: &OwnerReference, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let (group, version) = group_version(&r.api_version).unwrap_or(("", ""));
    if version.is_empty() {
        errors.push(FieldError::invalid(
            path.child("apiVersion"),
            r.api_version.as_str(),
            "version must not be empty",
        ));
    }
    for (field, value) in [("kind", &r.kind), ("name", &r.name), ("uid", &r.uid)] {
        if value.is_empty() {
            errors.push(FieldError::invalid(
                path.child(field),
                value.as_str(),
                "must not be empty",
            ));
        }
    }
    if (group, version, r.kind.as_str()) == ("", "v1", "Event") {
        errors.push(FieldError::invalid_raw(
            path.clone(),
            go_owner_reference(r),
            "/v1, Kind=Event is disallowed from being an owner",
        ));
    }
    errors
}

/// Upstream's `ValidateOwnerReferences`: each reference complete, at most one controller.
pub fn validate_owner_references(refs: &[OwnerReference], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        errors.extend(validate_owner_reference(r, path));
        if r.controller != Some(true) {
            continue;
        }
        let current = format!("{}/{}", r.kind, r.name);
        match &first_controller {
            None => first_controller = Some(current),
            Some(first) => {
                let all: Vec<String> = refs.iter().map(go_owner_reference).collect();
                errors.push(FieldError::invalid_raw(
                    path.clone(),
                    format!("[]v1.OwnerReference{{{}}}", all.join(", ")),
                    &format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"),
                ));
            }
        }
    }
    errors
}

/// Upstream's `ValidateFinalizers`: qualified names, and not both `orphan` and
/// `foregroundDeletion`.
pub fn validate_finalizers(finalizers: &[String], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for finalizer in finalizers {
        for e in qualified_name_errors(finalizer) {
            errors.push(FieldError::invalid(path.clone(), finalizer.as_str(), &e));
        }
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        let quoted: Vec<String> = finalizers.iter().map(|f| format!("{f:?}")).collect();
        errors.push(FieldError::invalid_raw(
            path.clone(),
            format!("[]string{{{}}}", quoted.join(", ")),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases = [
            ("nginx", true, true),
            ("nginx.example.com", true, false),
            ("Nginx", false, false),
            ("-x", false, false),
            ("x-", false, false),
            ("a_b", false, false),
        ];
        for (name, subdomain_ok, label_ok) in cases {
            assert_eq!(
                dns_subdomain_errors(name).is_empty(),
                subdomain_ok,
                "subdomain {name}"
            );
            assert_eq!(dns_label_errors(name).is_empty(), label_ok, "label {name}");
        }
        assert_eq!(
            dns_label_errors(&"a".repeat(64))[0],
            "must be no more than 63 characters"
        );
    }

    #[test]
    fn label_keys_and_values_table() {
        let keys = [
            ("app", true),
            ("app.kubernetes.io/name", true),
            ("/x", false),
            ("a/b/c", false),
            ("-x", false),
        ];
        for (key, ok) in keys {
            assert_eq!(qualified_name_errors(key).is_empty(), ok, "key {key}");
        }
        let values = [
            ("", true),
            ("MyValue", true),
            ("my_value", true),
            ("-x", false),
            ("a b", false),
        ];
        for (value, ok) in values {
            assert_eq!(label_value_errors(value).is_empty(), ok, "value {value}");
        }
    }

    #[test]
    fn object_meta_requires_a_name() {
        let meta = ObjectMeta {
            namespace: Some("default".into()),
            ..Default::default()
        };
        let errors = validate_object_meta(&meta, true, NameRule::Subdomain);
        assert_eq!(
            errors[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let bad = ObjectMeta {
            name: Some("Bad_Name".into()),
            namespace: Some("default".into()),
            ..Default::default()
        };
        let errors = validate_object_meta(&bad, true, NameRule::Subdomain);
        assert!(errors[0].to_string().starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ));
    }

    fn meta_errors(meta: serde_json::Value) -> Vec<String> {
        let mut meta = meta;
        meta["name"] = serde_json::json!("x");
        meta["namespace"] = serde_json::json!("default");
        let meta: ObjectMeta = serde_json::from_value(meta).unwrap();
        validate_object_meta(&meta, true, NameRule::Subdomain)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn annotations_finalizers_and_owners_table() {
        use serde_json::json;
        let owner = |api_version: &str, kind: &str, name: &str, uid: &str| json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid});
        let cases: Vec<(serde_json::Value, Vec<String>)> = vec![
            (json!({"annotations": {"a": "x".repeat(262_143)}}), vec![]),
            (
                json!({"annotations": {"a": "x".repeat(262_144)}}),
                vec!["metadata.annotations: Too long: must have at most 262144 bytes".into()],
            ),
            (json!({"annotations": {"Example.COM/Key": "v"}}), vec![]),
            (json!({"finalizers": ["kubernetes.io/pv-protection", "example.com/x"]}), vec![]),
            (
                json!({"finalizers": ["a b"]}),
                vec![format!("metadata.finalizers: Invalid value: \"a b\": {QUALIFIED_NAME_MSG}")],
            ),
            (
                json!({"finalizers": ["orphan", "foregroundDeletion"]}),
                vec!["metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set".into()],
            ),
            (json!({"ownerReferences": [owner("apps/v1", "ReplicaSet", "rs", "u1")]}), vec![]),
            (
                json!({"ownerReferences": [owner("", "", "", "")]}),
                vec![
                    "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty".into(),
                    "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty".into(),
                    "metadata.ownerReferences.name: Invalid value: \"\": must not be empty".into(),
                    "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty".into(),
                ],
            ),
            (
                json!({"ownerReferences": [owner("a/b/c", "K", "n", "u")]}),
                vec!["metadata.ownerReferences.apiVersion: Invalid value: \"a/b/c\": version must not be empty".into()],
            ),
            (
                json!({"ownerReferences": [owner("v1", "Event", "e", "u")]}),
                vec!["metadata.ownerReferences: Invalid value: v1.OwnerReference{APIVersion:\"v1\", Kind:\"Event\", Name:\"e\", UID:\"u\", Controller:(*bool)(nil), BlockOwnerDeletion:(*bool)(nil)}: /v1, Kind=Event is disallowed from being an owner".into()],
            ),
        ];
        for (meta, want) in cases {
            let shown = meta.to_string();
            let shown = &shown[..shown.len().min(80)];
            assert_eq!(meta_errors(meta), want, "{shown}");
        }
        let two_controllers = json!({"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true},
        ]});
        let errors = meta_errors(two_controllers);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].ends_with("Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn config_keys_table() {
        let cases: [(&str, &[&str]); 6] = [
            ("key.name", &[]),
            ("KEY_NAME-1", &[]),
            ("../x", &[CONFIG_KEY_MSG, "must not start with '..'"]),
            ("..", &["must not be '..'"]),
            ("a b", &[CONFIG_KEY_MSG]),
            ("", &[CONFIG_KEY_MSG]),
        ];
        for (key, want) in cases {
            assert_eq!(config_key_errors(key), want, "{key:?}");
        }
        assert_eq!(
            config_key_errors(&"k".repeat(254)),
            ["must be no more than 253 characters"]
        );
    }
}
