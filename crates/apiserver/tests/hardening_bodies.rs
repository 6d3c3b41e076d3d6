//! Hostile bodies: YAML nested deeper than the JSON parser's limit is refused before the YAML
//! parser runs (a 200 KB body of `[` once cost 25 s of CPU), on create and on server-side
//! apply, while ordinary YAML still decodes.

mod support;

use http::Method;
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
        message.contains("yaml parse error: recursion limit exceeded at line 1 column 128"),
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
        message.starts_with("error decoding YAML: recursion limit exceeded"),
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
