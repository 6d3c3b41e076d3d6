//! Hostile bodies: YAML nested deeper than the JSON parser's limit is refused before the YAML
//! parser runs (a 200 KB body of `[` once cost 25 s of CPU), on create and on server-side
//! apply, and so is YAML whose aliases expand past go-yaml's ratio (14 KB expanding to 4
//! million values), while ordinary YAML, anchors and all, still decodes; JSON patches whose copies would add more than
//! 3 MiB, or with more than 10,000 operations, are refused before they are applied.

mod support;

use http::Method;
use serde_json::{Value, json};
use support::TestServer;

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn brackets() -> Vec<u8> {
    "[".repeat(200 * 1024).into_bytes()
}

#[tokio::test]
async fn deeply_nested_yaml_is_refused_before_parsing() {
    let server = TestServer::start().await;
    let reply = server
        .request(Method::POST, CONFIGMAPS, "application/yaml", brackets())
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.contains(
            "error converting YAML to JSON: yaml: recursion limit exceeded at line 1 column 128"
        ),
        "{message}"
    );

    let apply = format!("{CONFIGMAPS}/deep?fieldManager=test");
    let reply = server
        .request(
            Method::PATCH,
            &apply,
            "application/apply-patch+yaml",
            brackets(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "error decoding YAML: error converting YAML to JSON: error converting YAML to JSON: yaml: recursion limit exceeded"
        ),
        "{message}"
    );

    let delete = format!("{CONFIGMAPS}/deep");
    let reply = server
        .request(Method::DELETE, &delete, "application/yaml", brackets())
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(server.get(&delete).await.status, 404);
}

#[tokio::test]
async fn ordinary_yaml_still_decodes() {
    let server = TestServer::start().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  annotations:\n    a: \"[[[\"\n    note: 'it''s [fine] # really'\ndata:\n  k: \"{{{{\" # a comment [[[\n";
    let reply = server
        .request(Method::POST, CONFIGMAPS, "application/yaml", yaml.into())
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["metadata"]["annotations"]["a"], "[[[");
    assert_eq!(reply.body["data"]["k"], "{{{{");

    let apply = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  list: \"[1, [2, [3]]]\"\n";
    let reply = server
        .request(
            Method::PATCH,
            &format!("{CONFIGMAPS}/applied?fieldManager=test"),
            "application/apply-patch+yaml",
            apply.into(),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// A ConfigMap whose unknown field `b` holds `aliases` aliases of a 2,000-item list: 14 KB of
/// YAML that expands to 4 million values when `aliases` is 2,000.
fn alias_bomb(aliases: usize) -> Vec<u8> {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\na: &a [{}]\nb: [{}]\n",
        vec!["x"; 2000].join(", "),
        vec!["*a"; aliases].join(", ")
    )
    .into_bytes()
}

