//! End-to-end: the controllers running inside `ferrokube server`, driven with the real kubectl.

mod support;

use support::{Backend, Server, fails, ok, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_its_content_then_the_namespace() {
    let server = Server::start(&Backend::sqlite().await);
    ok(server.kubectl(None, &["create", "namespace", "team"]));
    ok(server.kubectl(
        None,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team",
            "--from-literal=a=b",
        ],
    ));
    ok(server.kubectl(
        None,
        &["create", "deployment", "web", "--image=nginx", "-n", "team"],
    ));
    // kubectl waits until the namespace is gone, which takes the namespace controller.
    let out = ok(server.kubectl(None, &["delete", "namespace", "team", "--timeout=60s"]));
    assert_eq!(out, "namespace \"team\" deleted\n");
    let err = fails(server.kubectl(None, &["get", "namespace", "team"]));
    assert_eq!(
        err,
        "Error from server (NotFound): namespaces \"team\" not found\n"
    );
    let left = ok(server.kubectl(None, &["get", "configmaps,deployments", "-A", "-o", "name"]));
    assert!(
        !left.contains("settings") && !left.contains("web"),
        "content of the namespace is gone: {left}"
    );
    ok(server.kubectl(None, &["create", "namespace", "team"]));
    assert_eq!(
        ok(server.kubectl(
            None,
            &[
                "get",
                "configmaps",
                "-n",
                "team",
                "--field-selector",
                "metadata.name!=kube-root-ca.crt",
                "-o",
                "name"
            ]
        )),
        "",
        "a new namespace of the same name starts empty (but for the root CA's ConfigMap)"
    );
}

const REPLICASET: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
spec:
  replicas: 3
  selector:
    matchLabels: {tier: frontend}
  template:
    metadata:
      labels: {tier: frontend}
    spec:
      containers:
      - name: web
        image: nginx:1.25
";

/// [`wait_for`], saying what is awaited.
fn eventually(server: &Server, args: &[&str], what: &str, check: impl Fn(&str) -> bool) -> String {
    eprintln!("waiting for {what}");
    wait_for(server, args, check)
}

fn pod_names(out: &str) -> Vec<String> {
    out.split_whitespace().map(str::to_owned).collect()
}

