//! Reconcile-level tests of the ReplicaSet controller: its real async shell against an
//! in-process API server, on paused time. Seed objects, run the controller, assert the API's
//! state.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube_controllers::replicaset;
use ferrokube_testing::{Answer, InProcess, RequestHead, TokioClock, eventually, fake_kubelet};
use http::Method;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{SOON, names, owned_pods, pod_status, replicaset};

/// Starts the controller on `client`, for the rest of the test.
fn start(client: kube::Client) {
    tokio::spawn(replicaset::run(client, std::future::pending()));
}

async fn create(api: &InProcess, rs: &ReplicaSet) -> ReplicaSet {
    Api::<ReplicaSet>::default_namespaced(api.client())
        .create(&PostParams::default(), rs)
        .await
        .expect("create the ReplicaSet")
}

/// Waits until `rs` controls `n` pods, and returns them.
async fn pods_of(api: &InProcess, rs: &ReplicaSet, n: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::default_namespaced(api.client());
    eventually(&format!("{n} pods of {}", rs.name_any()), SOON, || async {
        let owned = owned_pods(&pods, rs).await;
        if owned.len() == n {
            Ok(owned)
        } else {
            Err(format!("{:?}", names(&owned)))
        }
    })
    .await
}

/// Waits until `rs`'s status, as JSON, passes `check`.
async fn status_of(api: &InProcess, name: &str, check: impl Fn(&serde_json::Value) -> bool) {
    status_within(api, name, SOON, check).await;
}

