//! One pass of the Deployment controller as a pure function: from a Deployment, the
//! ReplicaSets it owns and the time, the writes to make (`plan`), each tied to the
//! resourceVersion it was planned from. Upstream's `syncDeployment` chooses the path (deleted,
//! paused, rollback, scaled, Recreate or RollingUpdate); the strategy modules plan on a `Pass`,
//! working copies of the ReplicaSets that every step sees as the steps before left them.
//!
//! Example: 3 replicas, maxSurge 1, a new template, the old ReplicaSet at 3 (3 available) →
//! create the new ReplicaSet at 1 replica (revision 2), status Progressing True
//! NewReplicaSetCreated, no deletions.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::ResourceExt;

use super::annotations::{deployment_revision, rollback_to, set_replicas_annotations};
use super::replicas::{by_creation, is_recreate, max_surge, replicas, spec_replicas};
use super::template::equal_ignore_hash;
use super::{recreate, rollback, rolling, sync};
use ferrokube_client::events::Kind;

/// The writes of one pass, in the order they are made: create, changes, deletions, status,
/// then the Deployment itself.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// The new ReplicaSet, when it does not exist yet.
    pub create: Option<ReplicaSet>,
    /// Changes to existing ReplicaSets.
    pub changes: Vec<Change>,
    /// Old ReplicaSets beyond the revision history limit.
    pub deletions: Vec<Deletion>,
    /// The Deployment's status (with its revision annotation), if it changes.
    pub status: Option<StatusWrite>,
    /// The Deployment's template and annotations after a rollback request.
    pub rollback: Option<Rollback>,
    /// When to look again though nothing else happens: a second after the progress deadline
    /// of a rollout that makes no progress.
    pub recheck: Option<Duration>,
}

/// What changes in one ReplicaSet, planned from `resource_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub name: String,
    pub resource_version: String,
    /// `spec.replicas` from and to, when it changes.
    pub scale: Option<(i32, i32)>,
    /// Annotations set (added or changed).
    pub annotations: BTreeMap<String, String>,
    /// The new `spec.minReadySeconds`, when it changes.
    pub min_ready_seconds: Option<i32>,
}

/// A ReplicaSet to delete if it is still as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    pub name: String,
    pub resource_version: String,
}

/// The Deployment's new status, and its new revision annotation if that changes.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    pub status: DeploymentStatus,
    pub revision: Option<String>,
}

/// The Deployment after a rollback request: its template (`None`: unchanged), its annotations
/// (the request's own dropped), and the Event that says what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub template: Option<PodTemplateSpec>,
    pub annotations: BTreeMap<String, String>,
    pub event: (Kind, &'static str, String),
}

/// Plans one pass over Deployment `d` and the ReplicaSets it owns at `now`.
pub fn plan(d: &Deployment, owned: &[ReplicaSet], now: Timestamp) -> Plan {
    let mut pass = Pass::new(d, owned, now);
    if d.metadata.deletion_timestamp.is_some() {
        sync::status_only(&mut pass);
        return pass.finish();
    }
    sync::check_paused_conditions(&mut pass);
    if sync::is_paused(&pass) {
        sync::sync(&mut pass);
    } else if rollback_to(d).is_some() {
        rollback::rollback(&mut pass);
    } else if sync::is_scaling_event(&mut pass) {
        sync::sync(&mut pass);
    } else if is_recreate(d) {
        recreate::rollout(&mut pass);
    } else {
        rolling::rollout(&mut pass);
    }
    pass.finish()
}

/// One pass in progress: the ReplicaSets as read and as planned so far, and the rest of the
/// plan.
pub struct Pass<'a> {
    pub d: &'a Deployment,
    /// The time of the pass, to the second (as conditions are stored).
    pub now: Timestamp,
    /// The ReplicaSets as read, oldest first.
    read: Vec<&'a ReplicaSet>,
    /// The ReplicaSets as planned: `read`'s, then a new one to create.
    pub rss: Vec<ReplicaSet>,
    /// Which of `rss` is the new ReplicaSet (the oldest with the Deployment's template).
    pub new: Option<usize>,
    /// The ReplicaSets changed, in the order of their first change.
    touched: Vec<usize>,
    /// The status as planned so far (at first as read).
    pub status: DeploymentStatus,
    /// The Deployment's revision annotation as planned.
    pub revision: Option<String>,
    pub deletions: Vec<Deletion>,
    pub rollback: Option<Rollback>,
    pub recheck: Option<Duration>,
}

