//! The REST semantics over real HTTP: conflicts and generation, status, selectors and paging,
//! deletion (finalizers, graceful pods, preconditions, collections), dry runs, subresources,
//! events in both groups, metrics, and errors in upstream's `Status` form.

mod support;

use ferrokube_store::Revision;
use serde_json::{Value, json};
use support::{TestServer, deployment, pod};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn rv(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"].as_str().unwrap()
}

#[tokio::test]
async fn update_conflicts_generation_and_status() {
    let server = TestServer::start().await;
    let created = server.post(DEPLOYMENTS, &deployment("web", 1)).await;
    assert_eq!(created.status, 201);
    let stale = created.body.clone();

    let mut scaled = created.body.clone();
    scaled["spec"]["replicas"] = json!(3);
    scaled["status"] = json!({"replicas": 99});
    let updated = server.put(&format!("{DEPLOYMENTS}/web"), &scaled).await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        updated.body["metadata"]["generation"], 2,
        "a spec change bumps generation"
    );
    assert_eq!(
        updated.body["status"],
        json!({}),
        "the main resource ignores status"
    );

    let conflict = server.put(&format!("{DEPLOYMENTS}/web"), &stale).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["reason"], "Conflict");
    assert_eq!(
        conflict.body["message"],
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let mut relabeled = updated.body.clone();
    relabeled["metadata"]["labels"]["tier"] = json!("front");
    let relabeled = server.put(&format!("{DEPLOYMENTS}/web"), &relabeled).await;
    assert_eq!(
        relabeled.body["metadata"]["generation"], 2,
        "a label change keeps generation"
    );

    let mut annotated = relabeled.body.clone();
    annotated["metadata"]["annotations"] = json!({"note": "x"});
    let annotated = server.put(&format!("{DEPLOYMENTS}/web"), &annotated).await;
    assert_eq!(
        annotated.body["metadata"]["generation"], 3,
        "Deployments also count annotation changes"
    );

    let mut status = annotated.body.clone();
    status["status"] = json!({"replicas": 3, "observedGeneration": 3});
    status["spec"]["replicas"] = json!(7);
    let written = server
        .put(&format!("{DEPLOYMENTS}/web/status"), &status)
        .await;
    assert_eq!(written.status, 200);
    assert_eq!(written.body["status"]["replicas"], 3);
    assert_eq!(
        written.body["spec"]["replicas"], 3,
        "/status ignores the spec"
    );

    let same = server
        .put(&format!("{DEPLOYMENTS}/web"), &written.body)
        .await;
    assert_eq!(
        rv(&same.body),
        rv(&written.body),
        "a no-op update writes nothing"
    );

    let mut renamed = written.body.clone();
    renamed["metadata"]["name"] = json!("other");
    let mismatch = server.put(&format!("{DEPLOYMENTS}/web"), &renamed).await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(
        mismatch.body["message"],
        "the name of the object (other) does not match the name on the URL (web)"
    );
}

