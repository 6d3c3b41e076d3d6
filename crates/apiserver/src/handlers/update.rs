//! PUT of an object or of its `status`: resourceVersion precondition (409 Conflict), the
//! server-owned metadata kept, generation bumped on spec changes, main resource ignoring
//! status and `/status` ignoring everything else.

use axum::response::Response;
use ferrokube_api::{ApiError, meta};
use ferrokube_store::Revision;
use serde_json::Value;

use super::Call;
use super::decode::decode_object;
use super::get::read;
use crate::object::{parse_resource_version, set_resource_version, to_stored};
use crate::response::{json, with_warnings};
use crate::store_error;

/// Which part of the object a PUT writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Main,
    Status,
    /// A namespace's `finalize`: only `spec.finalizers`.
    Finalize,
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
pub fn plan_update(call: &Call<'_>, target: Target, mut new: Value, old: &Value) -> Value {
    let strategy = &call.info.strategy;
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

pub async fn update(call: Call<'_>, target: Target) -> Result<Response, ApiError> {
    let dry_run = call.query.dry_run()?;
    let body = decode_object(&call, call.info)?;
    check_name(&call, &body.object)?;
    let (old, revision) = read(&call, None).await?;
    let subresource = match target {
        Target::Status => "status",
        Target::Finalize => "finalize",
        Target::Main => "",
    };
    let managed = Managed::Record { subresource };
    let new = commit_update(&call, target, body.object, old, revision, dry_run, managed).await?;
    Ok(with_warnings(json(200, &new), &body.warnings))
}

/// How an update keeps `managedFields`.
#[derive(Clone, Copy, Debug)]
pub enum Managed<'a> {
    /// Record the writer's changes (PUT, PATCH) against this subresource (`""`, `status`, `scale`).
    Record { subresource: &'a str },
    /// The new object already carries its entries (server-side apply).
    Applied,
}

/// The name in a body must be the one in the URL.
pub fn check_name(call: &Call<'_>, obj: &Value) -> Result<(), ApiError> {
    let body_name = meta::name(obj);
    if body_name != call.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            call.name()
        )));
    }
    Ok(())
}

/// Writes `new` over `old` (stored at `revision`): precondition, server-owned fields,
/// generation, validation, no-op detection, and completing a finalized delete. Returns the
/// object as stored (or as it would be, for a dry run).
pub async fn commit_update(
    call: &Call<'_>,
    target: Target,
    new: Value,
    mut old: Value,
    revision: Revision,
    dry_run: bool,
    managed: Managed<'_>,
) -> Result<Value, ApiError> {
    let info = call.info;
    let precondition = meta::get_str(&new, "resourceVersion")
        .map(parse_resource_version)
        .transpose()?;
    if precondition.is_some_and(|rv| rv != revision) {
        return Err(ApiError::conflict(&call.resource(), call.name()));
    }
    let mut new = plan_update(call, target, new, &old);
    meta::prune_empty(&mut new);
    meta::set(&mut new, "name", Some(call.name().into()));
    if let Managed::Record { subresource } = managed {
        let entries = old.pointer("/metadata/managedFields").cloned();
        meta::set(&mut new, "managedFields", entries);
        super::record_managed_fields(call, subresource, Some(&old), &mut new);
    }
    let errors = info.strategy.validate_update(&new, &old, info.namespaced());
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            info.kind,
            info.group,
            call.name(),
            &errors,
        ));
    }
    set_resource_version(&mut new, revision);
    meta::set(
        &mut old,
        "resourceVersion",
        Some(revision.0.to_string().into()),
    );
    if dry_run || (new == old && !super::delete::finalized(&new)) {
        return Ok(new);
    }
    if super::delete::finalized(&new) {
        // The last finalizer of an object being deleted is gone: the update completes the delete.
        let deleted = call.server.store.delete(&call.key(), Some(revision)).await;
        let written = deleted.map_err(|e| store_error(e, &call.resource(), call.name()))?;
        set_resource_version(&mut new, written.revision);
        return Ok(new);
    }
    let written = write(call, &new, revision).await?;
    set_resource_version(&mut new, written);
    Ok(new)
}

/// Stores `obj` if the stored object is still at `revision`.
pub async fn write(call: &Call<'_>, obj: &Value, revision: Revision) -> Result<Revision, ApiError> {
    let written = call
        .server
        .store
        .update(&call.key(), to_stored(call.info, obj), revision)
        .await
        .map_err(|e| store_error(e, &call.resource(), call.name()))?;
    Ok(written.revision)
}
