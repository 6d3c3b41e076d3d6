//! A rollout's progress, as upstream's `progress.go`: the Deployment's conditions (their
//! reasons and messages as upstream words them), the Progressing condition through a rollout
//! (created, progressing, complete, or past its progress deadline), ReplicaSet failures, and
//! when to look again at a rollout that makes no progress.
//!
//! Example (upstream's `requeueStuckDeployment`): a Progressing condition last updated at
//! 00:00:00 with a deadline of 600 s, looked at 00:03:00 → look again in 7 min (and a second,
//! against clock skew); not every second until then.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::plan::Pass;
use super::replicas::replicas;
use super::sync::calculate_status;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Reasons of the Progressing condition.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
/// Reasons of the Available condition.
pub const MINIMUM_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// The condition of type `kind`, if the status has one.
pub fn condition<'a>(status: &'a DeploymentStatus, kind: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == kind)
}

/// A condition that changed at `now` (`NewDeploymentCondition`).
pub fn new_condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets a condition as upstream's `SetDeploymentCondition`: one of the same status and reason
/// is kept as it is (message and times too); one of the same status keeps its transition time;
/// the new condition goes last.
pub fn set_condition(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    if let Some(current) = condition(status, &new.type_) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &new.type_);
    status.conditions.get_or_insert_with(Vec::new).push(new);
}

/// Drops the condition of type `kind`.
pub fn remove_condition(status: &mut DeploymentStatus, kind: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != kind);
    }
}

/// Whether the Deployment has a progress deadline (`HasProgressDeadline`; MaxInt32 means none).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    deadline_seconds(d).is_some()
}

fn deadline_seconds(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

/// Whether the rollout is complete: every replica updated and available, and the newest
/// generation observed (`DeploymentComplete`).
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = replicas(d);
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over `old`: more updated, ready or available pods, or fewer
/// old ones (`DeploymentProgressing`).
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let count = |n: Option<i32>| n.unwrap_or(0);
    let old_pods = |s: &DeploymentStatus| count(s.replicas) - count(s.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || old_pods(new) < old_pods(old)
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// Whether the rollout has gone longer than its deadline without progress: since the
/// Progressing condition was last updated (`DeploymentTimedOut`).
fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let (Some(deadline), Some(condition)) = (deadline_seconds(d), condition(status, PROGRESSING))
    else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => condition
            .last_update_time
            .as_ref()
            .is_some_and(|from| from.0.as_second() + i64::from(deadline) < now.as_second()),
    }
}

/// The subject of the Progressing messages: the new ReplicaSet, or the Deployment without one.
fn subject(d: &Deployment, new: Option<&ReplicaSet>) -> String {
    match new {
        Some(rs) => format!("ReplicaSet \"{}\"", rs.name_any()),
        None => format!("Deployment \"{}\"", d.name_any()),
    }
}

/// The status after a rollout step (`syncRolloutStatus`), and when to look again if the
/// rollout is stuck.
pub fn sync_rollout_status(pass: &mut Pass) {
    let d = pass.d;
    let now = pass.now;
    let old = pass.status.clone();
    let mut status = calculate_status(pass);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, PROGRESSING);
    }
    let new = pass.new_replicaset();
    let current = condition(&old, PROGRESSING);
    let complete_before = status.replicas == status.updated_replicas
        && current.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if has_progress_deadline(d) && !complete_before {
        let subject = subject(d, new);
        if deployment_complete(d, &status) {
            let message = format!("{subject} has successfully progressed.");
            let c = new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now);
            set_condition(&mut status, c);
        } else if deployment_progressing(&old, &status) {
            // Progress refreshes the update time even with the same reason: the deadline
            // counts from there.
            let message = format!("{subject} is progressing.");
            let mut c = new_condition(PROGRESSING, "True", RS_UPDATED, message, now);
            if let Some(current) = current.filter(|c| c.status == "True") {
                c.last_transition_time = current.last_transition_time.clone();
            }
            remove_condition(&mut status, PROGRESSING);
            set_condition(&mut status, c);
        } else if deployment_timed_out(d, &status, now) {
            let message = format!("{subject} has timed out progressing.");
            let c = new_condition(PROGRESSING, "False", TIMED_OUT, message, now);
            set_condition(&mut status, c);
        }
    }
    match replica_failure(pass) {
        Some(failure) => set_condition(&mut status, failure),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    pass.recheck = stuck_recheck(d, &status, now);
    pass.status = status;
}

