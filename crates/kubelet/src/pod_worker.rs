//! One worker per pod bound to this node: a level-triggered state machine that brings the
//! runtime to what the pod asks for (sandbox, then each container: pull, create, start), reports
//! the pod's status, and on deletion stops everything and removes the pod for good.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrokube_client::events::{Kind, Recorder};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::runtime::{ContainerInfo, ContainerState, Runtime, RuntimeError, SandboxInfo};

/// The next thing to do for a pod.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the pod's sandbox.
    RunSandbox,
    /// Pull, create and start this container.
    Start(String),
    /// Stop and remove everything, then delete the pod object with grace 0.
    Terminate,
    /// Nothing: report status and wait for a change.
    Wait,
}

/// Why a container is not running yet, e.g. ("ErrImagePull", "…").
pub type Waiting = BTreeMap<String, (String, String)>;

/// What to do next, from the pod and what the runtime has (pure).
pub fn next_step(
    pod: &Pod,
    state: Option<&(SandboxInfo, Vec<ContainerInfo>)>,
    waiting: &Waiting,
) -> Step {
    if pod.metadata.deletion_timestamp.is_some() {
        return Step::Terminate;
    }
    let Some((_, containers)) = state else {
        return Step::RunSandbox;
    };
    let missing =
        pod.spec.iter().flat_map(|s| &s.containers).find(|c| {
            !waiting.contains_key(&c.name) && !containers.iter().any(|r| r.name == c.name)
        });
    match missing {
        Some(c) => Step::Start(c.name.clone()),
        None => Step::Wait,
    }
}

fn time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The pod's status as the kubelet reports it (pure): phase, conditions, IPs and one status
/// per container.
pub fn pod_status(
    pod: &Pod,
    sandbox: &SandboxInfo,
    containers: &[ContainerInfo],
    waiting: &Waiting,
    host_ip: &str,
    start_time: jiff::Timestamp,
) -> Value {
    let spec_containers: Vec<_> = pod.spec.iter().flat_map(|s| &s.containers).collect();
    let statuses: Vec<Value> = spec_containers
        .iter()
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            match containers.iter().find(|r| r.name == c.name) {
                Some(r) => {
                    let (state, running) = match &r.state {
                        ContainerState::Running { started_at } => {
                            (json!({"running": {"startedAt": time(*started_at)}}), true)
                        }
                        ContainerState::Created => (json!({"waiting": {"reason": "ContainerCreating"}}), false),
                        ContainerState::Exited { exit_code, finished_at } => (
                            json!({"terminated": {"exitCode": exit_code, "reason": if *exit_code == 0 { "Completed" } else { "Error" }, "finishedAt": time(*finished_at)}}),
                            false,
                        ),
                    };
                    json!({"name": c.name, "image": image, "imageID": r.image_id, "containerID": r.id,
                        "ready": running, "started": running, "restartCount": 0, "state": state})
                }
                None => {
                    let (reason, message) = waiting
                        .get(&c.name)
                        .cloned()
                        .unwrap_or_else(|| ("ContainerCreating".into(), String::new()));
                    let mut w = json!({"reason": reason});
                    if !message.is_empty() {
                        w["message"] = json!(message);
                    }
                    json!({"name": c.name, "image": image, "imageID": "", "ready": false,
                        "started": false, "restartCount": 0, "state": {"waiting": w}})
                }
            }
        })
        .collect();
    let all_ready = !statuses.is_empty() && statuses.iter().all(|s| s["ready"] == json!(true));
    let started = time(start_time);
    let condition = |type_: &str, ok: bool, reason: Option<&str>| {
        let mut c = json!({"type": type_, "status": if ok { "True" } else { "False" },
            "lastProbeTime": null, "lastTransitionTime": started});
        if let (false, Some(r)) = (ok, reason) {
            c["reason"] = json!(r);
        }
        c
    };
    json!({
        "phase": if all_ready { "Running" } else { "Pending" },
        "conditions": [
            condition("PodReadyToStartContainers", true, None),
            condition("Initialized", true, None),
            condition("Ready", all_ready, Some("ContainersNotReady")),
            condition("ContainersReady", all_ready, Some("ContainersNotReady")),
            condition("PodScheduled", true, None),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": sandbox.ip,
        "podIPs": [{"ip": sandbox.ip}],
        "startTime": started,
        "containerStatuses": statuses,
    })
}

