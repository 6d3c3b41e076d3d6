//! Updates through one guaranteed update, as upstream's `GuaranteedUpdate`: read the current
//! object, apply the request's change to it, compare-and-swap, and on a lost race do it all
//! again on the new current object. A request that pinned a resourceVersion (a PUT carrying
//! one, a patch setting one) then fails its precondition with 409; one that did not (a
//! patch, an apply, a scale without one) simply wins on the next round.
//!
//! An update also keeps the server-owned metadata, bumps generation on spec changes, writes
//! only `status` through `/status`, records managed fields, validates, skips no-op writes,
//! and completes a delete whose last finalizer it removed.

use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, meta};
use ferrokube_store::StoreError;
use serde_json::Value;

use super::{CreateOptions, Storage, Stored, Writer, finalized};
use crate::admission::Operation;
use crate::object::{parse_resource_version, set_resource_version, to_stored};

/// Rounds of a guaranteed update before it gives up with 409 (upstream retries without
/// bound; a bound keeps a livelocked request from running forever).
const ATTEMPTS: usize = 100;

/// Which part of the object an update writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Main,
    Status,
    /// A namespace's `finalize`: only `spec.finalizers`.
    Finalize,
}

impl Target {
    /// The subresource managed fields are recorded against.
    fn subresource(self) -> &'static str {
        match self {
            Target::Main => "",
            Target::Status => "status",
            Target::Finalize => "finalize",
        }
    }
}

/// How an update keeps `managedFields`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Managed {
    /// Record the writer's changes (PUT, PATCH) against the target's subresource.
    Record,
    /// Record them against `scale`.
    RecordScale,
    /// The new object already carries its entries (server-side apply).
    Applied,
}

/// The options of an update.
#[derive(Clone, Debug)]
pub struct UpdateOptions {
    pub dry_run: bool,
    pub field_manager: String,
    pub target: Target,
    pub managed: Managed,
    /// Create the object when it does not exist (server-side apply).
    pub create_missing: bool,
}

impl UpdateOptions {
    pub fn new(target: Target, field_manager: String, dry_run: bool) -> Self {
        UpdateOptions {
            dry_run,
            field_manager,
            target,
            managed: Managed::Record,
            create_missing: false,
        }
    }
}

/// The outcome of an update: the object as stored, and whether it was created.
#[derive(Debug)]
pub struct Updated {
    pub object: Value,
    pub created: bool,
}

/// Metadata fields only the server sets; an update keeps the stored values.
const SERVER_OWNED: [&str; 5] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

/// The object an update stores, given the request's object and the stored one.
///
/// Example (Main, Deployment): the request changes `spec.replicas` and `status.replicas`;
/// the result has the new `spec.replicas`, the stored `status`, and generation + 1.
pub fn plan_update(info: &ResourceInfo, target: Target, mut new: Value, old: &Value) -> Value {
    let strategy = &info.strategy;
    if target == Target::Finalize {
        let mut result = old.clone();
        result["spec"]["finalizers"] = new
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new()));
        return result;
    }
    if target == Target::Status {
        let mut result = old.clone();
        if strategy.status_writes_annotations() {
            let annotations = new.pointer("/metadata/annotations").cloned();
            meta::set(&mut result, "annotations", annotations);
        }
        result["status"] = new
            .get("status")
            .filter(|s| !s.is_null())
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        return result;
    }
    for field in SERVER_OWNED {
        meta::set(
            &mut new,
            field,
            old.get("metadata").and_then(|m| m.get(field)).cloned(),
        );
    }
    meta::set(
        &mut new,
        "namespace",
        old.get("metadata")
            .and_then(|m| m.get("namespace"))
            .cloned(),
    );
    if strategy.has_status() {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    strategy.default(&mut new);
    if strategy.generation().bumps(&new, old) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        meta::set(&mut new, "generation", Some(generation.into()));
    }
    new
}

/// What one round of a guaranteed update came to.
enum Round {
    Written(Value),
    /// The object does not exist.
    Missing,
    /// Another write landed between the read and the write.
    Lost,
}

