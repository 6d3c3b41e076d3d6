//! The Recreate strategy, as upstream's `recreate.go`: every old pod goes before any new one
//! starts. A pass scales the old ReplicaSets to zero; once their pods are gone (their
//! controller counts none), it creates the new ReplicaSet with all the replicas.
//!
//! Example: 3 pods of postgres:16, the template becomes postgres:17 → pass 1 scales the old
//! ReplicaSet 3 → 0; passes while its pods terminate only report status; then a pass creates
//! the new ReplicaSet at 3.

use super::plan::Pass;
use super::progress::{deployment_complete, sync_rollout_status};
use super::replicas::{actual_replicas, replicas, spec_replicas};
use super::sync::{cleanup, sync_revision};

/// One Recreate pass (`rolloutRecreate`).
pub fn rollout(pass: &mut Pass) {
    // The new ReplicaSet is not created before the old ones are down.
    sync_revision(pass, false);
    let active: Vec<usize> = pass
        .olds()
        .filter(|i| spec_replicas(&pass.rss[*i]) > 0)
        .collect();
    let mut scaled_down = false;
    for i in active {
        scaled_down |= pass.scale(i, 0);
    }
    if scaled_down || old_pods_running(pass) {
        sync_rollout_status(pass);
        return;
    }
    if pass.new.is_none() {
        sync_revision(pass, true);
    }
    if let Some(new) = pass.new {
        pass.scale(new, replicas(pass.d));
    }
    let d = pass.d;
    if deployment_complete(d, &d.status.clone().unwrap_or_default()) {
        cleanup(pass);
    }
    sync_rollout_status(pass);
}

/// Whether an old ReplicaSet still has pods, as its controller last counted them (upstream
/// also looks at the pods themselves, to wait for terminating ones).
fn old_pods_running(pass: &Pass) -> bool {
    pass.olds().any(|i| actual_replicas(pass.as_read(i)) > 0)
}
