//! PATCH of an object, its `status` or its `scale`: JSON patch, merge patch and strategic
//! merge patch applied to the current object, then the same checks and write as an update.
//! Patches carry no resourceVersion precondition of their own, so a write that loses a race
//! is retried on the new current object, as upstream's update loop does.

use axum::http::header;
use axum::response::Response;
use ferrokube_api::ApiError;
use ferrokube_api::fields::{ApplyConflict, server_side_apply};
use ferrokube_api::patch::{PatchError, Schemas, json_patch, merge_patch, strategic_merge};
use serde_json::Value;

use super::Call;
use super::decode::decode_value;
use super::get::read;
use super::subresources::{scale_of, scaled};
use super::update::{Managed, Target, check_name, commit_update};
use crate::response::{json, with_warnings};

/// Attempts before a patch that keeps losing races gives up with 409.
const ATTEMPTS: usize = 5;

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
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        match attempt(&call, target, kind, &body, dry_run).await {
            Err(err)
                if err.code == 409 && err.reason == "Conflict" && !sets_resource_version(&body) =>
            {
                last_error = Some(err)
            }
            other => return other,
        }
    }
    Err(last_error.expect("at least one attempt"))
}

/// Whether the patch itself names a resourceVersion (then a conflict is the client's to see).
fn sets_resource_version(patch: &Value) -> bool {
    patch.pointer("/metadata/resourceVersion").is_some()
        || patch.as_array().is_some_and(|ops| {
            ops.iter()
                .any(|op| op["path"] == "/metadata/resourceVersion")
        })
}

async fn attempt(
    call: &Call<'_>,
    target: PatchTarget,
    kind: PatchKind,
    body: &Value,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let (old, revision) = read(call, None).await?;
    let schemas = &call.server.schemas;
    let bad_patch = |e: PatchError| ApiError::bad_request(e.0);
    if target == PatchTarget::Scale {
        let current = scale_of(&old);
        let patched = kind
            .apply(&current, body, schemas, "io.k8s.api.autoscaling.v1.Scale")
            .map_err(bad_patch)?;
        let new = scaled(call, &old, &patched)?;
        let managed = Managed::Record {
            subresource: "scale",
        };
        let stored =
            commit_update(call, Target::Main, new, old, revision, dry_run, managed).await?;
        return Ok(json(200, &scale_of(&stored)));
    }
    let root = call.server.schemas.root_of(call.info);
    let patched = kind.apply(&old, body, schemas, root).map_err(bad_patch)?;
    let decoded = decode_value(call, call.info, patched)?;
    check_name(call, &decoded.object)?;
    let update_target = if target == PatchTarget::Status {
        Target::Status
    } else {
        Target::Main
    };
    let subresource = if target == PatchTarget::Status {
        "status"
    } else {
        ""
    };
    let managed = Managed::Record { subresource };
    let stored = commit_update(
        call,
        update_target,
        decoded.object,
        old,
        revision,
        dry_run,
        managed,
    )
    .await?;
    Ok(with_warnings(json(200, &stored), &decoded.warnings))
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
    let applied: Value = serde_yaml_ng::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    let applied = decode_value(call, call.info, applied)?;
    check_name(call, &applied.object)?;
    let force = call.query.flag("force");
    let subresource = if target == PatchTarget::Status {
        "status"
    } else {
        ""
    };
    let writer = super::Writer::new(call, manager);
    let actor = writer.actor(subresource);
    let live = match read(call, None).await {
        Ok(found) => Some(found),
        Err(err) if err.code == 404 && target == PatchTarget::Main => None,
        Err(err) => return Err(err),
    };
    let merged = server_side_apply(
        &actor,
        live.as_ref().map(|(obj, _)| obj),
        &applied.object,
        force,
    )
    .map_err(|conflict| apply_conflict(call, &conflict))?;
    let (status, stored) = match live {
        Some((old, revision)) => {
            let update_target = if target == PatchTarget::Status {
                Target::Status
            } else {
                Target::Main
            };
            (
                200,
                commit_update(
                    call,
                    update_target,
                    merged,
                    old,
                    revision,
                    dry_run,
                    Managed::Applied,
                )
                .await?,
            )
        }
        None => (
            201,
            super::create::create_object(call, merged, dry_run, false).await?,
        ),
    };
    Ok(with_warnings(json(status, &stored), &applied.warnings))
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
