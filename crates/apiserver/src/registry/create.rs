//! Create: namespace and generateName, the system fields (uid, creationTimestamp,
//! generation, cleared status) and defaults, managed fields, admission, validation, and the
//! store — or, for a dry run, only the answer as if stored.

use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, meta};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Storage, Writer};
use crate::admission::Operation;
use crate::object::{random_suffix, set_resource_version, timestamp, to_stored};

/// The options of a create.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub dry_run: bool,
    /// The field manager; `None` leaves managedFields as the object has them (an apply sets
    /// its own entries).
    pub field_manager: Option<String>,
}

/// Sets what the server owns on a new object: uid, creationTimestamp, generation, cleared
/// status, and the resource's defaults.
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value) {
    let strategy = &info.strategy;
    {
        let metadata = meta::metadata_mut(obj);
        metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        metadata.insert(
            "creationTimestamp".into(),
            json!(timestamp(Timestamp::now())),
        );
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            metadata.remove(field);
        }
        if strategy.generation() == ferrokube_api::strategy::Generation::Untracked {
            metadata.remove("generation");
        } else {
            metadata.insert("generation".into(), json!(1));
        }
    }
    if strategy.has_status()
        && !strategy.keeps_status_on_create()
        && let Some(map) = obj.as_object_mut()
    {
        map.remove("status");
    }
    strategy.default(obj);
    if strategy.has_status()
        && let Some(map) = obj.as_object_mut()
    {
        // Upstream's status is a struct, printed as `status: {}` until a controller fills it.
        map.entry("status").or_insert_with(|| json!({}));
    }
}

/// Puts the request's namespace on the object; a different one in the body is a 400.
fn set_namespace(namespace: Option<&str>, obj: &mut Value) -> Result<(), ApiError> {
    match namespace {
        Some(ns) => match meta::namespace(obj) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            _ => {
                meta::set(obj, "namespace", Some(json!(ns)));
                Ok(())
            }
        },
        None => {
            meta::set(obj, "namespace", None);
            Ok(())
        }
    }
}

/// Gives an object without a name one made of its `generateName` and a random suffix.
fn generate_name(obj: &mut Value) {
    if meta::name(obj).is_empty()
        && let Some(prefix) = meta::get_str(obj, "generateName").map(str::to_owned)
    {
        meta::set(
            obj,
            "name",
            Some(json!(format!("{prefix}{}", random_suffix()))),
        );
    }
}

impl Storage<'_> {
    /// Creates `obj` in `namespace`; answers the object as stored (or as it would be).
    pub async fn create(
        &self,
        namespace: Option<&str>,
        mut obj: Value,
        options: &CreateOptions,
    ) -> Result<Value, ApiError> {
        let info = self.info;
        let namespace = self.key_namespace(namespace);
        set_namespace(namespace, &mut obj)?;
        generate_name(&mut obj);
        prepare_create(info, &mut obj);
        meta::prune_empty(&mut obj);
        if let Some(manager) = &options.field_manager {
            Writer::new(self.inner, info, manager).record("", None, &mut obj);
        }
        let name = meta::name(&obj).to_owned();
        let attributes = self.attributes(Operation::Create, namespace, &name);
        self.admit(attributes).await?;
        self.inner
            .admission
            .mutate(&attributes, &mut obj, self.inner)
            .await?;
        if !options.dry_run {
            self.hooks().before_create(self, &mut obj).await?;
        }
        let errors = info.strategy.validate(&obj, info.namespaced());
        if !errors.is_empty() {
            return Err(ApiError::invalid(info.kind, info.group, &name, &errors));
        }
        if options.dry_run {
            if self.find(namespace, &name).await?.is_some() {
                return Err(ApiError::already_exists(&self.resource(), &name));
            }
            return Ok(obj);
        }
        let written = self
            .store()
            .create(&self.key(namespace, &name), to_stored(info, &obj))
            .await
            .map_err(|e| self.error(e, &name))?;
        set_resource_version(&mut obj, written.revision);
        Ok(obj)
    }

    /// Creates `obj` unless an object of its name exists; `true` when it was created.
    pub async fn create_if_missing(
        &self,
        namespace: Option<&str>,
        obj: Value,
    ) -> Result<bool, ApiError> {
        match self.create(namespace, obj, &CreateOptions::default()).await {
            Ok(_) => Ok(true),
            Err(err) if err.reason == "AlreadyExists" => Ok(false),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    fn configmap(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}})
    }

    #[tokio::test]
    async fn create_table() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "", "v1", "configmaps");
        let manager = CreateOptions {
            field_manager: Some("test".into()),
            ..CreateOptions::default()
        };
        let dry = CreateOptions {
            dry_run: true,
            ..CreateOptions::default()
        };
        let mut generated = configmap("");
        generated["metadata"]["generateName"] = json!("gen-");
        let mut other_ns = configmap("x");
        other_ns["metadata"]["namespace"] = json!("kube-system");
        // (what, namespace, object, options, expected code or 0 for success)
        let cases: Vec<(&str, &str, Value, &CreateOptions, u16)> = vec![
            ("plain", "default", configmap("one"), &manager, 0),
            ("again", "default", configmap("one"), &manager, 409),
            (
                "dry run of a new name",
                "default",
                configmap("two"),
                &dry,
                0,
            ),
            (
                "dry run of a taken name",
                "default",
                configmap("one"),
                &dry,
                409,
            ),
            ("generateName", "default", generated, &manager, 0),
            ("no namespace", "nowhere", configmap("x"), &manager, 404),
            (
                "another namespace in the body",
                "default",
                other_ns,
                &manager,
                400,
            ),
            (
                "invalid name",
                "default",
                configmap("Not_Valid"),
                &manager,
                422,
            ),
        ];
        for (what, ns, obj, options, code) in cases {
            let result = storage.create(Some(ns), obj, options).await;
            match (result, code) {
                (Ok(created), 0) => {
                    assert!(meta::get_str(&created, "uid").is_some(), "{what}");
                    assert_eq!(meta::namespace(&created), Some(ns), "{what}");
                    let stored = storage.find(Some(ns), meta::name(&created)).await.unwrap();
                    assert_eq!(stored.is_some(), !options.dry_run, "{what}");
                }
                (Err(err), code) => assert_eq!(err.code, code, "{what}: {err:?}"),
                (Ok(created), code) => panic!("{what}: created {created}, expected {code}"),
            }
        }
        let one = storage.get(Some("default"), "one").await.unwrap();
        assert_eq!(
            one.object["metadata"]["managedFields"][0]["manager"],
            "test"
        );
        assert!(
            storage
                .find(Some("default"), "two")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_terminating_namespace_refuses_creates() {
        let server = testing::server().await;
        let namespaces = Storage::of(&server.inner, "", "v1", "namespaces");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}});
        namespaces
            .create(None, ns, &CreateOptions::default())
            .await
            .unwrap();
        namespaces
            .delete(None, "going", &Default::default())
            .await
            .unwrap();
        let storage = Storage::of(&server.inner, "", "v1", "configmaps");
        let err = storage
            .create(Some("going"), configmap("late"), &CreateOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "configmaps \"late\" is forbidden: unable to create new content in namespace going because it is being terminated"
        );
    }
}
