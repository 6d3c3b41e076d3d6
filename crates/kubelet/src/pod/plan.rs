//! The pod worker's decisions, pure: the next step for a pod given what the runtime has
//! (sandbox, then each container; restarts by restartPolicy with upstream's crash-loop backoff
//! of 0 s, 10 s, 20 s … 5 min, reset after 10 minutes of running; image pulls retried with the
//! same backoff); `status` builds the status the kubelet reports from the same inputs.
//!
//! Example: restartPolicy Always, container `app` attempt 2 exited with code 1 at 12:00:00
//! after running 1 s: its restart is due at 12:00:20 (third restart: 20 s); until then the
//! status says waiting/CrashLoopBackOff, restartCount 2, lastState terminated exitCode 1.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::runtime::{ContainerInfo, ContainerState, SandboxInfo};

/// Upstream's crash-loop backoff ceiling.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A container that ran this long restarts without backoff.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// What stopped a container from starting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The image could not be pulled (ErrImagePull, then ImagePullBackOff).
    Pull,
    /// The image is missing and the policy is Never (ErrImageNeverPull).
    NeverPull,
    /// Its environment or mounts could not be worked out (CreateContainerConfigError), e.g. a
    /// ConfigMap it reads does not exist.
    Config,
}

/// A failed start of a container, being retried.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StartFailure {
    pub kind: FailureKind,
    pub message: String,
    pub failures: u32,
    pub retry_at: Timestamp,
    /// Once reported as ErrImagePull, the status says ImagePullBackOff.
    pub backing_off: bool,
}

/// The pull policy in force: the container's, or by the image's tag when unset.
pub fn pull_policy<'a>(policy: Option<&'a str>, image: &str) -> &'a str {
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once('@').map_or(last, |(name, _)| name);
    let latest = !image.contains('@') && tag.split_once(':').is_none_or(|(_, t)| t == "latest");
    policy.unwrap_or(if latest { "Always" } else { "IfNotPresent" })
}

/// How a container gets its image.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// The runtime has it (and the policy does not ask for a pull): use this ID.
    Present(String),
    Pull,
    /// Missing, and the policy is Never.
    NeverPull,
}

/// Upstream's imagePullPolicy: `Always` pulls at every start, `IfNotPresent` when missing,
/// `Never` never; unset, `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn image_source(policy: Option<&str>, image: &str, present: Option<String>) -> ImageSource {
    match (pull_policy(policy, image), present) {
        ("Always", _) => ImageSource::Pull,
        (_, Some(id)) => ImageSource::Present(id),
        ("Never", None) => ImageSource::NeverPull,
        _ => ImageSource::Pull,
    }
}

/// Failed starts by container name.
pub type StartFailures = BTreeMap<String, StartFailure>;

/// The next thing to do for a pod.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the pod's sandbox.
    RunSandbox,
    /// Pull, create and start this container as its `attempt`-th run.
    Start { name: String, attempt: u32 },
    /// Stop and remove everything, then delete the pod object with grace 0.
    Terminate,
    /// Nothing now: report status; look again at `until` (a backoff ending) or on a change.
    Wait { until: Option<Timestamp> },
}

/// The delay after the `n`-th run of a container (n = 0 for the first) before it restarts:
/// none after the first crash, then 10 s doubling to 5 minutes; none after a long run.
pub fn backoff(n: u32, ran_for: Duration) -> Duration {
    if n == 0 || ran_for >= BACKOFF_RESET {
        return Duration::ZERO;
    }
    (Duration::from_secs(10) * 2u32.saturating_pow(n - 1)).min(MAX_BACKOFF)
}

/// Whether a container that exited with `code` runs again under `policy`.
pub fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

pub(super) fn policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// The newest run of a container.
pub fn latest<'a>(containers: &'a [ContainerInfo], name: &str) -> Option<&'a ContainerInfo> {
    containers
        .iter()
        .filter(|c| c.name == name)
        .max_by_key(|c| c.attempt)
}