#[tokio::test]
async fn list_selectors_and_paging() {
    let server = TestServer::start().await;
    let labels = [
        json!({"app": "a", "env": "prod"}),
        json!({"app": "a", "env": "dev"}),
        json!({"app": "b"}),
        json!({"app": "b", "env": "prod"}),
        json!({}),
    ];
    for (i, labels) in labels.into_iter().enumerate() {
        assert_eq!(
            server
                .post(PODS, &pod(&format!("p{i}"), labels))
                .await
                .status,
            201
        );
    }
    let names = support::item_names;
    let cases = [
        ("labelSelector=app%3Da", vec!["p0", "p1"]),
        ("labelSelector=app%3D%3Db", vec!["p2", "p3"]),
        ("labelSelector=app%21%3Da", vec!["p2", "p3", "p4"]),
        (
            "labelSelector=env+in+%28prod%2Cstaging%29",
            vec!["p0", "p3"],
        ),
        ("labelSelector=env+notin+%28prod%29", vec!["p1", "p2", "p4"]),
        ("labelSelector=env", vec!["p0", "p1", "p3"]),
        ("labelSelector=%21env", vec!["p2", "p4"]),
        ("fieldSelector=metadata.name%3Dp3", vec!["p3"]),
        (
            "fieldSelector=status.phase%3DPending%2Cmetadata.name%21%3Dp0",
            vec!["p1", "p2", "p3", "p4"],
        ),
        (
            "fieldSelector=spec.nodeName%3D",
            vec!["p0", "p1", "p2", "p3", "p4"],
        ),
    ];
    for (query, want) in cases {
        let reply = server.get(&format!("{PODS}?{query}")).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        assert_eq!(names(&reply), want, "{query}");
    }
    let bad = server
        .get(&format!("{PODS}?fieldSelector=spec.colour%3Dred"))
        .await;
    assert_eq!(
        (bad.status, bad.body["message"].as_str().unwrap()),
        (400, "field label not supported: spec.colour")
    );

    let mut seen = Vec::new();
    let mut page = server.get(&format!("{PODS}?limit=2")).await;
    assert_eq!(page.body["metadata"]["remainingItemCount"], 3);
    let first_rv = page.body["metadata"]["resourceVersion"].clone();
    loop {
        seen.extend(names(&page));
        let Some(token) = page.body["metadata"]["continue"]
            .as_str()
            .map(str::to_owned)
        else {
            break;
        };
        // A write between pages does not show up: the pages are one snapshot.
        server
            .post(PODS, &pod(&format!("late{}", seen.len()), json!({})))
            .await;
        page = server
            .get(&format!("{PODS}?limit=2&continue={token}"))
            .await;
        assert_eq!(page.body["metadata"]["resourceVersion"], first_rv);
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4"]);
    let all = server.get("/api/v1/pods").await;
    assert_eq!(
        all.body["items"].as_array().unwrap().len(),
        7,
        "cluster-wide list sees every namespace's pods"
    );
    assert_eq!(all.body["kind"], "PodList");
    assert!(
        all.body["items"][0].get("kind").is_none(),
        "list items carry no kind, as upstream"
    );
}

#[tokio::test]
async fn deletion_finalizers_graceful_pods_and_preconditions() {
    let server = TestServer::start().await;
    let mut kept = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "finalizers": ["example.com/hold"]}});
    assert_eq!(
        server
            .post("/api/v1/namespaces/default/configmaps", &kept)
            .await
            .status,
        201
    );
    let marked = server
        .delete("/api/v1/namespaces/default/configmaps/kept", None)
        .await;
    assert_eq!(marked.status, 200);
    assert!(marked.body["metadata"]["deletionTimestamp"].is_string());
    let still = server
        .get("/api/v1/namespaces/default/configmaps/kept")
        .await;
    assert_eq!(still.status, 200, "a finalizer keeps the object");
    kept = still.body.clone();
    kept["metadata"]["finalizers"] = json!([]);
    assert_eq!(
        server
            .put("/api/v1/namespaces/default/configmaps/kept", &kept)
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get("/api/v1/namespaces/default/configmaps/kept")
            .await
            .status,
        404,
        "removing the last finalizer deletes it"
    );

    server.post(PODS, &pod("bound", json!({}))).await;
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "node-1"}});
    assert_eq!(
        server
            .post(&format!("{PODS}/bound/binding"), &binding)
            .await
            .status,
        201
    );
    let again = server
        .post(&format!("{PODS}/bound/binding"), &binding)
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.body["message"],
        "Operation cannot be fulfilled on pods/binding \"bound\": pod bound is already assigned to node \"node-1\""
    );
    let graceful = server.delete(&format!("{PODS}/bound"), None).await;
    assert_eq!(graceful.body["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(
        server.get(&format!("{PODS}/bound")).await.status,
        200,
        "a bound pod waits for its kubelet"
    );
    let confirm = server
        .delete(&format!("{PODS}/bound?gracePeriodSeconds=0"), None)
        .await;
    assert_eq!(confirm.status, 200);
    assert_eq!(server.get(&format!("{PODS}/bound")).await.status, 404);

    let created = server.post(DEPLOYMENTS, &deployment("guarded", 1)).await;
    let wrong = json!({"preconditions": {"uid": "not-the-uid"}});
    let refused = server
        .delete(&format!("{DEPLOYMENTS}/guarded"), Some(&wrong))
        .await;
    assert_eq!(refused.status, 409);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID in precondition: not-the-uid")
    );
    let right = json!({"preconditions": {"uid": created.body["metadata"]["uid"]}, "propagationPolicy": "Foreground"});
    let foreground = server
        .delete(&format!("{DEPLOYMENTS}/guarded"), Some(&right))
        .await;
    assert_eq!(
        foreground.body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );

    for i in 0..4 {
        let labels = if i % 2 == 0 {
            json!({"batch": "x"})
        } else {
            json!({})
        };
        server.post(PODS, &pod(&format!("c{i}"), labels)).await;
    }
    let collection = server
        .delete(&format!("{PODS}?labelSelector=batch%3Dx"), None)
        .await;
    assert_eq!(collection.status, 200);
    let left = server.get(PODS).await;
    let names: Vec<&str> = left.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c1", "c3"]);
    let gone = server.delete(&format!("{PODS}/nothing"), None).await;
    assert_eq!(
        (gone.status, gone.body["message"].as_str().unwrap()),
        (404, "pods \"nothing\" not found")
    );
}

