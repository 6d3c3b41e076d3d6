//! The CRI runtime against a real containerd (started by the test with ferrokube's generated
//! configuration) and the local registry: a busybox pod gets an IP, its container runs and
//! logs, and removing the sandbox leaves nothing behind. Needs root, containerd, runc, the CNI
//! plugins and the registry: `hack/setup.sh` installs them and `hack/registry.sh start` fills
//! the registry.

use std::sync::Arc;

use ferrokube_kubelet::containerd::{Containerd, ContainerdSetup};
use ferrokube_kubelet::runtime::cri::Cri;
use ferrokube_kubelet::runtime::{ContainerState, Runtime};
use k8s_openapi::api::core::v1::Pod;

const SETUP: &str = "run `hack/setup.sh` (containerd, runc, CNI plugins) and `hack/registry.sh start` (test images) first";

fn pod(uid: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "probe", "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "shell", "image": "busybox",
            "command": ["sh", "-c", "echo hello from $POD_NAME; sleep 3600"],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_and_is_removed_through_cri() {
    assert!(
        std::net::TcpStream::connect("127.0.0.1:5000").is_ok(),
        "the image registry on 127.0.0.1:5000 is not running; {SETUP}"
    );
    let dir = tempfile::tempdir().unwrap();
    let setup = ContainerdSetup {
        dir: dir.path().join("containerd"),
        mirror: Some("127.0.0.1:5000".into()),
        pod_cidr: "10.88.7.0/24".into(),
        network: "fk-cri-test".into(),
    };
    let containerd = Containerd::start(&setup)
        .await
        .unwrap_or_else(|e| panic!("{e}; {SETUP}"));
    let cri = Cri::connect(&containerd.socket, dir.path().join("logs"))
        .await
        .unwrap_or_else(|e| panic!("{e}; {SETUP}"));
    let runtime: Arc<dyn Runtime> = Arc::new(cri);
    let version = runtime.version().await.unwrap();
    assert!(version.starts_with("containerd://1."), "{version}");

    let uid = format!("cri-test-{}", std::process::id());
    let pod = pod(&uid);
    let sandbox = runtime
        .run_sandbox(&pod)
        .await
        .unwrap_or_else(|e| panic!("{e}; {SETUP}"));
    assert!(sandbox.ip.starts_with("10.88.7."), "pod IP {}", sandbox.ip);
    let image_id = runtime
        .pull_image("busybox")
        .await
        .unwrap_or_else(|e| panic!("{e}; {SETUP}"));
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    let container = pod.spec.as_ref().unwrap().containers[0].clone();
    // The environment as the pod worker resolves it (the pod's name from a fieldRef).
    let objects = ferrokube_kubelet::sources::Objects::default();
    let node = ferrokube_kubelet::pod::env::NodeFacts::default();
    let resolved =
        ferrokube_kubelet::pod::env::resolve(&pod, &container, &objects, &sandbox.ip, &node)
            .unwrap();
    let setup = ferrokube_kubelet::runtime::ContainerSetup {
        env: resolved.env.into_iter().collect(),
        command: resolved.command,
        args: resolved.args,
        mounts: Vec::new(),
    };
    let started = runtime
        .start_container(&sandbox, &pod, &container, &setup, &image_id, 0)
        .await
        .unwrap();
    assert!(
        matches!(started.state, ContainerState::Running { .. }),
        "{started:?}"
    );

    // The runtime finds the pod again by its UID (as a restarted kubelet would).
    let (found, containers) = runtime.pod_state(&uid).await.unwrap().expect("the sandbox");
    assert_eq!(found, sandbox);
    assert_eq!(containers.len(), 1);
    let log = dir
        .path()
        .join("logs")
        .join(format!("default_probe_{uid}"))
        .join("shell/0.log");
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("hello from probe") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(text.contains("hello from probe"), "log: {text:?}");

    // A missing image is an image pull error.
    let err = runtime.pull_image("busybox:404").await.unwrap_err();
    assert!(
        matches!(err, ferrokube_kubelet::runtime::RuntimeError::ImagePull(_)),
        "{err}"
    );

    runtime
        .remove_sandbox(&uid, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert!(runtime.pod_state(&uid).await.unwrap().is_none());
    drop(containerd);
}
