//! Discovery: `/version`, the legacy forms (`/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`) and
//! the aggregated v2 form kubectl asks for first, all generated from the registry.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use ferrokube_api::registry::{ResourceInfo, Subresource};
use ferrokube_api::{ApiError, Scope};
use serde_json::{Value, json};

use crate::Inner;
use crate::response::{json, wants_aggregated_discovery};

/// The exact Content-Type kubectl requires before it uses aggregated discovery.
const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": concat!("v1.33.0-ferrokube.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn core_versions(server: &Inner, headers: &HeaderMap) -> Response {
    if wants_aggregated_discovery(headers) {
        return aggregated(server, |g| g.is_empty());
    }
    json(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server.options.advertise_address}],
        }),
    )
}

pub fn groups(server: &Inner, headers: &HeaderMap) -> Response {
    if wants_aggregated_discovery(headers) {
        return aggregated(server, |g| !g.is_empty());
    }
    let groups: Vec<Value> = server
        .registry
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| api_group(g, &versions))
        .collect();
    json(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub fn group(server: &Inner, name: &str) -> Result<Response, ApiError> {
    let (group, versions) = server
        .registry
        .groups()
        .into_iter()
        .find(|(g, _)| *g == name && !g.is_empty())
        .ok_or_else(ApiError::path_not_found)?;
    let mut body = api_group(group, &versions);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Ok(json(200, &body))
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
}

pub fn resource_list(server: &Inner, group: &str, version: &str) -> Result<Response, ApiError> {
    let resources: Vec<&ResourceInfo> = server.registry.in_group_version(group, version).collect();
    if resources.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let mut list = Vec::new();
    for r in resources {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.scope == Scope::Namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        for sub in r.subresources {
            let (group, version, kind) = subresource_kind(r, *sub);
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, sub.name()),
                "singularName": "",
                "namespaced": r.scope == Scope::Namespaced,
                "kind": kind,
                "verbs": sub.verbs(),
            });
            if group != r.group || version != r.version {
                entry["group"] = json!(group);
                entry["version"] = json!(version);
            }
            list.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Ok(json(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list}),
    ))
}

/// The group, version and kind a subresource answers with.
fn subresource_kind(
    r: &ResourceInfo,
    sub: Subresource,
) -> (&'static str, &'static str, &'static str) {
    match sub {
        Subresource::Status => (r.group, r.version, r.kind),
        Subresource::Scale => ("autoscaling", "v1", "Scale"),
        Subresource::Binding => ("", "v1", "Binding"),
        Subresource::Token => ("authentication.k8s.io", "v1", "TokenRequest"),
        Subresource::Finalize | Subresource::Log => (r.group, r.version, r.kind),
    }
}

/// The aggregated (v2) discovery document of the groups `include` selects.
fn aggregated(server: &Inner, include: impl Fn(&str) -> bool) -> Response {
    let items: Vec<Value> = server
        .registry
        .groups()
        .into_iter()
        .filter(|(g, _)| include(g))
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = server
                        .registry
                        .in_group_version(group, v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": group, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items});
    Response::builder()
        .status(200)
        .header("content-type", AGGREGATED_CONTENT_TYPE)
        .header("vary", "Accept")
        .body(Body::from(
            serde_json::to_vec(&body).expect("JSON values serialize"),
        ))
        .expect("valid response")
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.scope == Scope::Namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|sub| {
            let (group, version, kind) = subresource_kind(r, *sub);
            json!({"subresource": sub.name(), "responseKind": {"group": group, "version": version, "kind": kind}, "verbs": sub.verbs()})
        })
        .collect();
    if !subresources.is_empty() {
        entry["subresources"] = json!(subresources);
    }
    entry
}
