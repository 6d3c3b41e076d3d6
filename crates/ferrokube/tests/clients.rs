//! End-to-end with the real kubectl: what upstream's client suites and users found different
//! from Kubernetes — `--sort-by` a field outside metadata, an invalid `-l`, `kubectl debug`
//! of something missing, and a server that stops on SIGTERM while clients hold connections.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::{Backend, Server, fails, manifest, ok};

fn pod(name: &str, container: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: {container}
    image: busybox
"
    )
}

#[tokio::test]
async fn sort_by_a_field_outside_metadata() {
    let backend = Backend::sqlite().await;
    let server = Server::start(&backend);
    for (name, container) in [("first", "zed"), ("second", "alpha"), ("third", "mid")] {
        let file = manifest(&pod(name, container));
        ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    }
    let out = ok(server.kubectl(
        None,
        &[
            "get",
            "pods",
            "--sort-by=.spec.containers[0].name",
            "-o",
            "name",
        ],
    ));
    assert_eq!(out, "pod/second\npod/third\npod/first\n");
    // The default columns too, with a Table whose rows carry the whole objects.
    let out = ok(server.kubectl(None, &["get", "pods", "--sort-by=.spec.containers[0].name"]));
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["second", "third", "first"], "{out}");

    for (name, replicas) in [("big", "3"), ("small", "1")] {
        ok(server.kubectl(
            None,
            &[
                "create",
                "deployment",
                name,
                "--image=nginx",
                "--replicas",
                replicas,
            ],
        ));
    }
    let out = ok(server.kubectl(
        None,
        &["get", "deploy", "--sort-by=.spec.replicas", "-o", "name"],
    ));
    assert_eq!(out, "deployment.apps/small\ndeployment.apps/big\n");
}

#[tokio::test]
async fn an_invalid_label_selector_is_an_error() {
    let backend = Backend::sqlite().await;
    let server = Server::start(&backend);
    let err = fails(server.kubectl(None, &["get", "pods", "-l", "\"tier=frontend\""]));
    assert!(err.contains("unable to parse requirement"), "{err}");
    assert!(err.contains("Invalid value: \"\\\"tier\""), "{err}");
}

#[tokio::test]
async fn debug_of_a_missing_node_is_not_found() {
    let backend = Backend::sqlite().await;
    let server = Server::start(&backend);
    let output = server.kubectl(Some("1.33"), &["debug", "node/nowhere", "--image=busybox"]);
    let err = fails(output);
    assert!(!err.contains("panic"), "{err}");
    assert!(err.contains("nodes \"nowhere\" not found"), "{err}");
    // Ephemeral containers are not served yet: the 404 for the subresource must still carry
    // details, which kubectl 1.33 reads.
    let file = manifest(&pod("target", "app"));
    ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    let output = server.kubectl(Some("1.33"), &["debug", "pod/target", "--image=busybox"]);
    let (out, err) = support::text(&output);
    assert!(!output.status.success(), "{out}{err}");
    assert!(!err.contains("panic"), "{err}");
    assert!(
        err.contains("the server could not find the requested resource"),
        "{err}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_server_while_clients_hold_connections() {
    let backend = Backend::sqlite().await;
    let mut server = Server::start(&backend);
    // An idle keep-alive connection, and a watch.
    let mut idle = std::net::TcpStream::connect(&server.address).unwrap();
    write!(
        idle,
        "GET /version HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        server.address
    )
    .unwrap();
    let mut answer = [0u8; 64];
    let n = idle.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let mut watch = server.kubectl_spawn(None, &["get", "pods", "-w"]);
    std::thread::sleep(Duration::from_millis(500));
    let status = server.terminate(Duration::from_secs(20));
    let _ = watch.kill();
    let _ = watch.wait();
    let status = status.expect("the server exits on SIGTERM within 20 s");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_kind_the_server_does_not_serve_is_no_match() {
    let backend = Backend::sqlite().await;
    let server = Server::start(&backend);
    let file = manifest(
        "apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
spec: {}
",
    );
    // kubectl validates it against /openapi/v2 first, then finds no mapping for the kind.
    let err = fails(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    assert!(!err.contains("failed to download openapi"), "{err}");
    assert!(
        err.contains("no matches for kind \"CronTab\" in version \"stable.example.com/v1\""),
        "{err}"
    );
    // A served kind still validates and creates.
    let file = manifest(&pod("checked", "app"));
    ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
}
