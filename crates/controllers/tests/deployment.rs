//! Reconcile-level tests of the Deployment controller: its real async shell against an
//! in-process API server, on paused time. The test plays the ReplicaSet controller where one
//! is needed (it writes the ReplicaSet's status), so that only the Deployment controller runs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ferrokube_client::clock::Clock;
use ferrokube_controllers::deployment;
use ferrokube_testing::{InProcess, RequestHead, TokioClock, eventually};
use http::Method;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::events::v1::Event;
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

/// The Deployment's condition of type `kind`.
fn condition(d: &Deployment, kind: &str) -> Option<DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == kind)
        .cloned()
}

/// The notes of the Events about Deployment `web`.
async fn deployment_events(api: &InProcess) -> Vec<String> {
    let events: Api<Event> = Api::default_namespaced(api.client());
    events
        .list(&ListParams::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
        .filter_map(|e| e.note)
        .collect()
}

/// The ReplicaSet of `web`'s template once it exists with `replicas`.
async fn replicaset_of(replicasets: &Api<ReplicaSet>, d: &Deployment, replicas: i32) -> ReplicaSet {
    eventually(&format!("a ReplicaSet of {replicas}"), SOON, || async {
        match owned(replicasets, d).await.as_slice() {
            [rs] if rs.spec.as_ref().and_then(|s| s.replicas) == Some(replicas) => Ok(rs.clone()),
            other => Err(format!(
                "{:?}",
                other
                    .iter()
                    .map(|r| (&r.metadata.name, &r.spec))
                    .collect::<Vec<_>>()
            )),
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_scale_planned_from_a_stale_replicaset_gets_409_and_is_planned_again_from_the_fresh_one()
{
    let api = InProcess::start().await;
    let replicasets: Api<ReplicaSet> = Api::default_namespaced(api.client());
    // Once armed, the controller's next write of a ReplicaSet lets someone else scale that
    // ReplicaSet to 5 first (`kubectl scale rs`, through /scale): the controller planned its
    // write from the ReplicaSet before that.
    let armed = Arc::new(AtomicBool::new(false));
    let hook = {
        let (armed, racing) = (armed.clone(), replicasets.clone());
        move |head: RequestHead| {
            let (armed, racing) = (armed.clone(), racing.clone());
            async move {
                let name = head
                    .path
                    .strip_prefix("/apis/apps/v1/namespaces/default/replicasets/")
                    .filter(|rest| !rest.contains('/'));
                if let Some(name) = name.filter(|_| head.method == Method::PATCH)
                    && armed.swap(false, Ordering::SeqCst)
                {
                    let scale = json!({"spec": {"replicas": 5}});
                    racing
                        .patch_scale(name, &PatchParams::default(), &Patch::Merge(&scale))
                        .await
                        .expect("someone else scales the ReplicaSet");
                }
                None
            }
        }
    };
    tokio::spawn(deployment::run_with_clock(
        api.client_with(hook),
        TokioClock::shared(),
        std::future::pending(),
    ));
    let deployments: Api<Deployment> = Api::default_namespaced(api.client());
    let d = deployments
        .create(&PostParams::default(), &web(2))
        .await
        .expect("create the Deployment");
    let rs = replicaset_of(&replicasets, &d, 2).await;
    let path = format!(
        "/apis/apps/v1/namespaces/default/replicasets/{}",
        rs.name_any()
    );

    armed.store(true, Ordering::SeqCst);
    let scale = json!({"spec": {"replicas": 3}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale the Deployment to 3");
    let rs = replicaset_of(&replicasets, &d, 3).await;
    let desired = rs
        .annotations()
        .get("deployment.kubernetes.io/desired-replicas");
    assert_eq!(desired.map(String::as_str), Some("3"));
    let writes: Vec<u16> = api
        .journal()
        .iter()
        .filter(|e| e.request.is(&Method::PATCH, &path))
        .map(|e| e.status)
        .collect();
    assert_eq!(
        writes,
        [409, 200],
        "the write planned from the stale ReplicaSet is refused, the one planned again succeeds"
    );
    // Planned again from the fresh ReplicaSet: from 5, which the stale one never showed.
    let scaled = format!("Scaled down replica set {} from 5 to 3", rs.name_any());
    eventually("the ScalingReplicaSet Event", SOON, || async {
        let notes = deployment_events(&api).await;
        if notes.contains(&scaled) {
            Ok(notes)
        } else {
            Err(format!("{notes:?}"))
        }
    })
    .await;
    let notes = deployment_events(&api).await;
    let stale = format!("Scaled up replica set {} from 2 to 3", rs.name_any());
    assert!(!notes.contains(&stale), "{notes:?}");
}

/// A wall clock on tokio time that counts its reads: a Deployment pass reads it once.
struct CountingClock {
    clock: TokioClock,
    reads: AtomicUsize,
}

impl Clock for CountingClock {
    fn now(&self) -> Timestamp {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.clock.now()
    }
}

#[tokio::test(start_paused = true)]
async fn a_stuck_rollout_times_out_at_its_progress_deadline_without_polling() {
    let api = InProcess::start().await;
    let clock = Arc::new(CountingClock {
        clock: TokioClock::new(),
        reads: AtomicUsize::new(0),
    });
    tokio::spawn(deployment::run_with_clock(
        api.client(),
        clock.clone(),
        std::future::pending(),
    ));
    // No ReplicaSet controller runs: the pods never exist, let alone become available.
    let mut stuck = web(2);
    stuck.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
    let deployments: Api<Deployment> = Api::default_namespaced(api.client());
    deployments
        .create(&PostParams::default(), &stuck)
        .await
        .expect("create the Deployment");
    let created = eventually("Progressing: NewReplicaSetCreated", SOON, || async {
        let d = deployments.get("web").await.map_err(|e| e.to_string())?;
        match condition(&d, "Progressing") {
            Some(c) if c.reason.as_deref() == Some("NewReplicaSetCreated") => Ok(c),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let since = created.last_update_time.clone().expect("an update time").0;
    // The passes its own writes trigger are over well within a minute.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let passes = clock.reads.load(Ordering::SeqCst);
    let requests = |api: &InProcess| {
        api.journal()
            .iter()
            .filter(|e| {
                !e.request
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .contains("watch=true")
            })
            .count()
    };
    let before = requests(&api);

    // Until the deadline: no pass, no request.
    let deadline = since.as_second() + 600;
    let wait_until = |second: i64| {
        // The inner clock: the test's own reads are not passes.
        let now = clock.clock.now().as_second();
        Duration::from_secs((second - now).max(0).unsigned_abs())
    };
    tokio::time::sleep(wait_until(deadline - 5)).await;
    let d = deployments.get("web").await.expect("the Deployment");
    let progressing = condition(&d, "Progressing").expect("Progressing");
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("True", Some("NewReplicaSetCreated")),
        "before the deadline"
    );
    assert_eq!(
        clock.reads.load(Ordering::SeqCst),
        passes,
        "no pass between the rollout's last progress and its deadline"
    );
    assert_eq!(
        requests(&api),
        before + 1,
        "no request but the test's own GET"
    );

    // At the deadline (and upstream's second against skew) the pass that was scheduled runs.
    tokio::time::sleep(wait_until(deadline + 2)).await;
    let timed_out = eventually("Progressing: ProgressDeadlineExceeded", SOON, || async {
        let d = deployments.get("web").await.map_err(|e| e.to_string())?;
        match condition(&d, "Progressing") {
            Some(c) if c.reason.as_deref() == Some("ProgressDeadlineExceeded") => Ok((d, c)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (d, c) = timed_out;
    assert_eq!(c.status, "False");
    let rs = owned(&Api::default_namespaced(api.client()), &d).await;
    assert_eq!(
        c.message,
        Some(format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            rs[0].name_any()
        ))
    );
    let at = c.last_update_time.expect("an update time").0.as_second();
    assert!(
        (deadline..=deadline + 2).contains(&at),
        "timed out at {at}, the deadline was {deadline}"
    );
}
