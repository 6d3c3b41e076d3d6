//! The status the kubelet reports for a pod, as typed k8s-openapi structs: each container's
//! state (running, waiting with upstream's reasons, terminated), the phase, and the conditions,
//! each keeping the `lastTransitionTime` of the last reported status while its value stays
//! (so a pod that becomes Ready late is Ready from then, and `minReadySeconds` counts from
//! then).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    self as core, Container, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::plan::{
    FailureKind, StartFailures, init_containers, initialized, is_init, latest, policy,
    regular_containers, restart_due, restarts,
};
use super::probe::Health;
use crate::runtime::{ContainerInfo, ContainerState, SandboxInfo};

/// A timestamp as the API's `Time` (seconds: the API keeps no more).
fn time(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

fn terminated(run: &ContainerInfo) -> Option<core::ContainerState> {
    let ContainerState::Exited {
        exit_code,
        started_at,
        finished_at,
    } = run.state
    else {
        return None;
    };
    let reason = if exit_code == 0 { "Completed" } else { "Error" };
    Some(core::ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code,
            reason: Some(reason.to_owned()),
            started_at: Some(time(started_at)),
            finished_at: Some(time(finished_at)),
            container_id: Some(run.id.clone()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn waiting(reason: &str, message: String) -> core::ContainerState {
    core::ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: (!message.is_empty()).then_some(message),
        }),
        ..Default::default()
    }
}

/// Upstream's CrashLoopBackOff waiting state of a run that waits for its restart at `due`.
fn crash_loop(pod: &Pod, c: &Container, delay: std::time::Duration) -> core::ContainerState {
    let meta = &pod.metadata;
    let pod_ref = format!(
        "{}_{}({})",
        meta.name.as_deref().unwrap_or_default(),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.uid.as_deref().unwrap_or_default()
    );
    let message = format!(
        "back-off {}s restarting failed container={} pod={pod_ref}",
        delay.as_secs(),
        c.name
    );
    waiting("CrashLoopBackOff", message)
}

/// The waiting state of a container that failed to start, if it did and does not run.
fn start_failure(c: &Container, pulls: &StartFailures) -> Option<core::ContainerState> {
    let f = pulls.get(&c.name)?;
    Some(match f.kind {
        FailureKind::NeverPull => waiting("ErrImageNeverPull", f.message.clone()),
        FailureKind::Config => waiting("CreateContainerConfigError", f.message.clone()),
        FailureKind::Pull if f.backing_off => {
            let image = c.image.as_deref().unwrap_or_default();
            let message = format!(
                "Back-off pulling image \"{image}\": ErrImagePull: {}",
                f.message
            );
            waiting("ImagePullBackOff", message)
        }
        FailureKind::Pull => waiting("ErrImagePull", f.message.clone()),
    })
}

/// One container's status: state, lastState, ready, restartCount.
fn container_status(
    pod: &Pod,
    c: &Container,
    containers: &[ContainerInfo],
    pulls: &StartFailures,
    health: &Health,
    now: Timestamp,
) -> ContainerStatus {
    let run = latest(containers, &c.name);
    let previous = run.and_then(|r| {
        containers
            .iter()
            .find(|p| p.name == c.name && p.attempt + 1 == r.attempt)
    });
    let mut last_state = previous.and_then(terminated).unwrap_or_default();
    let running = run.is_some_and(|r| matches!(r.state, ContainerState::Running { .. }));
    let (started, ready) = health.get(&c.name).copied().unwrap_or((true, true));
    let failed = (!running).then(|| start_failure(c, pulls)).flatten();
    let state = match (failed, run) {
        (Some(state), _) => state,
        (None, None) if !initialized(pod, containers) => waiting("PodInitializing", String::new()),
        (None, None) => waiting("ContainerCreating", String::new()),
        (None, Some(r)) => match r.state {
            ContainerState::Running { started_at } => core::ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(time(started_at)),
                }),
                ..Default::default()
            },
            ContainerState::Created => waiting("ContainerCreating", String::new()),
            ContainerState::Exited { .. } => match restart_due(pod, r) {
                Some((due, delay)) if due > now => {
                    last_state = terminated(r).unwrap_or(last_state);
                    crash_loop(pod, c, delay)
                }
                _ => terminated(r).unwrap_or_default(),
            },
        },
    };
    // A completed init container counts as ready, as upstream reports it.
    let completed =
        run.is_some_and(|r| matches!(r.state, ContainerState::Exited { exit_code: 0, .. }));
    let init = is_init(pod, &c.name);
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: run.map(|r| r.image_id.clone()).unwrap_or_default(),
        container_id: run.map(|r| r.id.clone()),
        ready: (running && ready) || (init && completed),
        started: Some(running && started),
        restart_count: run.map_or(0, |r| r.attempt as i32),
        state: Some(state),
        last_state: Some(last_state),
        ..Default::default()
    }
}

