//! A kubelet whose runtime cannot make a pod's sandbox: the real kubelet shell against an
//! in-process API server. The pod stays Pending and a `FailedCreatePodSandBox` warning says
//! why, as upstream's kubelet reports it; before, the failure was only in the log.

use std::sync::Arc;
use std::time::Duration;

use ferrokube_kubelet::runtime::hollow::Hollow;
use ferrokube_kubelet::runtime::{ContainerInfo, ExecResult, Runtime, RuntimeError, SandboxInfo};
use ferrokube_kubelet::{KubeletOptions, node::Machine};
use ferrokube_testing::{InProcess, eventually};
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// The hollow runtime, except that no sandbox can be made.
struct NoSandboxes(Hollow);

const FAILURE: &str = "plugin type=\"bridge\" failed (add): failed to allocate for range 0";

#[async_trait::async_trait]
impl Runtime for NoSandboxes {
    async fn version(&self) -> Result<String, RuntimeError> {
        self.0.version().await
    }
    async fn run_sandbox(&self, _pod: &Pod) -> Result<SandboxInfo, RuntimeError> {
        Err(RuntimeError::Other(FAILURE.to_owned()))
    }
    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        self.0.pull_image(image).await
    }
    async fn image_status(&self, image: &str) -> Result<Option<(String, u64)>, RuntimeError> {
        self.0.image_status(image).await
    }
    async fn start_container(
        &self,
        sandbox: &SandboxInfo,
        pod: &Pod,
        container: &Container,
        setup: &ferrokube_kubelet::runtime::ContainerSetup,
        image_id: &str,
        attempt: u32,
    ) -> Result<ContainerInfo, RuntimeError> {
        self.0
            .start_container(sandbox, pod, container, setup, image_id, attempt)
            .await
    }
    async fn pod_uids(&self) -> Result<Vec<String>, RuntimeError> {
        self.0.pod_uids().await
    }
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.0.stop_container(id, grace).await
    }
    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        self.0.exec_sync(id, command, timeout).await
    }
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.0.remove_container(id).await
    }
    async fn remove_sandbox(&self, pod_uid: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.0.remove_sandbox(pod_uid, grace).await
    }
    async fn pod_state(
        &self,
        pod_uid: &str,
    ) -> Result<Option<(SandboxInfo, Vec<ContainerInfo>)>, RuntimeError> {
        self.0.pod_state(pod_uid).await
    }
}

#[tokio::test]
async fn a_sandbox_that_cannot_be_made_is_a_failed_create_pod_sandbox_event() {
    let api = InProcess::start().await;
    let machine = Machine {
        name: "node-1".into(),
        address: "10.0.0.1".into(),
        milli_cpu: 4000,
        memory_bytes: 8 << 30,
        ephemeral_storage_bytes: 100 << 30,
        max_pods: 110,
        runtime_version: "hollow://0.1.0".into(),
        kubelet_port: 0,
    };
    let options = KubeletOptions {
        machine,
        runtime: Arc::new(NoSandboxes(Hollow::new(0))),
        log_listener: None,
        volumes_root: None,
        local_path_root: None,
    };
    tokio::spawn(ferrokube_kubelet::run(
        api.client(),
        options,
        std::future::pending(),
    ));
    let pods: Api<Pod> = Api::default_namespaced(api.client());
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let events: Api<Event> = Api::default_namespaced(api.client());
    let event = eventually(
        "a FailedCreatePodSandBox event",
        Duration::from_secs(20),
        || async {
            let list = events
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
                .ok_or_else(|| "none yet".to_owned())
        },
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.note.as_deref(),
        Some(format!("Failed to create pod sandbox: {FAILURE}").as_str())
    );
    assert_eq!(event.regarding.and_then(|r| r.name).as_deref(), Some("web"));
    let phase = pods.get("web").await.unwrap().status.and_then(|s| s.phase);
    assert_ne!(
        phase.as_deref(),
        Some("Running"),
        "never Running without its sandbox"
    );
}