#[tokio::test]
async fn dry_run_and_namespaces() {
    let server = TestServer::start().await;
    let before = server.store.current_revision().await.unwrap();
    let dry = server
        .post(&format!("{DEPLOYMENTS}?dryRun=All"), &deployment("dry", 1))
        .await;
    assert_eq!(dry.status, 201);
    assert_eq!(
        dry.body["spec"]["revisionHistoryLimit"], 10,
        "defaults are applied"
    );
    assert_eq!(server.get(&format!("{DEPLOYMENTS}/dry")).await.status, 404);
    assert_eq!(
        server.store.current_revision().await.unwrap(),
        before,
        "a dry run writes nothing"
    );

    let missing = server
        .post(
            "/apis/apps/v1/namespaces/nope/deployments",
            &deployment("x", 1),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["message"].as_str().unwrap()),
        (404, "namespaces \"nope\" not found")
    );

    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    assert_eq!(server.post("/api/v1/namespaces", &ns).await.status, 201);
    let deleting = server.delete("/api/v1/namespaces/team", None).await;
    assert_eq!(deleting.body["status"]["phase"], "Terminating");
    let refused = server
        .post(
            "/apis/apps/v1/namespaces/team/deployments",
            &deployment("late", 1),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.body["message"],
        "deployments.apps \"late\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
    let generated =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cfg-"}});
    let made = server
        .post("/api/v1/namespaces/default/configmaps", &generated)
        .await;
    let name = made.body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("cfg-") && name.len() == 9, "{name}");
    assert!(made.body["metadata"]["uid"].as_str().unwrap().len() == 36);
}

#[tokio::test]
async fn scale_subresource() {
    let server = TestServer::start().await;
    server.post(DEPLOYMENTS, &deployment("web", 2)).await;
    let scale = server.get(&format!("{DEPLOYMENTS}/web/scale")).await;
    assert_eq!(scale.body["kind"], "Scale");
    assert_eq!(scale.body["apiVersion"], "autoscaling/v1");
    assert_eq!(scale.body["spec"]["replicas"], 2);
    assert_eq!(scale.body["status"]["selector"], "app=web");
    let mut bigger = scale.body.clone();
    bigger["spec"]["replicas"] = json!(5);
    let scaled = server
        .put(&format!("{DEPLOYMENTS}/web/scale"), &bigger)
        .await;
    assert_eq!(scaled.body["spec"]["replicas"], 5);
    let deployment = server.get(&format!("{DEPLOYMENTS}/web")).await;
    assert_eq!(deployment.body["spec"]["replicas"], 5);
    assert_eq!(deployment.body["metadata"]["generation"], 2);
    let stale = server
        .put(&format!("{DEPLOYMENTS}/web/scale"), &bigger)
        .await;
    assert_eq!(
        stale.status, 409,
        "the Scale's resourceVersion is a precondition"
    );
    let mut negative = scaled.body.clone();
    negative["spec"]["replicas"] = json!(-1);
    let invalid = server
        .put(&format!("{DEPLOYMENTS}/web/scale"), &negative)
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.body["message"],
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}