/// [`status_of`], waiting up to `within`.
async fn status_within(
    api: &InProcess,
    name: &str,
    within: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let replicasets: Api<ReplicaSet> = Api::default_namespaced(api.client());
    eventually(&format!("the status of {name}"), within, || async {
        let rs = replicasets.get(name).await.map_err(|e| e.to_string())?;
        let status = serde_json::to_value(&rs.status).unwrap();
        if check(&status) {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
}

async fn scale(api: &InProcess, name: &str, replicas: i32) {
    Api::<ReplicaSet>::default_namespaced(api.client())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("scale");
}

async fn set_status(pods: &Api<Pod>, name: &str, status: serde_json::Value) {
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("pod status");
}

#[tokio::test(start_paused = true)]
async fn a_replicaset_gets_its_pods_and_reports_them() {
    let api = InProcess::start().await;
    start(api.client());
    let rs = create(&api, &replicaset("web", 3)).await;
    let pods = pods_of(&api, &rs, 3).await;
    for pod in &pods {
        assert!(pod.name_any().starts_with("web-"), "{}", pod.name_any());
        let reference = &pod.owner_references()[0];
        assert_eq!(
            (
                reference.kind.as_str(),
                reference.name.as_str(),
                reference.block_owner_deletion
            ),
            ("ReplicaSet", "web", Some(true))
        );
        assert_eq!(pod.labels().get("tier").map(String::as_str), Some("web"));
    }
    status_of(&api, "web", |s| {
        s["replicas"] == 3 && s["fullyLabeledReplicas"] == 3 && s["observedGeneration"] == 1
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scaling_down_deletes_the_pods_that_cost_least_to_lose() {
    let api = InProcess::start().await;
    start(api.client());
    let rs = create(&api, &replicaset("web", 3)).await;
    let pods: Api<Pod> = Api::default_namespaced(api.client());
    let created = names(&pods_of(&api, &rs, 3).await);
    // Ready for longest, ready more recently, and still Pending.
    let (old, recent, pending) = (&created[0], &created[1], &created[2]);
    set_status(
        &pods,
        old,
        pod_status("Running", Some("2025-01-01T10:00:00Z")),
    )
    .await;
    set_status(
        &pods,
        recent,
        pod_status("Running", Some("2025-01-01T11:00:00Z")),
    )
    .await;
    set_status(&pods, pending, pod_status("Pending", None)).await;
    // The controller has seen the statuses (its status says so) before it plans the scale.
    status_of(&api, "web", |s| s["readyReplicas"] == 2).await;
    scale(&api, "web", 1).await;
    let left = pods_of(&api, &rs, 1).await;
    assert_eq!(
        names(&left),
        [old.as_str()],
        "the pod ready for longest stays"
    );
    status_of(&api, "web", |s| {
        s["replicas"] == 1 && s["readyReplicas"] == 1 && s["observedGeneration"] == 2
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_pod_is_replaced() {
    let api = InProcess::start().await;
    start(api.client());
    let rs = create(&api, &replicaset("web", 2)).await;
    let pods: Api<Pod> = Api::default_namespaced(api.client());
    let before = names(&pods_of(&api, &rs, 2).await);
    pods.delete(&before[0], &DeleteParams::default())
        .await
        .expect("delete a pod");
    eventually("a replacement pod", SOON, || async {
        let now = names(&owned_pods(&pods, &rs).await);
        let replaced = now.len() == 2 && !now.contains(&before[0]) && now.contains(&before[1]);
        if replaced {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn pods_count_as_available_min_ready_seconds_after_they_became_ready() {
    let api = InProcess::start().await;
    let clock = TokioClock::shared();
    tokio::spawn(replicaset::run_with_clock(
        api.client(),
        clock.clone(),
        std::future::pending(),
    ));
    fake_kubelet::start_with_clock(api.client(), clock);
    let mut rs = replicaset("web", 2);
    rs.spec.as_mut().unwrap().min_ready_seconds = Some(30);
    let rs = create(&api, &rs).await;
    pods_of(&api, &rs, 2).await;
    status_of(&api, "web", |s| {
        s["readyReplicas"] == 2 && s.get("availableReplicas").is_none()
    })
    .await;
    let ready_at = tokio::time::Instant::now();
    status_within(&api, "web", Duration::from_secs(60), |s| {
        s["availableReplicas"] == 2
    })
    .await;
    let took = ready_at.elapsed();
    assert!(
        took >= Duration::from_secs(28) && took <= Duration::from_secs(32),
        "available {took:?} after ready, for minReadySeconds 30"
    );
}

/// Answers the first `n` pod creations with a 500, as a failing server would.
fn failing_creates(n: usize) -> impl Fn(RequestHead) -> futures::future::Ready<Option<Answer>> {
    let left = Arc::new(Mutex::new(n));
    move |head: RequestHead| {
        let mut left = left.lock().unwrap();
        let fail = head.is(&Method::POST, "/api/v1/namespaces/default/pods") && *left > 0;
        if fail {
            *left -= 1;
        }
        futures::future::ready(
            fail.then(|| Answer::failure(500, "InternalError", "the test's failing server")),
        )
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_creation_is_retried_with_backoff_and_reported() {
    let api = InProcess::start().await;
    start(api.client_with(failing_creates(5)));
    let started = tokio::time::Instant::now();
    let rs = create(&api, &replicaset("web", 1)).await;
    status_of(&api, "web", |s| {
        s["conditions"][0]["type"] == "ReplicaFailure"
            && s["conditions"][0]["reason"] == "FailedCreate"
    })
    .await;
    pods_of(&api, &rs, 1).await;
    // Retried 5, 10, 20, 40 and 80 ms after the failures, not at the next resync (300 s).
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "created after {:?}",
        started.elapsed()
    );
    status_of(&api, "web", |s| {
        s["replicas"] == 1 && s.get("conditions").is_none()
    })
    .await;
}

/// Before the controller's first pod deletion, a racing writer (a kubelet) makes the pod it
/// chose Ready, and ready for longer than any other: the deletion, planned from the old pod,
/// must not go through. One write only, so that any view that has the chosen pod's new state
/// ranks the pods the same way.
fn racing_kubelet(
    pods: Api<Pod>,
) -> impl Fn(RequestHead) -> futures::future::BoxFuture<'static, Option<Answer>> {
    let raced = Arc::new(Mutex::new(false));
    move |head: RequestHead| {
        let (pods, raced) = (pods.clone(), raced.clone());
        Box::pin(async move {
            let prefix = "/api/v1/namespaces/default/pods/";
            let chosen = head.path.strip_prefix(prefix).map(str::to_owned);
            let first = head.method == Method::DELETE
                && !std::mem::replace(&mut *raced.lock().unwrap(), true);
            if let (Some(chosen), true) = (chosen, first) {
                let longest = pod_status("Running", Some("2025-01-01T09:00:00Z"));
                set_status(&pods, &chosen, longest).await;
            }
            None
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_deletion_planned_from_a_stale_pod_gets_409_and_is_planned_again() {
    let api = InProcess::start().await;
    let pods: Api<Pod> = Api::default_namespaced(api.client());
    start(api.client_with(racing_kubelet(pods.clone())));
    let rs = create(&api, &replicaset("web", 3)).await;
    let created = names(&pods_of(&api, &rs, 3).await);
    let (ready, recent, pending) = (&created[0], &created[1], &created[2]);
    set_status(
        &pods,
        ready,
        pod_status("Running", Some("2025-01-01T10:00:00Z")),
    )
    .await;
    set_status(
        &pods,
        recent,
        pod_status("Running", Some("2025-01-01T11:00:00Z")),
    )
    .await;
    set_status(&pods, pending, pod_status("Pending", None)).await;
    // The controller has seen the statuses (its status says so) before it plans the scale.
    status_of(&api, "web", |s| s["readyReplicas"] == 2).await;
    scale(&api, "web", 2).await;
    eventually("the most recently ready pod deleted", SOON, || async {
        let now = names(&owned_pods(&pods, &rs).await);
        if now == [ready.clone(), pending.clone()] {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    let deletions: Vec<(String, u16)> = api
        .journal()
        .into_iter()
        .filter(|e| e.request.method == Method::DELETE)
        .map(|e| {
            (
                e.request.path.rsplit('/').next().unwrap().to_owned(),
                e.status,
            )
        })
        .collect();
    assert_eq!(
        deletions.first(),
        Some(&(pending.clone(), 409)),
        "the deletion planned from the stale pod is refused: {deletions:?}"
    );
    // A retry on a cache that has not caught up yet is refused too; only the pod that is now
    // the cheapest to lose is deleted.
    let done: Vec<&(String, u16)> = deletions.iter().filter(|(_, s)| *s == 200).collect();
    assert_eq!(done, [&(recent.clone(), 200)], "{deletions:?}");
}

/// Before the controller's first status write, another writer changes the ReplicaSet (a
/// label): the write, planned from the older ReplicaSet, must not go through.
fn racing_writer(
    replicasets: Api<ReplicaSet>,
) -> impl Fn(RequestHead) -> futures::future::BoxFuture<'static, Option<Answer>> {
    let raced = Arc::new(Mutex::new(false));
    move |head: RequestHead| {
        let (replicasets, raced) = (replicasets.clone(), raced.clone());
        Box::pin(async move {
            let status = "/apis/apps/v1/namespaces/default/replicasets/web/status";
            let first = head.is(&Method::PATCH, status)
                && !std::mem::replace(&mut *raced.lock().unwrap(), true);
            if first {
                let label = json!({"metadata": {"labels": {"edited": "by-another-writer"}}});
                replicasets
                    .patch("web", &PatchParams::default(), &Patch::Merge(label))
                    .await
                    .expect("the other writer's change");
            }
            None
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_status_write_planned_from_a_stale_replicaset_gets_409_and_is_made_again() {
    let api = InProcess::start().await;
    let replicasets: Api<ReplicaSet> = Api::default_namespaced(api.client());
    start(api.client_with(racing_writer(replicasets.clone())));
    create(&api, &replicaset("web", 2)).await;
    status_of(&api, "web", |s| {
        s["replicas"] == 2 && s["observedGeneration"] == 1
    })
    .await;
    let writes: Vec<u16> = api
        .journal()
        .into_iter()
        .filter(|e| e.request.path.ends_with("/replicasets/web/status"))
        .map(|e| e.status)
        .collect();
    assert_eq!(writes.first(), Some(&409), "{writes:?}");
    assert!(writes.contains(&200), "{writes:?}");
    let rs = replicasets.get("web").await.unwrap();
    assert_eq!(
        rs.labels().get("edited").map(String::as_str),
        Some("by-another-writer")
    );
}
