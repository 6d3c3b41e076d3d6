//! Request bodies: JSON, YAML and protobuf by Content-Type, the apiVersion and kind check,
//! and unknown fields under `fieldValidation`.

use axum::http::header;
use ferrokube_api::ApiError;
use ferrokube_api::registry::ResourceInfo;
use serde_json::Value;

use super::Call;
use crate::query::FieldValidation;

/// A decoded body and the warnings it earned.
pub struct Body {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Decodes the body as an object of `info`'s kind.
pub fn decode_object(call: &Call<'_>, info: &ResourceInfo) -> Result<Body, ApiError> {
    decode_value(call, info, parse(call)?)
}

/// Decodes an object of `info`'s kind given as JSON (a body, or the result of a patch).
pub fn decode_value(call: &Call<'_>, info: &ResourceInfo, raw: Value) -> Result<Body, ApiError> {
    check_type(&raw, info)?;
    let decoded = info.strategy.decode(raw).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            info.kind, info.version, info.kind
        ))
    })?;
    let mut warnings = Vec::new();
    if !decoded.unknown_fields.is_empty() {
        match call.query.field_validation()? {
            FieldValidation::Strict => {
                let list: Vec<String> = decoded
                    .unknown_fields
                    .iter()
                    .map(|f| format!("unknown field {f:?}"))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    info.kind,
                    info.version,
                    info.kind,
                    list.join(", ")
                )));
            }
            FieldValidation::Warn => warnings.extend(
                decoded
                    .unknown_fields
                    .iter()
                    .map(|f| format!("unknown field {f:?}")),
            ),
            FieldValidation::Ignore => {}
        }
    }
    let mut object = decoded.object;
    object["apiVersion"] = Value::String(info.api_version());
    object["kind"] = Value::String(info.kind.to_owned());
    Ok(Body { object, warnings })
}

/// The body as JSON, by its Content-Type.
fn parse(call: &Call<'_>) -> Result<Value, ApiError> {
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" | "" | "*/*" => serde_json::from_slice(&call.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
        "application/yaml" => serde_yaml_ng::from_slice(&call.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; yaml parse error: {e}"))
        }),
        "application/vnd.kubernetes.protobuf" => {
            ferrokube_api::protobuf::decode_envelope(&call.body)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Rejects a body whose apiVersion or kind names another type.
fn check_type(raw: &Value, info: &ResourceInfo) -> Result<(), ApiError> {
    if !raw.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if let Some(api_version) = raw
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        && api_version != info.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    if let Some(kind) = raw
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        && kind != info.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    Ok(())
}