#[tokio::test]
async fn yaml_that_aliases_too_much_is_refused_at_once() {
    let server = TestServer::start().await;
    let started = std::time::Instant::now();
    let reply = server
        .request(
            Method::POST,
            CONFIGMAPS,
            "application/yaml",
            alias_bomb(2000),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the object provided is unrecognized (must be of type ConfigMap): error converting YAML to JSON: yaml: document contains excessive aliasing ("
        ),
        "{message}"
    );

    let apply = format!("{CONFIGMAPS}/bomb?fieldManager=test");
    let reply = server
        .request(
            Method::PATCH,
            &apply,
            "application/apply-patch+yaml",
            alias_bomb(2000),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap();
    assert_eq!(
        message,
        "error decoding YAML: error converting YAML to JSON: error converting YAML to JSON: yaml: document contains excessive aliasing"
    );

    let delete = format!("{CONFIGMAPS}/bomb");
    let reply = server
        .request(
            Method::DELETE,
            &delete,
            "application/yaml",
            alias_bomb(2000),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.get(&delete).await.status, 404);

    // 104 aliases stay under go-yaml's ratio (the 105th passes 0.99): the body decodes and the
    // ConfigMap is created, `a` and `b` dropped as unknown fields.
    let reply = server
        .request(
            Method::POST,
            CONFIGMAPS,
            "application/yaml",
            alias_bomb(104),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn yaml_reusing_an_anchor_a_few_times_still_decodes() {
    let server = TestServer::start().await;
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: &l {app: web, tier: front}\n  annotations: *l\nspec:\n  selector: {matchLabels: *l}\n  template:\n    metadata: {labels: *l, annotations: *l}\n    spec:\n      nodeSelector: *l\n      containers: [{name: web, image: nginx}]\n";
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    let reply = server
        .request(Method::POST, deployments, "application/yaml", yaml.into())
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let labels = json!({"app": "web", "tier": "front"});
    assert_eq!(reply.body["metadata"]["annotations"], labels);
    assert_eq!(reply.body["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(
        reply.body["spec"]["template"]["spec"]["nodeSelector"],
        labels
    );

    let reply = server
        .request(
            Method::PATCH,
            &format!("{deployments}/web?fieldManager=test&force=true"),
            "application/apply-patch+yaml",
            yaml.into(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["spec"]["template"]["metadata"]["annotations"],
        labels
    );
}

async fn json_patch(server: &TestServer, path: &str, operations: Vec<Value>) -> support::Reply {
    let body = serde_json::to_vec(&operations).unwrap();
    server
        .request(Method::PATCH, path, "application/json-patch+json", body)
        .await
}

#[tokio::test]
async fn json_patches_that_ask_too_much_are_refused() {
    let server = TestServer::start().await;
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "annotations": {"a": "x".repeat(1024)}}});
    let created = server.post(CONFIGMAPS, &configmap).await;
    assert_eq!(created.status, 201);
    let path = format!("{CONFIGMAPS}/cm");

    // Each copy puts the whole metadata under a new key of itself: it doubles per operation.
    let doubling: Vec<Value> = (0..18)
        .map(|i| json!({"op": "copy", "from": "/metadata", "path": format!("/metadata/annotations/b{i}")}))
        .collect();
    let reply = json_patch(&server, &path, doubling).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "the server rejected our request due to an error in our request"
    );

    let many = vec![json!({"op": "test", "path": "/metadata/name", "value": "cm"}); 10_001];
    let reply = json_patch(&server, &path, many).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );

    let unchanged = server.get(&path).await;
    assert_eq!(
        unchanged.body["metadata"]["resourceVersion"],
        created.body["metadata"]["resourceVersion"]
    );
    assert_eq!(
        unchanged.body["metadata"]["annotations"],
        configmap["metadata"]["annotations"]
    );

    let copy = vec![
        json!({"op": "copy", "from": "/metadata/annotations/a", "path": "/metadata/annotations/c"}),
    ];
    let reply = json_patch(&server, &path, copy).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["metadata"]["annotations"]["c"], "x".repeat(1024));
}

#[tokio::test]
async fn strategic_directives_of_the_wrong_type_change_nothing() {
    let server = TestServer::start().await;
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}});
    let created = server.post(CONFIGMAPS, &configmap).await;
    assert_eq!(created.status, 201);
    let path = format!("{CONFIGMAPS}/cm");
    let cases = [
        (
            json!({"data": {"$retainKeys": 5}}),
            "invalid patch format of retainKeys",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
            "invalid patch format of primitive list",
        ),
        (
            json!({"metadata": {"$setElementOrder/finalizers": 1}}),
            "invalid patch format of setElementOrder list",
        ),
    ];
    for (patch, message) in cases {
        let body = serde_json::to_vec(&patch).unwrap();
        let reply = server
            .request(
                Method::PATCH,
                &path,
                "application/strategic-merge-patch+json",
                body,
            )
            .await;
        assert_eq!(reply.status, 400, "{patch}: {}", reply.body);
        assert_eq!(reply.body["message"], message, "{patch}");
    }
    let unchanged = server.get(&path).await;
    assert_eq!(unchanged.body["data"], configmap["data"]);
    assert_eq!(
        unchanged.body["metadata"]["resourceVersion"],
        created.body["metadata"]["resourceVersion"]
    );
}
