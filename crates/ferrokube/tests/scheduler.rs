//! End-to-end: the scheduler inside `ferrokube server` binds pods to nodes created through the
//! API (no kubelet yet), driven with the real kubectl.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use support::{Backend, Server, manifest, ok, wait_for};

/// The nodes of the `web` Deployment's pods.
const WEB_NODES: [&str; 6] = [
    "get",
    "pods",
    "-l",
    "app=web",
    "-o",
    "jsonpath={.items[*].spec.nodeName}",
];

fn node(name: &str, cpu: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/hostname: {name}{labels}}}\nstatus:\n  capacity: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}\n  allocatable: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}\n  conditions:\n  - {{type: Ready, status: \"True\", reason: KubeletReady, message: ready}}\n"
    )
}

fn create(server: &Server, yaml: &str) {
    let file = manifest(yaml);
    ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
}

fn pod(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: nginx\n{extra}"
    )
}

fn node_of(server: &Server, pod: &str) -> String {
    ok(server.kubectl(
        None,
        &["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"],
    ))
}

fn failed_scheduling(server: &Server, pod: &str) -> String {
    // The first FailedScheduling note about the pod, one note per line.
    let query = format!(
        "jsonpath={{range .items[?(@.regarding.name==\"{pod}\")]}}{{.note}}{{\"\\n\"}}{{end}}"
    );
    let args = ["get", "events.events.k8s.io", "-o", query.as_str()];
    let notes = wait_for(server, &args, |o| !o.is_empty());
    notes.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_bound_to_nodes_that_fit() {
    let server = Server::start(&Backend::sqlite().await);
    for name in ["n1", "n2", "n3"] {
        create(&server, &node(name, "2", ""));
    }

    // Three replicas on three equal nodes: one per node, each with a Scheduled event.
    ok(server.kubectl(
        None,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=3",
        ],
    ));
    let placed = wait_for(&server, &WEB_NODES, |o| o.split_whitespace().count() == 3);
    let mut nodes: Vec<&str> = placed.split_whitespace().collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    let events = wait_for(&server, &["get", "events"], |o| {
        o.matches("Scheduled").count() >= 3
    });
    assert!(
        events.contains("Successfully assigned default/web-"),
        "{events}"
    );
    let condition = ok(server.kubectl(
        None,
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[0].status.conditions[?(@.type==\"PodScheduled\")].status}",
        ],
    ));
    assert_eq!(condition, "True");

    // Too big for every node: FailedScheduling in upstream's words and PodScheduled=False.
    create(
        &server,
        &pod("big", "    resources: {requests: {cpu: \"4\"}}\n"),
    );
    let note = failed_scheduling(&server, "big");
    assert_eq!(
        note,
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );
    let reason = ok(server.kubectl(
        None,
        &[
            "get",
            "pod",
            "big",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
        ],
    ));
    assert_eq!(reason, "Unschedulable");
    let described = ok(server.kubectl(None, &["describe", "pod", "big"]));
    assert!(described.contains("FailedScheduling"), "{described}");

    // A node that fits appears: the pod is bound at once (its 1 s backoff is over), not after
    // the 5 minutes an unschedulable pod otherwise waits.
    // Timed with an API client, not kubectl, so that only the scheduler is measured.
    std::thread::sleep(Duration::from_millis(1100));
    let client = server.client();
    let n4: Node = serde_yaml_ng::from_str(&node("n4", "8", ", disk: ssd")).unwrap();
    let appeared = Instant::now();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n4)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    loop {
        let big = pods.get("big").await.unwrap();
        if big.spec.and_then(|s| s.node_name).as_deref() == Some("n4") {
            break;
        }
        assert!(
            appeared.elapsed() < Duration::from_secs(30),
            "big was never bound"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = appeared.elapsed();
    eprintln!("big bound {took:?} after a fitting node appeared");
    assert!(
        took < Duration::from_secs(1),
        "bound {took:?} after the node appeared"
    );

    // A cordoned node takes no new pods.
    ok(server.kubectl(None, &["cordon", "n4"]));
    ok(server.kubectl(None, &["scale", "deployment/web", "--replicas=9"]));
    let placed = wait_for(&server, &WEB_NODES, |o| o.split_whitespace().count() == 9);
    assert!(!placed.contains("n4"), "{placed}");

    // Taints without tolerations: nothing fits, and the message says why for each node.
    ok(server.kubectl(
        None,
        &["taint", "nodes", "n1", "n2", "n3", "dedicated=x:NoSchedule"],
    ));
    create(&server, &pod("tainted", ""));
    let note = failed_scheduling(&server, "tainted");
    assert_eq!(
        note,
        "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) had untolerated taint {dedicated: x}. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    // A toleration lets a pod onto a tainted node.
    create(
        &server,
        &pod(
            "tolerant",
            "  tolerations: [{key: dedicated, operator: Equal, value: x, effect: NoSchedule}]\n",
        ),
    );
    wait_for(
        &server,
        &["get", "pod", "tolerant", "-o", "jsonpath={.spec.nodeName}"],
        |o| ["n1", "n2", "n3"].contains(&o),
    );

    // nodeSelector and node affinity are obeyed.
    ok(server.kubectl(None, &["uncordon", "n4"]));
    ok(server.kubectl(None, &["taint", "nodes", "n1", "n2", "n3", "dedicated-"]));
    ok(server.kubectl(None, &["label", "node", "n2", "disk=hdd"]));
    create(&server, &pod("ssd", "  nodeSelector: {disk: ssd}\n"));
    create(
        &server,
        &pod(
            "hdd",
            "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{key: disk, operator: In, values: [hdd]}]\n",
        ),
    );
    create(
        &server,
        &pod(
            "by-name",
            "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchFields: [{key: metadata.name, operator: In, values: [n3]}]\n",
        ),
    );
    for (pod, want) in [("ssd", "n4"), ("hdd", "n2"), ("by-name", "n3")] {
        wait_for(
            &server,
            &["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"],
            |o| !o.is_empty(),
        );
        assert_eq!(node_of(&server, pod), want, "{pod}");
    }
    // The tainted pod was bound once the taints went.
    wait_for(
        &server,
        &["get", "pod", "tainted", "-o", "jsonpath={.spec.nodeName}"],
        |o| !o.is_empty(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_scheduler_name_waits_for_its_own_scheduler() {
    let server = Server::start(&Backend::sqlite().await);
    create(&server, &node("n1", "2", ""));
    create(&server, &pod("mine", "  schedulerName: my-scheduler\n"));
    create(&server, &pod("default", ""));
    wait_for(
        &server,
        &["get", "pod", "default", "-o", "jsonpath={.spec.nodeName}"],
        |o| o == "n1",
    );
    // The built-in scheduler leaves the other one's pod alone.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(node_of(&server, "mine"), "");

    // `ferrokube scheduler` with that name, against the server's kubeconfig, binds it.
    let mut scheduler = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .args([
            "scheduler",
            "--scheduler-name",
            "my-scheduler",
            "--kubeconfig",
        ])
        .arg(&server.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start ferrokube scheduler");
    wait_for(
        &server,
        &["get", "pod", "mine", "-o", "jsonpath={.spec.nodeName}"],
        |o| o == "n1",
    );
    scheduler.kill().unwrap();
    scheduler.wait().unwrap();
}
