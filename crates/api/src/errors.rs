//! API errors and the `Status` objects the API server answers them with, worded as upstream.

use serde_json::{Value, json};

use crate::field::FieldError;
use crate::registry::GroupResource;

/// An error the API server returns as a `Status` object.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`, if any.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String, details: Option<Value>) -> Self {
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }

    /// `deployments.apps "x" not found`.
    pub fn not_found(resource: &GroupResource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
            Some(resource.details(name)),
        )
    }

    /// 404 with a message of its own (a kubelet's, say).
    pub fn not_found_message(message: impl Into<String>) -> Self {
        Self::new(404, "NotFound", message.into(), Some(json!({})))
    }

    /// `deployments.apps "x" already exists`.
    pub fn already_exists(resource: &GroupResource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
            Some(resource.details(name)),
        )
    }

    /// The optimistic-concurrency conflict upstream reports for a stale resourceVersion.
    pub fn conflict(resource: &GroupResource, name: &str) -> Self {
        Self::conflict_because(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Operation cannot be fulfilled on deployments.apps "x": <why>`.
    pub fn conflict_because(resource: &GroupResource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
            Some(resource.details(name)),
        )
    }

    /// `Deployment.apps "x" is invalid: [a: …, b: …]`, with one cause per field.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let list = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.kind.reason(), "message": e.message(), "field": e.field.to_string()}))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {list}"),
            Some(json!({"name": name, "group": group, "kind": kind, "causes": causes})),
        )
    }

    /// 400 with upstream's `BadRequest` reason.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    /// 405 for a verb the resource does not support.
    pub fn method_not_supported(resource: &GroupResource, action: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("{action} is not supported on resources of kind \"{resource}\""),
            Some(resource.details("")),
        )
    }

    /// 410 for a resourceVersion that was compacted.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message.into(), None)
    }

    /// 403, e.g. creating in a namespace that is terminating.
    pub fn forbidden(resource: &GroupResource, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{resource} is forbidden: {why}")
        } else {
            format!("{resource} \"{name}\" is forbidden: {why}")
        };
        Self::new(403, "Forbidden", message, Some(resource.details(name)))
    }

    /// 404 for a path that names no resource.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".to_owned(),
            Some(json!({})),
        )
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
            None,
        )
    }

    /// 413 for a request that asks for too much: `Request entity too large: {message}`.
    pub fn too_large_because(message: &str) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {message}"),
            None,
        )
    }

    /// 422 for a JSON patch that does not apply, as upstream words it (the patch's own error
    /// does not reach the client).
    pub fn patch_not_applied() -> Self {
        Self::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request".to_owned(),
            Some(json!({})),
        )
    }

    /// 415 for a body type the server cannot decode.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
            None,
        )
    }

    /// 500 for a failure of the server itself.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        let details = json!({"causes": [{"message": message}]});
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(details),
        )
    }

    /// 504 when the store did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message.into(), None)
    }

    /// 504 for a request the store did not complete in time, as upstream's request timeout
    /// answers it (`handlers/rest.go` finishRequest).
    pub fn request_timeout() -> Self {
        Self::new(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded".to_owned(),
            Some(json!({})),
        )
    }

    /// A 500 with no reason, as upstream answers an error that is not an API status (etcd's
    /// `etcdserver: request is too large`).
    pub fn unclassified(message: impl Into<String>) -> Self {
        Self::new(500, "", message.into(), None)
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if self.reason.is_empty() {
            status.as_object_mut().map(|s| s.remove("reason"));
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldPath;

    #[test]
    fn messages_as_upstream() {
        let deployments = GroupResource::new("apps", "deployments");
        let pods = GroupResource::new("", "pods");
        assert_eq!(
            ApiError::not_found(&pods, "x").message,
            "pods \"x\" not found"
        );
        assert_eq!(
            ApiError::already_exists(&deployments, "nginx").message,
            "deployments.apps \"nginx\" already exists"
        );
        assert_eq!(
            ApiError::conflict(&deployments, "x").message,
            "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let one = [FieldError::invalid(
            FieldPath::new("spec").child("replicas"),
            -1,
            "must be greater than or equal to 0",
        )];
        assert_eq!(
            ApiError::invalid("Deployment", "apps", "x", &one).message,
            "Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let two = [
            one[0].clone(),
            FieldError::required(
                FieldPath::new("metadata").child("name"),
                "name or generateName is required",
            ),
        ];
        let invalid = ApiError::invalid("Pod", "", "", &two);
        assert_eq!(
            invalid.message,
            "Pod \"\" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, metadata.name: Required value: name or generateName is required]"
        );
        for not_found in [
            ApiError::path_not_found(),
            ApiError::not_found_message("x"),
            ApiError::not_found(&pods, "x"),
        ] {
            assert!(
                not_found.to_status()["details"].is_object(),
                "{not_found:?}"
            );
        }
        let status = invalid.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][1]["field"], "metadata.name");
        assert_eq!(
            status["details"]["causes"][1]["reason"],
            "FieldValueRequired"
        );
    }
}
