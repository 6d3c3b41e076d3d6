//! What upstream's client suites found different from Kubernetes, over raw HTTP: boolean
//! parameters, writes racing writes, 404 details, Tables with whole objects, invalid label
//! selectors, bodies that are not objects, health checks, and options upstream refuses.

mod support;

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use support::{TestServer, WatchReader};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

async fn apply(server: &TestServer, path: &str, query: &str, body: &Value) -> support::Reply {
    let path = format!("{path}?{query}");
    server
        .request(
            Method::PATCH,
            &path,
            "application/apply-patch+yaml",
            serde_json::to_vec(body).unwrap(),
        )
        .await
}

async fn merge_patch(server: &TestServer, path: &str, body: &Value) -> support::Reply {
    server
        .request(
            Method::PATCH,
            path,
            "application/merge-patch+json",
            serde_json::to_vec(body).unwrap(),
        )
        .await
}

#[tokio::test]
async fn boolean_parameters_are_true_unless_false_or_zero() {
    let server = TestServer::start().await;
    assert_eq!(server.post(CONFIGMAPS, &configmap("a")).await.status, 201);
    // The Python client's `watch=True`: a watch stream, not a List.
    let path = format!("{CONFIGMAPS}?watch=True&timeoutSeconds=5");
    let (status, mut events) = WatchReader::open(&server, &path, false).await;
    assert_eq!(status, 200);
    let event = events.next(Duration::from_secs(5)).await.expect("an event");
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["metadata"]["name"], "a");
    let listed = server.get(&format!("{CONFIGMAPS}?watch=false")).await;
    assert_eq!(listed.body["kind"], "ConfigMapList");

    // `force=True` takes a field over from another manager.
    let path = format!("{CONFIGMAPS}/a");
    let mine = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": "2"}});
    let conflict = apply(&server, &path, "fieldManager=other", &mine).await;
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    let forced = apply(&server, &path, "fieldManager=other&force=True", &mine).await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.body["data"]["a"], "2");
}

