//! End-to-end: kubectl 1.33 sends protobuf bodies (`application/vnd.kubernetes.protobuf`) for
//! `create serviceaccount|secret|configmap|deployment`, for the Pod of `debug node/N` and for
//! the DeleteOptions of `drain`; the server decodes each into the object a JSON body would have
//! given, checked on what kubectl prints and on the stored object.

mod support;

use serde_json::Value;
use support::{Backend, Server, manifest, ok};

/// The kubectl that sends protobuf (1.32 and later do).
const KUBECTL: Option<&str> = Some("1.33");
const PROTOBUF: &str = "Content-Type: application/vnd.kubernetes.protobuf";

fn get_json(server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&ok(server.kubectl(None, &all))).expect("kubectl prints JSON")
}

/// Runs kubectl 1.33 at `-v=8` and checks that it sent a protobuf body; returns stdout.
fn ok_sending_protobuf(server: &Server, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("-v=8");
    let output = server.kubectl(KUBECTL, &all);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains(PROTOBUF),
        "kubectl {args:?} sent no protobuf body:\n{stderr}"
    );
    ok(output)
}

fn create_node(server: &Server, name: &str) {
    let node = manifest(&format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"
    ));
    let path = node.path().to_str().unwrap();
    assert_eq!(
        ok(server.kubectl(None, &["create", "-f", path])),
        format!("node/{name} created\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_verbs_send_protobuf() {
    let server = Server::start(&Backend::sqlite().await);

    let out = ok_sending_protobuf(&server, &["create", "serviceaccount", "builder"]);
    assert_eq!(out, "serviceaccount/builder created\n");
    let sa = get_json(&server, &["serviceaccount", "builder"]);
    assert_eq!(sa["metadata"]["namespace"], "default");

    let out = ok_sending_protobuf(
        &server,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
        ],
    );
    assert_eq!(out, "secret/creds created\n");
    let secret = get_json(&server, &["secret", "creds"]);
    assert_eq!(secret["data"]["password"], "czNjcjN0", "{secret}");
    assert_eq!(secret["type"], "Opaque");

    let out = ok_sending_protobuf(
        &server,
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=prod",
        ],
    );
    assert_eq!(out, "configmap/settings created\n");
    let cm = get_json(&server, &["configmap", "settings"]);
    assert_eq!(cm["data"], serde_json::json!({"mode": "prod"}));

    // `replicas` is a Go pointer: the 0 kubectl sends is kept, not defaulted to 1.
    let out = ok_sending_protobuf(
        &server,
        &[
            "create",
            "deployment",
            "idle",
            "--image=nginx",
            "--replicas=0",
        ],
    );
    assert_eq!(out, "deployment.apps/idle created\n");
    let deployment = get_json(&server, &["deployment", "idle"]);
    assert_eq!(deployment["spec"]["replicas"], 0, "{deployment}");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx");
    assert_eq!(
        container["terminationMessagePath"], "/dev/termination-log",
        "the empty string Go sent was dropped, so defaulting filled it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_node_sends_a_protobuf_pod() {
    let server = Server::start(&Backend::sqlite().await);
    create_node(&server, "n1");

    let out = ok_sending_protobuf(&server, &["debug", "node/n1", "--image=busybox"]);
    let name = out
        .split_whitespace()
        .find(|w| w.starts_with("node-debugger-n1-"))
        .unwrap_or_else(|| panic!("no debugging pod named in {out:?}"));
    assert_eq!(
        out,
        format!("Creating debugging pod {name} with container debugger on node n1.\n")
    );
    let pod = get_json(&server, &["pod", name]);
    let spec = &pod["spec"];
    assert_eq!(spec["nodeName"], "n1");
    assert_eq!(spec["hostPID"], true);
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["containers"][0]["image"], "busybox");
    assert_eq!(
        spec["volumes"][0],
        serde_json::json!({"name": "host-root", "hostPath": {"path": "/", "type": ""}}),
        "upstream defaults an unset hostPath type to \"\""
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"][0]["mountPath"],
        "/host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_deletes_with_protobuf_delete_options() {
    let server = Server::start(&Backend::sqlite().await);
    create_node(&server, "n1");
    let out = ok(server.kubectl(KUBECTL, &["debug", "node/n1", "--image=busybox"]));
    assert!(out.contains("node-debugger-n1-"), "{out}");

    let out = ok_sending_protobuf(&server, &["drain", "n1", "--force", "--grace-period=0"]);
    assert!(out.ends_with("node/n1 drained\n"), "{out}");
    let node = get_json(&server, &["node", "n1"]);
    assert_eq!(node["spec"]["unschedulable"], true);
    let pods = get_json(&server, &["pods"]);
    assert_eq!(pods["items"], serde_json::json!([]), "{pods}");
}