#[tokio::test]
async fn events_in_both_groups_share_storage() {
    let server = TestServer::start().await;
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.1"},
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
        "note": "Pulling image \"nginx\"", "reason": "Pulling", "type": "Normal",
        "action": "Pull", "reportingController": "kubelet", "reportingInstance": "node-1",
        "eventTime": "2026-01-01T00:00:00.000000Z"
    });
    let created = server
        .post("/apis/events.k8s.io/v1/namespaces/default/events", &event)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let core = server.get("/api/v1/namespaces/default/events/web.1").await;
    assert_eq!(core.body["apiVersion"], "v1");
    assert_eq!(core.body["involvedObject"]["name"], "web");
    assert_eq!(core.body["message"], "Pulling image \"nginx\"");
    let selected = server.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb%2Creason%3DPulling").await;
    assert_eq!(selected.body["items"].as_array().unwrap().len(), 1);
    let other = server
        .get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dother")
        .await;
    assert_eq!(other.body["items"].as_array().unwrap().len(), 0);
    let back = server
        .get("/apis/events.k8s.io/v1/namespaces/default/events/web.1")
        .await;
    assert_eq!(back.body["regarding"]["name"], "web");
    assert_eq!(back.body["note"], "Pulling image \"nginx\"");
}

#[tokio::test]
async fn errors_are_status_objects() {
    let server = TestServer::start().await;
    let too_big = vec![b' '; 3 * 1024 * 1024 + 1];
    let reply = server
        .request(http::Method::POST, DEPLOYMENTS, "application/json", too_big)
        .await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str().unwrap()),
        (413, "RequestEntityTooLarge")
    );
    let reply = server
        .request(http::Method::POST, DEPLOYMENTS, "text/plain", b"x".to_vec())
        .await;
    assert_eq!(reply.status, 415);
    let mut wrong_kind = deployment("x", 1);
    wrong_kind["kind"] = json!("ReplicaSet");
    let reply = server.post(DEPLOYMENTS, &wrong_kind).await;
    assert_eq!(
        (reply.status, reply.body["message"].as_str().unwrap()),
        (
            400,
            "the kind in the data (ReplicaSet) does not match the expected kind (Deployment)"
        )
    );
    let reply = server.get("/apis/apps/v1/namespaces/default/widgets").await;
    assert_eq!(
        (reply.status, reply.body["kind"].as_str().unwrap()),
        (404, "Status")
    );
    let mut unknown = deployment("strict", 1);
    unknown["spec"]["replica"] = json!(2);
    let reply = server
        .post(&format!("{DEPLOYMENTS}?fieldValidation=Strict"), &unknown)
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .ends_with("strict decoding error: unknown field \"spec.replica\"")
    );
    let reply = server
        .post(&format!("{DEPLOYMENTS}?fieldValidation=Warn"), &unknown)
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.headers["warning"],
        "299 - \"unknown field \\\"spec.replica\\\"\""
    );
    let yaml =
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n".to_vec();
    let reply = server
        .request(
            http::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/yaml",
            yaml,
        )
        .await;
    assert_eq!(
        (reply.status, &reply.body["data"]),
        (201, &json!({"a": "b"}))
    );
}

