//! Reconcile-level tests of the Deployment controller: its real async shell against an
//! in-process API server, on paused time. The test plays the ReplicaSet controller where one
//! is needed (it writes the ReplicaSet's status), so that only the Deployment controller runs.

mod support;

use ferrokube_controllers::deployment;
use ferrokube_testing::{InProcess, eventually};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::SOON;

fn web(replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }))
    .expect("a Deployment")
}

/// The ReplicaSets `owner` controls.
async fn owned(replicasets: &Api<ReplicaSet>, owner: &Deployment) -> Vec<ReplicaSet> {
    let uid = owner.uid().unwrap_or_default();
    replicasets
        .list(&ListParams::default())
        .await
        .expect("list ReplicaSets")
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_deployment_gets_a_replicaset_of_its_template_and_reports_its_pods() {
    let api = InProcess::start().await;
    tokio::spawn(deployment::run(api.client(), std::future::pending()));
    let deployments: Api<Deployment> = Api::default_namespaced(api.client());
    let replicasets: Api<ReplicaSet> = Api::default_namespaced(api.client());
    let d = deployments
        .create(&PostParams::default(), &web(2))
        .await
        .expect("create the Deployment");

    let rs = eventually("one ReplicaSet of 2", SOON, || async {
        match owned(&replicasets, &d).await.as_slice() {
            [rs] if rs.spec.as_ref().and_then(|s| s.replicas) == Some(2) => Ok(rs.clone()),
            other => Err(format!(
                "{:?}",
                other.iter().map(|r| &r.metadata).collect::<Vec<_>>()
            )),
        }
    })
    .await;
    let hash = rs
        .labels()
        .get("pod-template-hash")
        .cloned()
        .expect("the pod-template-hash label");
    assert!(!hash.is_empty());
    assert_eq!(rs.name_any(), format!("web-{hash}"));
    let spec = rs.spec.as_ref().unwrap();
    let selected = spec.selector.match_labels.as_ref().unwrap();
    assert_eq!(selected.get("pod-template-hash"), Some(&hash), "selector");
    assert_eq!(selected.get("app").map(String::as_str), Some("web"));
    let template = spec.template.as_ref().unwrap().metadata.as_ref().unwrap();
    assert_eq!(
        template.labels.as_ref().unwrap().get("pod-template-hash"),
        Some(&hash),
        "template"
    );

    // The ReplicaSet controller's part: its two pods exist and are available.
    let status = json!({"status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
        "availableReplicas": 2, "observedGeneration": 1}});
    replicasets
        .patch_status(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await
        .expect("the ReplicaSet's status");
    eventually("the Deployment's status", SOON, || async {
        let d = deployments.get("web").await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(&d.status).unwrap();
        let counted = s["replicas"] == 2
            && s["updatedReplicas"] == 2
            && s["readyReplicas"] == 2
            && s["availableReplicas"] == 2
            && s["observedGeneration"] == 1;
        if counted { Ok(()) } else { Err(s.to_string()) }
    })
    .await;
}
