//! Watches over real HTTP: initial state, resume from a resourceVersion, selector transitions,
//! bookmarks, timeouts, 410 Gone for a compacted resourceVersion, and Tables.

mod support;

use std::time::Duration;

use ferrokube_store::Revision;
use serde_json::{Value, json};
use support::{TestServer, WatchReader};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const WAIT: Duration = Duration::from_secs(10);

fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn kind_and_name(event: &Value) -> (String, String) {
    (
        event["type"].as_str().unwrap().to_owned(),
        event["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[tokio::test]
async fn resume_from_resource_version_with_bookmarks() {
    let server = TestServer::start().await;
    let a = server.post(CMS, &configmap("a", json!({}))).await.body;
    let rv = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, mut watch) = WatchReader::open(
        &server,
        &format!("{CMS}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"),
        false,
    )
    .await;
    assert_eq!(status, 200);
    let b = server.post(CMS, &configmap("b", json!({}))).await.body;
    let mut changed = b.clone();
    changed["data"] = json!({"k": "w"});
    server.put(&format!("{CMS}/b"), &changed).await;
    server.delete(&format!("{CMS}/a"), None).await;
    let mut seen = Vec::new();
    let mut bookmark = None;
    while seen.len() < 3 || bookmark.is_none() {
        let event = watch.next(WAIT).await.expect("stream open");
        if event["type"] == "BOOKMARK" {
            bookmark = Some(event);
        } else {
            seen.push(kind_and_name(&event));
        }
    }
    let want = [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")];
    assert_eq!(seen, want.map(|(k, n)| (k.to_owned(), n.to_owned())));
    let bookmark = bookmark.unwrap();
    assert_eq!(bookmark["object"]["kind"], "ConfigMap");
    assert!(
        bookmark["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= rv.parse::<i64>().unwrap()
    );
}

#[tokio::test]
async fn initial_state_selectors_and_timeout() {
    let server = TestServer::start().await;
    server.post(CMS, &configmap("old", json!({"x": "1"}))).await;
    server
        .post(CMS, &configmap("other", json!({"x": "9"})))
        .await;
    let (_, mut watch) = WatchReader::open(
        &server,
        &format!("{CMS}?watch=true&labelSelector=x%3D1&timeoutSeconds=3"),
        false,
    )
    .await;
    assert_eq!(
        kind_and_name(&watch.next(WAIT).await.unwrap()),
        ("ADDED".into(), "old".into()),
        "initial state"
    );
    let created = server
        .post(CMS, &configmap("moving", json!({"x": "1"})))
        .await
        .body;
    let mut away = created.clone();
    away["metadata"]["labels"] = json!({"x": "2"});
    let away = server.put(&format!("{CMS}/moving"), &away).await.body;
    let mut back = away.clone();
    back["metadata"]["labels"] = json!({"x": "1"});
    server.put(&format!("{CMS}/moving"), &back).await;
    let events: Vec<_> = [
        watch.next(WAIT).await,
        watch.next(WAIT).await,
        watch.next(WAIT).await,
    ]
    .into_iter()
    .map(|e| kind_and_name(&e.unwrap()))
    .collect();
    let want = [
        ("ADDED", "moving"),
        ("DELETED", "moving"),
        ("ADDED", "moving"),
    ];
    assert_eq!(
        events,
        want.map(|(k, n)| (k.to_owned(), n.to_owned())),
        "leaving the selection is a DELETED"
    );
    assert_eq!(
        watch.next(WAIT).await,
        None,
        "timeoutSeconds ends the stream"
    );
}

/// A kubelet's kind of watch (`spec.nodeName=node-1`), which the store routes by node: live and
/// resumed from a resourceVersion, it sees its node's pods arrive (created bound, or bound
/// later) and go, and nothing of other nodes' or unbound pods.
#[tokio::test]
async fn node_name_watch_sees_only_its_nodes_pods() {
    const PODS: &str = "/api/v1/namespaces/default/pods";
    let server = TestServer::start().await;
    let on_node = |name: &str, node: &str| {
        let mut pod = support::pod(name, json!({}));
        pod["spec"]["nodeName"] = json!(node);
        pod
    };
    let before = server.post(PODS, &on_node("early", "node-1")).await.body;
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    // The watches end after 3 s, so that nothing arriving after the expected events shows.
    let selector = "fieldSelector=spec.nodeName%3Dnode-1&timeoutSeconds=3";
    let (_, mut live) =
        WatchReader::open(&server, &format!("{PODS}?watch=1&{selector}"), false).await;
    let (_, mut resumed) = WatchReader::open(
        &server,
        &format!("{PODS}?watch=1&{selector}&resourceVersion={rv}"),
        false,
    )
    .await;
    assert_eq!(
        kind_and_name(&live.next(WAIT).await.unwrap()),
        ("ADDED".into(), "early".into())
    );

    server.post(PODS, &on_node("elsewhere", "node-2")).await;
    server.post(PODS, &support::pod("later", json!({}))).await;
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "later"}, "target": {"kind": "Node", "name": "node-1"}});
    assert_eq!(
        server
            .post(&format!("{PODS}/later/binding"), &binding)
            .await
            .status,
        201
    );
    for name in ["elsewhere", "early"] {
        let gone = server
            .delete(&format!("{PODS}/{name}?gracePeriodSeconds=0"), None)
            .await;
        assert_eq!(gone.status, 200, "{name}");
    }
    let want =
        [("ADDED", "later"), ("DELETED", "early")].map(|(k, n)| (k.to_owned(), n.to_owned()));
    for (watch, what) in [(&mut live, "live"), (&mut resumed, "resumed")] {
        let got = [
            watch.next(WAIT).await.unwrap(),
            watch.next(WAIT).await.unwrap(),
        ];
        assert_eq!(got.each_ref().map(kind_and_name), want, "{what}");
        assert_eq!(got[0]["object"]["spec"]["nodeName"], "node-1");
        let after = watch.next(WAIT).await;
        assert!(after.is_none(), "{what}: nothing else, got {after:?}");
    }
}

#[tokio::test]
async fn compacted_resource_version_is_gone() {
    let server = TestServer::start().await;
    for i in 0..5 {
        server
            .post(CMS, &configmap(&format!("c{i}"), json!({})))
            .await;
    }
    let current = server.store.current_revision().await.unwrap();
    server.store.compact(current).await.unwrap();
    let (_, mut watch) =
        WatchReader::open(&server, &format!("{CMS}?watch=1&resourceVersion=2"), false).await;
    let event = watch.next(WAIT).await.unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    let list = server
        .get(&format!(
            "{CMS}?resourceVersion=2&resourceVersionMatch=Exact"
        ))
        .await;
    assert_eq!(list.status, 410);
    assert_eq!(
        list.body["message"],
        "The resourceVersion for the provided list is too old."
    );
    let _ = Revision::ZERO;
}

#[tokio::test]
async fn table_watch_sends_columns_once() {
    let server = TestServer::start().await;
    server.post(CMS, &configmap("t1", json!({}))).await;
    let (_, mut watch) = WatchReader::open(&server, &format!("{CMS}?watch=1"), true).await;
    let first = watch.next(WAIT).await.unwrap();
    assert_eq!(first["object"]["kind"], "Table");
    let columns: Vec<&str> = first["object"]["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Data", "Age"]);
    assert_eq!(first["object"]["rows"][0]["cells"][0], "t1");
    assert_eq!(
        first["object"]["rows"][0]["object"]["kind"],
        "PartialObjectMetadata"
    );
    server.post(CMS, &configmap("t2", json!({}))).await;
    let second = watch.next(WAIT).await.unwrap();
    assert_eq!(second["object"]["rows"][0]["cells"][0], "t2");
    assert_eq!(second["object"]["columnDefinitions"], json!([]));
}