/// The ReplicaFailure condition of the new ReplicaSet, else of any other, as the Deployment's
/// (`getReplicaFailures`).
fn replica_failure(pass: &Pass) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            })
    };
    pass.new_replicaset()
        .and_then(failure)
        .or_else(|| pass.all_as_read().into_iter().find_map(failure))
}

/// When to look at a stuck rollout again (upstream's `requeueStuckDeployment`): a second after
/// its progress deadline passes, counted from the Progressing condition's last update; never
/// for a complete or timed-out rollout, nor without a deadline.
pub fn stuck_recheck(
    d: &Deployment,
    status: &DeploymentStatus,
    now: Timestamp,
) -> Option<Duration> {
    let deadline = deadline_seconds(d)?;
    let current = condition(status, PROGRESSING)?;
    if deployment_complete(d, status) || current.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let from = current.last_update_time.as_ref()?.0.as_second();
    let after = (from + i64::from(deadline) - now.as_second()).max(0);
    Some(Duration::from_secs(after.unsigned_abs() + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn progressing(reason: &str, updated: i64) -> DeploymentStatus {
        let mut c = new_condition(PROGRESSING, "True", reason, "m".into(), at(updated));
        c.last_transition_time = Some(Time(at(0)));
        DeploymentStatus {
            conditions: Some(vec![c]),
            ..Default::default()
        }
    }

    #[test]
    fn stuck_recheck_as_upstream() {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let minutes = |m: u64| Some(Duration::from_secs(m * 60 + 1));
        let cases = [
            (
                "updated 3 min ago, deadline 10 min: in 7 min (+1 s)",
                progressing(RS_UPDATED, 0),
                180,
                minutes(7),
            ),
            (
                "the deadline passed: a second from now",
                progressing(RS_UPDATED, 0),
                900,
                Some(Duration::from_secs(1)),
            ),
            ("timed out already", progressing(TIMED_OUT, 0), 180, None),
            (
                "no Progressing condition",
                DeploymentStatus::default(),
                180,
                None,
            ),
        ];
        for (what, status, now, expected) in cases {
            assert_eq!(stuck_recheck(&d, &status, at(now)), expected, "{what}");
        }
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
        assert_eq!(
            stuck_recheck(&d, &progressing(RS_UPDATED, 0), at(180)),
            None,
            "MaxInt32 is no deadline"
        );
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        let complete = DeploymentStatus {
            replicas: Some(2),
            updated_replicas: Some(2),
            available_replicas: Some(2),
            ..progressing(RS_UPDATED, 0)
        };
        assert_eq!(stuck_recheck(&d, &complete, at(180)), None, "complete");
    }

    #[test]
    fn set_condition_keeps_what_did_not_change() {
        let mut status = progressing(RS_UPDATED, 100);
        let same = new_condition(PROGRESSING, "True", RS_UPDATED, "other".into(), at(200));
        set_condition(&mut status, same);
        assert_eq!(
            status,
            progressing(RS_UPDATED, 100),
            "same status and reason"
        );
        let available = new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, "m".into(), at(300));
        set_condition(&mut status, available);
        let c = condition(&status, PROGRESSING).unwrap();
        assert_eq!(
            (
                c.reason.as_deref(),
                c.last_update_time.clone(),
                c.last_transition_time.clone()
            ),
            (
                Some(NEW_RS_AVAILABLE),
                Some(Time(at(300))),
                Some(Time(at(0)))
            ),
            "a new reason of the same status keeps the transition time"
        );
        let timed_out = new_condition(PROGRESSING, "False", TIMED_OUT, "m".into(), at(400));
        set_condition(&mut status, timed_out.clone());
        assert_eq!(
            status.conditions,
            Some(vec![timed_out]),
            "a new status: new times"
        );
    }
}
