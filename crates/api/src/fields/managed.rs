//! `metadata.managedFields`: one entry per (manager, operation, subresource) with the fields
//! it owns, updated on every write so that an update takes ownership of what it changed.
//!
//! Example: `kubectl create` (manager `kubectl-create`) owns every field it set; a later
//! `kubectl scale` (manager `kubectl`, subresource `scale`… here an Update of `spec.replicas`)
//! takes `.spec.replicas` from `kubectl-create`.

use serde_json::{Value, json};

use super::fieldset::{FieldSet, Step, value_at};
use crate::patch::Schemas;

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
    pub subresource: String,
}

impl ManagedEntry {
    /// `actor`'s Update entry, stamped now, owning `fields`.
    fn update_by(actor: &Actor<'_>, fields: FieldSet) -> ManagedEntry {
        ManagedEntry {
            manager: actor.manager.to_owned(),
            operation: "Update".into(),
            api_version: actor.api_version.to_owned(),
            time: actor.now.to_owned(),
            fields,
            subresource: actor.subresource.to_owned(),
        }
    }

    /// The manager as upstream names it in conflict messages.
    pub fn describe(&self) -> String {
        let mut text = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            text = format!("{text} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            text = format!("{text} using {} at {}", self.api_version, self.time);
        }
        text
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_json(),
        });
        if !self.subresource.is_empty() {
            entry["subresource"] = json!(self.subresource);
        }
        entry
    }

    fn from_json(value: &Value) -> Option<Self> {
        let text = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Some(ManagedEntry {
            manager: value.get("manager")?.as_str()?.to_owned(),
            operation: text("operation"),
            api_version: text("apiVersion"),
            time: text("time"),
            fields: value
                .get("fieldsV1")
                .map(FieldSet::from_json)
                .unwrap_or_default(),
            subresource: text("subresource"),
        })
    }
}

/// Who is writing: the manager, the subresource (`""` or `status`), and the object's schema.
pub struct Actor<'a> {
    pub manager: &'a str,
    pub subresource: &'a str,
    pub api_version: &'a str,
    pub now: &'a str,
    pub schemas: &'a Schemas,
    pub root: &'a str,
}

#[cfg(test)]
impl<'a> Actor<'a> {
    /// An actor writing the whole object (`root` in `schemas`) at a fixed time.
    pub fn for_test(
        schemas: &'a Schemas,
        manager: &'a str,
        api_version: &'a str,
        root: &'a str,
    ) -> Self {
        Actor {
            manager,
            subresource: "",
            api_version,
            now: "2026-01-01T00:00:00Z",
            schemas,
            root,
        }
    }
}

impl Actor<'_> {
    pub fn fields_of(&self, object: &Value) -> FieldSet {
        FieldSet::of_object(
            object,
            self.schemas,
            self.root,
            self.subresource == "status",
        )
    }

    /// `fields_of` for the parts `keep` accepts (see `FieldSet::of_object_where`).
    fn fields_where(&self, object: &Value, keep: &dyn Fn(&[&str]) -> bool) -> FieldSet {
        let with_status = self.subresource == "status";
        FieldSet::of_object_where(object, self.schemas, self.root, with_status, keep)
    }
}

/// The entries recorded on an object.
pub fn read_entries(object: &Value) -> Vec<ManagedEntry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(ManagedEntry::from_json).collect())
        .unwrap_or_default()
}

/// Records `entries` on an object (removing the field when there are none).
pub fn write_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let meta = crate::meta::metadata_mut(object);
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(ManagedEntry::to_json).collect()),
        );
    }
}

