//! Object sizes, the same on every backend: ConfigMaps and Secrets over 1 MiB of data are
//! refused by validation (422), and any object too large for etcd's request limit answers
//! what upstream passes on from etcd (500 `etcdserver: request is too large`), on SQLite
//! as on etcd. Nothing is stored either way. Needs etcd (`hack/setup.sh` installs it).

mod support;

use std::sync::Arc;

use ferrokube_store::Store;
use ferrokube_testing::EtcdServer;
use serde_json::{Value, json};
use support::TestServer;

const NS: &str = "/api/v1/namespaces/default";

fn big_configmap() -> Value {
    let value = "x".repeat(5 * 512 * 1024);
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": value}})
}

fn big_secret() -> Value {
    let value = "x".repeat(3 * 512 * 1024);
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"}, "stringData": {"a": value}})
}

/// A Pod of about 2 MiB (one environment value): under the 3 MiB body limit, over etcd's.
fn big_pod() -> Value {
    let value = "x".repeat(2 * 1024 * 1024);
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "env": [{"name": "A", "value": value}]}]}
    })
}

async fn check_sizes(server: &TestServer) {
    for (plural, body) in [("configmaps", big_configmap()), ("secrets", big_secret())] {
        let reply = server.post(&format!("{NS}/{plural}"), &body).await;
        assert_eq!(reply.status, 422, "{plural}: {}", reply.body["message"]);
        assert_eq!(reply.body["reason"], "Invalid");
        let message = reply.body["message"].as_str().unwrap();
        assert!(
            message.contains("Too long: must have at most 1048576 bytes"),
            "{message}"
        );
        assert_eq!(server.get(&format!("{NS}/{plural}/big")).await.status, 404);
    }

    let reply = server.post(&format!("{NS}/pods"), &big_pod()).await;
    assert_eq!(reply.status, 500, "{}", reply.body["message"]);
    assert_eq!(reply.body["message"], "etcdserver: request is too large");
    assert!(reply.body.get("reason").is_none(), "{}", reply.body);
    assert_eq!(server.get(&format!("{NS}/pods/big")).await.status, 404);

    // Just under the limit is fine on both.
    let mut pod = big_pod();
    pod["spec"]["containers"][0]["env"][0]["value"] = json!("x".repeat(1024 * 1024));
    let reply = server.post(&format!("{NS}/pods"), &pod).await;
    assert_eq!(reply.status, 201, "{}", reply.body["message"]);
}

#[tokio::test]
async fn sizes_on_sqlite() {
    check_sizes(&TestServer::start().await).await;
}

#[tokio::test]
async fn sizes_on_etcd() {
    let etcd = EtcdServer::start().await;
    let store: Arc<dyn Store> = Arc::new(etcd.store("/sizes/").await);
    check_sizes(&TestServer::start_with_store(store, |_| {}).await).await;
}
