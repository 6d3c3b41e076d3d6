//! End-to-end: moving an object from client-side to server-side apply with the real kubectl.
//! `kubectl apply -f` then `kubectl apply --server-side -f` of a changed file takes the fields
//! over from `kubectl-client-side-apply` without a conflict (the last-applied annotation agrees
//! with the live object), `kubectl diff --server-side` works the same way, and a field another
//! manager changed since still conflicts.

mod support;

use serde_json::Value;
use support::{Backend, Server, manifest, ok, text};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
";

fn get_json(server: &Server, what: &str) -> Value {
    let out = ok(server.kubectl(None, &["get", what, "-o", "json", "--show-managed-fields"]));
    serde_json::from_str(&out).unwrap()
}

/// The manager (and operation) whose fields include the nginx container's image.
fn image_manager(deployment: &Value) -> (String, String) {
    let entries = deployment["metadata"]["managedFields"].as_array().unwrap();
    let owns_image = |e: &&Value| {
        e.pointer("/fieldsV1/f:spec/f:template/f:spec/f:containers")
            .and_then(|c| c.get("k:{\"name\":\"nginx\"}"))
            .and_then(|c| c.get("f:image"))
            .is_some()
    };
    let entry = entries
        .iter()
        .find(owns_image)
        .expect("an owner of the image");
    (
        entry["manager"].as_str().unwrap().to_owned(),
        entry["operation"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_takes_over_from_client_side_apply() {
    let server = Server::start(&Backend::sqlite().await);
    let file = manifest(WEB);
    let path = file.path().to_str().unwrap();
    assert_eq!(
        ok(server.kubectl(None, &["apply", "-f", path])),
        "deployment.apps/web created\n"
    );
    let created = get_json(&server, "deploy/web");
    assert_eq!(
        image_manager(&created),
        ("kubectl-client-side-apply".into(), "Update".into())
    );

    std::fs::write(file.path(), WEB.replace("nginx:1.25", "nginx:1.26")).unwrap();
    let diff = server.kubectl(None, &["diff", "--server-side", "-f", path]);
    let (out, err) = text(&diff);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "kubectl diff exits 1 when it finds differences:\nstdout: {out}\nstderr: {err}"
    );
    assert!(
        out.contains("-      - image: nginx:1.25\n")
            && out.contains("+      - image: nginx:1.26\n"),
        "{out}"
    );
    assert_eq!(
        get_json(&server, "deploy/web")["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25",
        "a diff is a dry run"
    );

    assert_eq!(
        ok(server.kubectl(None, &["apply", "--server-side", "-f", path])),
        "deployment.apps/web serverside-applied\n"
    );
    let applied = get_json(&server, "deploy/web");
    assert_eq!(
        applied["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert_eq!(image_manager(&applied), ("kubectl".into(), "Apply".into()));
    let last =
        applied["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
    assert!(
        last.contains("nginx:1.26") && !last.contains("nginx:1.25"),
        "the annotation follows the server-side apply: {last}"
    );
    let again = server.kubectl(None, &["diff", "--server-side", "-f", path]);
    assert_eq!(again.status.code(), Some(0), "{:?}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_changed_by_another_manager_still_conflicts() {
    let server = Server::start(&Backend::sqlite().await);
    let file = manifest(WEB);
    let path = file.path().to_str().unwrap();
    ok(server.kubectl(None, &["apply", "-f", path]));
    let image_patch =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.24"}]}}}}"#;
    assert_eq!(
        ok(server.kubectl(None, &["patch", "deployment/web", "-p", image_patch])),
        "deployment.apps/web patched\n"
    );
    assert_eq!(
        ok(server.kubectl(None, &["scale", "deployment/web", "--replicas=3"])),
        "deployment.apps/web scaled\n"
    );

    std::fs::write(file.path(), WEB.replace("nginx:1.25", "nginx:1.26")).unwrap();
    for verb in [&["apply"][..], &["diff"][..]] {
        let mut args = verb.to_vec();
        args.extend(["--server-side", "-f", path]);
        let output = server.kubectl(None, &args);
        let (_, err) = text(&output);
        assert!(!output.status.success(), "{args:?} should conflict");
        for part in [
            "Apply failed with 2 conflicts: ",
            "conflicts with \"kubectl\" with subresource \"scale\"",
            "- .spec.replicas",
            "conflicts with \"kubectl-patch\"",
            "- .spec.template.spec.containers[name=\"nginx\"].image",
        ] {
            assert!(err.contains(part), "{args:?}: {part} is missing from {err}");
        }
    }
    let live = get_json(&server, "deploy/web");
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.24"
    );
    assert_eq!(live["spec"]["replicas"], 3);
}
