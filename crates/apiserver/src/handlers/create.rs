//! POST: decode the body, create it through the registry, answer 201.

use axum::response::Response;
use ferrokube_api::ApiError;

use super::Call;
use super::decode::decode_object;
use crate::registry::CreateOptions;
use crate::response::{json, with_warnings};

pub async fn create(call: Call<'_>) -> Result<Response, ApiError> {
    let options = CreateOptions {
        dry_run: call.query.dry_run()?,
        field_manager: Some(call.field_manager()),
    };
    let body = decode_object(&call, call.info)?;
    let created = call
        .storage()
        .create(call.key_namespace(), body.object, &options)
        .await?;
    Ok(with_warnings(json(201, &created), &body.warnings))
}
