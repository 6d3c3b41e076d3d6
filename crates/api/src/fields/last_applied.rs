//! Moving from client-side to server-side apply, as upstream's last-applied manager and
//! last-applied updater do for the field manager `kubectl`: a conflict is forgiven when the
//! live object's `kubectl.kubernetes.io/last-applied-configuration` annotation says the same
//! as the live object for that field, and a successful apply rewrites the annotation to the
//! configuration just applied.
//!
//! Example: `kubectl apply -f` of a Deployment with `image: nginx:1.25` (the manager
//! `kubectl-client-side-apply` owns the image; the annotation says `nginx:1.25`), then
//! `kubectl apply --server-side -f` with `image: nginx:1.26`: the conflict on
//! `.spec.template.spec.containers[name="web"].image` is forgiven, since the annotation and the
//! live object agree that it is `nginx:1.25`, and `kubectl` takes the image over. Had
//! `kubectl set image` changed the live image to `nginx:1.24` in between, they would disagree
//! and the conflict stands.

use serde_json::Value;

use super::fieldset::{FieldSet, Step, value_at};
use super::managed::Actor;

/// The annotation client-side apply keeps its last applied configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The only field manager the upgrade is made for (`kubectl apply --server-side`); another
/// manager opts out by its name.
pub const UPGRADING_MANAGER: &str = "kubectl";

/// Whether `actor` gets the client-side apply upgrade.
pub fn upgrades(actor: &Actor<'_>) -> bool {
    actor.manager == UPGRADING_MANAGER
}

/// The object's last-applied annotation, when it has a non-empty one.
fn annotation(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// The fields whose conflicts client-side apply gives up: those of the last-applied
/// configuration whose value the live object still has (upstream's
/// `allowedConflictsFromLastApplied`). Empty when there is no annotation, it is not JSON, or
/// it was written for another version.
pub fn allowed_conflicts(actor: &Actor<'_>, live: &Value) -> FieldSet {
    let Some(last_applied) = annotation(live)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(|v| v.get("apiVersion").and_then(Value::as_str) == Some(actor.api_version))
    else {
        return FieldSet::default();
    };
    let mut allowed = FieldSet::default();
    for path in actor.fields_of(&last_applied).paths() {
        // A map or list item itself (`.`) agrees when both have it, a field when its values do.
        let itself = path.last().is_some_and(|s| s == ".");
        let agrees = match (value_at(&last_applied, &path), value_at(live, &path)) {
            (Some(_), Some(_)) if itself => true,
            (Some(applied), Some(now)) => applied == now,
            _ => false,
        };
        if agrees {
            allowed.insert(&path);
        }
    }
    allowed
}

/// The conflicts (by path) that `allowed` does not forgive.
pub fn unforgiven<T>(conflicts: Vec<(T, Vec<Step>)>, allowed: &FieldSet) -> Vec<(T, Vec<Step>)> {
    conflicts
        .into_iter()
        .filter(|(_, path)| !allowed.contains(path))
        .collect()
}

/// The annotation's text for `applied`: the configuration without the annotation itself, as
/// compact JSON and a newline (upstream's `buildLastApplied`).
fn build(applied: &Value) -> String {
    let mut config = applied.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let mut text = serde_json::to_string(&config).expect("JSON values serialize");
    text.push('\n');
    text
}

/// After `actor` applied `applied`, brings `merged`'s last-applied annotation up to date, if it
/// has one (upstream's last-applied updater): a later `kubectl apply` without
/// `--server-side` then computes its patch from what was applied last.
pub fn sync_annotation(actor: &Actor<'_>, merged: &mut Value, applied: &Value) {
    if !upgrades(actor) || annotation(merged).is_none() {
        return;
    }
    let text = build(applied);
    if let Some(annotations) = merged
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.insert(LAST_APPLIED.to_owned(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::Schemas;
    use crate::registry::Registry;

    fn actor<'a>(schemas: &'a Schemas, manager: &'a str) -> Actor<'a> {
        Actor::for_test(schemas, manager, "v1", "io.k8s.api.core.v1.ConfigMap")
    }

    fn live(annotation: Option<&str>, data: Value) -> Value {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default"}, "data": data});
        if let Some(text) = annotation {
            object["metadata"]["annotations"] = json!({ LAST_APPLIED: text });
        }
        object
    }

    fn paths(set: &FieldSet) -> Vec<String> {
        set.paths().iter().map(|p| p.join("")).collect()
    }

    #[test]
    fn allowed_conflicts_table() {
        let schemas = Schemas::for_registry(&Registry::builtin());
        let config = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}}"#;
        let other_version = config.replace("\"v1\"", "\"v2\"");
        let cases: [(&str, Option<&str>, Value, Vec<&str>); 5] = [
            (
                "both agree",
                Some(config),
                json!({"a": "1", "b": "2"}),
                vec!["f:data.", "f:dataf:a", "f:dataf:b"],
            ),
            (
                "b changed since",
                Some(config),
                json!({"a": "1", "b": "9"}),
                vec!["f:data.", "f:dataf:a"],
            ),
            ("no annotation", None, json!({"a": "1"}), vec![]),
            ("not JSON", Some("{"), json!({"a": "1"}), vec![]),
            (
                "another version",
                Some(&other_version),
                json!({"a": "1"}),
                vec![],
            ),
        ];
        for (name, annotation, data, want) in cases {
            let allowed = allowed_conflicts(&actor(&schemas, "kubectl"), &live(annotation, data));
            assert_eq!(paths(&allowed), want, "{name}");
        }
    }

    #[test]
    fn the_annotation_follows_the_applier() {
        let schemas = Schemas::for_registry(&Registry::builtin());
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {LAST_APPLIED: "old", "note": "x"}},
            "data": {"a": "2"}});
        let want = "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"2\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"note\":\"x\"},\"name\":\"c\"}}\n";
        let cases = [
            ("kubectl", Some("old"), Some(want)),
            ("kubectl", None, None),
            ("other-manager", Some("old"), Some("old")),
        ];
        for (manager, before, after) in cases {
            let mut merged = live(before, json!({"a": "2"}));
            sync_annotation(&actor(&schemas, manager), &mut merged, &applied);
            assert_eq!(annotation(&merged), after, "{manager} {before:?}");
        }
    }
}
