//! GET of one object (and of its `status` subresource, which reads the same).

use axum::response::Response;
use ferrokube_api::ApiError;
use jiff::Timestamp;
use serde_json::json;

use super::Call;
use crate::object::parse_resource_version;
use crate::response::{json, wants_table};

pub async fn get(call: Call<'_>) -> Result<Response, ApiError> {
    // Any resourceVersion is satisfied by the current state ("not older than"), once valid.
    if let Some(rv) = call.query.get("resourceVersion") {
        parse_resource_version(rv)?;
    }
    let stored = call
        .storage()
        .get(call.key_namespace(), call.name())
        .await?;
    if wants_table(call.headers) {
        let rv = json!({"resourceVersion": stored.revision.0.to_string()});
        return Ok(json(
            200,
            &super::list::table_of(&call, &[stored.object], rv, Timestamp::now())?,
        ));
    }
    Ok(json(200, &stored.object))
}
