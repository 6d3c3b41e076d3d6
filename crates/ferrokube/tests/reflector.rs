//! A `kube` watcher and reflector keep a correct cache across a server restart: after kill -9
//! and restart, the watcher resumes from its last resourceVersion, no change is lost, none is
//! seen twice, and the cache equals what the server lists.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use support::{Backend, Server};

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "data": {"v": value}}))
        .unwrap()
}

/// Applies `changes` rounds of creates, updates and deletes.
async fn churn(api: &Api<ConfigMap>, round: usize) {
    for i in 0..10 {
        api.create(
            &PostParams::default(),
            &configmap(&format!("r{round}-{i}"), "1"),
        )
        .await
        .unwrap();
    }
    for i in 0..5 {
        let name = format!("r{round}-{i}");
        let mut cm = api.get(&name).await.unwrap();
        cm.data = Some(BTreeMap::from([("v".to_owned(), "2".to_owned())]));
        api.replace(&name, &PostParams::default(), &cm)
            .await
            .unwrap();
    }
    for i in 5..8 {
        api.delete(&format!("r{round}-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_cache_survives_a_server_restart() {
    let backend = Backend::sqlite().await;
    let mut server = Server::start(&backend);
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    churn(&api, 0).await;

    let (reader, writer) = reflector::store();
    // (name, resourceVersion) of every change the watcher delivered after its initial list.
    let applied: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = applied.clone();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()));
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream.default_backoff());
        let mut initialised = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::InitDone) => initialised = true,
                Ok(watcher::Event::Apply(cm) | watcher::Event::Delete(cm)) if initialised => {
                    let meta = cm.metadata;
                    seen.lock()
                        .unwrap()
                        .push((meta.name.unwrap(), meta.resource_version.unwrap()));
                }
                _ => {}
            }
        }
    });
    reader.wait_until_ready().await.unwrap();
    churn(&api, 1).await;

    server.kill_and_restart();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    churn(&api, 2).await;

    let expected: BTreeMap<String, String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|cm| {
            (
                cm.metadata.name.unwrap(),
                cm.metadata.resource_version.unwrap(),
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cached: BTreeMap<String, String> = reader
            .state()
            .iter()
            .map(|cm| {
                (
                    cm.metadata.name.clone().unwrap(),
                    cm.metadata.resource_version.clone().unwrap(),
                )
            })
            .collect();
        if cached == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cache never matched the server:\ncache {cached:?}\nserver {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
    let applied = applied.lock().unwrap().clone();
    let unique: HashSet<_> = applied.iter().collect();
    assert_eq!(
        unique.len(),
        applied.len(),
        "no change was delivered twice: {applied:?}"
    );
    // Rounds 1 and 2 made 10 creates, 5 updates and 3 deletes each, all after the initial list.
    assert_eq!(
        applied.len(),
        2 * 18,
        "every change after the initial list was delivered once: {applied:?}"
    );
}