/// Everything a worker needs besides its pod.
#[derive(Clone)]
pub struct WorkerContext {
    pub client: kube::Client,
    pub runtime: Arc<dyn Runtime>,
    pub recorder: Recorder,
    pub host_ip: String,
}

/// Runs one pod until it is gone: `updates` carries the newest version of the pod.
pub async fn run(ctx: WorkerContext, mut updates: watch::Receiver<Arc<Pod>>) {
    let mut waiting = Waiting::new();
    let mut reported: Option<Value> = None;
    let start_time = jiff::Timestamp::now();
    loop {
        let pod = updates.borrow_and_update().clone();
        let uid = pod.uid().unwrap_or_default();
        let state = match ctx.runtime.pod_state(&uid).await {
            Ok(state) => state,
            Err(err) => {
                tracing::warn!(pod = %pod.name_any(), error = %err, "runtime state unavailable");
                None
            }
        };
        match next_step(&pod, state.as_ref(), &waiting) {
            Step::Terminate => {
                terminate(&ctx, &pod, state.as_ref()).await;
                return;
            }
            Step::RunSandbox => {
                if let Err(err) = ctx.runtime.run_sandbox(&pod).await {
                    tracing::warn!(pod = %pod.name_any(), error = %err, "sandbox failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                continue;
            }
            Step::Start(name) => {
                let (sandbox, _) = state.expect("a sandbox when starting containers");
                start_container(&ctx, &pod, &sandbox, &name, &mut waiting).await;
                continue;
            }
            Step::Wait => {}
        }
        if let Some((sandbox, containers)) = &state {
            let status = pod_status(
                &pod,
                sandbox,
                containers,
                &waiting,
                &ctx.host_ip,
                start_time,
            );
            if reported.as_ref() != Some(&status) && report(&ctx, &pod, &status).await {
                reported = Some(status);
            }
        }
        if updates.changed().await.is_err() {
            return;
        }
    }
}

async fn event(ctx: &WorkerContext, pod: &Pod, kind: Kind, reason: &str, note: String) {
    let mut reference = pod.object_ref(&());
    reference.field_path = None;
    ctx.recorder
        .publish(&reference, kind, reason, reason, &note)
        .await;
}

async fn start_container(
    ctx: &WorkerContext,
    pod: &Pod,
    sandbox: &SandboxInfo,
    name: &str,
    waiting: &mut Waiting,
) {
    let Some(container) = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .find(|c| c.name == name)
    else {
        return;
    };
    let image = container.image.clone().unwrap_or_default();
    event(
        ctx,
        pod,
        Kind::Normal,
        "Pulling",
        format!("Pulling image \"{image}\""),
    )
    .await;
    let began = std::time::Instant::now();
    let image_id = match ctx.runtime.pull_image(&image).await {
        Ok(id) => id,
        Err(RuntimeError::ImagePull(message)) | Err(RuntimeError::Other(message)) => {
            let note = format!("Failed to pull image \"{image}\": {message}");
            event(ctx, pod, Kind::Warning, "Failed", note).await;
            event(
                ctx,
                pod,
                Kind::Warning,
                "Failed",
                "Error: ErrImagePull".into(),
            )
            .await;
            waiting.insert(name.to_owned(), ("ErrImagePull".into(), message));
            return;
        }
    };
    let took = began.elapsed();
    let note = format!(
        "Successfully pulled image \"{image}\" in {took:.3?} ({took:.3?} including waiting). Image size: 0 bytes."
    );
    event(ctx, pod, Kind::Normal, "Pulled", note).await;
    match ctx
        .runtime
        .start_container(sandbox, pod, container, &image_id)
        .await
    {
        Ok(_) => {
            event(
                ctx,
                pod,
                Kind::Normal,
                "Created",
                format!("Created container: {name}"),
            )
            .await;
            event(
                ctx,
                pod,
                Kind::Normal,
                "Started",
                format!("Started container {name}"),
            )
            .await;
        }
        Err(err) => {
            event(ctx, pod, Kind::Warning, "Failed", format!("Error: {err}")).await;
            waiting.insert(
                name.to_owned(),
                ("CreateContainerError".into(), err.to_string()),
            );
        }
    }
}

/// Writes the status; whether it was accepted.
async fn report(ctx: &WorkerContext, pod: &Pod, status: &Value) -> bool {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"status": status});
    match api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => true,
        Err(err) => {
            tracing::debug!(pod = %pod.name_any(), error = %err, "status not written");
            false
        }
    }
}

