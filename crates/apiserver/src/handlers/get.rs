//! GET of one object (and of its `status` subresource, which reads the same).

use axum::response::Response;
use ferrokube_api::ApiError;
use ferrokube_store::Revision;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Call;
use crate::Inner;
use crate::object::{from_stored, parse_resource_version};
use crate::response::{json, wants_table};
use crate::store_error;
use ferrokube_api::registry::ResourceInfo;

/// Reads the current object, or 404.
pub async fn read(
    call: &Call<'_>,
    revision: Option<Revision>,
) -> Result<(Value, Revision), ApiError> {
    read_object(
        call.server,
        call.info,
        call.key_namespace(),
        call.name(),
        revision,
    )
    .await
}

/// Reads an object of any resource (`info`), or 404.
pub async fn read_object(
    server: &Inner,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
    revision: Option<Revision>,
) -> Result<(Value, Revision), ApiError> {
    let got = server
        .store
        .get(&info.key(namespace, name), revision)
        .await
        .map_err(|e| store_error(e, &info.group_resource(), name))?;
    let kv = got
        .kv
        .ok_or_else(|| ApiError::not_found(&info.group_resource(), name))?;
    Ok((from_stored(info, &kv)?, kv.mod_revision))
}

pub async fn get(call: Call<'_>) -> Result<Response, ApiError> {
    // Any resourceVersion is satisfied by the current state ("not older than"), once valid.
    if let Some(rv) = call.query.get("resourceVersion") {
        parse_resource_version(rv)?;
    }
    let (object, revision) = read(&call, None).await?;
    if wants_table(call.headers) {
        let rv = json!({"resourceVersion": revision.0.to_string()});
        return Ok(json(
            200,
            &super::list::table_of(&call, &[object], rv, Timestamp::now()),
        ));
    }
    Ok(json(200, &object))
}