/// The member paths whose values differ between `old` (absent for a create) and `new`.
///
/// Parts equal in both (a top-level field, or a field of `metadata`) can have no changed or
/// removed path, so their fields are never listed: a status update does not walk the spec.
fn changed_paths(
    actor: &Actor<'_>,
    old: Option<&Value>,
    new: &Value,
) -> (Vec<Vec<Step>>, Vec<Vec<Step>>) {
    let differs = |part: &[&str]| old.and_then(|o| part_at(o, part)) != part_at(new, part);
    let new_fields = actor.fields_where(new, &differs);
    let old_fields = old
        .map(|o| actor.fields_where(o, &differs))
        .unwrap_or_default();
    let changed = new_fields
        .paths()
        .into_iter()
        .filter(|p| {
            let container = p.last().is_some_and(|s| s == ".");
            let before = old.and_then(|o| value_at(o, p));
            if container {
                before.is_none()
            } else {
                before != value_at(new, p)
            }
        })
        .collect();
    let removed = old_fields
        .paths()
        .into_iter()
        .filter(|p| !new_fields.contains(p))
        .collect();
    (changed, removed)
}

/// The value at `part` (a path of plain keys) in `object`.
fn part_at<'a>(object: &'a Value, part: &[&str]) -> Option<&'a Value> {
    part.iter().try_fold(object, |value, key| value.get(key))
}

/// The entries after `actor` wrote `new` over `old` with an Update (PUT, PATCH or create):
/// the fields it changed become its own and leave every other manager.
pub fn record_update(
    entries: Vec<ManagedEntry>,
    actor: &Actor<'_>,
    old: Option<&Value>,
    new: &Value,
) -> Vec<ManagedEntry> {
    if old.is_none() && entries.is_empty() {
        return created(actor, new);
    }
    let (changed, removed) = changed_paths(actor, old, new);
    record_changes(entries, actor, &changed, &removed)
}

/// The entries of an object `actor` created: one, with every field set (what
/// `record_changes` makes of a create, without listing each path and inserting it again).
fn created(actor: &Actor<'_>, new: &Value) -> Vec<ManagedEntry> {
    let fields = actor.fields_of(new);
    if fields.0.is_empty() {
        return Vec::new();
    }
    vec![ManagedEntry::update_by(actor, fields)]
}