/// Stops the containers within the pod's grace period, removes the sandbox, and deletes the
/// pod object with grace 0 (the kubelet's part of a graceful deletion).
async fn terminate(
    ctx: &WorkerContext,
    pod: &Pod,
    state: Option<&(SandboxInfo, Vec<ContainerInfo>)>,
) {
    let uid = pod.uid().unwrap_or_default();
    if let Some((_, containers)) = state {
        for c in containers {
            event(
                ctx,
                pod,
                Kind::Normal,
                "Killing",
                format!("Stopping container {}", c.name),
            )
            .await;
        }
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(30)
            .max(0) as u64;
        if let Err(err) = ctx
            .runtime
            .remove_sandbox(&uid, std::time::Duration::from_secs(grace))
            .await
        {
            tracing::warn!(pod = %pod.name_any(), error = %err, "could not remove the sandbox");
        }
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    if let Err(err) = api.delete(&pod.name_any(), &params).await {
        tracing::debug!(pod = %pod.name_any(), error = %err, "final delete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(deleting: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default", "uid": "u",
            "deletionTimestamp": if deleting { json!("2026-01-01T00:00:00Z") } else { Value::Null }},
            "spec": {"nodeName": "n1", "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox:404"}]}}))
        .unwrap()
    }

    fn sandbox() -> SandboxInfo {
        SandboxInfo {
            id: "s".into(),
            ip: "10.244.0.2".into(),
        }
    }

    fn running(name: &str) -> ContainerInfo {
        ContainerInfo {
            id: format!("hollow://{name}"),
            name: name.into(),
            image: "nginx".into(),
            image_id: "hollow://nginx".into(),
            state: ContainerState::Running {
                started_at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            },
        }
    }

    #[test]
    fn steps_bring_the_runtime_to_the_pod() {
        let none = Waiting::new();
        let failed: Waiting = [(
            "b".to_owned(),
            ("ErrImagePull".to_owned(), "not found".to_owned()),
        )]
        .into();
        let cases = [
            (pod(false), None, &none, Step::RunSandbox),
            (
                pod(false),
                Some((sandbox(), vec![])),
                &none,
                Step::Start("a".into()),
            ),
            (
                pod(false),
                Some((sandbox(), vec![running("a")])),
                &none,
                Step::Start("b".into()),
            ),
            (
                pod(false),
                Some((sandbox(), vec![running("a")])),
                &failed,
                Step::Wait,
            ),
            (
                pod(true),
                Some((sandbox(), vec![running("a")])),
                &none,
                Step::Terminate,
            ),
            (pod(true), None, &none, Step::Terminate),
        ];
        for (i, (p, state, waiting, want)) in cases.into_iter().enumerate() {
            assert_eq!(next_step(&p, state.as_ref(), waiting), want, "case {i}");
        }
    }

    #[test]
    fn status_as_upstream() {
        let start = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let failed: Waiting = [(
            "b".to_owned(),
            ("ErrImagePull".to_owned(), "not found".to_owned()),
        )]
        .into();
        let s = pod_status(
            &pod(false),
            &sandbox(),
            &[running("a")],
            &failed,
            "10.0.0.5",
            start,
        );
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["podIP"], "10.244.0.2");
        assert_eq!(s["hostIP"], "10.0.0.5");
        assert_eq!(
            s["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2027-01-15T08:00:00Z"
        );
        assert_eq!(
            s["containerStatuses"][1]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str()),
            (Some("False"), Some("ContainersNotReady"))
        );

        let ok = pod_status(
            &pod(false),
            &sandbox(),
            &[running("a"), running("b")],
            &Waiting::new(),
            "10.0.0.5",
            start,
        );
        assert_eq!(ok["phase"], "Running");
        assert!(
            ok["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["status"] == "True")
        );
    }
}
