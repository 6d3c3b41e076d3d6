//! What every pass of a Deployment does, as upstream's `sync.go`: find or create the new
//! ReplicaSet and keep its revision and annotations, resize the ReplicaSets when the
//! Deployment is scaled (in proportion mid-rollout), delete history beyond
//! `revisionHistoryLimit`, mark pausing and resuming, and compute the status.

use k8s_openapi::api::apps::v1::DeploymentStatus;
use kube::ResourceExt;

use super::annotations::{
    desired_replicas, max_replicas, max_revision, revision, rollback_to,
    set_new_replicaset_annotations, set_replicas_annotations,
};
use super::plan::{Deletion, Pass};
use super::progress::{
    AVAILABLE, FOUND_NEW_RS, MINIMUM_AVAILABLE, MINIMUM_UNAVAILABLE, NEW_RS_CREATED, PAUSED,
    PROGRESSING, RESUMED, TIMED_OUT, condition, has_progress_deadline, new_condition,
    set_condition,
};
use super::replicas::{
    actual_replicas, available_replicas, by_creation, by_size_newer, by_size_older, is_recreate,
    is_saturated, max_surge, max_unavailable, new_replicas, ready_replicas, replicas,
    spec_replicas, sum,
};
use super::template::new_replicaset;
use crate::nonzero;

/// Whether the Deployment is paused.
pub fn is_paused(pass: &Pass) -> bool {
    pass.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// A paused or scaled Deployment (upstream's `sync`): resize, clean up a paused one's history,
/// and report the status, without rolling.
pub fn sync(pass: &mut Pass) {
    sync_revision(pass, false);
    scale(pass);
    if is_paused(pass) && rollback_to(pass.d).is_none() {
        cleanup(pass);
    }
    pass.status = calculate_status(pass);
}

/// A Deployment being deleted: only its status (`syncStatusOnly`).
pub fn status_only(pass: &mut Pass) {
    sync_revision(pass, false);
    pass.status = calculate_status(pass);
}

/// Finds the new ReplicaSet and brings its annotations (the revision one past the old
/// ReplicaSets', the Deployment's own) and minReadySeconds up to date, or plans it when it is
/// missing and `create` says so; the Deployment takes its revision
/// (`getAllReplicaSetsAndSyncRevision`). Doing it twice in a pass changes nothing more.
pub fn sync_revision(pass: &mut Pass, create: bool) {
    let d = pass.d;
    let new_revision = max_revision(pass.olds().map(|i| &pass.rss[i])) + 1;
    let (name, created) = match pass.new {
        Some(i) => {
            let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let mut rs = pass.rss[i].clone();
            let mut changed = set_new_replicaset_annotations(d, &mut rs, new_revision);
            let spec = rs.spec.get_or_insert_with(Default::default);
            if spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0) {
                spec.min_ready_seconds = min_ready;
                changed = true;
            }
            let name = rs.name_any();
            if changed {
                *pass.touch(i) = rs;
            }
            (name, false)
        }
        None if create => {
            let mut rs = new_replicaset(d, 0);
            let all: Vec<_> = pass.rss.iter().chain([&rs]).collect();
            let count = new_replicas(d, &all, &rs);
            rs.spec.get_or_insert_with(Default::default).replicas = Some(count);
            set_new_replicaset_annotations(d, &mut rs, new_revision);
            set_replicas_annotations(&mut rs, replicas(d), replicas(d) + max_surge(d));
            let name = rs.name_any();
            pass.create(rs);
            (name, true)
        }
        None => return,
    };
    if let Some(new) = pass.new_replicaset() {
        pass.revision = revision(new).map(|r| r.to_string());
    }
    if !has_progress_deadline(d) {
        return;
    }
    let now = pass.now;
    if created {
        let message = format!("Created new replica set \"{name}\"");
        let c = new_condition(PROGRESSING, "True", NEW_RS_CREATED, message, now);
        set_condition(&mut pass.status, c);
    } else if condition(&pass.status, PROGRESSING).is_none() {
        let message = format!("Found new replica set \"{name}\"");
        let c = new_condition(PROGRESSING, "True", FOUND_NEW_RS, message, now);
        set_condition(&mut pass.status, c);
    }
}