impl Storage<'_> {
    /// Updates `name` with `change`, which turns the current object (`None` when it does not
    /// exist and `create_missing` is set) into the one the request asks for.
    pub async fn update<F>(
        &self,
        namespace: Option<&str>,
        name: &str,
        options: &UpdateOptions,
        mut change: F,
    ) -> Result<Updated, ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        for _ in 0..ATTEMPTS {
            let round = self
                .update_round(namespace, name, options.dry_run, |current| {
                    let new = change(Some(&current.object))?;
                    self.plan(name, options, new, current)
                })
                .await?;
            match round {
                Round::Written(object) => {
                    return Ok(Updated {
                        object,
                        created: false,
                    });
                }
                Round::Lost => continue,
                Round::Missing if !options.create_missing => {
                    return Err(ApiError::not_found(&self.resource(), name));
                }
                Round::Missing => {}
            }
            let create = CreateOptions {
                dry_run: options.dry_run,
                field_manager: (options.managed != Managed::Applied)
                    .then(|| options.field_manager.clone()),
            };
            match self.create(namespace, change(None)?, &create).await {
                // Created by someone else meanwhile: update it on the next round.
                Err(err) if err.reason == "AlreadyExists" => continue,
                created => {
                    return created.map(|object| Updated {
                        object,
                        created: true,
                    });
                }
            }
        }
        Err(ApiError::conflict(&self.resource(), name))
    }

    /// The request's object made ready to store over `current`: its precondition, the
    /// strategy's update rules, managed fields and validation.
    fn plan(
        &self,
        name: &str,
        options: &UpdateOptions,
        new: Value,
        current: &Stored,
    ) -> Result<Value, ApiError> {
        let info = self.info;
        let precondition = meta::get_str(&new, "resourceVersion")
            .map(parse_resource_version)
            .transpose()?;
        if precondition.is_some_and(|rv| rv != current.revision) {
            return Err(ApiError::conflict(&self.resource(), name));
        }
        let old = &current.object;
        let mut new = plan_update(info, options.target, new, old);
        meta::prune_empty(&mut new);
        meta::set(&mut new, "name", Some(name.into()));
        let subresource = match options.managed {
            Managed::Record => Some(options.target.subresource()),
            Managed::RecordScale => Some("scale"),
            Managed::Applied => None,
        };
        if let Some(subresource) = subresource {
            let entries = old.pointer("/metadata/managedFields").cloned();
            meta::set(&mut new, "managedFields", entries);
            Writer::new(self.inner, info, &options.field_manager).record(
                subresource,
                Some(old),
                &mut new,
            );
        }
        let errors = info.strategy.validate_update(&new, old, info.namespaced());
        if !errors.is_empty() {
            return Err(ApiError::invalid(info.kind, info.group, name, &errors));
        }
        Ok(new)
    }

    /// Writes `name` with `try_update`, the lowest level: whatever `try_update` returns is
    /// stored as it is (the binding subresource's way), retried on a lost race.
    pub async fn guaranteed_update<F>(
        &self,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        mut try_update: F,
    ) -> Result<Value, ApiError>
    where
        F: FnMut(&Stored) -> Result<Value, ApiError>,
    {
        for _ in 0..ATTEMPTS {
            match self
                .update_round(namespace, name, dry_run, &mut try_update)
                .await?
            {
                Round::Written(object) => return Ok(object),
                Round::Missing => return Err(ApiError::not_found(&self.resource(), name)),
                Round::Lost => continue,
            }
        }
        Err(ApiError::conflict(&self.resource(), name))
    }

    /// One round: read, change, compare-and-swap. An unchanged object is not written; one
    /// whose deletion waited only for the finalizers the change removed is deleted.
    async fn update_round<F>(
        &self,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        mut try_update: F,
    ) -> Result<Round, ApiError>
    where
        F: FnMut(&Stored) -> Result<Value, ApiError>,
    {
        let Some(current) = self.find(namespace, name).await? else {
            return Ok(Round::Missing);
        };
        let mut new = try_update(&current)?;
        self.admit(self.attributes(Operation::Update, namespace, name))
            .await?;
        set_resource_version(&mut new, current.revision);
        let finished = finalized(&new);
        if dry_run || (new == current.object && !finished) {
            return Ok(Round::Written(new));
        }
        let key = self.key(namespace, name);
        let written = if finished {
            self.store().delete(&key, Some(current.revision)).await
        } else {
            let bytes = to_stored(self.info, &new);
            self.store().update(&key, bytes, current.revision).await
        };
        match written {
            Ok(written) => {
                set_resource_version(&mut new, written.revision);
                if finished {
                    self.hooks().after_delete(self, &new).await;
                }
                Ok(Round::Written(new))
            }
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => Ok(Round::Lost),
            Err(err) => Err(self.error(err, name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::testing;

    fn deployment(replicas: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}
                }
            },
            "status": {"replicas": 9}
        })
    }

    #[tokio::test]
    async fn update_table() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "apps", "v1", "deployments");
        let created = storage
            .create(Some("default"), deployment(1), &CreateOptions::default())
            .await
            .unwrap();
        let rv = meta::get_str(&created, "resourceVersion")
            .unwrap()
            .to_owned();
        let main = UpdateOptions::new(Target::Main, "test".into(), false);
        let status = UpdateOptions::new(Target::Status, "test".into(), false);
        let with_rv = |replicas: i64, rv: &str| {
            let mut d = deployment(replicas);
            d["metadata"]["resourceVersion"] = json!(rv);
            d
        };
        // (what, options, the request's object, expected code or 0, expected replicas after)
        let cases: Vec<(&str, &UpdateOptions, Value, u16, i64)> = vec![
            ("a PUT at the current version", &main, with_rv(2, &rv), 0, 2),
            ("a PUT at a stale version", &main, with_rv(3, &rv), 409, 2),
            ("a PUT without a version", &main, deployment(4), 0, 4),
            ("invalid", &main, deployment(-1), 422, 4),
            ("status only writes status", &status, deployment(7), 0, 4),
        ];
        for (what, options, obj, code, replicas) in cases {
            let result = storage
                .update(Some("default"), "web", options, |_| Ok(obj.clone()))
                .await;
            match (result, code) {
                (Ok(_), 0) => {}
                (Err(err), code) => assert_eq!(err.code, code, "{what}: {err:?}"),
                (Ok(updated), code) => panic!("{what}: {:?}, expected {code}", updated.object),
            }
            let now = storage.get(Some("default"), "web").await.unwrap().object;
            assert_eq!(now["spec"]["replicas"], replicas, "{what}");
        }
        let now = storage.get(Some("default"), "web").await.unwrap().object;
        assert_eq!(now["status"]["replicas"], 9, "the status PUT's status");
        assert_eq!(now["metadata"]["generation"], 3, "two spec changes");
        let missing = storage
            .update(Some("default"), "nope", &main, |_| Ok(deployment(1)))
            .await
            .unwrap_err();
        assert_eq!(missing.code, 404);
    }

    #[tokio::test]
    async fn a_change_that_loses_a_race_is_made_again_on_the_new_object() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "apps", "v1", "deployments");
        storage
            .create(Some("default"), deployment(1), &CreateOptions::default())
            .await
            .unwrap();
        let options = UpdateOptions::new(Target::Main, "test".into(), false);
        let mut rounds = 0;
        let updated = storage
            .update(Some("default"), "web", &options, |current| {
                rounds += 1;
                let mut new = current.cloned().unwrap();
                new["spec"]["replicas"] = json!(new["spec"]["replicas"].as_i64().unwrap() + 10);
                Ok(new)
            })
            .await
            .unwrap();
        assert_eq!(rounds, 1);
        assert_eq!(updated.object["spec"]["replicas"], 11);

        // A write from elsewhere between this update's read and its write: the second round
        // reads it and adds to it instead of failing with 409.
        let inner = &server.inner;
        let mut rounds = 0;
        let mut interfere = true;
        let racing = storage.update(Some("default"), "web", &options, |current| {
            rounds += 1;
            let mut new = current.cloned().unwrap();
            new["spec"]["replicas"] = json!(new["spec"]["replicas"].as_i64().unwrap() + 10);
            if std::mem::take(&mut interfere) {
                // Simulate the other writer by bumping the stored object directly.
                let key = storage.key(Some("default"), "web");
                let mut other = current.cloned().unwrap();
                other["spec"]["replicas"] = json!(100);
                let store = inner.backend.0.clone();
                let bytes = to_stored(storage.info, &other);
                std::thread::spawn(move || {
                    tokio::runtime::Runtime::new().unwrap().block_on(async {
                        let got = store.get(&key, None).await.unwrap().kv.unwrap();
                        store.update(&key, bytes, got.mod_revision).await.unwrap();
                    })
                })
                .join()
                .unwrap();
            }
            Ok(new)
        });
        let updated = racing.await.unwrap();
        assert_eq!(rounds, 2);
        assert_eq!(updated.object["spec"]["replicas"], 110);
    }

    #[tokio::test]
    async fn create_missing_creates_once() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "apps", "v1", "deployments");
        let mut options = UpdateOptions::new(Target::Main, "applier".into(), false);
        options.create_missing = true;
        let first = storage
            .update(Some("default"), "web", &options, |_| Ok(deployment(2)))
            .await
            .unwrap();
        assert!(first.created);
        let second = storage
            .update(Some("default"), "web", &options, |_| Ok(deployment(3)))
            .await
            .unwrap();
        assert!(!second.created);
        assert_eq!(second.object["spec"]["replicas"], 3);
    }
}
