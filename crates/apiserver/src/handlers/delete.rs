//! DELETE and DELETECOLLECTION: DeleteOptions from the body (JSON or protobuf) and the query,
//! the registry's delete, and upstream's answers (the `Status` of a completed delete, the
//! object as it stays when it is only marked).

use axum::http::header;
use axum::response::Response;
use ferrokube_api::{ApiError, meta};
use serde_json::{Value, json};

use super::Call;
use crate::registry::{DeleteOptions, Filter};
use crate::response::json;

/// The request's DeleteOptions: its body's, with the query's on top.
fn delete_options(call: &Call<'_>) -> Result<DeleteOptions, ApiError> {
    let mut options: DeleteOptions = if call.body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_value(body_value(call)?)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    if let Some(grace) = call.query.integer("gracePeriodSeconds")? {
        options.grace_period_seconds = Some(grace);
    }
    if let Some(policy) = call.query.get("propagationPolicy") {
        options.propagation_policy = Some(policy.to_owned());
    }
    if call.query.dry_run()? {
        options.dry_run = Some(vec!["All".to_owned()]);
    }
    match options.propagation_policy.as_deref() {
        None | Some("Background" | "Foreground" | "Orphan") => Ok(options),
        Some(other) => Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

/// The body as JSON: protobuf (kubectl drain sends DeleteOptions so), YAML or JSON.
fn body_value(call: &Call<'_>) -> Result<Value, ApiError> {
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let invalid = |e: String| ApiError::bad_request(format!("invalid DeleteOptions: {e}"));
    match content_type.split(';').next().unwrap_or("").trim() {
        "application/vnd.kubernetes.protobuf" => {
            ferrokube_api::protobuf::decode_envelope(&call.body).map_err(|e| invalid(e.to_string()))
        }
        "application/yaml" => super::decode::from_yaml(&call.body).map_err(invalid),
        _ => serde_json::from_slice(&call.body).map_err(|e| invalid(e.to_string())),
    }
}

/// The `Status` upstream answers a completed delete with.
fn success_status(call: &Call<'_>, obj: &Value) -> Value {
    let mut details = call.resource().details(call.name());
    if let Some(uid) = meta::get_str(obj, "uid") {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub async fn delete(call: Call<'_>) -> Result<Response, ApiError> {
    let options = delete_options(&call)?;
    let deleted = call
        .storage()
        .delete(call.key_namespace(), call.name(), &options)
        .await?;
    if deleted.removed {
        return Ok(json(200, &success_status(&call, &deleted.object)));
    }
    Ok(json(200, &deleted.object))
}

pub async fn delete_collection(call: Call<'_>) -> Result<Response, ApiError> {
    crate::list_options::validate(&call.query)?;
    let options = delete_options(&call)?;
    let filter = Filter::from_query(call.info, &call.query)?;
    let (items, revision) = call
        .storage()
        .delete_collection(call.key_namespace(), &filter, &options)
        .await?;
    Ok(json(
        200,
        &json!({"kind": format!("{}List", call.info.kind), "apiVersion": call.info.api_version(), "metadata": {"resourceVersion": revision.0.to_string()}, "items": items}),
    ))
}
