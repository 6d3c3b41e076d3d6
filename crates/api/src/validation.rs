//! Validation shared by every resource: object names, label keys and values, and the parts of
//! `metadata` a client may set, with upstream's messages.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

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
    for key in meta.annotations.iter().flatten().map(|(k, _)| k) {
        for e in qualified_name_errors(key) {
            errors.push(FieldError::invalid(
                path.child("annotations"),
                key.as_str(),
                &e,
            ));
        }
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
}
