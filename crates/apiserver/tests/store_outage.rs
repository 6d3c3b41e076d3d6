//! The API server while its etcd is hung or gone: the health checks' `etcd` fails (and
//! recovers), writes answer upstream's request timeout without the gRPC client's internals,
//! and open watches end with an internal error the client retries rather than 410 Expired.
//! Needs etcd (`hack/setup.sh` installs it).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokube_store::{EtcdStore, EtcdStoreOptions, Store};
use ferrokube_testing::EtcdServer;
use serde_json::{Value, json};
use support::{TestServer, WatchReader};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// An API server on `etcd` whose store requests give up after 2 s, and whose health probe
/// after 0.5 s.
async fn server_on(etcd: &EtcdServer) -> TestServer {
    let options = EtcdStoreOptions {
        prefix: "/outage/".to_owned(),
        request_timeout: Duration::from_secs(2),
        ..EtcdStoreOptions::new(vec![etcd.endpoint.clone()])
    };
    let store: Arc<dyn Store> = Arc::new(EtcdStore::connect(options).await.expect("etcd"));
    TestServer::start_with_store(store, |o| {
        o.health_check_timeout = Duration::from_millis(500);
    })
    .await
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

/// The reply's message carries nothing of the gRPC stack below the store.
fn assert_no_internals(body: &Value) {
    let message = body["message"].as_str().unwrap_or_default().to_lowercase();
    for word in ["tonic", "hyper", "grpc", "transport", "tcp connect"] {
        assert!(!message.contains(word), "internals in {body}");
    }
}

async fn health(server: &TestServer, endpoint: &str) -> (u16, String) {
    let reply = server.get(&format!("/{endpoint}?verbose")).await;
    (
        reply.status,
        reply.body.as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_hung_etcd_fails_the_health_checks_and_writes_time_out() {
    let etcd = EtcdServer::start().await;
    let server = server_on(&etcd).await;
    assert_eq!(health(&server, "readyz").await.0, 200);

    etcd.pause();
    for endpoint in ["readyz", "livez"] {
        let (status, text) = health(&server, endpoint).await;
        assert_eq!(status, 500, "{endpoint}: {text}");
        assert!(text.contains("[-]etcd failed: reason withheld\n"), "{text}");
        assert!(text.contains("[+]ping ok\n"), "{text}");
        assert!(
            text.ends_with(&format!("{endpoint} check failed\n")),
            "{text}"
        );
    }
    let plain = server.get("/readyz/etcd").await;
    assert_eq!(plain.status, 500);

    let reply = server.post(CONFIGMAPS, &configmap("during")).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.body["reason"], "Timeout");
    assert_eq!(
        reply.body["message"],
        "Timeout: request did not complete within requested timeout - context deadline exceeded"
    );
    assert_no_internals(&reply.body);

    etcd.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&server, "readyz").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "readyz did not recover after etcd resumed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = server.post(CONFIGMAPS, &configmap("after")).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn a_watch_ends_with_an_internal_error_when_etcd_goes() {
    let mut etcd = EtcdServer::start().await;
    let server = server_on(&etcd).await;
    let created = server.post(CONFIGMAPS, &configmap("seen")).await;
    assert_eq!(created.status, 201);
    let rv = created.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, mut watch) = WatchReader::open(
        &server,
        &format!("{CONFIGMAPS}?watch=true&resourceVersion={rv}"),
        false,
    )
    .await;
    assert_eq!(status, 200);
    server.post(CONFIGMAPS, &configmap("live")).await;
    let first = watch.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(first["type"], "ADDED", "{first}");

    etcd.kill();
    let event = watch
        .next(Duration::from_secs(30))
        .await
        .expect("an ERROR event");
    assert_eq!(event["type"], "ERROR", "{event}");
    assert_eq!(event["object"]["code"], 500, "{event}");
    assert_eq!(event["object"]["reason"], "InternalError", "{event}");
    assert_no_internals(&event["object"]);
    assert_eq!(watch.next(Duration::from_secs(10)).await, None);

    let reply = server.post(CONFIGMAPS, &configmap("gone")).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_no_internals(&reply.body);
    assert_eq!(health(&server, "livez").await.0, 500);
}
