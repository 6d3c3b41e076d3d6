//! PATCH of an object, its `status` or its `scale`: JSON patch, merge patch, strategic merge
//! patch and server-side apply, each a change the registry's guaranteed update makes to the
//! current object. A patch carries no resourceVersion precondition unless it sets one, so a
//! write that loses a race is made again on the new current object, as upstream's is.

use axum::http::header;
use axum::response::Response;
use ferrokube_api::ApiError;
use ferrokube_api::fields::{ApplyConflict, server_side_apply};
use ferrokube_api::patch::{
    PatchError, PatchErrorKind, Schemas, json_patch, merge_patch, strategic_merge,
};
use ferrokube_api::registry::ResourceInfo;
use serde_json::Value;

use super::Call;
use super::decode::decode_value;
use super::subresources::{scale_of, scaled};
use super::update::check_name;
use crate::registry::{Managed, Target, UpdateOptions, Writer};
use crate::response::{json, with_warnings};

/// The kinds of patch, by Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            other => Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                ),
                details: None,
            }),
        }
    }

    /// Applies a patch of this kind to `original`, whose schema is `root`.
    pub fn apply(
        self,
        original: &Value,
        patch: &Value,
        schemas: &Schemas,
        root: &str,
    ) -> Result<Value, PatchError> {
        match self {
            PatchKind::Json => json_patch(original, patch),
            PatchKind::Merge => merge_patch(original, patch),
            PatchKind::Strategic => strategic_merge(original, patch, schemas, root),
        }
    }
}

/// What a PATCH addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchTarget {
    Main,
    Status,
    Scale,
}

pub async fn patch(call: Call<'_>, target: PatchTarget) -> Result<Response, ApiError> {
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let dry_run = call.query.dry_run()?;
    if content_type.starts_with("application/apply-patch+yaml") {
        return apply(&call, target, dry_run).await;
    }
    let kind = PatchKind::from_content_type(content_type)?;
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let schemas = &call.server.schemas;
    let bad_patch = |e: PatchError| match e.kind {
        PatchErrorKind::BadRequest => ApiError::bad_request(e.message),
        PatchErrorKind::TooLarge => ApiError::too_large_because(&e.message),
        PatchErrorKind::Unprocessable => {
            tracing::debug!(error = %e.message, "JSON patch did not apply");
            ApiError::patch_not_applied()
        }
    };
    let update_target = if target == PatchTarget::Status {
        Target::Status
    } else {
        Target::Main
    };
    let mut options = UpdateOptions::new(update_target, call.field_manager(), dry_run);
    if target == PatchTarget::Scale {
        options.managed = Managed::RecordScale;
        let updated = call
            .storage()
            .update(call.key_namespace(), call.name(), &options, |current| {
                let old = current.expect("an update's object exists");
                let patched = kind
                    .apply(
                        &scale_of(old),
                        &body,
                        schemas,
                        "io.k8s.api.autoscaling.v1.Scale",
                    )
                    .map_err(bad_patch)?;
                scaled(call.name(), old, &patched)
            })
            .await?;
        return Ok(json(200, &scale_of(&updated.object)));
    }
    let root = schemas.root_of(call.info);
    let mut warnings = Vec::new();
    let updated = call
        .storage()
        .update(call.key_namespace(), call.name(), &options, |current| {
            let old = current.expect("an update's object exists");
            let patched = kind.apply(old, &body, schemas, root).map_err(bad_patch)?;
            let decoded = decode_value(&call, call.info, patched)?;
            check_name(&call, &decoded.object)?;
            warnings = decoded.warnings;
            Ok(decoded.object)
        })
        .await?;
    Ok(with_warnings(json(200, &updated.object), &warnings))
}

/// Server-side apply (`application/apply-patch+yaml`): merge the applied configuration under
/// the field manager's ownership, creating the object when it does not exist.
async fn apply(call: &Call<'_>, target: PatchTarget, dry_run: bool) -> Result<Response, ApiError> {
    if target == PatchTarget::Scale {
        return Err(ApiError::method_not_supported(&call.resource(), "apply"));
    }
    let Some(manager) = call.query.get("fieldManager").map(str::to_owned) else {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
        ));
    };
    // sigs.k8s.io/yaml's Unmarshal wraps YAMLToJSON's error once more.
    let applied: Value = super::decode::from_yaml(&call.body).map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding YAML: error converting YAML to JSON: {e}"
        ))
    })?;
    check_apply_type(call.info, &applied)?;
    let applied = decode_value(call, call.info, applied)?;
    check_name(call, &applied.object)?;
    let force = call.query.flag("force");
    let (update_target, subresource) = match target {
        PatchTarget::Status => (Target::Status, "status"),
        _ => (Target::Main, ""),
    };
    let mut options = UpdateOptions::new(update_target, manager.clone(), dry_run);
    options.managed = Managed::Applied;
    options.create_missing = target == PatchTarget::Main;
    let writer = Writer::new(call.server, call.info, &manager);
    let actor = writer.actor(subresource);
    let updated = call
        .storage()
        .update(call.key_namespace(), call.name(), &options, |live| {
            server_side_apply(&actor, live, &applied.object, force)
                .map_err(|conflict| apply_conflict(call, &conflict))
        })
        .await?;
    let status = if updated.created { 201 } else { 200 };
    Ok(with_warnings(
        json(status, &updated.object),
        &applied.warnings,
    ))
}

/// What upstream's field manager checks of an apply configuration before it merges it: the
/// version of the endpoint, a kind, and no managedFields of its own.
fn check_apply_type(info: &ResourceInfo, applied: &Value) -> Result<(), ApiError> {
    let text = |field: &str| applied.get(field).and_then(Value::as_str).unwrap_or("");
    let expected = info.api_version();
    if text("apiVersion") != expected {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {}, expected: {expected}",
            text("apiVersion")
        )));
    }
    if text("kind").is_empty() {
        let gvk = format!("{}/{}, Kind=", info.group, info.version);
        return Err(ApiError::bad_request(format!(
            "failed to create typed patch object ({gvk}): no corresponding type for {gvk}"
        )));
    }
    if applied.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    Ok(())
}

/// The 409 upstream answers an apply conflict with, one cause per field.
fn apply_conflict(call: &Call<'_>, conflict: &ApplyConflict) -> ApiError {
    let causes: Vec<Value> = conflict
        .conflicts
        .iter()
        .map(|(manager, field)| serde_json::json!({"type": "FieldManagerConflict", "message": format!("conflict with {manager}"), "field": field}))
        .collect();
    let mut details = call.resource().details(call.name());
    details["causes"] = Value::Array(causes);
    ApiError {
        code: 409,
        reason: "Conflict",
        message: conflict.message(),
        details: Some(details),
    }
}
