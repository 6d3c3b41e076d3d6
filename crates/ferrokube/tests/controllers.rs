//! End-to-end: the controllers running inside `ferrokube server`, driven with the real kubectl.

mod support;

use support::{Backend, Server, fails, ok};

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
        ok(server.kubectl(None, &["get", "configmaps", "-n", "team", "-o", "name"])),
        "",
        "a new namespace of the same name starts empty"
    );
}
