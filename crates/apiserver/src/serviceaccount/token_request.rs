//! The TokenRequest subresource, as upstream's `serviceaccount` REST storage: a token for the
//! service account, for the audiences asked (the issuer's by default), for `expirationSeconds`
//! (3600 by default, at least 10 minutes), optionally bound to a Pod, Secret or Node that must
//! exist with the UID given — the token stops being valid when that object goes.
//!
//! Example: `kubectl create token default` posts `{spec: {}}` and gets back `status.token`, a
//! JWT whose `sub` is `system:serviceaccount:default:default`, and `status.expirationTimestamp`.

use axum::response::Response;
use ferrokube_api::{ApiError, FieldError, FieldPath, GroupResource};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use super::token::{Claims, Private, Ref};
use crate::handlers::Call;
use crate::registry::Storage;
use crate::response::json;

/// Upstream's bounds on `expirationSeconds`.
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;

/// The request, from JSON or (as `kubectl create token` sends it) protobuf.
fn decode(call: &Call<'_>) -> Result<TokenRequest, ApiError> {
    let body = &call.body;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(TokenRequest::default());
    }
    let protobuf = call
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/vnd.kubernetes.protobuf"));
    let refused = |e: String| {
        ApiError::bad_request(format!(
            "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: {e}"
        ))
    };
    let mut value: serde_json::Value = match protobuf {
        true => {
            ferrokube_api::protobuf::decode_envelope(body).map_err(|e| refused(e.to_string()))?
        }
        false => serde_json::from_slice(body).map_err(|e| refused(e.to_string()))?,
    };
    // A request's status is the server's to write (protobuf bodies carry an empty one).
    if let Some(fields) = value.as_object_mut() {
        fields.remove("status");
    }
    serde_json::from_value(value).map_err(|e| refused(e.to_string()))
}

/// The refusals of the request's spec, as upstream's `ValidateTokenRequest`.
pub fn validate(request: &TokenRequest) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errors = Vec::new();
    let seconds = request.spec.expiration_seconds.unwrap_or(3600);
    if seconds < MIN_EXPIRATION {
        let detail = "may not specify a duration less than 10 minutes";
        errors.push(FieldError::invalid(
            spec.child("expirationSeconds"),
            seconds,
            detail,
        ));
    }
    if seconds > MAX_EXPIRATION {
        let detail = "may not specify a duration larger than 2^32 seconds";
        errors.push(FieldError::invalid(
            spec.child("expirationSeconds"),
            seconds,
            detail,
        ));
    }
    if let Some(bound) = &request.spec.bound_object_ref {
        let kind = bound.kind.as_deref().unwrap_or_default();
        if !["Pod", "Secret", "Node"].contains(&kind) {
            let at = spec.child("boundObjectRef").child("kind");
            errors.push(FieldError::not_supported(
                at,
                kind,
                &["Pod", "Secret", "Node"],
            ));
        }
    }
    errors
}

fn string(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The object a token is bound to, checked as upstream: it exists and has the UID given.
async fn bound_object(
    call: &Call<'_>,
    kind: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Value, ApiError> {
    let (plural, namespace) = match kind {
        "Pod" => ("pods", call.key_namespace()),
        "Secret" => ("secrets", call.key_namespace()),
        _ => ("nodes", None),
    };
    let stored = Storage::of(call.server, "", "v1", plural)
        .get(namespace, name)
        .await?
        .object;
    let actual = string(&stored, "/metadata/uid");
    if let Some(uid) = uid.filter(|u| !u.is_empty() && *u != actual) {
        return Err(ApiError::conflict_because(
            &GroupResource::new("", plural),
            name,
            &format!(
                "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    Ok(stored)
}

/// Issues a token for the service account the call names.
pub async fn create(call: Call<'_>) -> Result<Response, ApiError> {
    let mut request = decode(&call)?;
    let errors = validate(&request);
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            call.name(),
            &errors,
        ));
    }
    let namespace = call.key_namespace().unwrap_or_default().to_owned();
    let account = call
        .storage()
        .get(Some(&namespace), call.name())
        .await?
        .object;
    let mut private = Private {
        namespace: namespace.clone(),
        serviceaccount: Ref {
            name: call.name().to_owned(),
            uid: string(&account, "/metadata/uid"),
        },
        ..Private::default()
    };
    if let Some(bound) = &request.spec.bound_object_ref {
        let kind = bound.kind.as_deref().unwrap_or_default();
        let name = bound.name.as_deref().unwrap_or_default();
        let object = bound_object(&call, kind, name, bound.uid.as_deref()).await?;
        let named = Ref {
            name: name.to_owned(),
            uid: string(&object, "/metadata/uid"),
        };
        match kind {
            "Pod" => {
                // Upstream names the pod's node too, when it has one.
                let node = string(&object, "/spec/nodeName");
                if !node.is_empty()
                    && let Ok(Some(found)) = Storage::of(call.server, "", "v1", "nodes")
                        .find(None, &node)
                        .await
                {
                    let uid = string(&found.object, "/metadata/uid");
                    private.node = Some(Ref { name: node, uid });
                }
                private.pod = Some(named);
            }
            "Secret" => private.secret = Some(named),
            _ => private.node = Some(named),
        }
    }
    let tokens = &call.server.tokens;
    let audiences = match request.spec.audiences.is_empty() {
        true => vec![tokens.issuer.clone()],
        false => request.spec.audiences.clone(),
    };
    let seconds = request.spec.expiration_seconds.unwrap_or(3600);
    let now = jiff::Timestamp::now().as_second();
    let claims = Claims {
        aud: audiences.clone(),
        exp: now + seconds,
        iat: now,
        iss: tokens.issuer.clone(),
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now,
        sub: format!("system:serviceaccount:{namespace}:{}", call.name()),
        kubernetes: private,
    };
    let token = tokens.sign(&claims);
    request.spec.audiences = audiences;
    request.spec.expiration_seconds = Some(seconds);
    request.metadata.name = Some(call.name().to_owned());
    request.metadata.namespace = Some(namespace);
    let expires = jiff::Timestamp::from_second(claims.exp).unwrap_or_default();
    request.status = Some(TokenRequestStatus {
        token,
        expiration_timestamp: Time(expires),
    });
    let mut body = serde_json::to_value(&request).expect("k8s-openapi types serialize");
    body["kind"] = "TokenRequest".into();
    body["apiVersion"] = "authentication.k8s.io/v1".into();
    Ok(json(201, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_validated_as_upstream() {
        let request = |spec: Value| -> TokenRequest {
            serde_json::from_value(json!({"spec": spec})).unwrap()
        };
        let messages = |spec: Value| -> Vec<String> {
            validate(&request(spec))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert!(messages(json!({"audiences": []})).is_empty());
        assert_eq!(
            messages(json!({"audiences": [], "expirationSeconds": 60})),
            [
                "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
            ]
        );
        assert_eq!(
            messages(
                json!({"audiences": [], "boundObjectRef": {"kind": "ConfigMap", "name": "x"}})
            ),
            [
                "spec.boundObjectRef.kind: Unsupported value: \"ConfigMap\": supported values: \"Pod\", \"Secret\", \"Node\""
            ]
        );
    }
}
