//! The `log` subresource of pods: checks the container and the options as upstream, then
//! streams the answer of the kubelet of the pod's node
//! (`http://<InternalIP>:<kubelet port>/containerLogs/<ns>/<pod>/<container>?…`); the kubelet's
//! errors come back as `Status` objects with its message, as upstream's API server relays them.

use std::sync::LazyLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ferrokube_api::{ApiError, FieldError, FieldPath};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::Call;
use crate::query::Query;
use crate::registry::Storage;

/// The options passed on to the kubelet.
const FORWARDED: &[&str] = &[
    "follow",
    "previous",
    "timestamps",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
];

static KUBELET_CLIENT: LazyLock<Client<HttpConnector, Empty<Bytes>>> = LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new()).build(connector)
});

fn names(containers: Option<&Value>) -> Vec<&str> {
    containers
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect()
}

/// The container whose log is read: the one asked for, or the pod's only one.
pub fn container_of(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let containers = names(pod.pointer("/spec/containers"));
    let init = names(pod.pointer("/spec/initContainers"));
    match asked {
        Some(c) if containers.contains(&c) || init.contains(&c) => Ok(c.to_owned()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].to_owned()),
        None if containers.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

/// Upstream's validation of PodLogOptions.
pub fn validate_options(query: &Query, name: &str) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let number = |key: &str| -> Result<Option<i64>, ApiError> {
        query
            .get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "strconv.ParseInt: parsing {v:?}: invalid syntax"
                    ))
                })
            })
            .transpose()
    };
    if let Some(n) = number("tailLines")?.filter(|n| *n < 0) {
        errors.push(FieldError::invalid(
            FieldPath::new("tailLines"),
            n,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = number("limitBytes")?.filter(|n| *n < 1) {
        errors.push(FieldError::invalid(
            FieldPath::new("limitBytes"),
            n,
            "must be greater than 0",
        ));
    }
    let since_seconds = number("sinceSeconds")?;
    if let Some(n) = since_seconds.filter(|n| *n < 1) {
        errors.push(FieldError::invalid(
            FieldPath::new("sinceSeconds"),
            n,
            "must be greater than 0",
        ));
    }
    if since_seconds.is_some() && query.get("sinceTime").is_some() {
        errors.push(FieldError::forbidden(
            FieldPath::new(""),
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("PodLogOptions", "", name, &errors))
    }
}

/// The kubelet's address for a node: its InternalIP (else any address) and kubelet port.
pub fn kubelet_address(node: &Value) -> Result<String, ApiError> {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let address = addresses
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| addresses.first())
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| ApiError::bad_request(format!("node {name} has no address")))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("node {name} does not serve container logs"))
        })?;
    Ok(if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    })
}

/// `GET pods/{name}/log`.
pub async fn log(call: Call<'_>) -> Result<Response, ApiError> {
    let name = call.name().to_owned();
    let pod = call
        .storage()
        .get(call.key_namespace(), &name)
        .await?
        .object;
    let container = container_of(&pod, &name, call.query.get("container"))?;
    validate_options(&call.query, &name)?;
    let Some(node_name) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        // Not scheduled yet: no log, as upstream.
        return Ok(text(Body::empty()));
    };
    let nodes = Storage::of(call.server, "", "v1", "nodes");
    let node = nodes.get(None, node_name).await?.object;
    let namespace = call.namespace.clone().unwrap_or_default();
    let url = format!(
        "http://{}/containerLogs/{namespace}/{name}/{container}?{}",
        kubelet_address(&node)?,
        forwarded_query(&call.query)
    );
    fetch(&url).await
}

/// The options the kubelet reads, as a query string.
fn forwarded_query(query: &Query) -> String {
    let mut forwarded = form_urlencoded::Serializer::new(String::new());
    for key in FORWARDED {
        if let Some(value) = query.get(key) {
            forwarded.append_pair(key, value);
        }
    }
    forwarded.finish()
}

fn text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// Streams the kubelet's answer, or turns its error into a `Status`.
async fn fetch(url: &str) -> Result<Response, ApiError> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| ApiError::internal(format!("{url}: {e}")))?;
    let response = KUBELET_CLIENT
        .get(uri)
        .await
        .map_err(|e| ApiError::internal(format!("Get {url:?}: {}", source_chain(&e))))?;
    let status = response.status();
    if status.is_success() {
        return Ok(text(Body::new(response.into_body())));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let message = body.trim().to_owned();
    Err(match status.as_u16() {
        400 => ApiError::bad_request(message),
        404 => ApiError::not_found_message(message),
        _ => ApiError::internal(message),
    })
}

/// An error with its causes, as Go prints wrapped errors.
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let named =
            |names: &[&str]| -> Vec<Value> { names.iter().map(|n| json!({"name": n})).collect() };
        json!({"spec": {"containers": named(containers), "initContainers": named(init)}})
    }

    #[test]
    fn container_as_upstream_chooses_it() {
        assert_eq!(container_of(&pod(&["a"], &[]), "p", None).unwrap(), "a");
        assert_eq!(
            container_of(&pod(&["a", "b"], &["i"]), "p", Some("i")).unwrap(),
            "i"
        );
        assert_eq!(
            container_of(&pod(&["a", "b"], &["i"]), "p", None)
                .unwrap_err()
                .message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(
            container_of(&pod(&["a"], &[]), "p", Some("x"))
                .unwrap_err()
                .message,
            "container x is not valid for pod p"
        );
    }

    #[test]
    fn options_as_upstream_validates_them() {
        let query = Query::parse(Some(
            "tailLines=-1&sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z",
        ));
        let err = validate_options(&query, "p").unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "PodLogOptions \"p\" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified]"
        );
        assert!(validate_options(&Query::parse(Some("tailLines=3&follow=true")), "p").is_ok());
    }

    #[test]
    fn kubelet_address_from_the_node() {
        let node = json!({"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(kubelet_address(&node).unwrap(), "10.0.0.5:10250");
        let hollow = json!({"metadata": {"name": "h"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "10.64.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}});
        assert_eq!(
            kubelet_address(&hollow).unwrap_err().message,
            "node h does not serve container logs"
        );
    }
}