fn ran_for(started: Timestamp, finished: Timestamp) -> Duration {
    Duration::try_from(finished.duration_since(started)).unwrap_or_default()
}

/// When an exited run restarts, if it does.
pub(super) fn restart_due(pod: &Pod, run: &ContainerInfo) -> Option<(Timestamp, Duration)> {
    let ContainerState::Exited {
        exit_code,
        started_at,
        finished_at,
    } = run.state
    else {
        return None;
    };
    let again = if is_init(pod, &run.name) {
        exit_code != 0 && policy(pod) != "Never"
    } else {
        restarts(policy(pod), exit_code)
    };
    if !again {
        return None;
    }
    let delay = backoff(run.attempt, ran_for(started_at, finished_at));
    Some((finished_at + delay, delay))
}

/// Whether an exited run will run again (now or after its backoff).
pub fn will_restart(pod: &Pod, run: &ContainerInfo) -> bool {
    restart_due(pod, run).is_some()
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

pub(super) fn init_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
}

pub(super) fn regular_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| &s.containers)
}

/// Whether `name` is one of the pod's init containers.
pub fn is_init(pod: &Pod, name: &str) -> bool {
    init_containers(pod).any(|c| c.name == name)
}

/// The spec of one of the pod's containers, init or regular.
pub fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    init_containers(pod)
        .chain(regular_containers(pod))
        .find(|c| c.name == name)
}

/// Whether every init container has completed (exit code 0), or the regular containers have
/// started already (the init containers' runs may have been removed since).
pub fn initialized(pod: &Pod, runs: &[ContainerInfo]) -> bool {
    regular_containers(pod).any(|c| latest(runs, &c.name).is_some())
        || init_containers(pod).all(|c| {
            latest(runs, &c.name)
                .is_some_and(|r| matches!(r.state, ContainerState::Exited { exit_code: 0, .. }))
        })
}

/// The next step of the init containers, in order: start the first that has not completed,
/// restart a failed one after its backoff, or wait for the running one. `None` once all are
/// done.
fn next_init_step(
    pod: &Pod,
    runs: &[ContainerInfo],
    pulls: &StartFailures,
    now: Timestamp,
) -> Option<Step> {
    if initialized(pod, runs) {
        return None;
    }
    for c in init_containers(pod) {
        let run = latest(runs, &c.name);
        let next_attempt = run.map_or(0, |r| r.attempt + 1);
        if let Some(failure) = pulls.get(&c.name) {
            if now < failure.retry_at {
                return Some(Step::Wait {
                    until: Some(failure.retry_at),
                });
            }
            return Some(Step::Start {
                name: c.name.clone(),
                attempt: next_attempt,
            });
        }
        let Some(run) = run else {
            return Some(Step::Start {
                name: c.name.clone(),
                attempt: 0,
            });
        };
        match run.state {
            ContainerState::Exited { exit_code: 0, .. } => continue,
            ContainerState::Exited { .. } => {
                return Some(match restart_due(pod, run) {
                    Some((due, _)) if due <= now => Step::Start {
                        name: c.name.clone(),
                        attempt: next_attempt,
                    },
                    Some((due, _)) => Step::Wait { until: Some(due) },
                    None => Step::Wait { until: None },
                });
            }
            _ => return Some(Step::Wait { until: None }),
        }
    }
    None
}