/// The pod's phase from its containers: Succeeded or Failed once every container is done for
/// good; Running while all have started and one runs or will restart; Pending before.
fn phase(pod: &Pod, containers: &[ContainerInfo]) -> &'static str {
    let init_failed = init_containers(pod).any(|c| {
        latest(containers, &c.name).is_some_and(|r| {
            matches!(r.state, ContainerState::Exited { exit_code, .. } if exit_code != 0)
                && restart_due(pod, r).is_none()
        })
    });
    if init_failed {
        return "Failed";
    }
    let runs: Option<Vec<&ContainerInfo>> = regular_containers(pod)
        .map(|c| latest(containers, &c.name))
        .collect();
    let Some(runs) = runs else {
        return "Pending";
    };
    let done: Vec<i32> = runs
        .iter()
        .filter_map(|r| match r.state {
            ContainerState::Exited { exit_code, .. } if !restarts(policy(pod), exit_code) => {
                Some(exit_code)
            }
            _ => None,
        })
        .collect();
    match (runs.is_empty(), done.len() == runs.len()) {
        (false, true) if done.iter().all(|c| *c == 0) => "Succeeded",
        (false, true) => "Failed",
        _ => "Running",
    }
}

/// The conditions the kubelet reports, in order.
const CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// The value and transition time (seconds) of each reported condition (as `CONDITIONS`), as
/// last reported: 80 bytes a pod where the stored conditions were about a kilobyte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Transitions([Option<(bool, i64)>; 5]);

impl Transitions {
    fn from_conditions<'a>(conditions: impl Iterator<Item = &'a PodCondition>) -> Transitions {
        let mut known = Transitions::default();
        for c in conditions {
            let (Some(i), Some(at)) = (
                CONDITIONS.iter().position(|t| *t == c.type_),
                c.last_transition_time.as_ref(),
            ) else {
                continue;
            };
            known.0[i] = Some((c.status == "True", at.0.as_second()));
        }
        known
    }

    /// Those of a pod's stored status.
    pub fn of(pod: &Pod) -> Transitions {
        let status = pod.status.iter();
        Transitions::from_conditions(status.flat_map(|s| s.conditions.iter().flatten()))
    }

    /// Those of a status just worked out.
    pub fn of_status(status: &PodStatus) -> Transitions {
        Transitions::from_conditions(status.conditions.iter().flatten())
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// When condition `type_` last turned `ok`, if that is its last known value.
    fn since(&self, type_: &str, ok: bool) -> Option<Time> {
        let i = CONDITIONS.iter().position(|t| *t == type_)?;
        let (value, at) = self.0[i]?;
        (value == ok).then(|| Time(Timestamp::from_second(at).unwrap_or_default()))
    }
}

/// A condition, keeping the transition time last reported while its value is the same (else
/// it changed now).
fn condition(
    previous: &Transitions,
    type_: &str,
    ok: bool,
    reason: Option<(&str, String)>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let stored = previous.since(type_, ok);
    let (reason, message) = match (ok, reason) {
        (false, Some((reason, message))) => (Some(reason.to_owned()), Some(message)),
        _ => (None, None),
    };
    PodCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        last_transition_time: Some(stored.unwrap_or_else(|| time(now))),
        reason,
        message,
        ..Default::default()
    }
}

/// The names of the statuses that are not `ready`, as upstream lists them.
fn names_where(statuses: &[ContainerStatus], pick: impl Fn(&ContainerStatus) -> bool) -> String {
    let names: Vec<&str> = statuses
        .iter()
        .filter(|s| pick(s))
        .map(|s| s.name.as_str())
        .collect();
    names.join(" ")
}

