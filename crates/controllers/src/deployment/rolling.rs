//! The RollingUpdate strategy, as upstream's `rolling.go`: each pass either scales the new
//! ReplicaSet up within replicas + maxSurge pods, or scales old ones down while keeping
//! replicas − maxUnavailable available, unhealthy old pods first.
//!
//! Upstream's worked example (its `reconcileOldReplicaSets` comment): 10 replicas,
//! maxUnavailable 2, maxSurge 3.
//!
//! - The template changes; the new ReplicaSet is scaled to 3, the old one down to 8, the new
//!   one up to 5. Its pods crash-loop and never become available. 13 pods, at least 8 must be
//!   available, 5 new ones are not: 13 − 8 − 5 = 0 may go. When a node fails and one old pod
//!   becomes unavailable, still 0 may go, so the old ReplicaSet stays at 8.
//! - `rollout undo`: the old ReplicaSet is the new one again, with 1 unavailable pod, so
//!   13 − 8 − 1 = 4 may go: 4 crash-looping pods are scaled down (those are unhealthy first),
//!   leaving 9 pods, and the next pass scales the good ReplicaSet up to 10.
//! - Or a third template instead ("roll over"): its ReplicaSet starts at 0 as 13 pods already
//!   run, none of it unavailable, so 13 − 8 − 0 = 5 may go: the crash-looping ReplicaSet goes
//!   to 0, and the new one can then grow by 5.

use super::plan::Pass;
use super::progress::{deployment_complete, sync_rollout_status};
use super::replicas::{
    available_replicas, by_creation, max_unavailable, new_replicas, replicas, spec_replicas, sum,
};
use super::sync::{cleanup, sync_revision};

/// One rolling pass (`rolloutRolling`): scale up if possible, else scale down if possible, else
/// clean up the history of a complete rollout; then the rollout's status.
pub fn rollout(pass: &mut Pass) {
    sync_revision(pass, true);
    if reconcile_new(pass) || reconcile_old(pass) {
        sync_rollout_status(pass);
        return;
    }
    let d = pass.d;
    if deployment_complete(d, &d.status.clone().unwrap_or_default()) {
        cleanup(pass);
    }
    sync_rollout_status(pass);
}

/// Scales the new ReplicaSet up by what maxSurge allows, or down to the replicas if it has
/// more (`reconcileNewReplicaSet`); whether it changed.
fn reconcile_new(pass: &mut Pass) -> bool {
    let Some(new) = pass.new else {
        return false;
    };
    let d = pass.d;
    let current = spec_replicas(&pass.rss[new]);
    let target = if current >= replicas(d) {
        replicas(d)
    } else {
        let all: Vec<_> = pass.rss.iter().collect();
        new_replicas(d, &all, &pass.rss[new])
    };
    pass.scale(new, target)
}

/// Scales old ReplicaSets down as far as availability allows (`reconcileOldReplicaSets`):
/// at most all pods − minimum available − the new ReplicaSet's unavailable pods, unhealthy
/// pods first; whether any changed.
fn reconcile_old(pass: &mut Pass) -> bool {
    let Some(new) = pass.new else {
        return false;
    };
    let d = pass.d;
    let old: Vec<usize> = pass
        .olds()
        .filter(|i| spec_replicas(&pass.rss[*i]) > 0)
        .collect();
    if old.is_empty() {
        return false;
    }
    let all_pods = sum(&pass.rss, spec_replicas);
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = spec_replicas(&pass.rss[new]) - available_replicas(&pass.rss[new]);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let cleaned = scale_down_unhealthy(pass, &old, max_scaled_down);
    let scaled = scale_down_old(pass, &old);
    cleaned + scaled > 0
}

/// `old` oldest first.
fn oldest_first(pass: &Pass, old: &[usize]) -> Vec<usize> {
    let mut sorted = old.to_vec();
    sorted.sort_by(|a, b| by_creation(&pass.rss[*a], &pass.rss[*b]));
    sorted
}

/// Scales the old ReplicaSets' unavailable pods away, oldest ReplicaSet first, at most `max`
/// in all (`cleanupUnhealthyReplicas`): that never lowers availability; how many went.
fn scale_down_unhealthy(pass: &mut Pass, old: &[usize], max: i32) -> i32 {
    let mut total = 0;
    for i in oldest_first(pass, old) {
        if total >= max {
            break;
        }
        let (spec, available) = (
            spec_replicas(&pass.rss[i]),
            available_replicas(&pass.rss[i]),
        );
        if spec == 0 || spec == available {
            continue;
        }
        let down = (max - total).min(spec - available);
        pass.scale(i, spec - down);
        total += down;
    }
    total
}

/// Scales old ReplicaSets down, oldest first, by the available pods beyond the minimum
/// (`scaleDownOldReplicaSetsForRollingUpdate`); how many went.
fn scale_down_old(pass: &mut Pass, old: &[usize]) -> i32 {
    let min_available = replicas(pass.d) - max_unavailable(pass.d);
    let available = sum(&pass.rss, available_replicas);
    if available <= min_available {
        return 0;
    }
    let budget = available - min_available;
    let mut total = 0;
    for i in oldest_first(pass, old) {
        if total >= budget {
            break;
        }
        let spec = spec_replicas(&pass.rss[i]);
        if spec == 0 {
            continue;
        }
        let down = spec.min(budget - total);
        pass.scale(i, spec - down);
        total += down;
    }
    total
}