/// What to do next for the pod.
pub fn next_step(
    pod: &Pod,
    state: Option<&(SandboxInfo, Vec<ContainerInfo>)>,
    pulls: &StartFailures,
    now: Timestamp,
) -> Step {
    if pod.metadata.deletion_timestamp.is_some() {
        return Step::Terminate;
    }
    let Some((_, containers)) = state else {
        return Step::RunSandbox;
    };
    if let Some(step) = next_init_step(pod, containers, pulls, now) {
        return step;
    }
    let mut until = None;
    for c in regular_containers(pod) {
        let run = latest(containers, &c.name);
        let next_attempt = run.map_or(0, |r| r.attempt + 1);
        if let Some(failure) = pulls.get(&c.name) {
            if now < failure.retry_at {
                until = earliest(until, failure.retry_at);
                continue;
            }
            return Step::Start {
                name: c.name.clone(),
                attempt: next_attempt,
            };
        }
        let Some(run) = run else {
            return Step::Start {
                name: c.name.clone(),
                attempt: 0,
            };
        };
        if let Some((due, _)) = restart_due(pod, run) {
            if due <= now {
                return Step::Start {
                    name: c.name.clone(),
                    attempt: next_attempt,
                };
            }
            until = earliest(until, due);
        }
    }
    Step::Wait { until }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::probe::Health;
    use serde_json::{Value, json};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn pod(policy: &str, deleting: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default", "uid": "u",
            "deletionTimestamp": if deleting { json!("2026-01-01T00:00:00Z") } else { Value::Null }},
            "spec": {"restartPolicy": policy, "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "nginx"}]}}))
        .unwrap()
    }

    fn sandbox() -> SandboxInfo {
        SandboxInfo {
            id: "s".into(),
            ip: "10.42.0.2".into(),
        }
    }

    /// The status at second 5 of a pod that started at second 0.
    fn status_of(p: &Pod, runs: &[ContainerInfo], pulls: &StartFailures) -> Value {
        let status = crate::pod::status::pod_status(
            p,
            &Default::default(),
            Some(&sandbox()),
            runs,
            pulls,
            &Health::new(),
            ("h", at(0)),
            at(5),
        );
        serde_json::to_value(status).unwrap()
    }

    fn running(name: &str, attempt: u32) -> ContainerInfo {
        ContainerInfo {
            id: format!("containerd://{name}{attempt}"),
            name: name.into(),
            image: "img".into(),
            image_id: "sha256:1".into(),
            attempt,
            state: ContainerState::Running { started_at: at(0) },
            log_path: None,
        }
    }

    fn exited(name: &str, attempt: u32, code: i32, started: i64, finished: i64) -> ContainerInfo {
        ContainerInfo {
            state: ContainerState::Exited {
                exit_code: code,
                started_at: at(started),
                finished_at: at(finished),
            },
            ..running(name, attempt)
        }
    }

    #[test]
    fn image_pull_policy_as_upstream() {
        let id = || Some("sha256:1".to_owned());
        let cases = [
            (Some("Always"), "nginx:1.25", id(), ImageSource::Pull),
            (
                Some("IfNotPresent"),
                "nginx",
                id(),
                ImageSource::Present("sha256:1".into()),
            ),
            (Some("IfNotPresent"), "nginx", None, ImageSource::Pull),
            (Some("Never"), "nginx", None, ImageSource::NeverPull),
            (None, "nginx", id(), ImageSource::Pull),
            (None, "nginx:latest", id(), ImageSource::Pull),
            (None, "localhost:5000/nginx", id(), ImageSource::Pull),
            (
                None,
                "localhost:5000/nginx:1.25",
                id(),
                ImageSource::Present("sha256:1".into()),
            ),
            (
                None,
                "nginx@sha256:abc",
                id(),
                ImageSource::Present("sha256:1".into()),
            ),
        ];
        for (policy, image, present, want) in cases {
            assert_eq!(
                image_source(policy, image, present),
                want,
                "{policy:?} {image}"
            );
        }
    }

    #[test]
    fn backoff_as_upstream() {
        let short = Duration::from_secs(1);
        let got: Vec<u64> = (0..8).map(|n| backoff(n, short).as_secs()).collect();
        assert_eq!(got, vec![0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(5, BACKOFF_RESET), Duration::ZERO);
    }

    /// A pod, what the runtime has, failed pulls, now (seconds), the expected step.
    type Case = (
        Pod,
        Option<(SandboxInfo, Vec<ContainerInfo>)>,
        StartFailures,
        i64,
        Step,
    );

    #[test]
    fn steps() {
        let none = StartFailures::new();
        let pull = |retry: i64| -> StartFailures {
            [(
                "b".to_owned(),
                StartFailure {
                    kind: FailureKind::Pull,
                    message: "not found".into(),
                    failures: 1,
                    retry_at: at(retry),
                    backing_off: false,
                },
            )]
            .into()
        };
        let s = |cs: Vec<ContainerInfo>| Some((sandbox(), cs));
        let cases: Vec<Case> = vec![
            (
                pod("Always", false),
                None,
                none.clone(),
                0,
                Step::RunSandbox,
            ),
            (
                pod("Always", false),
                s(vec![]),
                none.clone(),
                0,
                Step::Start {
                    name: "a".into(),
                    attempt: 0,
                },
            ),
            (
                pod("Always", false),
                s(vec![running("a", 0)]),
                none.clone(),
                0,
                Step::Start {
                    name: "b".into(),
                    attempt: 0,
                },
            ),
            (
                pod("Always", false),
                s(vec![running("a", 0), running("b", 0)]),
                none.clone(),
                0,
                Step::Wait { until: None },
            ),
            // first crash: restart at once, as attempt 1
            (
                pod("Always", false),
                s(vec![exited("a", 0, 1, 0, 1), running("b", 0)]),
                none.clone(),
                1,
                Step::Start {
                    name: "a".into(),
                    attempt: 1,
                },
            ),
            // second crash: 10 s later
            (
                pod("Always", false),
                s(vec![exited("a", 1, 1, 2, 3), running("b", 0)]),
                none.clone(),
                5,
                Step::Wait {
                    until: Some(at(13)),
                },
            ),
            (
                pod("Always", false),
                s(vec![exited("a", 1, 1, 2, 3), running("b", 0)]),
                none.clone(),
                13,
                Step::Start {
                    name: "a".into(),
                    attempt: 2,
                },
            ),
            // OnFailure: a clean exit stays; Never: nothing restarts
            (
                pod("OnFailure", false),
                s(vec![exited("a", 0, 0, 0, 1), running("b", 0)]),
                none.clone(),
                5,
                Step::Wait { until: None },
            ),
            (
                pod("Never", false),
                s(vec![exited("a", 0, 1, 0, 1), running("b", 0)]),
                none.clone(),
                5,
                Step::Wait { until: None },
            ),
            // a failed pull waits for its retry
            (
                pod("Always", false),
                s(vec![running("a", 0)]),
                pull(10),
                5,
                Step::Wait {
                    until: Some(at(10)),
                },
            ),
            (
                pod("Always", false),
                s(vec![running("a", 0)]),
                pull(10),
                10,
                Step::Start {
                    name: "b".into(),
                    attempt: 0,
                },
            ),
            (
                pod("Always", true),
                s(vec![running("a", 0)]),
                none.clone(),
                0,
                Step::Terminate,
            ),
        ];
        for (i, (p, state, pulls, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                next_step(&p, state.as_ref(), &pulls, at(now)),
                want,
                "case {i}"
            );
        }
    }

    fn with_init(policy: &str) -> Pod {
        let mut p = pod(policy, false);
        let spec = p.spec.as_mut().unwrap();
        spec.containers.truncate(1);
        spec.init_containers = Some(vec![Container {
            name: "i".into(),
            image: Some("busybox".into()),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn init_containers_run_first_in_order() {
        let p = with_init("Always");
        let step = |runs: Vec<ContainerInfo>, now| {
            let state = Some((sandbox(), runs));
            next_step(&p, state.as_ref(), &StartFailures::new(), at(now))
        };
        let start = |name: &str, attempt| Step::Start {
            name: name.into(),
            attempt,
        };
        assert_eq!(step(vec![], 0), start("i", 0));
        assert_eq!(step(vec![running("i", 0)], 0), Step::Wait { until: None });
        // A failed init container restarts (after its backoff), even under Always it is not
        // restarted once it succeeded.
        assert_eq!(step(vec![exited("i", 0, 1, 0, 1)], 1), start("i", 1));
        assert_eq!(
            step(vec![exited("i", 1, 1, 2, 3)], 5),
            Step::Wait {
                until: Some(at(13))
            }
        );
        assert_eq!(step(vec![exited("i", 0, 0, 0, 1)], 1), start("a", 0));
        assert_eq!(
            step(vec![exited("i", 0, 0, 0, 1), running("a", 0)], 1),
            Step::Wait { until: None }
        );

        let none = StartFailures::new();
        let status = |p: &Pod, runs: &[ContainerInfo]| status_of(p, runs, &none);
        let init = status(&p, &[running("i", 0)]);
        assert_eq!(init["phase"], "Pending");
        assert_eq!(
            init["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        let initialized = &init["conditions"][1];
        assert_eq!(
            (
                &initialized["type"],
                &initialized["status"],
                &initialized["reason"]
            ),
            (
                &json!("Initialized"),
                &json!("False"),
                &json!("ContainersNotInitialized")
            )
        );
        assert_eq!(
            initialized["message"],
            "containers with incomplete status: [i]"
        );
        let done = status(&p, &[exited("i", 0, 0, 0, 1), running("a", 0)]);
        assert_eq!(done["phase"], "Running");
        assert_eq!(done["conditions"][1]["status"], "True");
        let i = &done["initContainerStatuses"][0];
        assert_eq!(i["state"]["terminated"]["reason"], "Completed");
        assert_eq!(i["ready"], true);
        let failed = status(&with_init("Never"), &[exited("i", 0, 1, 0, 1)]);
        assert_eq!(failed["phase"], "Failed");
    }

    #[test]
    fn crash_loop_status_as_upstream() {
        let p = pod("Always", false);
        let cs = vec![
            exited("a", 0, 1, 0, 1),
            exited("a", 1, 1, 2, 3),
            running("b", 0),
        ];
        let s = status_of(&p, &cs, &StartFailures::new());
        let a = &s["containerStatuses"][0];
        assert_eq!(a["restartCount"], 1);
        assert_eq!(a["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            a["state"]["waiting"]["message"],
            "back-off 10s restarting failed container=a pod=p_default(u)"
        );
        assert_eq!(a["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(a["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(s["phase"], "Running");
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["status"], "False");
    }

    #[test]
    fn phases_and_pull_states() {
        let never = pod("Never", false);
        let done = vec![exited("a", 0, 0, 0, 1), exited("b", 0, 0, 0, 1)];
        let s = status_of(&never, &done, &StartFailures::new());
        assert_eq!(s["phase"], "Succeeded");
        assert_eq!(
            s["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        let failed = vec![exited("a", 0, 0, 0, 1), exited("b", 0, 2, 0, 1)];
        assert_eq!(
            status_of(&never, &failed, &StartFailures::new())["phase"],
            "Failed"
        );

        let p = pod("Always", false);
        let mut pulls: StartFailures = [(
            "b".to_owned(),
            StartFailure {
                kind: FailureKind::Pull,
                message: "not found".into(),
                failures: 1,
                retry_at: at(10),
                backing_off: false,
            },
        )]
        .into();
        let s = status_of(&p, &[running("a", 0)], &pulls);
        assert_eq!(s["phase"], "Pending");
        assert_eq!(
            s["containerStatuses"][1]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
        pulls.get_mut("b").unwrap().backing_off = true;
        let s = status_of(&p, &[running("a", 0)], &pulls);
        assert_eq!(
            s["containerStatuses"][1]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );
        assert_eq!(
            s["containerStatuses"][1]["state"]["waiting"]["message"],
            "Back-off pulling image \"nginx\": ErrImagePull: not found"
        );
    }
}
