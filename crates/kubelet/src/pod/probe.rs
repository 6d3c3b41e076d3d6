//! Liveness, readiness and startup probes, pure: which probes are due (upstream's timing fields
//! and defaults: initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1, successThreshold 1,
//! failureThreshold 3), what a result changes, and the containers' `started` and `ready`.
//!
//! Example: a liveness probe with periodSeconds 2 and failureThreshold 3 on a container that
//! started at 12:00:00 runs at 12:00:00, :02, :04 …; the third failure in a row trips it (the
//! worker kills the container, which restarts by its policy). Liveness and readiness wait for a
//! startup probe to pass; a container with a readiness probe is not ready before it passes.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, Probe};

use super::plan as pod_plan;
use crate::runtime::{ContainerInfo, ContainerState};

/// The three kinds of probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    /// As upstream's events name it: `Liveness probe failed: …`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }

    /// The container's probe of this kind.
    pub fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            Kind::Startup => container.startup_probe.as_ref(),
            Kind::Liveness => container.liveness_probe.as_ref(),
            Kind::Readiness => container.readiness_probe.as_ref(),
        }
    }
}

/// A probe's timing, defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn seconds(value: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(value.unwrap_or(default).max(0) as u64)
}

/// The probe's timing with upstream's defaults.
pub fn timing(probe: &Probe) -> Timing {
    Timing {
        initial_delay: seconds(probe.initial_delay_seconds, 0),
        period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
        success_threshold: probe.success_threshold.unwrap_or(1).max(1) as u32,
        failure_threshold: probe.failure_threshold.unwrap_or(3).max(1) as u32,
    }
}

/// What one probe has seen of one run of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    pub run_id: String,
    pub last_run: Option<Timestamp>,
    pub successes: u32,
    pub failures: u32,
    /// Passing once `successThreshold` successes came in a row, failing after
    /// `failureThreshold` failures; none before either.
    pub passing: Option<bool>,
}

/// Every probe's tracker, by container name and kind.
pub type Trackers = BTreeMap<(String, Kind), Tracker>;

/// What a result changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A success, or a failure below the threshold.
    Counted,
    /// The failure threshold is reached: a liveness or startup probe kills the container.
    Tripped,
}

fn tracker<'a>(trackers: &'a Trackers, name: &str, kind: Kind, run: &str) -> Option<&'a Tracker> {
    trackers
        .get(&(name.to_owned(), kind))
        .filter(|t| t.run_id == run)
}

fn containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| &s.containers)
}

/// Whether the run's startup probe passed (or it has none).
fn started(container: &Container, run: &ContainerInfo, trackers: &Trackers) -> bool {
    Kind::Startup.of(container).is_none()
        || tracker(trackers, &container.name, Kind::Startup, &run.id)
            .is_some_and(|t| t.passing == Some(true))
}

/// The probes to run now, each with the run it probes.
pub fn due(
    pod: &Pod,
    runs: &[ContainerInfo],
    trackers: &Trackers,
    now: Timestamp,
) -> Vec<(String, Kind, String)> {
    let mut due = Vec::new();
    for c in containers(pod) {
        let Some(run) = pod_plan::latest(runs, &c.name) else {
            continue;
        };
        let ContainerState::Running { started_at } = run.state else {
            continue;
        };
        let started = started(c, run, trackers);
        for kind in [Kind::Startup, Kind::Liveness, Kind::Readiness] {
            let Some(probe) = kind.of(c) else { continue };
            if (kind == Kind::Startup) == started {
                continue;
            }
            let timing = timing(probe);
            let last = tracker(trackers, &c.name, kind, &run.id).and_then(|t| t.last_run);
            let next = match last {
                Some(last) => last + timing.period,
                None => started_at + timing.initial_delay,
            };
            if now >= next {
                due.push((c.name.clone(), kind, run.id.clone()));
            }
        }
    }
    due
}

/// Records a result of the probe of `kind` on the container's run `run_id`.
pub fn record(
    trackers: &mut Trackers,
    (name, kind, run_id): (&str, Kind, &str),
    timing: &Timing,
    success: bool,
    now: Timestamp,
) -> Outcome {
    let entry = trackers.entry((name.to_owned(), kind)).or_default();
    if entry.run_id != run_id {
        *entry = Tracker {
            run_id: run_id.to_owned(),
            ..Tracker::default()
        };
    }
    entry.last_run = Some(now);
    if success {
        entry.successes += 1;
        entry.failures = 0;
        if entry.successes >= timing.success_threshold {
            entry.passing = Some(true);
        }
        return Outcome::Counted;
    }
    entry.failures += 1;
    entry.successes = 0;
    if entry.failures >= timing.failure_threshold {
        entry.passing = Some(false);
        return Outcome::Tripped;
    }
    Outcome::Counted
}

