//! Field sets as `managedFields` records them (`fieldsV1`): a tree whose keys are `f:<field>`,
//! `k:<key json>` (a list item by its merge key), `v:<value json>` (an item of a set of
//! scalars) and `.` (the map or item itself).
//!
//! Example: a ConfigMap `{metadata: {labels: {app: web}}, data: {a: "1"}}` has the fields
//! `{"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::patch::Schemas;
use crate::patch::metadata::{ListStrategy, list_strategy};

/// A set of fields, as a tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeMap<String, FieldSet>);

/// One step of a path: a key of the tree.
pub type Step = String;

/// Fields that are the object's identity or the server's, never owned by a manager.
const UNOWNED: [&str; 4] = ["apiVersion", "kind", "status", "metadata"];
const UNOWNED_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

impl FieldSet {
    /// The fields set in `object` (whose schema is `root`), without identity and server fields;
    /// `status` is included only when `with_status` (the status subresource's manager owns it).
    pub fn of_object(object: &Value, schemas: &Schemas, root: &str, with_status: bool) -> FieldSet {
        FieldSet::of_object_where(object, schemas, root, with_status, &|_| true)
    }

    /// `of_object` for the parts of `object` that `keep` accepts: a top-level field
    /// (`["spec"]`) or a field of `metadata` (`["metadata", "labels"]`).
    pub fn of_object_where(
        object: &Value,
        schemas: &Schemas,
        root: &str,
        with_status: bool,
        keep: &dyn Fn(&[&str]) -> bool,
    ) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(map) = object.as_object() else {
            return set;
        };
        for (key, value) in map {
            if key == "metadata" {
                let meta_type = schemas.child(root, "metadata");
                let mut meta = FieldSet::default();
                for (k, v) in value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !UNOWNED_METADATA.contains(&k.as_str()))
                    .filter(|(k, _)| keep(&["metadata", k]))
                {
                    meta.add_field(k, v, meta_type.as_deref(), schemas);
                }
                if !meta.0.is_empty() {
                    set.0.insert("f:metadata".into(), meta);
                }
            } else if (!UNOWNED.contains(&key.as_str()) || (key == "status" && with_status))
                && keep(&[key])
            {
                set.add_field(key, value, Some(root), schemas);
            }
        }
        set
    }

    fn add_field(&mut self, key: &str, value: &Value, ty: Option<&str>, schemas: &Schemas) {
        let child_type = ty.and_then(|t| schemas.child(t, key));
        let is_map = ty.is_some_and(|t| schemas.is_map(t, key));
        let node = self.0.entry(format!("f:{key}")).or_default();
        match value {
            Value::Object(m) if !m.is_empty() => {
                if is_map {
                    node.0.insert(".".into(), FieldSet::default());
                }
                for (k, v) in m {
                    node.add_field(k, v, child_type.as_deref(), schemas);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                match ty.map_or(ListStrategy::Atomic, |t| list_strategy(t, key)) {
                    ListStrategy::MergeByKey(merge_key) => {
                        for item in items {
                            let Some(id) = item.get(merge_key) else {
                                continue;
                            };
                            let item_node = node
                                .0
                                .entry(format!("k:{}", json!({ merge_key: id })))
                                .or_default();
                            item_node.0.insert(".".into(), FieldSet::default());
                            for (k, v) in item.as_object().into_iter().flatten() {
                                item_node.add_field(k, v, child_type.as_deref(), schemas);
                            }
                        }
                    }
                    ListStrategy::MergePrimitives => {
                        node.0.insert(".".into(), FieldSet::default());
                        for item in items {
                            node.0.insert(format!("v:{item}"), FieldSet::default());
                        }
                    }
                    ListStrategy::Atomic => {}
                }
            }
            _ => {}
        }
    }

    /// Every member path: leaves and `.` entries, as step lists.
    pub fn paths(&self) -> Vec<Vec<Step>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        for (step, child) in &self.0 {
            prefix.push(step.clone());
            if child.0.is_empty() {
                out.push(prefix.clone());
            } else {
                child.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[Step]) -> bool {
        match path.split_first() {
            None => true,
            Some((step, rest)) => self.0.get(step).is_some_and(|c| {
                if rest.is_empty() {
                    c.0.is_empty()
                } else {
                    c.contains(rest)
                }
            }),
        }
    }

    /// Whether any member starts with `prefix`.
    pub fn has_prefix(&self, prefix: &[Step]) -> bool {
        match prefix.split_first() {
            None => true,
            Some((step, rest)) => self.0.get(step).is_some_and(|c| c.has_prefix(rest)),
        }
    }

    /// Removes the member `path` (and empty parents).
    pub fn remove(&mut self, path: &[Step]) {
        let Some((step, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.0.remove(step);
            return;
        }
        if let Some(child) = self.0.get_mut(step) {
            child.remove(rest);
            if child.0.is_empty() {
                self.0.remove(step);
            }
        }
    }

    /// Adds the member `path`.
    pub fn insert(&mut self, path: &[Step]) {
        let mut node = self;
        for step in path {
            node = node.0.entry(step.clone()).or_default();
        }
    }

    /// The `fieldsV1` JSON form.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }

    /// Reads the `fieldsV1` JSON form.
    pub fn from_json(value: &Value) -> FieldSet {
        FieldSet(
            value
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), FieldSet::from_json(v)))
                .collect(),
        )
    }
}

