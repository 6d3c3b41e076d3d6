//! Delete and delete-collection with DeleteOptions: preconditions, propagationPolicy (whose
//! finalizers keep the object until the garbage collector is done), finalizers (the object
//! stays with a deletionTimestamp until they are gone), and the resource's hooks (graceful
//! deletion of pods bound to a node, namespaces moving to Terminating, what a resource
//! releases once an object is gone). A delete that loses a race to another write
//! reads the object again and decides again, as upstream's does; only a failed precondition
//! is the client's to see.

use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, meta};
use ferrokube_store::StoreError;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Filter, Hooks, ListOptions, Storage, Stored};
use crate::admission::Operation;
use crate::object::{set_resource_version, timestamp, to_stored};

/// Rounds of a delete before it gives up with 409.
const ATTEMPTS: usize = 100;

/// The DeleteOptions a client may send in the body or the query.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub preconditions: Option<Preconditions>,
    pub orphan_dependents: Option<bool>,
    pub dry_run: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Whether the options ask for a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
            .as_ref()
            .is_some_and(|d| d.iter().any(|v| v == "All"))
    }
}

/// What a delete does to the stored object.
#[derive(Debug, PartialEq)]
pub enum DeletePlan {
    /// Remove it now.
    Remove,
    /// Keep it, marked for deletion: the given object replaces the stored one.
    Mark(Value),
}

/// The outcome of a delete: the object as it was (removed) or as it stays (marked).
#[derive(Debug)]
pub struct Deleted {
    pub object: Value,
    pub removed: bool,
}

/// Decides between removing an object and marking it (finalizers, propagation, graceful pods).
///
/// Example: a Deployment deleted with `propagationPolicy=Foreground` gets the
/// `foregroundDeletion` finalizer and a deletionTimestamp; the garbage collector removes it
/// once its dependents are gone.
pub fn plan_delete(
    hooks: &dyn Hooks,
    obj: &Value,
    options: &DeleteOptions,
    now: Timestamp,
) -> DeletePlan {
    let mut finalizers: Vec<String> = meta::finalizers(obj)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let policy_finalizer = match (
        options.propagation_policy.as_deref(),
        options.orphan_dependents,
    ) {
        (Some("Foreground"), _) => Some("foregroundDeletion"),
        (Some("Orphan"), _) | (None, Some(true)) => Some("orphan"),
        _ => None,
    };
    if let Some(f) = policy_finalizer
        && !finalizers.iter().any(|x| x == f)
    {
        finalizers.push(f.to_owned());
    }
    let already_deleting = meta::get_str(obj, "deletionTimestamp").is_some();
    let grace = hooks.grace_period(obj, options);
    let mut marked = obj.clone();
    let always_marks = hooks.mark_on_delete(&mut marked);
    if finalizers.is_empty() && grace.is_none() && !always_marks {
        return DeletePlan::Remove;
    }
    if already_deleting
        && grace.is_none()
        && meta::finalizers(obj).len() == finalizers.len()
        && !always_marks
    {
        return DeletePlan::Mark(obj.clone());
    }
    let seconds = grace.unwrap_or(0);
    if !already_deleting {
        meta::set(
            &mut marked,
            "deletionTimestamp",
            Some(json!(timestamp(now + seconds.seconds()))),
        );
        meta::set(
            &mut marked,
            "deletionGracePeriodSeconds",
            Some(json!(seconds)),
        );
    }
    if !finalizers.is_empty() {
        meta::set(&mut marked, "finalizers", Some(json!(finalizers)));
    }
    DeletePlan::Mark(marked)
}

/// Whether an object marked for deletion has no finalizers left and so can go.
pub fn finalized(obj: &Value) -> bool {
    meta::get_str(obj, "deletionTimestamp").is_some()
        && meta::finalizers(obj).is_empty()
        && !namespace_finalizers_left(obj)
}

