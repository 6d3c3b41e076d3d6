//! End-to-end: the real kubectl against `ferrokube server`, on SQLite and on a real etcd,
//! checking what kubectl prints as a user would see it.

mod support;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use support::{Backend, SEED, Server, fails, manifest, ok};

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::sqlite().await);
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn etcd() {
                    super::$name(Backend::etcd().await);
                }
            }
        )*
    };
}

on_every_backend!(
    seed_deployment_lifecycle,
    invalid_manifests_are_refused,
    get_pods_watch_prints_changes,
    state_survives_kill_9
);

fn seed_deployment_lifecycle(backend: Backend) {
    let server = Server::start(&backend);
    // kubectl 1.33 sends the Deployment as protobuf, 1.30 as JSON.
    for version in [None, Some("1.30")] {
        seed_once(&server, version);
    }
    let explain = ok(server.kubectl(None, &["explain", "deployment.spec.strategy"]));
    assert!(
        explain.contains("FIELD: strategy <DeploymentStrategy>"),
        "{explain}"
    );
    assert!(
        explain.contains("rollingUpdate\t<RollingUpdateDeployment>"),
        "{explain}"
    );
    let resources = ok(server.kubectl(None, &["api-resources"]));
    let deployments: Vec<&str> = resources
        .lines()
        .find(|l| l.starts_with("deployments "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        deployments,
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    let namespaces = ok(server.kubectl(None, &["get", "ns", "-o", "name"]));
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(
            namespaces.contains(&format!("namespace/{ns}\n")),
            "{namespaces}"
        );
    }
}

fn seed_once(server: &Server, version: Option<&str>) {
    let out = ok(server.kubectl(version, &SEED));
    assert_eq!(out, "deployment.apps/nginx-deployment created\n");

    let yaml = ok(server.kubectl(
        None,
        &["get", "deployment", "nginx-deployment", "-o", "yaml"],
    ));
    for line in [
        "  progressDeadlineSeconds: 600",
        "  replicas: 1",
        "  revisionHistoryLimit: 10",
        "      maxSurge: 25%",
        "      maxUnavailable: 25%",
        "    type: RollingUpdate",
        "        imagePullPolicy: Always",
        "          protocol: TCP",
        "        terminationMessagePath: /dev/termination-log",
        "        terminationMessagePolicy: File",
        "      dnsPolicy: ClusterFirst",
        "      restartPolicy: Always",
        "      schedulerName: default-scheduler",
        "      terminationGracePeriodSeconds: 30",
        "  generation: 1",
        "      creationTimestamp: null",
    ] {
        assert!(
            yaml.lines().any(|l| l == line),
            "missing {line:?} in:\n{yaml}"
        );
    }

    let table = ok(server.kubectl(None, &["get", "deploy"]));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    // UP-TO-DATE moves as the controller works; no pod becomes available without a kubelet.
    assert_eq!(
        (rows[1][0], rows[1][1], rows[1][3]),
        ("nginx-deployment", "0/1", "0"),
        "{table}"
    );
    let wide = ok(server.kubectl(None, &["get", "deploy", "-o", "wide"]));
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert!(wide.contains("app=nginx-deployment"), "{wide}");

    let err = fails(server.kubectl(version, &SEED));
    assert_eq!(
        err,
        "error: failed to create deployment: deployments.apps \"nginx-deployment\" already exists\n"
    );

    let out = ok(server.kubectl(None, &["delete", "deployment", "nginx-deployment"]));
    assert_eq!(out, "deployment.apps \"nginx-deployment\" deleted\n");
    let err = fails(server.kubectl(None, &["get", "deployment", "nginx-deployment"]));
    assert_eq!(
        err,
        "Error from server (NotFound): deployments.apps \"nginx-deployment\" not found\n"
    );
}

const INVALID_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  replicas: -1
  selector:
    matchLabels:
      app: x
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
";

const UNKNOWN_FIELD: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
colour: red
";

fn invalid_manifests_are_refused(backend: Backend) {
    let server = Server::start(&backend);
    let file = manifest(INVALID_DEPLOYMENT);
    let err = fails(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    assert_eq!(
        err,
        "The Deployment \"bad\" is invalid: \n\
         * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n\
         * spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`\n\
         * spec.template.spec.containers[0].image: Required value\n"
    );
    let file = manifest(UNKNOWN_FIELD);
    let err = fails(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    assert!(
        err.contains("strict decoding error: unknown field \"colour\""),
        "{err}"
    );
    let err = fails(server.kubectl(None, &["get", "configmap", "settings"]));
    assert!(
        err.contains("configmaps \"settings\" not found"),
        "nothing was stored: {err}"
    );
}

fn pod(name: &str, label: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    tier: {label}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n"
    )
}

fn get_pods_watch_prints_changes(backend: Backend) {
    let server = Server::start(&backend);
    let mut watch = server.kubectl_spawn(None, &["get", "pods", "-w"]);
    let stdout = BufReader::new(watch.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(l)))
    });
    // Give kubectl time to list and open its watch before the changes start.
    std::thread::sleep(Duration::from_millis(1500));

    let created = manifest(&pod("web-1", "front"));
    ok(server.kubectl(None, &["create", "-f", created.path().to_str().unwrap()]));
    let changed = manifest(&pod("web-1", "back"));
    ok(server.kubectl(None, &["replace", "-f", changed.path().to_str().unwrap()]));
    ok(server.kubectl(None, &["delete", "pod", "web-1"]));

    let mut lines = Vec::new();
    while lines
        .iter()
        .filter(|l: &&String| l.starts_with("web-1 "))
        .count()
        < 3
    {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("kubectl get pods -w printed only {lines:?}"),
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in &rows {
        assert_eq!(row[..4], ["web-1", "0/1", "Pending", "0"], "{lines:?}");
    }
}

fn state_survives_kill_9(backend: Backend) {
    let mut server = Server::start(&backend);
    ok(server.kubectl(None, &SEED));
    ok(server.kubectl(None, &["create", "namespace", "team-a"]));
    ok(server.kubectl(
        None,
        &[
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=k=v",
            "-n",
            "team-a",
        ],
    ));
    for i in 0..10 {
        ok(server.kubectl(
            None,
            &[
                "create",
                "configmap",
                &format!("cm-{i}"),
                "--from-literal=k=v",
            ],
        ));
    }
    let query = [
        "get",
        // Not the Deployment: its controller updates its status whenever it likes.
        "cm,secret,ns",
        "-A",
        // Not the root CA's ConfigMaps: the publisher makes them as the namespaces appear.
        "--field-selector",
        "metadata.name!=kube-root-ca.crt",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.metadata.resourceVersion}{\"\\n\"}{end}",
    ];
    let before = ok(server.kubectl(None, &query));
    assert_eq!(
        before.lines().count(),
        16,
        "10 configmaps, 1 secret, 5 namespaces: {before}"
    );
    server.kill_and_restart();
    let after = ok(server.kubectl(None, &query));
    assert_eq!(
        after, before,
        "uids and resourceVersions are the same after kill -9 and restart"
    );
    let out = ok(server.kubectl(None, &["create", "configmap", "after-restart"]));
    assert_eq!(out, "configmap/after-restart created\n");
    let deployment = ok(server.kubectl(
        None,
        &[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    ));
    assert!(!deployment.is_empty(), "the Deployment survived too");
}
