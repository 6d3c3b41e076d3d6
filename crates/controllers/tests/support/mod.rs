//! Shared by the controllers' reconcile-level tests: manifests, and reads of the API's state
//! that a probe of `ferrokube_testing::eventually` answers with.

#![allow(dead_code)]

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

/// How long (tokio time) a controller gets to do what a test waits for.
pub const SOON: std::time::Duration = std::time::Duration::from_secs(10);

/// A ReplicaSet `name` of `replicas` pods labelled `app=<name>`.
pub fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }))
    .expect("a ReplicaSet")
}

/// The pods in `default` whose controller is `owner`, sorted by name.
pub async fn owned_pods<K: Resource>(pods: &Api<Pod>, owner: &K) -> Vec<Pod> {
    let uid = owner.meta().uid.clone().unwrap_or_default();
    let mut owned: Vec<Pod> = pods
        .list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect();
    owned.sort_by_key(|p| p.name_any());
    owned
}

/// The names of `pods`.
pub fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

/// A pod status: `phase`, and the Ready condition True since `ready_since` (RFC 3339) or
/// False.
pub fn pod_status(phase: &str, ready_since: Option<&str>) -> Value {
    let ready = match ready_since {
        Some(since) => json!({"type": "Ready", "status": "True", "lastTransitionTime": since}),
        None => json!({"type": "Ready", "status": "False"}),
    };
    json!({"status": {"phase": phase, "conditions": [ready]}})
}
