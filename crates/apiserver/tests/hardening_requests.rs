//! Malformed requests of issue 15 answered as upstream answers them: bad label selectors,
//! resourceVersion and continue misuse, unacceptable Accept types and unparsable integers.

mod support;

use serde_json::{Value, json};
use support::TestServer;

const CONFIGMAPS: &str = "/api/v1/namespaces/x/configmaps";

fn configmap(name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": app}},
        "data": {"k": "v"},
    })
}

async fn server_with_configmaps() -> TestServer {
    let server = TestServer::start().await;
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    assert_eq!(
        server.post("/api/v1/namespaces", &namespace).await.status,
        201
    );
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        let reply = server.post(CONFIGMAPS, &configmap(name, app)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    server
}

async fn names(server: &TestServer) -> Vec<String> {
    support::item_names(&server.get(CONFIGMAPS).await)
}

fn assert_bad_request(reply: &support::Reply, message: &str, what: &str) {
    assert_eq!(reply.status, 400, "{what}: {}", reply.body);
    assert_eq!(reply.body["kind"], "Status", "{what}");
    assert_eq!(reply.body["reason"], "BadRequest", "{what}");
    assert_eq!(reply.body["message"], message, "{what}");
}

#[tokio::test]
async fn a_malformed_label_selector_deletes_nothing() {
    let server = server_with_configmaps().await;
    let reply = server
        .delete(&format!("{CONFIGMAPS}?labelSelector=%21app%3Dweb"), None)
        .await;
    assert_bad_request(
        &reply,
        "found '=', expected: ',' or 'end of string'",
        "DELETE !app=web",
    );
    assert_eq!(names(&server).await, ["a", "b", "c"]);
}

#[tokio::test]
async fn malformed_label_selectors_on_a_list_are_400() {
    let server = server_with_configmaps().await;
    let cases = [
        ("a%3Db%3Dc", "found '=', expected: ',' or 'end of string'"),
        (
            "%3D",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        ("a%2C", "found '', expected: identifier after ','"),
        (
            "%21",
            "unable to parse requirement: found '', expected: identifier",
        ),
        (
            "%21%21",
            "unable to parse requirement: found '!', expected: identifier",
        ),
        (
            "%21app%3Dweb",
            "found '=', expected: ',' or 'end of string'",
        ),
    ];
    for (selector, message) in cases {
        let reply = server
            .get(&format!("{CONFIGMAPS}?labelSelector={selector}"))
            .await;
        assert_bad_request(&reply, message, selector);
    }
    let field = server
        .get(&format!("{CONFIGMAPS}?fieldSelector=metadata.name%3Da%3Db"))
        .await;
    assert_bad_request(
        &field,
        "invalid field selector: unescaped character in value: 61",
        "fieldSelector a=b=c",
    );
    let good = server
        .get(&format!("{CONFIGMAPS}?labelSelector=app+notin+%28db%29"))
        .await;
    assert_eq!(good.status, 200);
    assert_eq!(good.body["items"].as_array().unwrap().len(), 2);
}