/// `entries` after `actor` changed the paths `changed` and removed `removed`.
fn record_changes(
    mut entries: Vec<ManagedEntry>,
    actor: &Actor<'_>,
    changed: &[Vec<Step>],
    removed: &[Vec<Step>],
) -> Vec<ManagedEntry> {
    if changed.is_empty() && removed.is_empty() {
        return entries;
    }
    for entry in &mut entries {
        for path in changed.iter().chain(removed) {
            entry.fields.remove(path);
        }
    }
    let position = entries.iter().position(|e| {
        e.manager == actor.manager && e.operation == "Update" && e.subresource == actor.subresource
    });
    let mut entry = match position {
        Some(i) => entries.remove(i),
        None => ManagedEntry::update_by(actor, FieldSet::default()),
    };
    for path in changed {
        entry.fields.insert(path);
    }
    entry.api_version = actor.api_version.to_owned();
    entry.time = actor.now.to_owned();
    entries.push(entry);
    entries.retain(|e| !e.fields.0.is_empty());
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    /// `record_update` as it was before it skipped equal parts and created entries directly:
    /// every path of both objects listed, compared and inserted.
    fn record_update_by_every_path(
        entries: Vec<ManagedEntry>,
        actor: &Actor<'_>,
        old: Option<&Value>,
        new: &Value,
    ) -> Vec<ManagedEntry> {
        let new_fields = actor.fields_of(new);
        let old_fields = old.map(|o| actor.fields_of(o)).unwrap_or_default();
        let changed: Vec<_> = new_fields
            .paths()
            .into_iter()
            .filter(|p| {
                let before = old.and_then(|o| value_at(o, p));
                if p.last().is_some_and(|s| s == ".") {
                    before.is_none()
                } else {
                    before != value_at(new, p)
                }
            })
            .collect();
        let removed: Vec<_> = old_fields
            .paths()
            .into_iter()
            .filter(|p| !new_fields.contains(p))
            .collect();
        record_changes(entries, actor, &changed, &removed)
    }

    #[test]
    fn skipping_equal_parts_records_what_every_path_would() {
        let schemas = Schemas::for_registry(&Registry::builtin());
        let actor = |manager: &'static str, subresource: &'static str| Actor {
            manager,
            subresource,
            api_version: "v1",
            now: "2026-01-01T00:00:00Z",
            schemas: &schemas,
            root: "io.k8s.api.core.v1.Pod",
        };
        let pod = |labels: Value, node: &str, status: Value| {
            json!({
                "metadata": {"name": "web", "namespace": "default", "labels": labels,
                             "resourceVersion": "5", "uid": "u"},
                "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx",
                         "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
                "status": status,
            })
        };
        let steps = [
            (
                actor("controller", ""),
                pod(json!({"app": "web"}), "", json!({"phase": "Pending"})),
            ),
            (
                actor("scheduler", ""),
                pod(json!({"app": "web"}), "node-1", json!({"phase": "Pending"})),
            ),
            (
                actor("kubelet", "status"),
                pod(
                    json!({"app": "web"}),
                    "node-1",
                    json!({"phase": "Running", "podIP": "10.0.0.5"}),
                ),
            ),
            (
                actor("kubectl-label", ""),
                pod(
                    json!({"app": "web", "tier": "front"}),
                    "node-1",
                    json!({"phase": "Running", "podIP": "10.0.0.5"}),
                ),
            ),
            (
                actor("kubectl-label", ""),
                pod(
                    json!({"tier": "front"}),
                    "node-1",
                    json!({"phase": "Running", "podIP": "10.0.0.5"}),
                ),
            ),
            (
                actor("kubelet", "status"),
                pod(
                    json!({"tier": "front"}),
                    "node-1",
                    json!({"phase": "Running"}),
                ),
            ),
            (
                actor("kubectl-edit", ""),
                pod(
                    json!({"tier": "front"}),
                    "node-1",
                    json!({"phase": "Running"}),
                ),
            ),
        ];
        let (mut entries, mut old): (Vec<ManagedEntry>, Option<Value>) = (Vec::new(), None);
        for (i, (actor, new)) in steps.iter().enumerate() {
            let want = record_update_by_every_path(entries.clone(), actor, old.as_ref(), new);
            entries = record_update(entries, actor, old.as_ref(), new);
            assert_eq!(entries, want, "step {i} by {}", actor.manager);
            old = Some(new.clone());
        }
        assert_eq!(
            entries
                .iter()
                .map(|e| e.manager.as_str())
                .collect::<Vec<_>>(),
            ["controller", "scheduler", "kubectl-label", "kubelet"],
            "the last writer moves last; an edit changing nothing owns nothing"
        );
    }

    #[test]
    fn an_update_takes_the_fields_it_changes() {
        let schemas = Schemas::for_registry(&Registry::builtin());
        let actor = |manager: &'static str| Actor {
            manager,
            subresource: "",
            api_version: "v1",
            now: "2026-01-01T00:00:00Z",
            schemas: &schemas,
            root: "io.k8s.api.core.v1.ConfigMap",
        };
        let created = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let entries = record_update(Vec::new(), &actor("kubectl-create"), None, &created);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].fields.to_json(),
            json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
        );

        let edited = json!({"metadata": {"name": "c"}, "data": {"a": "9", "b": "2"}});
        let entries = record_update(entries, &actor("kubectl-edit"), Some(&created), &edited);
        let by = |m: &str| {
            entries
                .iter()
                .find(|e| e.manager == m)
                .unwrap()
                .fields
                .to_json()
        };
        assert_eq!(
            by("kubectl-create"),
            json!({"f:data": {".": {}, "f:b": {}}})
        );
        assert_eq!(by("kubectl-edit"), json!({"f:data": {"f:a": {}}}));
        assert_eq!(
            entries[1].describe(),
            "\"kubectl-edit\" using v1 at 2026-01-01T00:00:00Z"
        );

        let same = record_update(entries.clone(), &actor("other"), Some(&edited), &edited);
        assert_eq!(
            same, entries,
            "a write that changes nothing records nothing"
        );
    }
}
