//! Reconcile-level tests of the namespace controller: its real async shell against an
//! in-process API server, on paused time. A deleted namespace stays Terminating while it has
//! content; the controller deletes the content, then removes its `kubernetes` finalizer, and
//! the namespace goes.

mod support;

use std::time::Duration;

use ferrokube_controllers::namespace;
use ferrokube_testing::{InProcess, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use support::SOON;

async fn create_namespace(api: &InProcess, name: &str) -> Api<ConfigMap> {
    let namespaces: Api<Namespace> = Api::all(api.client());
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let maps: Api<ConfigMap> = Api::namespaced(api.client(), name);
    for i in 0..3 {
        let map =
            serde_json::from_value(json!({"metadata": {"name": format!("config-{i}")}})).unwrap();
        maps.create(&PostParams::default(), &map)
            .await
            .expect("create configmap");
    }
    maps
}

#[tokio::test(start_paused = true)]
async fn a_deleted_namespace_loses_its_content_then_goes() {
    let api = InProcess::start().await;
    let maps = create_namespace(&api, "team").await;
    let kept = create_namespace(&api, "other").await;
    let namespaces: Api<Namespace> = Api::all(api.client());
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .expect("delete namespace");
    // Without the controller the namespace only turns Terminating, its content untouched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let terminating = namespaces.get("team").await.expect("still there");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert_eq!(
        maps.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );

    tokio::spawn(namespace::run(api.client(), std::future::pending()));
    eventually("the namespace gone", SOON, || async {
        match namespaces
            .get_opt("team")
            .await
            .map_err(|e| e.to_string())?
        {
            None => Ok(()),
            Some(ns) => Err(format!("still there: {:?}", ns.spec)),
        }
    })
    .await;
    // Its content went with it; another namespace's stays.
    let left = Api::<ConfigMap>::namespaced(api.client(), "team")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
    assert_eq!(
        kept.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    assert!(namespaces.get("other").await.is_ok());
}
