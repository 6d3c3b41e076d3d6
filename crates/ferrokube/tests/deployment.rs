//! End-to-end: the Deployment chain through the controllers with the real kubectl. Until the
//! kubelet exists, a helper plays it by marking every pod Running and Ready.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube_testing::fake_kubelet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use support::observe::{Observed, observe_pods};
use support::{Backend, SEED, Server, fails, ok, pods_jsonpath, rollout_succeeds, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_deployment_runs_through_the_chain() {
    let server = Server::start(&Backend::sqlite().await);
    let kubelet = fake_kubelet::start(server.client());
    ok(server.kubectl(None, &SEED));
    let rs = wait_for(&server, &["get", "rs", "-o", "name"], |o| {
        o.lines().count() == 1
    });
    let rs_name = rs.trim().trim_start_matches("replicaset.apps/").to_owned();
    let hash = rs_name
        .strip_prefix("nginx-deployment-")
        .expect("named <deployment>-<hash>");
    assert!(
        !hash.is_empty()
            && hash
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    let owner = ok(server.kubectl(None, &["get", "rs", &rs_name, "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.spec.selector.matchLabels.pod-template-hash}"]));
    assert_eq!(owner, format!("Deployment/nginx-deployment {hash}"));
    let pod_owner = wait_for(
        &server,
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.ownerReferences[0].name}",
        ],
        |o| !o.is_empty(),
    );
    assert_eq!(pod_owner, rs_name);
    let status = wait_for(
        &server,
        &[
            "rollout",
            "status",
            "deployment/nginx-deployment",
            "--timeout=60s",
        ],
        |o| o.contains("successfully rolled out"),
    );
    assert_eq!(
        status,
        "deployment \"nginx-deployment\" successfully rolled out\n"
    );
    let events = ok(server.kubectl(None, &["get", "events"]));
    assert!(
        events.contains("ScalingReplicaSet")
            && events.contains(&format!("Scaled up replica set {rs_name} from 0 to 1")),
        "{events}"
    );
    assert!(events.contains("SuccessfulCreate"), "{events}");
    let describe = ok(server.kubectl(None, &["describe", "deployment", "nginx-deployment"]));
    assert!(
        describe.contains(&format!(
            "NewReplicaSet:   {rs_name} (1/1 replicas created)"
        )),
        "{describe}"
    );
    assert!(
        describe.contains("deployment-controller  Scaled up replica set"),
        "{describe}"
    );

    // delete removes the ReplicaSet and its pods.
    ok(server.kubectl(None, &["delete", "deployment", "nginx-deployment"]));
    wait_for(&server, &["get", "rs,pods", "-o", "name"], str::is_empty);
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_respects_surge_and_unavailability() {
    let server = Server::start(&Backend::sqlite().await);
    let kube_client = server.client();
    let kubelet = fake_kubelet::start(kube_client.clone());
    ok(server.kubectl(
        None,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=1",
        ],
    ));
    ok(server.kubectl(None, &["scale", "deployment/web", "--replicas=5"]));
    ok(server.kubectl(
        None,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    ));

    // A checker watches the pods during the rollout: at most replicas + maxSurge pods (5 + 2,
    // 25% rounded up) and at least replicas − maxUnavailable ready (5 − 1, 25% rounded down).
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let (violations, done) = (violations.clone(), done.clone());
        let pods: Api<Pod> = Api::namespaced(kube_client.clone(), "default");
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let list = pods
                    .list(&ListParams::default().labels("app=web"))
                    .await
                    .unwrap()
                    .items;
                let live: Vec<&Pod> = list
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect();
                let ready = live
                    .iter()
                    .filter(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                    .count();
                if live.len() > 7 || ready < 4 {
                    violations
                        .lock()
                        .unwrap()
                        .push(format!("{} pods, {ready} ready", live.len()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    assert_eq!(
        ok(server.kubectl(
            None,
            &["set", "image", "deployment/web", "nginx=nginx:1.26"]
        )),
        "deployment.apps/web image updated\n"
    );
    rollout_succeeds(&server, "web");
    done.store(true, Ordering::Relaxed);
    checker.await.unwrap();
    assert!(
        violations.lock().unwrap().is_empty(),
        "bounds broken: {:?}",
        violations.lock().unwrap()
    );
    // Rolled out means no old pod is left, and no count of the old ReplicaSet's is kept:
    // status counts that fall to zero are cleared (they are written by leaving them out).
    let images = pods_jsonpath(&server, "app=web", ".spec.containers[0].image");
    assert_eq!(images, ["nginx:1.26"; 5].join(" "));
    let deployment_counts = "jsonpath={.status.replicas}/{.status.updatedReplicas}/{.status.readyReplicas}/{.status.availableReplicas}";
    assert_eq!(
        ok(server.kubectl(None, &["get", "deployment", "web", "-o", deployment_counts])),
        "5/5/5/5"
    );
    let rs_counts = r#"jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.spec.replicas}/{.status.replicas}/{.status.readyReplicas}/{.status.availableReplicas}{"\n"}{end}"#;
    let rs_counts = ok(server.kubectl(None, &["get", "rs", "-o", rs_counts]));
    let mut rs_counts: Vec<&str> = rs_counts.lines().collect();
    rs_counts.sort();
    assert_eq!(rs_counts, ["nginx:1.25=0/0//", "nginx:1.26=5/5/5/5"]);
    let history = ok(server.kubectl(None, &["rollout", "history", "deployment/web"]));
    assert!(
        history.lines().any(|l| l.starts_with("1 "))
            && history.lines().any(|l| l.starts_with("2 ")),
        "{history}"
    );

    // `rollout undo` brings revision 1's ReplicaSet back as revision 3: no third ReplicaSet.
    let rs_list = [
        "get",
        "rs",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.annotations.deployment\\.kubernetes\\.io/revision} {end}",
    ];
    let before_undo = ok(server.kubectl(None, &rs_list));
    let first = before_undo
        .split_whitespace()
        .find_map(|e| e.strip_suffix("=1"))
        .expect("revision 1")
        .to_owned();
    assert_eq!(
        ok(server.kubectl(None, &["rollout", "undo", "deployment/web"])),
        "deployment.apps/web rolled back\n"
    );
    let after_undo = wait_for(&server, &rs_list, |o| o.contains(&format!("{first}=3")));
    assert_eq!(after_undo.split_whitespace().count(), 2, "{after_undo}");
    ok(server.kubectl(
        None,
        &["rollout", "status", "deployment/web", "--timeout=90s"],
    ));
    ok(server.kubectl(
        None,
        &["set", "image", "deployment/web", "nginx=nginx:1.26"],
    ));
    ok(server.kubectl(
        None,
        &["rollout", "status", "deployment/web", "--timeout=90s"],
    ));

    // --cascade=orphan keeps the ReplicaSets; a new Deployment with the same selector adopts them.
    let before = ok(server.kubectl(
        None,
        &["get", "rs", "-o", "jsonpath={.items[*].metadata.uid}"],
    ));
    assert_eq!(before.split_whitespace().count(), 2, "{before}");
    ok(server.kubectl(None, &["delete", "deployment", "web", "--cascade=orphan"]));
    assert!(fails(server.kubectl(None, &["get", "deployment", "web"])).contains("not found"));
    ok(server.kubectl(
        None,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.26",
            "--replicas=5",
        ],
    ));
    wait_for(
        &server,
        &[
            "get",
            "rs",
            "-o",
            "jsonpath={.items[*].metadata.ownerReferences[0].kind}",
        ],
        |o| o.split_whitespace().count() == 2,
    );
    let after = ok(server.kubectl(
        None,
        &["get", "rs", "-o", "jsonpath={.items[*].metadata.uid}"],
    ));
    assert_eq!(
        after, before,
        "the same ReplicaSets were adopted, none was created"
    );
    let collisions = [
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.status.collisionCount}",
    ];
    assert_eq!(
        ok(server.kubectl(None, &collisions)),
        "",
        "no hash collision was counted"
    );
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_never_runs_old_and_new_pods_together() {
    let server = Server::start(&Backend::sqlite().await);
    let kube_client = server.client();
    let kubelet = fake_kubelet::start(kube_client.clone());
    let manifest = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: db\nspec:\n  replicas: 3\n  strategy: {type: Recreate}\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n",
    );
    ok(server.kubectl(None, &["create", "-f", manifest.path().to_str().unwrap()]));
    ok(server.kubectl(
        None,
        &["rollout", "status", "deployment/db", "--timeout=60s"],
    ));
    let mixed: Arc<Mutex<Vec<String>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let (mixed, done) = (mixed.clone(), done.clone());
        let pods: Api<Pod> = Api::namespaced(kube_client.clone(), "default");
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let list = pods
                    .list(&ListParams::default().labels("app=db"))
                    .await
                    .unwrap()
                    .items;
                let mut images: Vec<String> = list
                    .iter()
                    .flat_map(|p| {
                        p.spec
                            .iter()
                            .flat_map(|s| s.containers.iter().filter_map(|c| c.image.clone()))
                    })
                    .collect();
                images.sort();
                images.dedup();
                if images.len() > 1 {
                    mixed.lock().unwrap().push(images.join(","));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    ok(server.kubectl(None, &["set", "image", "deployment/db", "db=postgres:17"]));
    rollout_succeeds(&server, "db");
    done.store(true, Ordering::Relaxed);
    checker.await.unwrap();
    assert!(
        mixed.lock().unwrap().is_empty(),
        "old and new pods at once: {:?}",
        mixed.lock().unwrap()
    );
    let images = pods_jsonpath(&server, "app=db", ".spec.containers[0].image");
    assert_eq!(images, "postgres:17 postgres:17 postgres:17");
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proportional_scaling_as_upstream_conformance() {
    let server = Server::start(&Backend::sqlite().await);
    let kubelet = fake_kubelet::start(server.client());
    let manifest = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 10\n  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 3, maxUnavailable: 2}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    );
    ok(server.kubectl(None, &["create", "-f", manifest.path().to_str().unwrap()]));
    ok(server.kubectl(
        None,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    ));
    ok(server.kubectl(None, &["set", "image", "deployment/web", "web=nginx:404"]));
    let sizes = [
        "get",
        "rs",
        "-o",
        "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.spec.replicas} {end}",
    ];
    // The rollout gets stuck: 10 − 2 old pods stay, 13 − 8 new ones never become ready.
    wait_for(&server, &sizes, |o| {
        o.contains("nginx:1.25=8") && o.contains("nginx:404=5")
    });
    ok(server.kubectl(None, &["scale", "deployment/web", "--replicas=30"]));
    wait_for(&server, &sizes, |o| {
        o.contains("nginx:1.25=20") && o.contains("nginx:404=13")
    });
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let server = Server::start(&Backend::sqlite().await);
    let kubelet = fake_kubelet::start(server.client());
    let manifest = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\nspec:\n  replicas: 2\n  progressDeadlineSeconds: 2\n  selector:\n    matchLabels: {app: stuck}\n  template:\n    metadata:\n      labels: {app: stuck}\n    spec:\n      containers:\n      - name: web\n        image: nginx:404\n",
    );
    ok(server.kubectl(None, &["create", "-f", manifest.path().to_str().unwrap()]));
    let condition = [
        "get",
        "deploy/stuck",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
    ];
    wait_for(&server, &condition, |o| o == "ProgressDeadlineExceeded");
    let err = fails(server.kubectl(
        None,
        &["rollout", "status", "deployment/stuck", "--timeout=30s"],
    ));
    assert_eq!(
        err,
        "error: deployment \"stuck\" exceeded its progress deadline\n"
    );
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_become_available_after_min_ready_seconds() {
    let server = Server::start(&Backend::sqlite().await);
    let kubelet = fake_kubelet::start(server.client());
    let manifest = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  minReadySeconds: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    );
    ok(server.kubectl(None, &["create", "-f", manifest.path().to_str().unwrap()]));
    // Ready pods count as available only a second later, with no event to say so.
    rollout_succeeds(&server, "web");
    let available = ok(server.kubectl(
        None,
        &[
            "get",
            "rs",
            "-o",
            "jsonpath={.items[0].status.availableReplicas}",
        ],
    ));
    assert_eq!(available, "2");
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_completes_after_the_server_is_killed_mid_way() {
    let mut server = Server::start(&Backend::sqlite().await);
    let kube_client = server.client();
    let kubelet = fake_kubelet::start(kube_client.clone());
    let manifest = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 4\n  minReadySeconds: 2\n  strategy:\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    );
    ok(server.kubectl(None, &["create", "-f", manifest.path().to_str().unwrap()]));
    ok(server.kubectl(
        None,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    ));

    // From here on: at most 4 + 1 pods and at least 4 − 1 ready at every observed moment.
    let observed: Arc<Mutex<Observed>> = Arc::default();
    let watch = observe_pods(kube_client.clone(), "app=web", 5, 3, observed.clone());
    ok(server.kubectl(None, &["set", "image", "deployment/web", "web=nginx:1.26"]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = observed.lock().unwrap().created.len();
    server.kill_and_restart();
    assert!(
        (5..8).contains(&before_kill),
        "the kill came mid-rollout: {before_kill} pods created so far"
    );
    rollout_succeeds(&server, "web");
    let pods = pods_jsonpath(&server, "app=web", ".spec.containers[0].image");
    assert_eq!(pods, ["nginx:1.26"; 4].join(" "));
    wait_for(&server, &["get", "pods", "-o", "name"], |o| {
        o.lines().count() == 4
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    watch.abort();
    kubelet.abort();
    let observed = observed.lock().unwrap();
    assert!(
        observed.violations.is_empty(),
        "bounds broken: {:?}",
        observed.violations
    );
    // Four old pods and four new ones, never one more: a restart does not create twice.
    assert_eq!(
        observed.created.len(),
        8,
        "pods created: {:?}",
        observed.created
    );
}
