//! Building HTTP responses: JSON bodies in upstream's field order, `Status` errors, and content
//! negotiation for Tables.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ferrokube_api::ApiError;
use serde_json::Value;

/// A JSON response, written as upstream writes it: fields in the Go types' order (`kind`,
/// `apiVersion`, `metadata`, `spec`, `status`), then a newline.
pub fn json(status: u16, body: &Value) -> Response {
    let bytes = ferrokube_api::json_order::to_vec_ordered(body, None);
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .expect("valid response")
}

/// A `Status` error response, with `Retry-After` when the Status says when to retry.
pub fn error(err: &ApiError) -> Response {
    let mut response = json(err.code, &err.to_status());
    let retry = err
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfterSeconds"))
        .and_then(Value::as_i64)
        .filter(|s| *s > 0);
    if let Some(seconds) = retry {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The media types upstream serves resources in, in its order.
const SERVED: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// 406 NotAcceptable, as upstream's output negotiation, when `Accept` names none of the types
/// upstream serves (nor a wildcard); `application/xml` gets `only the following media types are
/// accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf`.
pub fn check_acceptable(headers: &HeaderMap) -> Result<(), ApiError> {
    let header = accept(headers).trim();
    if header.is_empty() || header.split(',').any(accepts_served_type) {
        return Ok(());
    }
    Err(ApiError {
        code: 406,
        reason: "NotAcceptable",
        message: format!(
            "only the following media types are accepted: {}",
            SERVED.join(", ")
        ),
        details: None,
    })
}

/// Whether one media range of `Accept` (`type/subtype;params`) covers a served type.
fn accepts_served_type(range: &str) -> bool {
    let essence = range.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    SERVED.iter().any(|served| {
        let (served_kind, served_subtype) = served.split_once('/').expect("type/subtype");
        (kind == "*" && subtype == "*")
            || (kind.eq_ignore_ascii_case(served_kind)
                && (subtype == "*" || subtype.eq_ignore_ascii_case(served_subtype)))
    })
}

/// Adds `Warning: 299 - "<text>"` headers.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let text = format!("299 - {:?}", warning);
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

/// Whether the client asked for a server-side Table (`as=Table;g=meta.k8s.io`).
pub fn wants_table(headers: &HeaderMap) -> bool {
    accept(headers).split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
    })
}

/// Whether the client asked for aggregated discovery.
pub fn wants_aggregated_discovery(headers: &HeaderMap) -> bool {
    accept(headers).split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=APIGroupDiscoveryList")
            && params.contains(&"v=v2")
            && params.contains(&"g=apidiscovery.k8s.io")
    })
}

fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn acceptable_types_table() {
        let cases = [
            ("", true),
            ("*/*", true),
            ("application/*", true),
            ("application/json", true),
            ("application/json;stream=watch", true),
            ("application/yaml", true),
            (
                "application/vnd.kubernetes.protobuf, application/json",
                true,
            ),
            ("application/xml, application/json;q=0.5", true),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                true,
            ),
            ("application/xml", false),
            ("text/plain", false),
            ("text/*", false),
            ("garbage", false),
        ];
        for (accept, want) in cases {
            let got = match accept {
                "" => check_acceptable(&HeaderMap::new()),
                _ => check_acceptable(&with_accept(accept)),
            };
            assert_eq!(got.is_ok(), want, "{accept}");
            if let Err(err) = got {
                assert_eq!((err.code, err.reason), (406, "NotAcceptable"));
                assert_eq!(
                    err.message,
                    "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
                );
            }
        }
    }

    #[test]
    fn negotiation_table() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert!(wants_table(&with_accept(kubectl_get)));
        assert!(!wants_table(&with_accept("application/json")));
        let discovery = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated_discovery(&with_accept(discovery)));
        assert!(!wants_aggregated_discovery(&with_accept(
            "application/json"
        )));
    }
}
