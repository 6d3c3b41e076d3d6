//! End-to-end: every way kubectl changes an object — apply (client- and server-side), scale,
//! set, label, annotate, patch, edit, replace, rollout — against `ferrokube server`, checking
//! kubectl's words and the resulting objects.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Backend, Server, fails, manifest, ok, wait_for};

const TWO_CONTAINERS: &str = "apiVersion: apps/v1
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
        env:
        - {name: A, value: \"1\"}
      - name: sidecar
        image: busybox:1.36
";

fn get(server: &Server, what: &str, jsonpath: &str) -> String {
    ok(server.kubectl(None, &["get", what, "-o", &format!("jsonpath={jsonpath}")]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_created_unchanged_configured() {
    let server = Server::start(&Backend::sqlite().await);
    let v1 = manifest(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels: {tier: a}\ndata:\n  a: \"1\"\n  b: \"2\"\n",
    );
    let path = v1.path().to_str().unwrap();
    assert_eq!(
        ok(server.kubectl(None, &["apply", "-f", path])),
        "configmap/app created\n"
    );
    assert_eq!(
        ok(server.kubectl(None, &["apply", "-f", path])),
        "configmap/app unchanged\n"
    );
    std::fs::write(v1.path(), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels: {tier: a}\ndata:\n  a: \"1\"\n  c: \"3\"\n").unwrap();
    assert_eq!(
        ok(server.kubectl(None, &["apply", "-f", path])),
        "configmap/app configured\n"
    );
    assert_eq!(
        get(&server, "configmap/app", "{.data}"),
        "{\"a\":\"1\",\"c\":\"3\"}",
        "b was removed from the file and the object"
    );
    let last = get(
        &server,
        "configmap/app",
        "{.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    );
    assert!(
        last.contains("\"c\":\"3\"") && !last.contains("\"b\""),
        "{last}"
    );
    let generation_less = get(&server, "configmap/app", "{.metadata.generation}");
    assert_eq!(generation_less, "", "ConfigMaps have no generation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_and_force() {
    let server = Server::start(&Backend::sqlite().await);
    let file = manifest(&TWO_CONTAINERS.replace("name: web\n  labels", "name: ssa\n  labels"));
    let path = file.path().to_str().unwrap();
    assert_eq!(
        ok(server.kubectl(None, &["apply", "--server-side", "-f", path])),
        "deployment.apps/ssa serverside-applied\n"
    );
    assert_eq!(
        ok(server.kubectl(None, &["scale", "deployment/ssa", "--replicas=5"])),
        "deployment.apps/ssa scaled\n"
    );
    let changed = manifest(
        &std::fs::read_to_string(file.path())
            .unwrap()
            .replace("replicas: 1", "replicas: 3"),
    );
    let changed_path = changed.path().to_str().unwrap();
    let err = fails(server.kubectl(None, &["apply", "--server-side", "-f", changed_path]));
    assert!(
        err.starts_with("error: Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1 at "),
        "{err}"
    );
    assert!(err.contains(": .spec.replicas\n"), "{err}");
    assert_eq!(
        get(&server, "deploy/ssa", "{.spec.replicas}"),
        "5",
        "a conflict changes nothing"
    );
    let out = ok(server.kubectl(
        None,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            changed_path,
        ],
    ));
    assert_eq!(out, "deployment.apps/ssa serverside-applied\n");
    assert_eq!(get(&server, "deploy/ssa", "{.spec.replicas}"), "3");
    let yaml = ok(server.kubectl(
        None,
        &["get", "deploy/ssa", "-o", "yaml", "--show-managed-fields"],
    ));
    assert!(
        yaml.contains("    manager: kubectl\n    operation: Apply\n"),
        "{yaml}"
    );
    let hidden = ok(server.kubectl(None, &["get", "deploy/ssa", "-o", "yaml"]));
    assert!(
        !hidden.contains("managedFields"),
        "kubectl hides managedFields by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imperative_changes_print_upstream_words() {
    let server = Server::start(&Backend::sqlite().await);
    let file = manifest(TWO_CONTAINERS);
    ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["scale", "deploy/web", "--replicas=3"],
            "deployment.apps/web scaled\n",
        ),
        (
            vec!["set", "image", "deploy/web", "nginx=nginx:1.26"],
            "deployment.apps/web image updated\n",
        ),
        (
            vec!["set", "env", "deploy/web", "-c", "nginx", "B=2"],
            "deployment.apps/web env updated\n",
        ),
        (
            vec![
                "set",
                "resources",
                "deploy/web",
                "-c",
                "nginx",
                "--limits=cpu=200m,memory=128Mi",
            ],
            "deployment.apps/web resource requirements updated\n",
        ),
        (
            vec!["label", "deploy/web", "tier=front"],
            "deployment.apps/web labeled\n",
        ),
        (
            vec!["annotate", "deploy/web", "note=hello"],
            "deployment.apps/web annotated\n",
        ),
        (
            vec![
                "patch",
                "deploy/web",
                "--type=merge",
                "-p",
                "{\"spec\":{\"minReadySeconds\":5}}",
            ],
            "deployment.apps/web patched\n",
        ),
        (
            vec![
                "patch",
                "deploy/web",
                "--type=merge",
                "-p",
                "{\"spec\":{\"minReadySeconds\":5}}",
            ],
            "deployment.apps/web patched (no change)\n",
        ),
        (
            vec![
                "patch",
                "deploy/web",
                "--type=json",
                "-p",
                "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2}]",
            ],
            "deployment.apps/web patched\n",
        ),
        (
            vec![
                "patch",
                "deploy/web",
                "--type=strategic",
                "-p",
                "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"sidecar\",\"image\":\"busybox:1.37\"}]}}}}",
            ],
            "deployment.apps/web patched\n",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(ok(server.kubectl(None, &args)), want, "kubectl {args:?}");
    }
    let images = get(
        &server,
        "deploy/web",
        "{.spec.template.spec.containers[*].image}",
    );
    assert_eq!(
        images, "nginx:1.26 busybox:1.37",
        "set image changed only the named container"
    );
    let env = get(
        &server,
        "deploy/web",
        "{.spec.template.spec.containers[0].env}",
    );
    assert_eq!(
        env, "[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}]",
        "set env merged by name"
    );
    let limits = get(
        &server,
        "deploy/web",
        "{.spec.template.spec.containers[0].resources.limits}",
    );
    assert_eq!(limits, "{\"cpu\":\"200m\",\"memory\":\"128Mi\"}");
    assert_eq!(
        get(
            &server,
            "deploy/web",
            "{.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.note}"
        ),
        "2 front hello"
    );

    // Generation follows spec (and, for Deployments, annotation) changes only.
    let generation = get(&server, "deploy/web", "{.metadata.generation}");
    ok(server.kubectl(None, &["label", "deploy/web", "extra=1"]));
    assert_eq!(
        get(&server, "deploy/web", "{.metadata.generation}"),
        generation,
        "a label does not bump generation"
    );
    ok(server.kubectl(None, &["scale", "deploy/web", "--replicas=4"]));
    let bumped: i64 = get(&server, "deploy/web", "{.metadata.generation}")
        .parse()
        .unwrap();
    assert_eq!(bumped, generation.parse::<i64>().unwrap() + 1);

    // edit with a scripted editor.
    let editor_dir = tempfile::tempdir().unwrap();
    let editor = editor_dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 4/replicas: 6/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = support::kubectl_command(None)
        .args(["edit", "deploy/web"])
        .env("KUBECONFIG", &server.kubeconfig)
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert_eq!(ok(edit), "deployment.apps/web edited\n");
    assert_eq!(get(&server, "deploy/web", "{.spec.replicas}"), "6");

    // replace and replace --force.
    let yaml = ok(server.kubectl(None, &["get", "deploy/web", "-o", "yaml"]))
        .replace("replicas: 6", "replicas: 7");
    let replaced = manifest(&yaml);
    assert_eq!(
        ok(server.kubectl(None, &["replace", "-f", replaced.path().to_str().unwrap()])),
        "deployment.apps/web replaced\n"
    );
    let uid = get(&server, "deploy/web", "{.metadata.uid}");
    let forced = ok(server.kubectl(
        None,
        &["replace", "--force", "-f", file.path().to_str().unwrap()],
    ));
    assert_eq!(
        forced,
        "deployment.apps \"web\" deleted\ndeployment.apps/web replaced\n"
    );
    assert_ne!(
        get(&server, "deploy/web", "{.metadata.uid}"),
        uid,
        "--force deletes and recreates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_run_changes_nothing() {
    let server = Server::start(&Backend::sqlite().await);
    let file = manifest(TWO_CONTAINERS);
    let path = file.path().to_str().unwrap();
    let out = ok(server.kubectl(None, &["create", "-f", path, "--dry-run=server"]));
    assert_eq!(out, "deployment.apps/web created (server dry run)\n");
    assert!(fails(server.kubectl(None, &["get", "deploy/web"])).contains("not found"));
    ok(server.kubectl(None, &["create", "-f", path]));
    let before = get(&server, "deploy/web", "{.metadata.generation}");
    let runs: Vec<Vec<&str>> = vec![
        vec!["apply", "-f", path, "--dry-run=server"],
        vec!["apply", "--server-side", "-f", path, "--dry-run=server"],
        vec!["scale", "deploy/web", "--replicas=9", "--dry-run=server"],
        vec![
            "patch",
            "deploy/web",
            "--type=merge",
            "-p",
            "{\"spec\":{\"replicas\":8}}",
            "--dry-run=server",
        ],
    ];
    for args in runs {
        let out = ok(server.kubectl(None, &args));
        // kubectl patch prints no dry-run suffix; the others do.
        let suffixed = out.ends_with("(server dry run)\n") || args[0] == "patch";
        assert!(suffixed, "{args:?}: {out}");
    }
    assert_eq!(
        get(
            &server,
            "deploy/web",
            "{.metadata.generation} {.spec.replicas}"
        ),
        format!("{before} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_commands_send_their_patches() {
    let server = Server::start(&Backend::sqlite().await);
    let file = manifest(TWO_CONTAINERS);
    ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    assert_eq!(
        ok(server.kubectl(None, &["rollout", "pause", "deploy/web"])),
        "deployment.apps/web paused\n"
    );
    assert_eq!(get(&server, "deploy/web", "{.spec.paused}"), "true");
    assert_eq!(
        ok(server.kubectl(None, &["rollout", "resume", "deploy/web"])),
        "deployment.apps/web resumed\n"
    );
    assert_eq!(
        ok(server.kubectl(None, &["rollout", "restart", "deploy/web"])),
        "deployment.apps/web restarted\n"
    );
    let restarted = get(
        &server,
        "deploy/web",
        "{.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
    );
    assert!(!restarted.is_empty());

    // The deployment controller made revision 1; a new image makes revision 2 (the restart
    // above made another, so roll forward and back by image).
    ok(server.kubectl(None, &["set", "image", "deploy/web", "nginx=nginx:1.26"]));
    let rs_list = [
        "get",
        "rs",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.annotations.deployment\\.kubernetes\\.io/revision}={.spec.template.spec.containers[0].image} {end}",
    ];
    let history = wait_for(&server, &rs_list, |o| o.split_whitespace().count() == 3);
    let first = history
        .split_whitespace()
        .find(|e| e.ends_with("=1=nginx:1.25"))
        .expect("revision 1 runs nginx:1.25")
        .to_owned();
    let first_name = first.split('=').next().unwrap().to_owned();
    let listing = ok(server.kubectl(None, &["rollout", "history", "deploy/web"]));
    assert!(
        listing.contains("REVISION")
            && listing.lines().any(|l| l.starts_with("1 "))
            && listing.lines().any(|l| l.starts_with("3 ")),
        "{listing}"
    );
    let out = ok(server.kubectl(None, &["rollout", "undo", "deploy/web", "--to-revision=1"]));
    assert_eq!(out, "deployment.apps/web rolled back\n");
    assert_eq!(
        get(
            &server,
            "deploy/web",
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.25"
    );
    // The controller finds revision 1's ReplicaSet by its template and makes it the newest.
    let after = wait_for(&server, &rs_list, |o| {
        o.contains(&format!("{first_name}=4=nginx:1.25"))
    });
    assert_eq!(
        after.split_whitespace().count(),
        3,
        "no new ReplicaSet for a rollback: {after}"
    );
    let history = get(
        &server,
        &format!("rs/{first_name}"),
        "{.metadata.annotations.deployment\\.kubernetes\\.io/revision-history}",
    );
    assert_eq!(history, "1", "the former revision is kept");
}
