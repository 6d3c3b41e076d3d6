//! GET of one object (and of its `status` subresource, which reads the same).

use axum::response::Response;
use ferrokube_api::ApiError;
use jiff::Timestamp;
use serde_json::json;

use super::Call;
use crate::object::parse_resource_version;
use crate::response::{json, wants_table};

pub async fn get(call: Call<'_>) -> Result<Response, ApiError> {
    // A resourceVersion asks for state not older than it: the store's current state, once it
    // has got there (a future one waits, then is upstream's 504); `0` is any state.
    if let Some(rv) = call.query.get("resourceVersion") {
        let rv = parse_resource_version(rv)?;
        if rv.0 > 0 {
            call.storage().wait_for_revision(rv).await?;
        }
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