/// The pod's status as the kubelet reports it. `start_time` is when the kubelet first saw it
/// (kept from the stored status when it has one); `previous`, the conditions last reported.
#[allow(clippy::too_many_arguments)]
pub fn pod_status(
    pod: &Pod,
    previous: &Transitions,
    sandbox: Option<&SandboxInfo>,
    containers: &[ContainerInfo],
    pulls: &StartFailures,
    health: &Health,
    (host_ip, start_time): (&str, Timestamp),
    now: Timestamp,
) -> PodStatus {
    let status_of = |c: &Container| container_status(pod, c, containers, pulls, health, now);
    let statuses: Vec<ContainerStatus> = regular_containers(pod).map(status_of).collect();
    let init_statuses: Vec<ContainerStatus> = init_containers(pod).map(status_of).collect();
    let incomplete = names_where(&init_statuses, |s| {
        s.state
            .as_ref()
            .and_then(|st| st.terminated.as_ref())
            .is_none_or(|t| t.exit_code != 0)
    });
    let incomplete = format!("containers with incomplete status: [{incomplete}]");
    let unready = names_where(&statuses, |s| !s.ready);
    let all_ready = !statuses.is_empty() && unready.is_empty();
    let unready = format!("containers with unready status: [{unready}]");
    let not_ready = || Some(("ContainersNotReady", unready.clone()));
    let stored_start = pod.status.as_ref().and_then(|s| s.start_time.clone());
    let ip = sandbox.map(|s| s.ip.clone());
    PodStatus {
        phase: Some(phase(pod, containers).to_owned()),
        conditions: Some(vec![
            condition(
                previous,
                "PodReadyToStartContainers",
                sandbox.is_some(),
                None,
                now,
            ),
            condition(
                previous,
                "Initialized",
                initialized(pod, containers),
                Some(("ContainersNotInitialized", incomplete)),
                now,
            ),
            condition(previous, "Ready", all_ready, not_ready(), now),
            condition(previous, "ContainersReady", all_ready, not_ready(), now),
            condition(previous, "PodScheduled", true, None, now),
        ]),
        host_ip: Some(host_ip.to_owned()),
        host_ips: Some(vec![core::HostIP {
            ip: host_ip.to_owned(),
        }]),
        pod_ip: ip.clone(),
        pod_ips: ip.map(|ip| vec![PodIP { ip }]),
        start_time: Some(stored_start.unwrap_or_else(|| time(start_time))),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn with_conditions(conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "d", "uid": "u"},
            "spec": {"containers": [{"name": "a", "image": "busybox"}]},
            "status": {"conditions": conditions, "startTime": "2023-11-14T22:13:20Z"},
        }))
        .unwrap()
    }

    fn running() -> ContainerInfo {
        ContainerInfo {
            id: "containerd://a".into(),
            name: "a".into(),
            image: "busybox".into(),
            image_id: "sha256:1".into(),
            attempt: 0,
            state: ContainerState::Running { started_at: at(0) },
            log_path: None,
        }
    }

    fn transition(status: &PodStatus, type_: &str) -> (String, Timestamp) {
        let c = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_)
            .unwrap();
        (c.status.clone(), c.last_transition_time.clone().unwrap().0)
    }

    #[test]
    fn conditions_keep_their_transition_times() {
        let sandbox = SandboxInfo {
            id: "s".into(),
            ip: "10.42.0.9".into(),
        };
        // Stored: not ready since second 0, scheduled since second 0.
        let pod = with_conditions(json!([
            {"type": "Ready", "status": "False", "lastTransitionTime": "2023-11-14T22:13:20Z"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2023-11-14T22:13:20Z"},
        ]));
        let runs = [running()];
        let unready = Health::from([("a".to_owned(), (true, false))]);
        let ready = Health::new();
        let previous = Transitions::of(&pod);
        let status = |health: &Health, now: i64| {
            let pulls = StartFailures::new();
            pod_status(
                &pod,
                &previous,
                Some(&sandbox),
                &runs,
                &pulls,
                health,
                ("h", at(50)),
                at(now),
            )
        };
        // Still unready at second 30: the transition stays at second 0.
        assert_eq!(
            transition(&status(&unready, 30), "Ready"),
            ("False".into(), at(0))
        );
        // Ready at second 40: it changed then, not when the pod started.
        assert_eq!(
            transition(&status(&ready, 40), "Ready"),
            ("True".into(), at(40))
        );
        assert_eq!(
            transition(&status(&ready, 40), "PodScheduled"),
            ("True".into(), at(0))
        );
        // New conditions start now; the stored start time stays.
        let fresh = status(&ready, 40);
        assert_eq!(
            transition(&fresh, "ContainersReady"),
            ("True".into(), at(40))
        );
        assert_eq!(fresh.start_time.unwrap().0, at(0));
        assert_eq!(fresh.pod_ip.as_deref(), Some("10.42.0.9"));
        let no_sandbox = pod_status(
            &pod,
            &previous,
            None,
            &[],
            &StartFailures::new(),
            &ready,
            ("h", at(0)),
            at(1),
        );
        let scheduled = Transitions::of_status(&no_sandbox).since("PodScheduled", true);
        assert_eq!(scheduled.unwrap().0, at(0), "kept across reports");
        assert_eq!(
            transition(&no_sandbox, "PodReadyToStartContainers").0,
            "False"
        );
        assert!(no_sandbox.pod_ip.is_none());
        let waiting = &no_sandbox.container_statuses.unwrap()[0];
        let reason = waiting
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .clone();
        assert_eq!(reason.as_deref(), Some("ContainerCreating"));
    }
}
