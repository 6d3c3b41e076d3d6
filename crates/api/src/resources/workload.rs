//! Pieces shared by Deployments and ReplicaSets: replicas, selector against template labels,
//! and the wide table cells CONTAINERS, IMAGES, SELECTOR.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use crate::field::{FieldError, FieldPath};
use crate::resources::podspec::validate_template;
use crate::selector::label_selector_matches;
use crate::validation::non_negative;

/// Validates replicas, selector and template of a workload spec.
pub fn validate_workload(
    replicas: Option<i32>,
    selector: Option<&LabelSelector>,
    template: Option<&PodTemplateSpec>,
    kind: &str,
) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errors: Vec<FieldError> = non_negative(spec.child("replicas"), replicas)
        .into_iter()
        .collect();

    let empty_selector = selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    });
    match selector {
        None => errors.push(FieldError::required(spec.child("selector"), "")),
        Some(_) if empty_selector => errors.push(FieldError::invalid_raw(
            spec.child("selector"),
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}".to_owned(),
            &format!("empty selector is invalid for {kind}"),
        )),
        Some(_) => {}
    }
    match template {
        None => errors.push(FieldError::required(spec.child("template"), "")),
        Some(template) => {
            let labels = template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            if let Some(selector) = selector.filter(|_| !empty_selector)
                && !label_selector_matches(selector, &labels)
            {
                errors.push(FieldError::invalid_raw(
                    spec.child("template").child("metadata").child("labels"),
                    go_string_map(&labels),
                    "`selector` does not match template `labels`",
                ));
            }
            errors.extend(validate_template(template, &spec.child("template")));
        }
    }
    errors
}

/// A label map as Go's `%#v` prints it: `map[string]string{"app":"web"}`.
pub fn go_string_map(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<_> = map.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

/// A selector as kubectl prints it: `app=web,tier in (a,b)`.
pub fn selector_string(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return "<none>".to_owned();
    };
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            op => format!("{} {op} ({values})", e.key),
        });
    }
    if parts.is_empty() {
        "<none>".to_owned()
    } else {
        parts.join(",")
    }
}

/// The CONTAINERS, IMAGES and SELECTOR cells.
pub fn wide_cells(
    template: Option<&PodTemplateSpec>,
    selector: Option<&LabelSelector>,
) -> [Value; 3] {
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let names: Vec<_> = containers.iter().map(|c| c.name.clone()).collect();
    let images: Vec<_> = containers
        .iter()
        .map(|c| c.image.clone().unwrap_or_default())
        .collect();
    [
        json!(names.join(",")),
        json!(images.join(",")),
        json!(selector_string(selector)),
    ]
}

/// Upstream prints a template's unset creationTimestamp as `null` (a Go struct, not a pointer);
/// `kubectl rollout undo` sends it back that way, so templates keep it.
pub fn null_template_timestamp(object: &mut Value) {
    if let Some(meta) = object
        .pointer_mut("/spec/template/metadata")
        .and_then(Value::as_object_mut)
    {
        meta.entry("creationTimestamp").or_insert(Value::Null);
    }
}
