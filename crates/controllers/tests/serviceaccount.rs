//! Reconcile-level tests of the service account controller: its real async shell against an
//! in-process API server, on paused time. Every active namespace gets a `default`
//! ServiceAccount, again after it is deleted; a namespace being deleted gets none.

mod support;

use std::time::Duration;

use ferrokube_controllers::serviceaccount;
use ferrokube_testing::{InProcess, eventually};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::SOON;

/// Waits for `namespace`'s default ServiceAccount and returns its uid.
async fn default_account(api: &InProcess, namespace: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(api.client(), namespace);
    eventually(&format!("{namespace}/default"), SOON, || async {
        match accounts
            .get_opt("default")
            .await
            .map_err(|e| e.to_string())?
        {
            Some(account) => Ok(account.uid().unwrap_or_default()),
            None => Err("no default ServiceAccount yet".to_owned()),
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn every_active_namespace_has_a_default_service_account() {
    let api = InProcess::start().await;
    tokio::spawn(serviceaccount::run(api.client(), std::future::pending()));
    for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        default_account(&api, namespace).await;
    }
    let namespaces: Api<Namespace> = Api::all(api.client());
    let team = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &team)
        .await
        .unwrap();
    let first = default_account(&api, "team").await;

    // Deleted, it is made again (a new object).
    let accounts: Api<ServiceAccount> = Api::namespaced(api.client(), "team");
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let second = default_account(&api, "team").await;
    assert_ne!(first, second, "a new ServiceAccount");

    // Another account's deletion changes nothing; a terminating namespace gets none back.
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        accounts.get_opt("default").await.unwrap().is_none(),
        "not made again in a namespace being deleted"
    );
}