const OWNED_PODS: [&str; 5] = [
    "get",
    "pods",
    "-l",
    "tier=frontend",
    "-o=jsonpath={range .items[?(@.metadata.ownerReferences[0].controller==true)]}{.metadata.name} {end}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_keeps_its_pods() {
    let server = Server::start(&Backend::sqlite().await);
    let file = support::manifest(REPLICASET);
    ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    let pods = eventually(&server, &OWNED_PODS, "3 owned pods", |o| {
        pod_names(o).len() == 3
    });
    for name in pod_names(&pods) {
        assert!(
            name.starts_with("frontend-") && name.len() == "frontend-".len() + 5,
            "{name}"
        );
    }
    let owner = ok(server.kubectl(
        None,
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[0].metadata.ownerReferences[0]}",
        ],
    ));
    assert!(
        owner.contains("\"blockOwnerDeletion\":true") && owner.contains("\"kind\":\"ReplicaSet\""),
        "{owner}"
    );

    let victim = pod_names(&pods)[0].clone();
    ok(server.kubectl(None, &["delete", "pod", &victim]));
    eventually(&server, &OWNED_PODS, "a replacement pod", |o| {
        pod_names(o).len() == 3 && !o.contains(&victim)
    });

    assert_eq!(
        ok(server.kubectl(None, &["scale", "rs/frontend", "--replicas=1"])),
        "replicaset.apps/frontend scaled\n"
    );
    eventually(&server, &OWNED_PODS, "one pod left", |o| {
        pod_names(o).len() == 1
    });
    eventually(
        &server,
        &[
            "get",
            "rs/frontend",
            "-o",
            "jsonpath={.status.replicas} {.status.observedGeneration}",
        ],
        "status",
        |o| o == "1 2",
    );

    // A pod whose labels stop matching is released, and replaced.
    let kept = pod_names(&ok(server.kubectl(None, &OWNED_PODS)))[0].clone();
    ok(server.kubectl(None, &["label", "pod", &kept, "tier=debug", "--overwrite"]));
    eventually(
        &server,
        &[
            "get",
            "pod",
            &kept,
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ],
        "release",
        str::is_empty,
    );
    eventually(
        &server,
        &OWNED_PODS,
        "a replacement for the released pod",
        |o| pod_names(o).len() == 1 && !o.contains(&kept),
    );

    // An orphan that matches is adopted (and, being one too many, one pod goes).
    ok(server.kubectl(
        None,
        &["label", "pod", &kept, "tier=frontend", "--overwrite"],
    ));
    eventually(
        &server,
        &["get", "pods", "-l", "tier=frontend", "-o", "name"],
        "adoption and scale-down",
        |o| o.lines().count() == 1,
    );
    let owned = eventually(&server, &OWNED_PODS, "the remaining pod is owned", |o| {
        pod_names(o).len() == 1
    });
    assert_eq!(pod_names(&owned).len(), 1);

    let events = ok(server.kubectl(None, &["get", "events"]));
    assert!(
        events.lines().any(|l| l.contains("SuccessfulCreate")
            && l.contains("replicaset/frontend")
            && l.contains("Created pod: frontend-")),
        "{events}"
    );
    assert!(
        events
            .lines()
            .any(|l| l.contains("SuccessfulDelete") && l.contains("Deleted pod: frontend-")),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_follows_the_propagation_policy() {
    let server = Server::start(&Backend::sqlite().await);
    let file = support::manifest(REPLICASET);
    let path = file.path().to_str().unwrap();
    let all_pods = ["get", "pods", "-o", "name"];

    // Background (kubectl's default): the ReplicaSet goes at once, its pods after it.
    ok(server.kubectl(None, &["create", "-f", path]));
    eventually(&server, &OWNED_PODS, "3 pods", |o| pod_names(o).len() == 3);
    assert_eq!(
        ok(server.kubectl(None, &["delete", "rs", "frontend"])),
        "replicaset.apps \"frontend\" deleted\n"
    );
    eventually(
        &server,
        &all_pods,
        "the pods to be collected",
        str::is_empty,
    );

    // Orphan: the pods stay, without an ownerReference.
    ok(server.kubectl(None, &["create", "-f", path]));
    eventually(&server, &OWNED_PODS, "3 pods", |o| pod_names(o).len() == 3);
    ok(server.kubectl(None, &["delete", "rs", "frontend", "--cascade=orphan"]));
    let refs = [
        "get",
        "pods",
        "-o",
        "jsonpath={range .items[*]}{.metadata.ownerReferences}{end}",
    ];
    eventually(&server, &refs, "orphaned pods", str::is_empty);
    assert_eq!(
        ok(server.kubectl(None, &all_pods)).lines().count(),
        3,
        "orphaned pods are kept"
    );
    // A new ReplicaSet with the same selector adopts them instead of creating more.
    ok(server.kubectl(None, &["create", "-f", path]));
    eventually(&server, &OWNED_PODS, "adoption of the 3 orphans", |o| {
        pod_names(o).len() == 3
    });
    assert_eq!(ok(server.kubectl(None, &all_pods)).lines().count(), 3);

    // Foreground: kubectl waits until the pods, then the ReplicaSet, are gone.
    let out = ok(server.kubectl(
        None,
        &[
            "delete",
            "rs",
            "frontend",
            "--cascade=foreground",
            "--timeout=60s",
        ],
    ));
    assert_eq!(out, "replicaset.apps \"frontend\" deleted\n");
    eventually(&server, &all_pods, "no pods", str::is_empty);
    assert!(fails(server.kubectl(None, &["get", "rs", "frontend"])).contains("not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controllers_keep_to_their_request_rate_limit() {
    // 5 requests per second after a burst of 1: ten pods take the ReplicaSet, ten creations
    // and ten events at least, so no less than 4 s; unlimited, it takes a fraction of that.
    let server = Server::start_with(
        &Backend::sqlite().await,
        &[
            "--disable-agent",
            "--kube-api-qps",
            "5",
            "--kube-api-burst",
            "1",
        ],
    );
    let started = std::time::Instant::now();
    ok(server.kubectl(
        None,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=10",
        ],
    ));
    wait_for(&server, &["get", "pods", "-o", "name"], |o| {
        o.lines().count() == 10
    });
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(3),
        "ten pods after {took:?}: the limit did not hold"
    );
}