/// Whether an active ReplicaSet was sized for another replica count than the Deployment's
/// (`isScalingEvent`).
pub fn is_scaling_event(pass: &mut Pass) -> bool {
    sync_revision(pass, false);
    let replicas = replicas(pass.d);
    pass.rss
        .iter()
        .filter(|rs| spec_replicas(rs) > 0)
        .any(|rs| desired_replicas(rs).is_some_and(|desired| desired != replicas))
}

/// Resizes the ReplicaSets to the Deployment's replicas (upstream's `scale`): the only active
/// one (or, with none active, the newest) takes them all; a saturated new one sends the old
/// ones to zero; otherwise a rolling Deployment's active ReplicaSets are resized in
/// proportion to their sizes.
pub fn scale(pass: &mut Pass) {
    let d = pass.d;
    if let Some(i) = active_or_latest(pass) {
        pass.scale(i, replicas(d));
        return;
    }
    let active: Vec<usize> = (0..pass.rss.len())
        .filter(|i| spec_replicas(&pass.rss[*i]) > 0)
        .collect();
    if is_saturated(d, pass.new_replicaset()) {
        let new = pass.new;
        for i in active.into_iter().filter(|i| Some(*i) != new) {
            pass.scale(i, 0);
        }
        return;
    }
    if is_recreate(d) {
        return;
    }
    for (i, size) in proportional_sizes(pass, &active) {
        pass.resize(i, size);
    }
}

/// The only active ReplicaSet, or the newest when none is active (`FindActiveOrLatest`);
/// `None` when several are active.
fn active_or_latest(pass: &Pass) -> Option<usize> {
    let active: Vec<usize> = (0..pass.rss.len())
        .filter(|i| spec_replicas(&pass.rss[*i]) > 0)
        .collect();
    match active.as_slice() {
        [] => pass.new.or_else(|| {
            pass.olds()
                .max_by(|a, b| by_creation(&pass.rss[*a], &pass.rss[*b]))
        }),
        [only] => Some(*only),
        _ => None,
    }
}

/// How much of a change in the Deployment's size a ReplicaSet takes: its share of the size it
/// was scaled for (`getReplicaSetFraction`).
fn fraction(pass: &Pass, i: usize) -> i32 {
    let d = pass.d;
    let rs = &pass.rss[i];
    if replicas(d) == 0 {
        return -spec_replicas(rs);
    }
    let max = replicas(d) + max_surge(d);
    // Without the annotation (or with 0), upstream falls back to the Deployment's pods; with
    // none of those either, the ReplicaSet keeps its size.
    let before = max_replicas(rs)
        .filter(|v| *v > 0)
        .or_else(|| d.status.as_ref().and_then(|s| s.replicas))
        .filter(|v| *v > 0)
        .unwrap_or(max);
    let size = f64::from(spec_replicas(rs)) * f64::from(max) / f64::from(before);
    size.round() as i32 - spec_replicas(rs)
}

