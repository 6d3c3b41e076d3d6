//! The garbage collector's decisions as pure functions over a snapshot of the cluster.
//!
//! Example: a Pod owned by ReplicaSet uid `r1`, with no object of uid `r1` left, is a
//! `DeleteDangling`; a Deployment being deleted with the `foregroundDeletion` finalizer and
//! one ReplicaSet still owned is `DeleteDependents`, and once none is left `RemoveFinalizer`.

use std::collections::{HashMap, HashSet};

use kube::api::DynamicObject;

/// The finalizer of a foreground deletion.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of an orphaning deletion.
pub const ORPHAN: &str = "orphan";

/// What to do about one object.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Every owner is gone: delete the object (after checking the owners live).
    DeleteDangling,
    /// Foreground deletion: delete these dependents (by uid) first.
    DeleteDependents(Vec<String>),
    /// Orphaning deletion: drop the ownerReference to this object from these dependents.
    OrphanDependents(Vec<String>),
    /// The dependents are handled: remove this finalizer from the object.
    RemoveFinalizer(&'static str),
}

/// Uids of every object, and the dependents of each owner uid.
pub struct Graph<'a> {
    pub uids: HashSet<&'a str>,
    pub dependents: HashMap<&'a str, Vec<&'a DynamicObject>>,
}

impl<'a> Graph<'a> {
    pub fn new(objects: impl IntoIterator<Item = &'a DynamicObject>) -> Self {
        let mut uids = HashSet::new();
        let mut dependents: HashMap<&str, Vec<&DynamicObject>> = HashMap::new();
        for obj in objects {
            if let Some(uid) = obj.metadata.uid.as_deref() {
                uids.insert(uid);
            }
            for owner in obj.metadata.owner_references.iter().flatten() {
                dependents.entry(owner.uid.as_str()).or_default().push(obj);
            }
        }
        Graph { uids, dependents }
    }
}

fn has_finalizer(obj: &DynamicObject, name: &str) -> bool {
    obj.metadata.finalizers.iter().flatten().any(|f| f == name)
}

/// What the collector does about `obj`, given the graph.
pub fn plan(obj: &DynamicObject, graph: &Graph<'_>) -> Option<Action> {
    let uid = obj.metadata.uid.as_deref()?;
    let deleting = obj.metadata.deletion_timestamp.is_some();
    let dependents = graph
        .dependents
        .get(uid)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if deleting && has_finalizer(obj, ORPHAN) {
        let owned: Vec<String> = dependents
            .iter()
            .filter_map(|d| d.metadata.uid.clone())
            .collect();
        return Some(if owned.is_empty() {
            Action::RemoveFinalizer(ORPHAN)
        } else {
            Action::OrphanDependents(owned)
        });
    }
    if deleting && has_finalizer(obj, FOREGROUND) {
        if dependents.is_empty() {
            return Some(Action::RemoveFinalizer(FOREGROUND));
        }
        let to_delete: Vec<String> = dependents
            .iter()
            .filter(|d| d.metadata.deletion_timestamp.is_none())
            .filter_map(|d| d.metadata.uid.clone())
            .collect();
        return (!to_delete.is_empty()).then_some(Action::DeleteDependents(to_delete));
    }
    let owners: Vec<&str> = obj
        .metadata
        .owner_references
        .iter()
        .flatten()
        .map(|o| o.uid.as_str())
        .collect();
    let dangling = !owners.is_empty() && owners.iter().all(|o| !graph.uids.contains(o));
    (dangling && !deleting).then_some(Action::DeleteDangling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
    use kube::api::ObjectMeta;

    fn obj(uid: &str, owners: &[&str], finalizers: &[&str], deleting: bool) -> DynamicObject {
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some(uid.into()),
                uid: Some(uid.into()),
                owner_references: (!owners.is_empty()).then(|| {
                    owners
                        .iter()
                        .map(|o| OwnerReference {
                            uid: o.to_string(),
                            name: o.to_string(),
                            kind: "X".into(),
                            api_version: "v1".into(),
                            ..Default::default()
                        })
                        .collect()
                }),
                finalizers: (!finalizers.is_empty())
                    .then(|| finalizers.iter().map(|f| f.to_string()).collect()),
                deletion_timestamp: deleting.then_some(Time(jiff::Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn plan_table() {
        let objects = vec![
            obj("deploy", &[], &[], false),
            obj("rs", &["deploy"], &[], false),
            obj("pod", &["rs"], &[], false),
            obj("orphaned-pod", &["gone-rs"], &[], false),
            obj("fg-owner", &[], &[FOREGROUND], true),
            obj("fg-child", &["fg-owner"], &[], false),
            obj("fg-done", &[], &[FOREGROUND], true),
            obj("orphaner", &[], &[ORPHAN], true),
            obj("orphanee", &["orphaner"], &[], false),
            obj("two-owners", &["gone-rs", "deploy"], &[], false),
        ];
        let graph = Graph::new(&objects);
        let want = [
            ("deploy", None),
            ("rs", None),
            ("pod", None),
            ("orphaned-pod", Some(Action::DeleteDangling)),
            (
                "fg-owner",
                Some(Action::DeleteDependents(vec!["fg-child".into()])),
            ),
            ("fg-child", None),
            ("fg-done", Some(Action::RemoveFinalizer(FOREGROUND))),
            (
                "orphaner",
                Some(Action::OrphanDependents(vec!["orphanee".into()])),
            ),
            ("orphanee", None),
            ("two-owners", None),
        ];
        for (o, (name, action)) in objects.iter().zip(want) {
            assert_eq!(plan(o, &graph), action, "{name}");
        }
    }
}
