//! Reconcile-level tests of the garbage collector: its real async shell against an in-process
//! API server, on paused time. Owners and dependents are ConfigMaps (the collector watches
//! every resource discovery offers); each propagation policy is followed through.

mod support;

use std::time::Duration;

use ferrokube_controllers::garbagecollector;
use ferrokube_testing::{InProcess, eventually};
use http::Method;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use serde_json::json;
use support::SOON;

async fn start() -> (InProcess, Api<ConfigMap>) {
    let api = InProcess::start().await;
    tokio::spawn(garbagecollector::run(api.client(), std::future::pending()));
    let maps = Api::default_namespaced(api.client());
    (api, maps)
}

/// A ConfigMap owned by `owner` (name and uid), blocking its foreground deletion.
fn dependent(name: &str, owner: (&str, &str)) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner.0, "uid": owner.1,
            "blockOwnerDeletion": true,
        }]},
    }))
    .unwrap()
}

async fn create(maps: &Api<ConfigMap>, map: ConfigMap) -> ConfigMap {
    maps.create(&PostParams::default(), &map)
        .await
        .expect("create")
}

/// An owner `owner` and its dependent `child`.
async fn owner_and_child(maps: &Api<ConfigMap>) -> (ConfigMap, ConfigMap) {
    let owner = serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap();
    let owner = create(maps, owner).await;
    let uid = owner.uid().unwrap();
    let child = create(maps, dependent("child", ("owner", &uid))).await;
    (owner, child)
}

async fn gone(maps: &Api<ConfigMap>, name: &str) {
    eventually(&format!("{name} deleted"), SOON, || async {
        match maps.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(m) => Err(format!("still there: {:?}", m.metadata)),
        }
    })
    .await;
}

fn delete_with(policy: PropagationPolicy) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        ..DeleteParams::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_dependent_whose_owners_are_gone_is_deleted_and_others_stay() {
    let (_api, maps) = start().await;
    let (_owner, child) = owner_and_child(&maps).await;
    create(&maps, dependent("orphan", ("vanished", "no-such-uid"))).await;
    gone(&maps, "orphan").await;
    // Several passes later (one at least every 5 s), the dependent of a live owner is there.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let kept = maps
        .get("child")
        .await
        .expect("the live owner's dependent stays");
    assert_eq!(kept.uid(), child.uid());
}

#[tokio::test(start_paused = true)]
async fn background_deletion_removes_the_owner_then_its_dependents() {
    let (_api, maps) = start().await;
    owner_and_child(&maps).await;
    maps.delete("owner", &delete_with(PropagationPolicy::Background))
        .await
        .expect("delete the owner");
    assert!(
        maps.get_opt("owner").await.unwrap().is_none(),
        "gone at once"
    );
    gone(&maps, "child").await;
}

#[tokio::test(start_paused = true)]
async fn foreground_deletion_removes_the_dependents_first() {
    let (api, maps) = start().await;
    owner_and_child(&maps).await;
    maps.delete("owner", &delete_with(PropagationPolicy::Foreground))
        .await
        .expect("delete the owner");
    let marked = maps
        .get("owner")
        .await
        .expect("the owner waits for its dependents");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.finalizers(), ["foregroundDeletion"]);
    gone(&maps, "owner").await;
    assert!(maps.get_opt("child").await.unwrap().is_none());
    let path = |name: &str| format!("/api/v1/namespaces/default/configmaps/{name}");
    let journal = api.journal();
    let at = |method: Method, name: &str| {
        journal
            .iter()
            .position(|e| e.request.is(&method, &path(name)) && e.status < 300)
            .unwrap_or_else(|| panic!("no {method} of {name}: {journal:?}"))
    };
    assert!(
        at(Method::DELETE, "child") < at(Method::PATCH, "owner"),
        "the dependent is deleted before the owner's finalizer goes"
    );
}

#[tokio::test(start_paused = true)]
async fn orphaning_deletion_keeps_the_dependents_without_the_owner() {
    let (_api, maps) = start().await;
    owner_and_child(&maps).await;
    maps.delete("owner", &delete_with(PropagationPolicy::Orphan))
        .await
        .expect("delete the owner");
    gone(&maps, "owner").await;
    // Passes go on after the owner is gone; the orphaned child is no dangling dependent.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let child = maps.get("child").await.expect("the dependent stays");
    assert!(child.owner_references().is_empty(), "{:?}", child.metadata);
}