/// Upstream's proportional scaling of the active ReplicaSets of a Deployment whose replicas
/// changed mid-rollout: the change is shared in proportion to their sizes, largest first (ties:
/// newer first when growing, older first when shrinking), leftovers to the largest.
///
/// Example (upstream's conformance case): 10 replicas, maxSurge 3, maxUnavailable 2, a rollout
/// stuck at old 8 + new 5, scaled to 30: old becomes 20 and new 13.
fn proportional_sizes(pass: &Pass, active: &[usize]) -> Vec<(usize, i32)> {
    let d = pass.d;
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let current: i32 = active.iter().map(|i| spec_replicas(&pass.rss[*i])).sum();
    let to_add = allowed - current;
    let mut sorted = active.to_vec();
    let order = if to_add > 0 {
        by_size_newer
    } else {
        by_size_older
    };
    sorted.sort_by(|a, b| order(&pass.rss[*a], &pass.rss[*b]));
    let mut added = 0;
    let mut sizes: Vec<(usize, i32)> = sorted
        .iter()
        .map(|i| {
            let size = spec_replicas(&pass.rss[*i]);
            let proportion = if to_add == 0 || size == 0 || to_add == added {
                0
            } else if to_add > 0 {
                fraction(pass, *i).min(to_add - added)
            } else {
                fraction(pass, *i).max(to_add - added)
            };
            added += proportion;
            (*i, size + proportion)
        })
        .collect();
    if let Some(first) = sizes.first_mut() {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

/// Deletes the oldest revisions beyond `revisionHistoryLimit` among the old ReplicaSets not
/// being deleted, skipping any that still has pods or whose last change its controller has
/// not seen (`cleanupDeployment`).
///
/// Example: limit 1, old revisions 1 (idle), 2 (idle) and 3 (2 pods): 3 − 1 = 2 to go, the
/// oldest two, so 1 and 2 are deleted; with 2 still running pods only 1 would go.
pub fn cleanup(pass: &mut Pass) {
    let Some(limit) = pass
        .d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .filter(|l| *l != i32::MAX)
    else {
        return;
    };
    let mut alive: Vec<usize> = pass
        .olds()
        .filter(|i| pass.as_read(*i).metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    alive.sort_by(|a, b| {
        let (a, b) = (pass.as_read(*a), pass.as_read(*b));
        revision(a)
            .unwrap_or(0)
            .cmp(&revision(b).unwrap_or(0))
            .then_with(|| by_creation(a, b))
    });
    for i in alive.into_iter().take(excess) {
        let rs = pass.as_read(i);
        let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
        let unseen = rs.metadata.generation.unwrap_or(0) > observed.unwrap_or(0);
        if actual_replicas(rs) != 0 || spec_replicas(rs) != 0 || unseen {
            continue;
        }
        let deletion = Deletion {
            name: rs.name_any(),
            resource_version: rs.resource_version().unwrap_or_default(),
        };
        pass.deletions.push(deletion);
    }
}

/// The status counted from the ReplicaSets as read, with the Available condition
/// (`calculateStatus`); the other conditions as the pass has them.
pub fn calculate_status(pass: &Pass) -> DeploymentStatus {
    let d = pass.d;
    let all = pass.all_as_read();
    let available = sum(all.iter().copied(), available_replicas);
    let total = sum(all.iter().copied(), spec_replicas);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(sum(all.iter().copied(), actual_replicas)),
        updated_replicas: nonzero(pass.new.map_or(0, |i| actual_replicas(pass.as_read(i)))),
        ready_replicas: nonzero(sum(all.iter().copied(), ready_replicas)),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero((total - available).max(0)),
        collision_count: pass.status.collision_count,
        conditions: pass.status.conditions.clone(),
        terminating_replicas: None,
    };
    let c = if available >= replicas(d) - max_unavailable(d) {
        let message = "Deployment has minimum availability.".into();
        new_condition(AVAILABLE, "True", MINIMUM_AVAILABLE, message, pass.now)
    } else {
        let message = "Deployment does not have minimum availability.".into();
        new_condition(AVAILABLE, "False", MINIMUM_UNAVAILABLE, message, pass.now)
    };
    set_condition(&mut status, c);
    status
}

/// Marks pausing and resuming in the Progressing condition (Unknown), so that the time spent
/// paused never counts against the progress deadline (`checkPausedConditions`).
pub fn check_paused_conditions(pass: &mut Pass) {
    if !has_progress_deadline(pass.d) {
        return;
    }
    let current = condition(&pass.status, PROGRESSING);
    let reason = current.and_then(|c| c.reason.as_deref());
    if reason == Some(TIMED_OUT) {
        return;
    }
    let was_paused = reason == Some(PAUSED);
    let (reason, message) = match (is_paused(pass), was_paused) {
        (true, false) => (PAUSED, "Deployment is paused"),
        (false, true) => (RESUMED, "Deployment is resumed"),
        _ => return,
    };
    let c = new_condition(PROGRESSING, "Unknown", reason, message.into(), pass.now);
    set_condition(&mut pass.status, c);
}