/// A running container's `started` and `ready`, by name (containers not running are neither).
pub type Health = BTreeMap<String, (bool, bool)>;

/// `started`: the startup probe passed (or there is none); `ready`: started, and the readiness
/// probe passes (or there is none).
pub fn health(pod: &Pod, runs: &[ContainerInfo], trackers: &Trackers) -> Health {
    let mut health = Health::new();
    for c in containers(pod) {
        let Some(run) = pod_plan::latest(runs, &c.name) else {
            continue;
        };
        if !matches!(run.state, ContainerState::Running { .. }) {
            continue;
        }
        let started = started(c, run, trackers);
        let ready = started
            && (Kind::Readiness.of(c).is_none()
                || tracker(trackers, &c.name, Kind::Readiness, &run.id)
                    .is_some_and(|t| t.passing == Some(true)));
        health.insert(c.name.clone(), (started, ready));
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn pod(container: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [container]},
        }))
        .unwrap()
    }

    fn running(id: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: "a".into(),
            image: "img".into(),
            image_id: "sha".into(),
            attempt: 0,
            state: ContainerState::Running { started_at: at(0) },
            log_path: None,
        }
    }

    fn names(due: Vec<(String, Kind, String)>) -> Vec<Kind> {
        due.into_iter().map(|(_, k, _)| k).collect()
    }

    #[test]
    fn timing_defaults_as_upstream() {
        let t = timing(&Probe::default());
        assert_eq!(
            t,
            Timing {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
            }
        );
    }

    #[test]
    fn liveness_trips_after_the_failure_threshold() {
        let p = pod(json!({"name": "a", "livenessProbe":
            {"exec": {"command": ["true"]}, "initialDelaySeconds": 2, "periodSeconds": 2}}));
        let runs = [running("c1")];
        let mut trackers = Trackers::new();
        assert!(due(&p, &runs, &trackers, at(1)).is_empty(), "initial delay");
        assert_eq!(names(due(&p, &runs, &trackers, at(2))), [Kind::Liveness]);
        let t = timing(
            Kind::Liveness
                .of(&p.spec.as_ref().unwrap().containers[0])
                .unwrap(),
        );
        let key = ("a", Kind::Liveness, "c1");
        assert_eq!(
            record(&mut trackers, key, &t, false, at(2)),
            Outcome::Counted
        );
        assert!(due(&p, &runs, &trackers, at(3)).is_empty(), "period");
        assert_eq!(
            record(&mut trackers, key, &t, false, at(4)),
            Outcome::Counted
        );
        assert_eq!(
            record(&mut trackers, key, &t, false, at(6)),
            Outcome::Tripped
        );
        // A new run starts over.
        let restarted = [ContainerInfo {
            id: "c2".into(),
            attempt: 1,
            state: ContainerState::Running { started_at: at(7) },
            ..running("c2")
        }];
        assert!(due(&p, &restarted, &trackers, at(8)).is_empty());
        assert_eq!(
            names(due(&p, &restarted, &trackers, at(9))),
            [Kind::Liveness]
        );
        // Live containers without a readiness probe are ready.
        assert_eq!(health(&p, &runs, &trackers)["a"], (true, true));
    }

    #[test]
    fn readiness_gates_ready_and_startup_gates_the_others() {
        let p = pod(json!({"name": "a",
            "startupProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 1},
            "livenessProbe": {"exec": {"command": ["true"]}}}));
        let c = &p.spec.as_ref().unwrap().containers[0];
        let runs = [running("c1")];
        let mut trackers = Trackers::new();
        assert_eq!(health(&p, &runs, &trackers)["a"], (false, false));
        assert_eq!(names(due(&p, &runs, &trackers, at(0))), [Kind::Startup]);
        let startup = timing(Kind::Startup.of(c).unwrap());
        record(
            &mut trackers,
            ("a", Kind::Startup, "c1"),
            &startup,
            true,
            at(0),
        );
        assert_eq!(health(&p, &runs, &trackers)["a"], (true, false));
        assert_eq!(
            names(due(&p, &runs, &trackers, at(1))),
            [Kind::Liveness, Kind::Readiness]
        );
        let readiness = timing(Kind::Readiness.of(c).unwrap());
        let key = ("a", Kind::Readiness, "c1");
        record(&mut trackers, key, &readiness, true, at(1));
        assert_eq!(health(&p, &runs, &trackers)["a"], (true, true));
        assert_eq!(
            record(&mut trackers, key, &readiness, false, at(2)),
            Outcome::Tripped
        );
        assert_eq!(health(&p, &runs, &trackers)["a"], (true, false));
    }
}
