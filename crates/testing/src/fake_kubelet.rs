//! Plays the kubelet where there is none: every new pod becomes Running and Ready, except pods
//! with an image tagged `:404`, which stay Pending as a broken image would. Its timestamps come
//! from a [`Clock`], so that under paused time a pod is Ready since the test's "now".

use ferrokube_client::clock::{Clock, SharedClock, SystemClock};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

/// Starts the fake kubelet on the system clock; abort the handle to stop it.
pub fn start(client: kube::Client) -> tokio::task::JoinHandle<()> {
    start_with_clock(client, std::sync::Arc::new(SystemClock))
}

/// Starts the fake kubelet, stamping its status times from `clock`; abort the handle to stop
/// it.
pub fn start_with_clock(client: kube::Client, clock: SharedClock) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::all(client.clone());
        let mut stream = std::pin::pin!(
            watcher(pods, watcher::Config::default())
                .default_backoff()
                .applied_objects()
        );
        // A watch error (the server restarting) is retried with backoff, not the end.
        while let Some(event) = stream.next().await {
            let Ok(pod) = event else { continue };
            if !needs_start(&pod) {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(
                client.clone(),
                &pod.metadata.namespace.clone().unwrap_or_default(),
            );
            let name = pod.metadata.name.clone().unwrap_or_default();
            let status = running_status(&pod, clock.as_ref());
            // Each pod on its own, as kubelets on many nodes would.
            tokio::spawn(async move {
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            });
        }
    })
}

fn needs_start(pod: &Pod) -> bool {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let broken = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .any(|c| c.image.as_deref().is_some_and(|i| i.ends_with(":404")));
    !running && !broken && pod.metadata.deletion_timestamp.is_none()
}

fn running_status(pod: &Pod, clock: &dyn Clock) -> Value {
    let now = ferrokube_client::clock::rfc3339(clock.now());
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .map(|c| {
            json!({"name": c.name, "ready": true, "started": true, "restartCount": 0,
                "image": c.image, "imageID": "", "state": {"running": {"startedAt": now}}})
        })
        .collect();
    json!({"status": {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
    }})
}