/// The value at a member path of an object, if present (`.` is the container itself).
pub fn value_at<'a>(object: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut current = object;
    for step in path {
        current = match step_kind(step)? {
            StepKind::Itself => current,
            StepKind::Field(name) => current.get(name)?,
            StepKind::Key(key) => current
                .as_array()?
                .iter()
                .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))?,
            StepKind::Value(value) => current.as_array()?.iter().find(|item| **item == value)?,
        };
    }
    Some(current)
}

/// Removes the member at `path` from an object: a field, a list item or a set value.
pub fn remove_at(object: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let (target, last) = if last == "." {
        match parents.split_last() {
            Some((item, grand)) => (grand, item),
            None => return,
        }
    } else {
        (parents, last)
    };
    let mut current = object;
    for step in target {
        let next = match step_kind(step) {
            Some(StepKind::Field(name)) => current.get_mut(name),
            Some(StepKind::Key(key)) => current.as_array_mut().and_then(|items| {
                items
                    .iter_mut()
                    .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
            }),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    match step_kind(last) {
        Some(StepKind::Field(name)) => {
            if let Some(map) = current.as_object_mut() {
                map.remove(name);
            }
        }
        Some(StepKind::Key(key)) => {
            if let Some(items) = current.as_array_mut() {
                items.retain(|item| !key.iter().all(|(k, v)| item.get(k) == Some(v)));
            }
        }
        Some(StepKind::Value(value)) => {
            if let Some(items) = current.as_array_mut() {
                items.retain(|item| *item != value);
            }
        }
        _ => {}
    }
}

enum StepKind<'a> {
    Itself,
    Field(&'a str),
    Key(Map<String, Value>),
    Value(Value),
}

fn step_kind(step: &str) -> Option<StepKind<'_>> {
    if step == "." {
        return Some(StepKind::Itself);
    }
    let (kind, rest) = step.split_at_checked(2)?;
    match kind {
        "f:" => Some(StepKind::Field(rest)),
        "k:" => serde_json::from_str(rest).ok().map(StepKind::Key),
        "v:" => serde_json::from_str(rest).ok().map(StepKind::Value),
        _ => None,
    }
}

/// A path as upstream prints it in conflicts: `.spec.template.spec.containers[name="web"].image`.
pub fn display_path(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step_kind(step) {
            Some(StepKind::Field(name)) => {
                out.push('.');
                out.push_str(name);
            }
            Some(StepKind::Key(key)) => {
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Some(StepKind::Value(value)) => out.push_str(&format!("[={value}]")),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn schemas() -> Schemas {
        Schemas::for_registry(&Registry::builtin())
    }

    #[test]
    fn fields_of_a_configmap_and_a_deployment() {
        let schemas = schemas();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "web"}}, "data": {"a": "1"}});
        let set = FieldSet::of_object(&cm, &schemas, "io.k8s.api.core.v1.ConfigMap", false);
        assert_eq!(
            set.to_json(),
            json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
        let deployment = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
        let set = FieldSet::of_object(
            &deployment,
            &schemas,
            "io.k8s.api.apps.v1.Deployment",
            false,
        );
        let paths: Vec<String> = set.paths().iter().map(|p| display_path(p)).collect();
        assert!(paths.contains(&".spec.replicas".to_owned()));
        assert!(
            paths.contains(&".spec.template.spec.containers[name=\"web\"].image".to_owned()),
            "{paths:?}"
        );
        assert_eq!(FieldSet::from_json(&set.to_json()), set);
    }

    #[test]
    fn value_and_removal_by_path() {
        let mut obj = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}, "metadata": {"finalizers": ["p", "q"]}});
        let image = vec![
            "f:spec".to_owned(),
            "f:containers".to_owned(),
            "k:{\"name\":\"b\"}".to_owned(),
            "f:image".to_owned(),
        ];
        assert_eq!(value_at(&obj, &image), Some(&json!("y")));
        let item = vec![
            "f:spec".to_owned(),
            "f:containers".to_owned(),
            "k:{\"name\":\"a\"}".to_owned(),
            ".".to_owned(),
        ];
        remove_at(&mut obj, &item);
        assert_eq!(
            obj["spec"]["containers"],
            json!([{"name": "b", "image": "y"}])
        );
        remove_at(
            &mut obj,
            &[
                "f:metadata".to_owned(),
                "f:finalizers".to_owned(),
                "v:\"p\"".to_owned(),
            ],
        );
        assert_eq!(obj["metadata"]["finalizers"], json!(["q"]));
        remove_at(&mut obj, &image);
        assert_eq!(obj["spec"]["containers"], json!([{"name": "b"}]));
    }
}