#[tokio::test]
async fn applies_and_deletes_racing_other_writes_do_not_conflict() {
    let server = std::sync::Arc::new(TestServer::start().await);
    assert_eq!(
        server.post(CONFIGMAPS, &configmap("race")).await.status,
        201
    );
    let path = format!("{CONFIGMAPS}/race");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (server, path) = (server.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let reply = if i % 2 == 0 {
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "race"}, "data": {format!("applied-{i}"): "x"}});
                apply(&server, &path, &format!("fieldManager=applier-{i}"), &body).await
            } else {
                merge_patch(&server, &path, &json!({"data": {format!("patched-{i}"): "y"}})).await
            };
            (i, reply.status, reply.body)
        }));
    }
    for task in tasks {
        let (i, status, body) = task.await.unwrap();
        assert_eq!(status, 200, "write {i}: {body}");
    }
    let stored = server.get(&path).await.body;
    assert_eq!(stored["data"].as_object().unwrap().len(), 41, "{stored}");

    // A DELETE without preconditions while patches keep landing: it deletes.
    let mut patches = Vec::new();
    for i in 0..20 {
        let (server, path) = (server.clone(), path.clone());
        patches.push(tokio::spawn(async move {
            merge_patch(&server, &path, &json!({"data": {format!("late-{i}"): "z"}})).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let deleted = server.delete(&path, None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    for patch in patches {
        let status = patch.await.unwrap().status;
        assert!(status == 200 || status == 404, "a patch answered {status}");
    }
    assert_eq!(server.get(&path).await.status, 404);

    // Delete-collection goes on through objects other writes are changing.
    for i in 0..10 {
        let mut cm = configmap(&format!("many-{i}"));
        cm["metadata"]["labels"] = json!({"set": "many"});
        assert_eq!(server.post(CONFIGMAPS, &cm).await.status, 201);
    }
    let mut patches = Vec::new();
    for i in 0..30 {
        let server = server.clone();
        patches.push(tokio::spawn(async move {
            let path = format!("{CONFIGMAPS}/many-{}", i % 10);
            merge_patch(&server, &path, &json!({"data": {format!("p{i}"): "v"}})).await
        }));
    }
    let collection = server
        .delete(&format!("{CONFIGMAPS}?labelSelector=set%3Dmany"), None)
        .await;
    assert_eq!(collection.status, 200, "{}", collection.body);
    for patch in patches {
        patch.await.unwrap();
    }
    let left = server
        .get(&format!("{CONFIGMAPS}?labelSelector=set%3Dmany"))
        .await;
    assert_eq!(left.body["items"], json!([]), "{}", left.body);
}

#[tokio::test]
async fn a_put_with_a_stale_resource_version_still_conflicts() {
    let server = TestServer::start().await;
    let created = server.post(CONFIGMAPS, &configmap("pinned")).await.body;
    let path = format!("{CONFIGMAPS}/pinned");
    let patched = merge_patch(&server, &path, &json!({"data": {"b": "2"}})).await;
    assert_eq!(patched.status, 200);
    let mut stale = created.clone();
    stale["data"]["a"] = json!("3");
    let reply = server.put(&path, &stale).await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.body["message"],
        "Operation cannot be fulfilled on configmaps \"pinned\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let pinned_patch = merge_patch(
        &server,
        &path,
        &json!({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"c": "3"}}),
    )
    .await;
    assert_eq!(pinned_patch.status, 409);
}

#[tokio::test]
async fn not_found_statuses_carry_details() {
    let server = TestServer::start().await;
    for path in [
        format!("{CONFIGMAPS}/nope"),
        "/apis/nope.example.com/v1/things".to_owned(),
        "/api/v1/namespaces/default/nothings".to_owned(),
    ] {
        let reply = server.get(&path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body["details"].is_object(), "{path}: {}", reply.body);
    }
    let reply = server.get(&format!("{CONFIGMAPS}/nope")).await;
    assert_eq!(
        reply.body["details"],
        json!({"name": "nope", "kind": "configmaps"})
    );
}

#[tokio::test]
async fn tables_carry_whole_objects_when_asked() {
    let server = TestServer::start().await;
    for name in ["b", "a"] {
        let pod = support::pod(name, json!({}));
        let reply = server.post("/api/v1/namespaces/default/pods", &pod).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let table = |query: &str| {
        let path = format!("/api/v1/namespaces/default/pods?{query}");
        let request = http::Request::get(path)
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new().into())
            .unwrap();
        server.send(request)
    };
    let whole = table("includeObject=Object").await.body;
    let rows = whole["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["object"]["kind"], "Pod", "{row}");
        assert!(row["object"]["spec"]["containers"][0]["name"].is_string());
    }
    let metadata = table("").await.body;
    assert_eq!(
        metadata["rows"][0]["object"]["kind"],
        "PartialObjectMetadata"
    );
    let none = table("includeObject=None").await.body;
    assert_eq!(none["rows"][0]["object"], Value::Null);
    let bad = table("includeObject=All").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn an_invalid_label_selector_is_a_400() {
    let server = TestServer::start().await;
    let reply = server
        .get(&format!("{CONFIGMAPS}?labelSelector=%22tier%3Dfrontend%22"))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"\\\"tier\": name part must consist of alphanumeric characters"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_unrecognized() {
    let server = TestServer::start().await;
    let cases = [
        (
            b"[1, 2]".to_vec(),
            "json: cannot unmarshal array into Go value of type struct",
        ),
        (
            b"{not json".to_vec(),
            "couldn't get version/kind; json parse error: ",
        ),
    ];
    for (body, why) in cases {
        let reply = server
            .request(Method::POST, "/api/v1/namespaces", "application/json", body)
            .await;
        assert_eq!(reply.status, 400);
        let message = reply.body["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "the object provided is unrecognized (must be of type Namespace): couldn't get version/kind; json parse error: "
            ),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
    }
}

#[tokio::test]
async fn health_checks_list_themselves_when_verbose() {
    let server = TestServer::start().await;
    let plain = server.get("/readyz").await;
    assert_eq!((plain.status, plain.body), (200, json!("ok")));
    for endpoint in ["readyz", "livez", "healthz"] {
        let reply = server.get(&format!("/{endpoint}?verbose")).await;
        assert_eq!(reply.status, 200);
        let text = reply.body.as_str().unwrap();
        assert!(
            text.starts_with("[+]ping ok\n[+]log ok\n[+]etcd ok\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("{endpoint} check passed\n")),
            "{text}"
        );
    }
    assert_eq!(server.get("/readyz/etcd").await.body, json!("ok"));
    assert_eq!(server.get("/readyz/nope").await.status, 404);
}

#[tokio::test]
async fn options_and_apply_bodies_upstream_refuses() {
    let server = TestServer::start().await;
    let path = format!("{CONFIGMAPS}?fieldValidation=Bogus");
    let reply = server.post(&path, &configmap("fv")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "fieldValidation: Unsupported value: \"Bogus\": supported values: \"Ignore\", \"Strict\", \"Warn\""
    );
    assert_eq!(server.get(&format!("{CONFIGMAPS}/fv")).await.status, 404);

    let path = format!("{CONFIGMAPS}/applied");
    let no_version = json!({"kind": "ConfigMap", "metadata": {"name": "applied"}});
    let reply = apply(&server, &path, "fieldManager=me", &no_version).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "Incorrect version specified in apply patch. Specified patch version: , expected: v1"
    );
    let no_kind = json!({"apiVersion": "v1", "metadata": {"name": "applied"}});
    let reply = apply(&server, &path, "fieldManager=me", &no_kind).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(server.get(&path).await.status, 404);
}

/// The raw bytes of a GET.
async fn raw_get(server: &TestServer, path: &str) -> (u16, String) {
    let request = http::Request::get(path)
        .header("accept", "application/json")
        .body(Vec::new().into())
        .unwrap();
    let response = server.client.send(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn json_is_written_in_the_types_order_with_a_newline() {
    let server = TestServer::start().await;
    let (status, body) = raw_get(&server, "/api/v1/namespaces/default").await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with(
            r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default","uid":"#
        ),
        "{body}"
    );
    let spec = body.find(r#""spec":"#).unwrap();
    let status_at = body.find(r#""status":"#).unwrap();
    assert!(spec < status_at, "{body}");
    assert!(body.ends_with("}\n"), "{body:?}");

    let (status, body) = raw_get(&server, &format!("{CONFIGMAPS}/nope")).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"configmaps \\\"nope\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"nope\",\"kind\":\"configmaps\"},\"code\":404}\n"
    );

    let deployment = support::deployment("web", 2);
    let path = "/apis/apps/v1/namespaces/default/deployments";
    assert_eq!(server.post(path, &deployment).await.status, 201);
    let (_, body) = raw_get(&server, &format!("{path}/web")).await;
    let at = |key: &str| body.find(key).unwrap_or_else(|| panic!("{key} in {body}"));
    assert!(at(r#""kind":"Deployment""#) < at(r#""apiVersion":"apps/v1""#));
    // ObjectMeta in Go order: name, namespace, uid, resourceVersion, generation, creationTimestamp.
    let order = [
        r#""name":"web""#,
        r#""namespace":"#,
        r#""uid":"#,
        r#""resourceVersion":"#,
        r#""generation":"#,
        r#""creationTimestamp":"#,
    ];
    let positions: Vec<usize> = order.iter().map(|k| at(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{body}");
    // DeploymentSpec: replicas, selector, template.
    assert!(at(r#""replicas":2"#) < at(r#""selector":"#));
    assert!(at(r#""selector":"#) < at(r#""template":"#));

    let (_, list) = raw_get(&server, path).await;
    assert!(
        list.starts_with(
            r#"{"kind":"DeploymentList","apiVersion":"apps/v1","metadata":{"resourceVersion":"#
        ),
        "{list}"
    );
    assert!(
        list.contains(r#""items":[{"metadata":{"name":"web""#),
        "{list}"
    );
}

#[tokio::test]
async fn a_list_is_written_item_by_item_as_the_whole_list_would_be() {
    let server = TestServer::start().await;
    let (status, body) = raw_get(&server, "/api/v1/namespaces/empty/configmaps").await;
    assert_eq!(status, 200);
    let empty: Value = serde_json::from_str(&body).unwrap();
    let rv = empty["metadata"]["resourceVersion"].as_str().unwrap();
    assert_eq!(
        body,
        format!(
            "{{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"{rv}\"}},\"items\":[]}}\n"
        )
    );
    // Enough items for the body to go out in several pieces.
    let value = "v".repeat(2000);
    for i in 0..100 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:03}"), "labels": {"n": i.to_string()}}, "data": {"z": "last", "a": value}});
        assert_eq!(server.post(CONFIGMAPS, &cm).await.status, 201);
    }
    for query in ["", "?limit=7", "?labelSelector=n%3D42"] {
        let (status, body) = raw_get(&server, &format!("{CONFIGMAPS}{query}")).await;
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        let whole = String::from_utf8(ferrokube_api::json_order::list(&list)).unwrap();
        assert!(
            body == whole,
            "{query}: the pieces differ from the whole list's bytes"
        );
        assert!(
            body.starts_with(
                r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":""#
            ),
            "{}",
            &body[..200]
        );
        assert!(
            body.contains(r#"},"items":[{"metadata":{"name":"cm-"#),
            "{query}"
        );
        let want = match query {
            "" => 100,
            "?limit=7" => 7,
            _ => 1,
        };
        assert_eq!(list["items"].as_array().unwrap().len(), want, "{query}");
        assert!(
            list["items"][0].get("kind").is_none(),
            "items carry no kind"
        );
    }
    let (_, body) = raw_get(&server, &format!("{CONFIGMAPS}?limit=7")).await;
    assert!(
        body.contains(r#""continue":""#) && body.contains(r#""remainingItemCount":93}"#),
        "{}",
        &body[..300]
    );
}