impl<'a> Pass<'a> {
    fn new(d: &'a Deployment, owned: &'a [ReplicaSet], now: Timestamp) -> Self {
        let mut read: Vec<&ReplicaSet> = owned.iter().collect();
        read.sort_by(|a, b| by_creation(a, b));
        let template = d.spec.as_ref().map(|s| &s.template);
        let new = read.iter().position(|rs| {
            let own = rs.spec.as_ref().and_then(|s| s.template.as_ref());
            matches!((own, template), (Some(a), Some(b)) if equal_ignore_hash(a, b))
        });
        Pass {
            d,
            now: Timestamp::from_second(now.as_second()).unwrap_or(now),
            rss: read.iter().map(|rs| (*rs).clone()).collect(),
            read,
            new,
            touched: Vec::new(),
            status: d.status.clone().unwrap_or_default(),
            revision: deployment_revision(d).map(str::to_owned),
            deletions: Vec::new(),
            rollback: None,
            recheck: None,
        }
    }

    /// The indexes of the old ReplicaSets (all but the new one).
    pub fn olds(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rss.len()).filter(move |i| Some(*i) != self.new)
    }

    /// The new ReplicaSet as planned.
    pub fn new_replicaset(&self) -> Option<&ReplicaSet> {
        self.new.map(|i| &self.rss[i])
    }

    /// ReplicaSet `i` as read (a planned creation as planned): what status is counted from,
    /// and what a deletion is planned from.
    pub fn as_read(&self, i: usize) -> &ReplicaSet {
        self.read.get(i).copied().unwrap_or(&self.rss[i])
    }

    /// Every ReplicaSet as read, with a planned creation.
    pub fn all_as_read(&self) -> Vec<&ReplicaSet> {
        (0..self.rss.len()).map(|i| self.as_read(i)).collect()
    }

    /// ReplicaSet `i`, to change.
    pub fn touch(&mut self, i: usize) -> &mut ReplicaSet {
        if !self.touched.contains(&i) {
            self.touched.push(i);
        }
        &mut self.rss[i]
    }

    /// Plans the creation of `rs` as the new ReplicaSet.
    pub fn create(&mut self, rs: ReplicaSet) {
        self.rss.push(rs);
        self.new = Some(self.rss.len() - 1);
    }

    /// Scales ReplicaSet `i` to `to`, recording the Deployment's size on it, unless it has that
    /// size already (`scaleReplicaSetAndRecordEvent`); whether it changed.
    pub fn scale(&mut self, i: usize, to: i32) -> bool {
        if spec_replicas(&self.rss[i]) == to {
            return false;
        }
        self.resize(i, to);
        true
    }

    /// Scales ReplicaSet `i` to `to` and records the Deployment's size on it, if either
    /// changes (`scaleReplicaSet`).
    pub fn resize(&mut self, i: usize, to: i32) {
        let (desired, max) = (replicas(self.d), replicas(self.d) + max_surge(self.d));
        let mut rs = self.rss[i].clone();
        let annotated = set_replicas_annotations(&mut rs, desired, max);
        if annotated || spec_replicas(&rs) != to {
            rs.spec.get_or_insert_with(Default::default).replicas = Some(to);
            *self.touch(i) = rs;
        }
    }

    /// The plan: each touched ReplicaSet's differences from how it was read, the status if it
    /// differs from the Deployment's.
    fn finish(self) -> Plan {
        let creating = self.new.filter(|i| *i >= self.read.len());
        let changes = self
            .touched
            .iter()
            .filter(|i| Some(**i) != creating)
            .filter_map(|i| change(self.read[*i], &self.rss[*i]))
            .collect();
        let mut status = self.status;
        if status.conditions.as_ref().is_some_and(Vec::is_empty) {
            status.conditions = None;
        }
        let revision = self
            .revision
            .filter(|r| deployment_revision(self.d) != Some(r.as_str()));
        let status_changed = self.d.status.clone().unwrap_or_default() != status;
        Plan {
            create: creating.map(|i| self.rss[i].clone()),
            changes,
            deletions: self.deletions,
            status: (status_changed || revision.is_some())
                .then_some(StatusWrite { status, revision }),
            rollback: self.rollback,
            recheck: self.recheck,
        }
    }
}

/// What differs between a ReplicaSet as read and as planned, if anything.
fn change(read: &ReplicaSet, planned: &ReplicaSet) -> Option<Change> {
    let (from, to) = (spec_replicas(read), spec_replicas(planned));
    let before = read.annotations();
    let annotations: BTreeMap<String, String> = planned
        .annotations()
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let min_ready = |rs: &ReplicaSet| rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
    let min_ready_seconds =
        (min_ready(read) != min_ready(planned)).then(|| min_ready(planned).unwrap_or(0));
    let change = Change {
        name: read.name_any(),
        resource_version: read.resource_version().unwrap_or_default(),
        scale: (from != to).then_some((from, to)),
        annotations,
        min_ready_seconds,
    };
    let unchanged = change.scale.is_none()
        && change.annotations.is_empty()
        && change.min_ready_seconds.is_none();
    (!unchanged).then_some(change)
}

#[cfg(test)]
mod tests;
