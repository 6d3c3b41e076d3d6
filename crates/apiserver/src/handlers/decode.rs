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
    let raw = parse(call, info)?;
    if !raw.is_object() {
        let why = format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            go_type_of(&raw)
        );
        return Err(unrecognized(info, &why, &call.body));
    }
    decode_value(call, info, raw)
}

/// Upstream's 400 for a body it cannot even read the kind of: `the object provided is
/// unrecognized (must be of type Namespace): <why> (<the body's start>)`.
fn unrecognized(info: &ResourceInfo, why: &str, body: &[u8]) -> ApiError {
    ApiError::bad_request(format!(
        "the object provided is unrecognized (must be of type {}): {why} ({})",
        info.kind,
        summarize(body, 30)
    ))
}

/// The start of a body as upstream quotes it in errors: as text when it looks like an
/// object, else in hex; at most `max` bytes, then " ...".
fn summarize(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    let more = if body.len() > max { " ..." } else { "" };
    match body.first() {
        None => "<empty>".to_owned(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(cut)),
        Some(_) => {
            let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

/// How Go's encoding/json names a JSON value's type in its errors.
fn go_type_of(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

/// Decodes an object of `info`'s kind given as JSON (a body, or the result of a patch).
pub fn decode_value(call: &Call<'_>, info: &ResourceInfo, raw: Value) -> Result<Body, ApiError> {
    let validation = call.query.field_validation()?;
    check_type(&raw, info)?;
    let decoded = info.strategy.decode(raw).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            info.kind, info.version, info.kind
        ))
    })?;
    let mut warnings = Vec::new();
    if !decoded.unknown_fields.is_empty() {
        match validation {
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
fn parse(call: &Call<'_>, info: &ResourceInfo) -> Result<Value, ApiError> {
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" | "" | "*/*" => serde_json::from_slice(&call.body).map_err(|e| {
            let why = format!("couldn't get version/kind; json parse error: {e}");
            unrecognized(info, &why, &call.body)
        }),
        "application/yaml" => {
            from_yaml(&call.body).map_err(|why| unrecognized(info, &why, &call.body))
        }
        "application/vnd.kubernetes.protobuf" => {
            ferrokube_api::protobuf::decode_envelope(&call.body)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// A YAML body parsed, its errors worded as sigs.k8s.io/yaml's `YAMLToJSON` words them
/// (`error converting YAML to JSON: yaml: …`). Two scans refuse first, before the parser spends
/// its time: nesting deeper than the JSON parser's limit (the parser is quadratic in it), and
/// aliases expanding past go-yaml's ratio (`document contains excessive aliasing`).
pub fn from_yaml<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let refused = ferrokube_api::yaml_depth::nesting_error(body)
        .or_else(|| ferrokube_api::yaml_aliases::aliasing_error(body).map(str::to_owned));
    if let Some(why) = refused {
        return Err(yaml_to_json_error(&why));
    }
    serde_yaml_ng::from_slice(body).map_err(|e| yaml_to_json_error(&e.to_string()))
}

/// A YAML error as `YAMLToJSON` returns it: go-yaml's `yaml: ` prefix, wrapped.
fn yaml_to_json_error(why: &str) -> String {
    format!("error converting YAML to JSON: yaml: {why}")
}

/// Rejects a body whose apiVersion or kind names another type.
fn check_type(raw: &Value, info: &ResourceInfo) -> Result<(), ApiError> {
    if !raw.is_object() {
        // A patch's result: the patch turned the object into something else.
        return Err(ApiError::bad_request(format!(
            "the patched object is a JSON {}, not an object of kind {}",
            go_type_of(raw),
            info.kind
        )));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_as_upstream() {
        assert_eq!(summarize(b"", 30), "<empty>");
        assert_eq!(summarize(b"{\"a\":1}", 30), "{\"a\":1}");
        assert_eq!(summarize(b"[1]", 30), "5b315d");
        assert_eq!(summarize(b"{0123456789}", 5), "{0123 ...");
    }
}
