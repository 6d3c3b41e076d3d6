//! What a resource adds to the generic store, as upstream's strategy hooks: a place for the
//! side effects of creating and deleting (a Service allocating its cluster IP, releasing it
//! when it is gone), and the resource's own rules for deletion (a pod stopping on its node
//! first, a namespace becoming Terminating until its content is gone).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferrokube_api::ApiError;
use ferrokube_api::registry::ResourceInfo;
use serde_json::{Value, json};

use super::{DeleteOptions, Storage};

/// One resource's hooks; each defaults to doing nothing.
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Runs on a new object after its defaults and admission, before it is validated and
    /// stored (not for dry runs): where a resource allocates what the object needs.
    async fn before_create(
        &self,
        _storage: &Storage<'_>,
        _obj: &mut Value,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// Runs once an object is gone from the store: where a resource releases what it held.
    async fn after_delete(&self, _storage: &Storage<'_>, _obj: &Value) {}

    /// How many seconds a deletion waits before the object may go; `None` for none.
    fn grace_period(&self, _obj: &Value, _options: &DeleteOptions) -> Option<i64> {
        None
    }

    /// Marks an object a delete only marks, however few finalizers it has; `false` for
    /// objects a delete may remove at once.
    fn mark_on_delete(&self, _obj: &mut Value) -> bool {
        false
    }
}

/// The hooks of resources that have none.
struct NoHooks;

impl Hooks for NoHooks {}

/// Pods bound to a node stop there first: their deletion waits for the grace period.
struct PodHooks;

impl Hooks for PodHooks {
    /// Bound, not finished, and a period above zero (the request's, else the pod's
    /// terminationGracePeriodSeconds, else 30 s).
    fn grace_period(&self, obj: &Value, options: &DeleteOptions) -> Option<i64> {
        let bound = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        let period = options
            .grace_period_seconds
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30);
        (bound && !finished && period > 0).then_some(period)
    }
}

/// A deleted namespace becomes Terminating; the namespace controller empties it and removes
/// its `kubernetes` finalizer, which completes the delete.
struct NamespaceHooks;

impl Hooks for NamespaceHooks {
    fn mark_on_delete(&self, obj: &mut Value) -> bool {
        obj["status"] = json!({"phase": "Terminating"});
        true
    }
}

/// The hooks of every resource, by group and plural.
#[derive(Clone)]
pub struct HookTable(HashMap<(&'static str, &'static str), Arc<dyn Hooks>>);

impl HookTable {
    /// The built-in resources' hooks.
    pub fn builtin() -> Self {
        let mut table = HookTable(HashMap::new());
        table.set("", "pods", Arc::new(PodHooks));
        table.set("", "namespaces", Arc::new(NamespaceHooks));
        table
    }

    /// Gives the resource `group`/`plural` these hooks.
    pub fn set(&mut self, group: &'static str, plural: &'static str, hooks: Arc<dyn Hooks>) {
        self.0.insert((group, plural), hooks);
    }

    /// The hooks of `info`'s resource.
    pub fn of(&self, info: &ResourceInfo) -> &dyn Hooks {
        self.0
            .get(&(info.group, info.plural))
            .map_or(&NoHooks as &dyn Hooks, |hooks| hooks.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::registry::{CreateOptions, testing};

    /// Hooks that record what they saw, and allocate a "ticket" annotation on create.
    #[derive(Default)]
    struct Recording {
        deleted: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Hooks for Recording {
        async fn before_create(&self, _: &Storage<'_>, obj: &mut Value) -> Result<(), ApiError> {
            if ferrokube_api::meta::name(obj) == "refused" {
                return Err(ApiError::bad_request("no ticket left"));
            }
            obj["metadata"]["annotations"] = json!({"ticket": "7"});
            Ok(())
        }

        async fn after_delete(&self, _: &Storage<'_>, obj: &Value) {
            let name = ferrokube_api::meta::name(obj).to_owned();
            self.deleted.lock().unwrap().push(name);
        }
    }

    #[tokio::test]
    async fn create_and_delete_run_the_resource_hooks() {
        let recording = Arc::new(Recording::default());
        let hooks = recording.clone();
        let server = testing::server_with(|table| table.set("", "configmaps", hooks)).await;
        let storage = Storage::of(&server.inner, "", "v1", "configmaps");
        let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        let created = storage
            .create(Some("default"), cm("one"), &CreateOptions::default())
            .await
            .unwrap();
        assert_eq!(created["metadata"]["annotations"]["ticket"], "7");
        let stored = storage.get(Some("default"), "one").await.unwrap().object;
        assert_eq!(stored["metadata"]["annotations"]["ticket"], "7");
        let refused = storage
            .create(Some("default"), cm("refused"), &CreateOptions::default())
            .await
            .unwrap_err();
        assert_eq!(refused.message, "no ticket left");
        assert!(
            storage
                .find(Some("default"), "refused")
                .await
                .unwrap()
                .is_none()
        );

        // A plain delete, and a delete completed by removing the last finalizer.
        storage
            .delete(Some("default"), "one", &Default::default())
            .await
            .unwrap();
        let mut kept = cm("kept");
        kept["metadata"]["finalizers"] = json!(["example.com/wait"]);
        storage
            .create(Some("default"), kept, &CreateOptions::default())
            .await
            .unwrap();
        storage
            .delete(Some("default"), "kept", &Default::default())
            .await
            .unwrap();
        assert_eq!(*recording.deleted.lock().unwrap(), ["one"]);
        let options = crate::registry::UpdateOptions::new(
            crate::registry::Target::Main,
            "test".into(),
            false,
        );
        storage
            .update(Some("default"), "kept", &options, |current| {
                let mut obj = current.cloned().unwrap();
                obj["metadata"]["finalizers"] = json!([]);
                Ok(obj)
            })
            .await
            .unwrap();
        assert!(
            storage
                .find(Some("default"), "kept")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(*recording.deleted.lock().unwrap(), ["one", "kept"]);
    }

    fn pod(node: Option<&str>, phase: Option<&str>, grace: Option<i64>) -> Value {
        let mut pod = json!({"spec": {}, "status": {}});
        if let Some(node) = node {
            pod["spec"]["nodeName"] = json!(node);
        }
        if let Some(phase) = phase {
            pod["status"]["phase"] = json!(phase);
        }
        if let Some(grace) = grace {
            pod["spec"]["terminationGracePeriodSeconds"] = json!(grace);
        }
        pod
    }

    #[test]
    fn pod_grace_period_table() {
        let now = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        let default = DeleteOptions::default();
        let cases = [
            ("unbound", pod(None, None, None), &default, None),
            ("bound", pod(Some("n"), None, None), &default, Some(30)),
            (
                "the pod's own period",
                pod(Some("n"), None, Some(5)),
                &default,
                Some(5),
            ),
            ("the request's 0", pod(Some("n"), None, Some(5)), &now, None),
            (
                "finished",
                pod(Some("n"), Some("Succeeded"), None),
                &default,
                None,
            ),
        ];
        for (what, obj, options, want) in cases {
            assert_eq!(PodHooks.grace_period(&obj, options), want, "{what}");
        }
    }
}
