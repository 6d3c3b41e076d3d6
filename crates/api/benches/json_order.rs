//! The ordered JSON encoder against `serde_json::to_vec` (sorted keys), side by side in one
//! run, on a large Pod and a 500-item Pod list. Writes its table into `docs/BENCHMARKS.md`.
//! Run: `cargo bench -p ferrokube-api --bench json_order`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ferrokube_api::json_order::{list, to_vec_ordered};
use ferrokube_testing::{percentile, write_benchmark_section};
use serde_json::{Value, json};

const ROUNDS: usize = 31;

/// A Pod as a real cluster stores it: managed fields, several containers with env, probes,
/// mounts and resources, volumes, status with conditions and container statuses.
fn large_pod(i: usize) -> Value {
    let container = |c: usize| {
        json!({
            "name": format!("app-{c}"), "image": "registry.example.com/team/app:1.2.3",
            "command": ["/bin/app"], "args": ["--port=8080", "--verbose"],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": (0..12).map(|e| json!({"name": format!("VAR_{e}"), "value": format!("value-{e}")})).collect::<Vec<_>>(),
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
        })
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("web-7d9c6f5b8-{i:05}"), "generateName": "web-7d9c6f5b8-", "namespace": "default",
            "uid": "8b3c7a52-4b1e-4a0f-9c1e-2f6a1d3e5b70", "resourceVersion": "123456", "creationTimestamp": "2025-01-02T03:04:05Z",
            "labels": {"app": "web", "pod-template-hash": "7d9c6f5b8", "tier": "frontend"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-02T03:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c6f5b8", "uid": "0e7f3c8a-1d2b-4c5e-8f9a-0b1c2d3e4f50", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2025-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app-0\"}": {".": {}, "f:image": {}}}}}}],
        },
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
            "containers": (0..4).map(container).collect::<Vec<_>>(),
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": "node-1", "securityContext": {},
            "schedulerName": "default-scheduler", "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.5", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}], "startTime": "2025-01-02T03:04:05Z", "qosClass": "Burstable",
            "conditions": (["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].iter().map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2025-01-02T03:04:05Z"})).collect::<Vec<_>>()),
            "containerStatuses": (0..4).map(|c| json!({"name": format!("app-{c}"), "state": {"running": {"startedAt": "2025-01-02T03:04:06Z"}}, "lastState": {}, "ready": true, "restartCount": 0, "image": "registry.example.com/team/app:1.2.3", "imageID": "sha256:0123456789abcdef", "containerID": "containerd://abcdef", "started": true})).collect::<Vec<_>>(),
        },
    })
}

/// The median time of `ROUNDS` runs of `f` (each of `iterations` calls), runs interleaved
/// with the other encoder's by the caller.
fn time(iterations: usize, f: &dyn Fn() -> usize) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    start.elapsed()
}

fn compare(
    name: &str,
    iterations: usize,
    value: &Value,
    ordered: &dyn Fn(&Value) -> Vec<u8>,
) -> String {
    let (mut ours, mut serde) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(time(iterations, &|| ordered(black_box(value)).len()));
        serde.push(time(iterations, &|| {
            serde_json::to_vec(black_box(value)).unwrap().len()
        }));
    }
    ours.sort();
    serde.sort();
    let (ours, serde) = (
        percentile(&ours, 0.5) / iterations as u32,
        percentile(&serde, 0.5) / iterations as u32,
    );
    let bytes = ordered(value).len();
    format!(
        "| {name} | {bytes} | {:.1} µs | {:.1} µs | {:.2} |\n",
        ours.as_secs_f64() * 1e6,
        serde.as_secs_f64() * 1e6,
        ours.as_secs_f64() / serde.as_secs_f64()
    )
}

fn main() {
    // `cargo test --all-targets` builds and runs benches without `--bench`: only measure under
    // `cargo bench`, so that a test run never rewrites docs/BENCHMARKS.md with debug figures.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pod = large_pod(0);
    let pods = json!({
        "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "123456"},
        "items": (0..500).map(large_pod).collect::<Vec<_>>(),
    });
    let mut table = String::from(
        "| body | bytes | ordered (json_order) | serde_json::to_vec (sorted) | ratio |\n| --- | --- | --- | --- | --- |\n",
    );
    table.push_str(&compare("large Pod", 2000, &pod, &|v| {
        to_vec_ordered(v, None)
    }));
    table.push_str(&compare("PodList of 500 large Pods", 4, &pods, &list));
    print!("{table}");
    let section = format!(
        "## Ordered JSON encoder\n\nMedian of {ROUNDS} interleaved runs, one process. \
         Command: `cargo bench -p ferrokube-api --bench json_order`.\n\n{table}\n"
    );
    let path = write_benchmark_section("json-order", &section);
    println!("wrote {}", path.display());
}