/// A namespace also waits for its `spec.finalizers` (the namespace controller's `kubernetes`).
fn namespace_finalizers_left(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Namespace")
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// The 409 of a failed precondition, worded as upstream.
fn check_preconditions(
    info: &ResourceInfo,
    name: &str,
    obj: &Value,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let Some(pre) = &options.preconditions else {
        return Ok(());
    };
    let failed = |why: String| ApiError::conflict_because(&info.group_resource(), name, &why);
    if let Some(uid) = &pre.uid {
        let actual = meta::get_str(obj, "uid").unwrap_or("");
        if uid != actual {
            return Err(failed(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
            )));
        }
    }
    if let Some(rv) = &pre.resource_version {
        let actual = meta::get_str(obj, "resourceVersion").unwrap_or("");
        if rv != actual {
            return Err(failed(format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
            )));
        }
    }
    Ok(())
}

impl Storage<'_> {
    /// Deletes or marks `name`; answers with the object as it ends up.
    pub async fn delete(
        &self,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        for _ in 0..ATTEMPTS {
            let current = self.get(namespace, name).await?;
            if let Some(done) = self.delete_round(namespace, name, options, current).await? {
                return Ok(done);
            }
        }
        Err(ApiError::conflict(&self.resource(), name))
    }

    /// One round of a delete; `None` when another write won the race.
    async fn delete_round(
        &self,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
        current: Stored,
    ) -> Result<Option<Deleted>, ApiError> {
        check_preconditions(self.info, name, &current.object, options)?;
        self.admit(self.attributes(Operation::Delete, namespace, name))
            .await?;
        let dry_run = options.is_dry_run();
        let key = self.key(namespace, name);
        let plan = plan_delete(self.hooks(), &current.object, options, now());
        let (written, deleted) = match plan {
            DeletePlan::Remove => {
                let deleted = Deleted {
                    object: current.object,
                    removed: true,
                };
                if dry_run {
                    return Ok(Some(deleted));
                }
                let written = self.store().delete(&key, Some(current.revision)).await;
                (written, deleted)
            }
            DeletePlan::Mark(marked) if marked == current.object || dry_run => {
                return Ok(Some(Deleted {
                    object: marked,
                    removed: false,
                }));
            }
            DeletePlan::Mark(marked) => {
                let bytes = to_stored(self.info, &marked);
                let written = self.store().update(&key, bytes, current.revision).await;
                let deleted = Deleted {
                    object: marked,
                    removed: false,
                };
                (written, deleted)
            }
        };
        match written {
            Ok(written) => {
                let mut deleted = deleted;
                match deleted.removed {
                    true => self.hooks().after_delete(self, &deleted.object).await,
                    false => set_resource_version(&mut deleted.object, written.revision),
                }
                Ok(Some(deleted))
            }
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.error(err, name)),
        }
    }

    /// Deletes every object under `namespace` that `filter` selects; answers those it
    /// deleted or marked. Objects gone meanwhile are skipped; races are retried per object.
    pub async fn delete_collection(
        &self,
        namespace: Option<&str>,
        filter: &Filter,
        options: &DeleteOptions,
    ) -> Result<(Vec<Value>, ferrokube_store::Revision), ApiError> {
        let page = self
            .list(namespace, filter, &ListOptions::default())
            .await?;
        let mut deleted = Vec::new();
        for obj in page.items {
            let ns = meta::namespace(&obj).map(str::to_owned);
            match self.delete(ns.as_deref(), meta::name(&obj), options).await {
                Ok(_) => deleted.push(obj),
                Err(err) if err.code == 404 => {}
                Err(err) => return Err(err),
            }
        }
        Ok((deleted, page.meta.revision))
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{CreateOptions, testing};

    fn pod(name: &str, node: Option<&str>, finalizers: &[&str]) -> Value {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "finalizers": finalizers},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
        });
        if let Some(node) = node {
            pod["spec"]["nodeName"] = json!(node);
        }
        pod
    }

    #[test]
    fn plan_delete_table() {
        let registry = ferrokube_api::Registry::builtin();
        let hooks = super::super::HookTable::builtin();
        let pods = hooks.of(registry.find("", "v1", "pods").unwrap());
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let foreground = DeleteOptions {
            propagation_policy: Some("Foreground".into()),
            ..DeleteOptions::default()
        };
        let now_please = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        // (what, object, options, removed now, finalizers, deletionGracePeriodSeconds)
        let cases = [
            (
                "unbound",
                pod("a", None, &[]),
                DeleteOptions::default(),
                true,
                vec![],
                None,
            ),
            (
                "bound: graceful",
                pod("a", Some("n"), &[]),
                DeleteOptions::default(),
                false,
                vec![],
                Some(30),
            ),
            (
                "bound, grace 0",
                pod("a", Some("n"), &[]),
                now_please,
                true,
                vec![],
                None,
            ),
            (
                "finalizer",
                pod("a", None, &["x/y"]),
                DeleteOptions::default(),
                false,
                vec!["x/y"],
                Some(0),
            ),
            (
                "foreground",
                pod("a", None, &[]),
                foreground,
                false,
                vec!["foregroundDeletion"],
                Some(0),
            ),
        ];
        for (what, obj, options, removed, finalizers, grace) in cases {
            match plan_delete(pods, &obj, &options, now) {
                DeletePlan::Remove => assert!(removed, "{what}"),
                DeletePlan::Mark(marked) => {
                    assert!(!removed, "{what}");
                    assert_eq!(meta::finalizers(&marked), finalizers, "{what}");
                    assert_eq!(
                        marked["metadata"]["deletionGracePeriodSeconds"].as_i64(),
                        grace,
                        "{what}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn delete_table() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "", "v1", "pods");
        for obj in [
            pod("plain", None, &[]),
            pod("kept", None, &["x/y"]),
            pod("dry", None, &[]),
        ] {
            storage
                .create(Some("default"), obj, &CreateOptions::default())
                .await
                .unwrap();
        }
        let wrong_uid = DeleteOptions {
            preconditions: Some(Preconditions {
                uid: Some("nope".into()),
                resource_version: None,
            }),
            ..DeleteOptions::default()
        };
        let dry = DeleteOptions {
            dry_run: Some(vec!["All".into()]),
            ..DeleteOptions::default()
        };
        // (what, name, options, expected code or 0, still stored after)
        let cases = [
            ("a failed precondition", "plain", wrong_uid, 409, true),
            ("plain", "plain", DeleteOptions::default(), 0, false),
            ("gone", "plain", DeleteOptions::default(), 404, false),
            (
                "a finalizer keeps it",
                "kept",
                DeleteOptions::default(),
                0,
                true,
            ),
            ("a dry run", "dry", dry, 0, true),
        ];
        for (what, name, options, code, stored) in cases {
            match (storage.delete(Some("default"), name, &options).await, code) {
                (Ok(_), 0) => {}
                (Err(err), code) => assert_eq!(err.code, code, "{what}: {err:?}"),
                (Ok(deleted), code) => panic!("{what}: {deleted:?}, expected {code}"),
            }
            let found = storage.find(Some("default"), name).await.unwrap();
            assert_eq!(found.is_some(), stored, "{what}");
        }
        let kept = storage.get(Some("default"), "kept").await.unwrap().object;
        assert!(meta::get_str(&kept, "deletionTimestamp").is_some());
    }

    #[tokio::test]
    async fn system_namespaces_may_not_be_deleted() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "", "v1", "namespaces");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let err = storage
                .delete(None, name, &DeleteOptions::default())
                .await
                .unwrap_err();
            assert_eq!(err.code, 403, "{name}");
            assert_eq!(
                err.message,
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
            );
            let ns = storage.get(None, name).await.unwrap().object;
            assert_eq!(ns["status"]["phase"], "Active", "{name}");
        }
    }

    #[tokio::test]
    async fn delete_collection_deletes_what_the_filter_selects() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "", "v1", "configmaps");
        for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": app}}});
            storage
                .create(Some("default"), cm, &CreateOptions::default())
                .await
                .unwrap();
        }
        let selector = ferrokube_api::selector::parse_label_selector("app=web").unwrap();
        let filter = Filter::new(selector, Default::default());
        let (deleted, _) = storage
            .delete_collection(Some("default"), &filter, &DeleteOptions::default())
            .await
            .unwrap();
        assert_eq!(deleted.len(), 2);
        let all = Filter::new(Default::default(), Default::default());
        let left = storage
            .list(Some("default"), &all, &ListOptions::default())
            .await
            .unwrap();
        let names: Vec<&str> = left.items.iter().map(meta::name).collect();
        assert_eq!(names, ["c"]);
    }
}