#[tokio::test]
async fn discovery_version_health_and_metrics() {
    let server = TestServer::start().await;
    let version = server.get("/version").await;
    assert_eq!(
        (
            version.body["major"].as_str(),
            version.body["minor"].as_str()
        ),
        (Some("1"), Some("33"))
    );
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(server.get(path).await.status, 200, "{path}");
    }
    let request = http::Request::get("/apis")
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .body(Vec::new().into())
        .unwrap();
    let aggregated = server.send(request).await;
    assert_eq!(
        aggregated.headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let apps = aggregated.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    let deployments = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert_eq!(deployments["shortNames"], json!(["deploy"]));
    assert_eq!(deployments["categories"], json!(["all"]));
    assert_eq!(
        deployments["subresources"][0]["responseKind"]["kind"],
        "Scale"
    );
    let legacy = server.get("/api/v1").await;
    let pods = legacy.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/binding")
        .unwrap();
    assert_eq!(pods["verbs"], json!(["create"]));
    server.post(DEPLOYMENTS, &deployment("m", 1)).await;
    let metrics = server.get("/metrics").await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(
            "apiserver_request_total{code=\"201\",resource=\"deployments\",verb=\"POST\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("apiserver_request_duration_seconds_bucket{code=\"201\",resource=\"deployments\",verb=\"POST\",le=\"+Inf\"} 1"));
    let openapi = server.get("/openapi/v3").await;
    let url = openapi.body["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = server.get(&url).await;
    let schema = &doc.body["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
    let pod_doc = server
        .get(
            openapi.body["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap(),
        )
        .await;
    let containers = &pod_doc.body["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]
        ["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    let _ = Revision::ZERO;
}

#[tokio::test]
async fn patches_on_status_and_strict_fields() {
    let server = TestServer::start().await;
    server.post(DEPLOYMENTS, &deployment("web", 1)).await;
    let patch = |path: &str, content_type: &str, body: Value| {
        let path = path.to_owned();
        let content_type = content_type.to_owned();
        let server = &server;
        async move {
            server
                .request(
                    http::Method::PATCH,
                    &path,
                    &content_type,
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
        }
    };
    let status = patch(
        &format!("{DEPLOYMENTS}/web/status"),
        "application/merge-patch+json",
        json!({"status": {"replicas": 1}, "spec": {"replicas": 9}}),
    )
    .await;
    assert_eq!(status.status, 200);
    assert_eq!(
        (
            status.body["status"]["replicas"].as_i64(),
            status.body["spec"]["replicas"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let entry = status.body["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subresource"] == "status")
        .unwrap();
    assert_eq!(entry["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));

    let strict = patch(
        &format!("{DEPLOYMENTS}/web?fieldValidation=Strict"),
        "application/merge-patch+json",
        json!({"spec": {"replica": 2}}),
    )
    .await;
    assert_eq!(strict.status, 400);
    assert!(
        strict.body["message"]
            .as_str()
            .unwrap()
            .ends_with("strict decoding error: unknown field \"spec.replica\"")
    );

    let unsupported = patch(&format!("{DEPLOYMENTS}/web"), "application/json", json!({})).await;
    assert_eq!(unsupported.status, 415);
    let missing_manager = server
        .request(
            http::Method::PATCH,
            &format!("{DEPLOYMENTS}/web"),
            "application/apply-patch+yaml",
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n".to_vec(),
        )
        .await;
    assert_eq!(missing_manager.status, 400);
    let failing_test = patch(
        &format!("{DEPLOYMENTS}/web"),
        "application/json-patch+json",
        json!([{"op": "test", "path": "/spec/replicas", "value": 5}]),
    )
    .await;
    assert_eq!(
        failing_test.status, 422,
        "a failed JSON patch test changes nothing: {}",
        failing_test.body
    );
    let scale = patch(
        &format!("{DEPLOYMENTS}/web/scale"),
        "application/merge-patch+json",
        json!({"spec": {"replicas": 4}}),
    )
    .await;
    assert_eq!(scale.body["spec"]["replicas"], 4);
}
