//! PUT of an object, its `status` or a namespace's `finalize`: decode the body, check its
//! name, and update through the registry (which keeps the server-owned fields and checks the
//! body's resourceVersion).

use axum::response::Response;
use ferrokube_api::{ApiError, meta};
use serde_json::Value;

use super::Call;
use super::decode::decode_object;
use crate::registry::{Target, UpdateOptions};
use crate::response::{json, with_warnings};

pub async fn update(call: Call<'_>, target: Target) -> Result<Response, ApiError> {
    let options = UpdateOptions::new(target, call.field_manager(), call.query.dry_run()?);
    let body = decode_object(&call, call.info)?;
    check_name(&call, &body.object)?;
    let updated = call
        .storage()
        .update(call.key_namespace(), call.name(), &options, |_| {
            Ok(body.object.clone())
        })
        .await?;
    Ok(with_warnings(json(200, &updated.object), &body.warnings))
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
