//! LIST: the registry's page of the selected objects, as a typed list or a Table.

use axum::response::Response;
use ferrokube_api::ApiError;
use ferrokube_api::table::IncludeObject;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Call;
use crate::registry::{Filter, ListOptions};
use crate::response::{json, wants_table};

pub async fn list(call: Call<'_>) -> Result<Response, ApiError> {
    crate::list_options::validate(&call.query)?;
    let filter = Filter::from_query(call.info, &call.query)?;
    let options = ListOptions::from_query(&call.query)?;
    let page = call
        .storage()
        .list(call.key_namespace(), &filter, &options)
        .await?;
    let mut list_meta = json!({"resourceVersion": page.revision.0.to_string()});
    if let Some(token) = &page.continue_token {
        list_meta["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        list_meta["remainingItemCount"] = json!(remaining);
    }
    if wants_table(call.headers) {
        return Ok(json(
            200,
            &table_of(&call, &page.items, list_meta, Timestamp::now())?,
        ));
    }
    let items: Vec<Value> = page.items.into_iter().map(strip_type).collect();
    Ok(json(
        200,
        &json!({"kind": format!("{}List", call.info.kind), "apiVersion": call.info.api_version(), "metadata": list_meta, "items": items}),
    ))
}

/// List items carry no `kind`/`apiVersion`, as upstream's typed lists.
fn strip_type(mut obj: Value) -> Value {
    if let Some(map) = obj.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    obj
}

/// A Table of objects with the resource's columns, each row's object as `includeObject` asks.
pub fn table_of(
    call: &Call<'_>,
    objects: &[Value],
    list_meta: Value,
    now: Timestamp,
) -> Result<Value, ApiError> {
    let include = include_object(call)?;
    let columns = call.info.strategy.columns();
    let rows = objects
        .iter()
        .map(|obj| (call.info.strategy.cells(obj, now), include.row_object(obj)))
        .collect();
    Ok(ferrokube_api::table::table(&columns, rows, list_meta))
}

/// The request's `includeObject`.
pub fn include_object(call: &Call<'_>) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(call.query.get("includeObject")).map_err(ApiError::bad_request)
}
