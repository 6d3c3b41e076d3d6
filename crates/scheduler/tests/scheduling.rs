//! Reconcile-level tests of the scheduler's loop: the real `run` against an in-process API
//! server, on paused time (its backoff and retries are tokio timers). Seed nodes and pods,
//! run the scheduler, assert where the API says each pod is bound and what it says of the
//! pods that fit nowhere.

use std::time::Duration;

use ferrokube_scheduler::SchedulerOptions;
use ferrokube_testing::{InProcess, eventually};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// How long (tokio time) the scheduler gets to do what a test waits for.
const SOON: Duration = Duration::from_secs(10);

async fn start() -> InProcess {
    let api = InProcess::start().await;
    let options = SchedulerOptions::default();
    tokio::spawn(ferrokube_scheduler::run(
        api.client(),
        options,
        std::future::pending(),
    ));
    api
}

async fn add_node(api: &InProcess, name: &str, cpu: &str) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap();
    Api::<Node>::all(api.client())
        .create(&PostParams::default(), &node)
        .await
        .expect("create the node");
}

/// A pod requesting `cpu`, on `node` if one is named (bound at creation).
async fn add_pod(api: &InProcess, name: &str, cpu: &str, node: Option<&str>) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "nginx",
                "resources": {"requests": {"cpu": cpu}}}],
        },
    }))
    .unwrap();
    Api::<Pod>::default_namespaced(api.client())
        .create(&PostParams::default(), &pod)
        .await
        .expect("create the pod");
}

async fn get_pod(api: &InProcess, name: &str) -> Result<Pod, String> {
    Api::<Pod>::default_namespaced(api.client())
        .get(name)
        .await
        .map_err(|e| e.to_string())
}

/// Waits until `pod` is bound, and returns its node.
async fn bound_node(api: &InProcess, pod: &str) -> String {
    eventually(&format!("{pod} bound"), SOON, || async {
        let p = get_pod(api, pod).await?;
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        node.ok_or_else(|| format!("{:?}", p.status))
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn pods_are_bound_where_their_requests_fit_beside_the_pods_already_there() {
    let api = start().await;
    add_node(&api, "big", "2").await;
    add_node(&api, "small", "1").await;
    // Bound by its spec: it takes 1.5 of big's 2 CPUs, which the scheduler must count.
    add_pod(&api, "placed", "1500m", Some("big")).await;
    // Without "placed", big would score best (half of it left free, none of small).
    add_pod(&api, "one-cpu", "1", None).await;
    assert_eq!(bound_node(&api, "one-cpu").await, "small");
    add_pod(&api, "half-cpu", "500m", None).await;
    assert_eq!(bound_node(&api, "half-cpu").await, "big");
    assert_eq!(bound_node(&api, "placed").await, "big", "left where it was");
    let events: Api<Event> = Api::default_namespaced(api.client());
    let notes: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Scheduled"))
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes.contains(&"Successfully assigned default/one-cpu to small".to_owned()),
        "{notes:?}"
    );
}

/// The PodScheduled condition of `pod`, as JSON, once it is there.
async fn pod_scheduled(api: &InProcess, pod: &str) -> serde_json::Value {
    eventually(&format!("{pod}'s PodScheduled condition"), SOON, || async {
        let p = get_pod(api, pod).await?;
        let status = serde_json::to_value(&p.status).unwrap();
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        conditions
            .into_iter()
            .find(|c| c["type"] == "PodScheduled")
            .ok_or_else(|| status.to_string())
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_fits_nowhere_says_why_and_is_bound_once_a_node_fits() {
    let api = start().await;
    add_node(&api, "small", "1").await;
    add_pod(&api, "large", "4", None).await;
    let condition = pod_scheduled(&api, "large").await;
    assert_eq!(
        (
            &condition["status"],
            &condition["reason"],
            &condition["message"]
        ),
        (
            &json!("False"),
            &json!("Unschedulable"),
            &json!(
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are \
                 available: 1 No preemption victims found for incoming pod."
            )
        ),
        "{condition}"
    );
    let waited = tokio::time::Instant::now();
    add_node(&api, "larger", "8").await;
    assert_eq!(bound_node(&api, "large").await, "larger");
    // A new node moves the pod out of the unschedulable pods at once (then its 1 s backoff),
    // not after the 5 minutes an unschedulable pod otherwise waits.
    assert!(
        waited.elapsed() < Duration::from_secs(3),
        "{:?}",
        waited.elapsed()
    );
}
