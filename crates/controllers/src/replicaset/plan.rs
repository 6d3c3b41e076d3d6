//! The ReplicaSet controller's decisions as pure functions: how many pods to create or
//! delete, in which batches, which pods go first, the pod a template makes, and the status.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// At most this many pods are created or deleted in one reconcile, as upstream's burst.
pub const BURST: usize = 500;

/// The condition that says pods could not be created.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// What a reconcile does to the pod count.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Create(usize),
    Delete(usize),
    Nothing,
}

/// Compares the wanted replicas with the active pods plus creations not yet seen.
pub fn decide(
    replicas: i32,
    active: usize,
    pending_creates: usize,
    pending_deletes: usize,
) -> Decision {
    let current = (active + pending_creates).saturating_sub(pending_deletes) as i64;
    match i64::from(replicas.max(0)) - current {
        0 => Decision::Nothing,
        more if more > 0 => Decision::Create((more as usize).min(BURST)),
        fewer => Decision::Delete(((-fewer) as usize).min(BURST)),
    }
}

/// Slow start: batches of 1, 2, 4, … adding up to `n`, so a failing create costs one call.
pub fn slow_start_batches(n: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut size, mut left) = (1, n);
    while left > 0 {
        let batch = size.min(left);
        batches.push(batch);
        left -= batch;
        size *= 2;
    }
    batches
}

/// Whether a pod still counts toward replicas: not finished and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

fn condition<'a>(pod: &'a Pod, kind: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = condition(pod, "Ready").filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready
        .last_transition_time
        .as_ref()
        .is_some_and(|t| now.as_second() - t.0.as_second() >= i64::from(min_ready_seconds))
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") => 0,
        Some("Running") => 2,
        _ => 1,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |c| c.iter().map(|s| s.restart_count).sum())
}

/// Upstream's order for choosing pods to delete: first the pods that cost least to lose.
///
/// unassigned < assigned; Pending < Unknown < Running; not ready < ready; ready for less
/// time first; more restarts first; newer first.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some_and(|n| !n.is_empty())
    };
    let ready_since = |p: &Pod| {
        condition(p, "Ready")
            .filter(|c| c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    assigned(a)
        .cmp(&assigned(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(is_ready(a).cmp(&is_ready(b)))
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then(restarts(b).cmp(&restarts(a)))
        .then_with(|| created(b).cmp(&created(a)))
}

/// The pod a ReplicaSet's template makes: `generateName` `<rs>-`, the template's labels and
/// annotations, and a controller ownerReference.
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![crate::ownership::controller_reference(rs)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// The status a ReplicaSet should report for its active pods.
pub fn status(rs: &ReplicaSet, active: &[&Pod], now: Timestamp) -> ReplicaSetStatus {
    let template_labels: BTreeMap<String, String> = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            template_labels
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let mut status = rs.status.clone().unwrap_or_default();
    status.replicas = active.len() as i32;
    status.fully_labeled_replicas = crate::nonzero(fully_labeled as i32);
    status.ready_replicas = crate::nonzero(active.iter().filter(|p| is_ready(p)).count() as i32);
    status.available_replicas = crate::nonzero(
        active
            .iter()
            .filter(|p| is_available(p, min_ready, now))
            .count() as i32,
    );
    status.observed_generation = rs.metadata.generation;
    status
}

/// The conditions with the ReplicaFailure of a reconcile whose creations failed with
/// `failure`, as upstream's `calculateStatus`: a failure adds the condition unless one is
/// already there (which keeps its message and `lastTransitionTime`); a reconcile without one
/// removes it.
pub fn with_replica_failure(
    conditions: Vec<ReplicaSetCondition>,
    failure: Option<String>,
    now: Timestamp,
) -> Vec<ReplicaSetCondition> {
    let failing = conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    let mut conditions: Vec<ReplicaSetCondition> = conditions
        .into_iter()
        .filter(|c| failure.is_some() || c.type_ != REPLICA_FAILURE)
        .collect();
    if let Some(message) = failure.filter(|_| !failing) {
        conditions.push(ReplicaSetCondition {
            type_: REPLICA_FAILURE.into(),
            status: "True".into(),
            reason: Some("FailedCreate".into()),
            message: Some(message),
            last_transition_time: Some(Time(now)),
        });
    }
    conditions
}

/// Drops the parts of a cached pod the controller never reads: the spec but its node, the
/// status but its phase, its Ready condition and its containers' restart counts (what
/// counting, availability and the deletion order use; a container that never restarted is
/// left out, as it counts 0). A pod's containers, volumes and container states were most of it.
pub fn keep_what_rs_reads(pod: &mut Pod) {
    use k8s_openapi::api::core::v1::{ContainerStatus, PodSpec, PodStatus};
    let node_name = pod.spec.as_mut().and_then(|s| s.node_name.take());
    pod.spec = Some(PodSpec {
        node_name,
        ..Default::default()
    });
    if let Some(status) = pod.status.take() {
        let ready = status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "Ready")
                .collect()
        });
        let restarted = status.container_statuses.map(|statuses| {
            statuses
                .into_iter()
                .filter(|c| c.restart_count > 0)
                .map(|c| ContainerStatus {
                    restart_count: c.restart_count,
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        });
        pod.status = Some(PodStatus {
            phase: status.phase,
            conditions: ready,
            container_statuses: restarted.filter(|r| !r.is_empty()),
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};

    /// A pod as the kubelet and the scheduler leave it: containers, five conditions, a
    /// container status.
    fn full_pod(name: &str, ready: &str, restarts: i32, node: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                "labels": {"app": "web"}, "creationTimestamp": "2026-12-03T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": "rs", "controller": true}]},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx",
                "env": [{"name": "A", "value": "b"}], "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": ready, "lastTransitionTime": "2026-12-03T10:00:05Z"},
                {"type": "ContainersReady", "status": ready},
                {"type": "PodScheduled", "status": "True"}],
              "containerStatuses": [{"name": "web", "image": "nginx", "imageID": "x",
                "ready": ready == "True", "restartCount": restarts,
                "state": {"running": {"startedAt": "2026-12-03T10:00:04Z"}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn the_cached_part_of_a_pod_answers_as_the_whole_pod() {
        let pods = [
            full_pod("a", "True", 0, Some("n1")),
            full_pod("b", "False", 3, Some("n1")),
            full_pod("c", "True", 1, None),
            full_pod("d", "False", 0, None),
        ];
        let kept: Vec<Pod> = pods
            .iter()
            .cloned()
            .map(|mut p| {
                keep_what_rs_reads(&mut p);
                p
            })
            .collect();
        let now = "2026-12-03T10:01:00Z".parse().unwrap();
        for (full, kept) in pods.iter().zip(&kept) {
            assert_eq!(is_active(full), is_active(kept));
            assert_eq!(is_ready(full), is_ready(kept));
            assert_eq!(is_available(full, 30, now), is_available(kept, 30, now));
            assert_eq!(is_available(full, 90, now), is_available(kept, 90, now));
            assert_eq!(restarts(full), restarts(kept));
            assert_eq!(kept.metadata, full.metadata, "metadata is kept whole");
        }
        for (i, j) in [(0, 1), (0, 2), (1, 2), (2, 3), (1, 3)] {
            assert_eq!(
                deletion_order(&pods[i], &pods[j]),
                deletion_order(&kept[i], &kept[j]),
                "{i} against {j}"
            );
        }
        // What went: the containers, the other conditions, the container states.
        let a = &kept[0];
        assert!(a.spec.as_ref().unwrap().containers.is_empty());
        let status = a.status.as_ref().unwrap();
        assert_eq!(status.conditions.as_ref().unwrap().len(), 1);
        assert!(
            status.container_statuses.is_none(),
            "no restarts, nothing kept"
        );
        assert!(status.pod_ip.is_none());
        let b = kept[1].status.as_ref().unwrap();
        assert_eq!(b.container_statuses.as_ref().unwrap()[0].restart_count, 3);
    }

    #[test]
    fn decide_table() {
        let cases = [
            (3, 0, 0, 0, Decision::Create(3)),
            (3, 1, 2, 0, Decision::Nothing),
            (3, 5, 0, 0, Decision::Delete(2)),
            (3, 5, 0, 2, Decision::Nothing),
            (1000, 0, 0, 0, Decision::Create(BURST)),
            (-1, 2, 0, 0, Decision::Delete(2)),
        ];
        for (replicas, active, creates, deletes, want) in cases {
            assert_eq!(
                decide(replicas, active, creates, deletes),
                want,
                "{replicas} {active} {creates} {deletes}"
            );
        }
    }

    #[test]
    fn slow_start_table() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), [1]);
        assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
        assert_eq!(slow_start_batches(15), [1, 2, 4, 8]);
    }

    fn pod(
        name: &str,
        node: Option<&str>,
        phase: &str,
        ready_since: Option<i64>,
        restarts: i32,
        created: i64,
    ) -> Pod {
        let conditions = ready_since.map(|t| {
            vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(Timestamp::from_second(t).unwrap())),
                ..Default::default()
            }]
        });
        let statuses = Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
            restart_count: restarts,
            ..Default::default()
        }]);
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(Into::into),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions,
                container_statuses: statuses,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn deletion_ranking_as_upstream() {
        let pods = [
            pod("ready-old", Some("n"), "Running", Some(100), 0, 10),
            pod("unassigned", None, "Pending", None, 0, 50),
            pod("pending", Some("n"), "Pending", None, 0, 50),
            pod("running-not-ready", Some("n"), "Running", None, 0, 50),
            pod("ready-recent", Some("n"), "Running", Some(200), 0, 10),
            pod("ready-old-restarts", Some("n"), "Running", Some(100), 5, 10),
            pod("ready-old-newer", Some("n"), "Running", Some(100), 0, 20),
        ];
        let mut ranked: Vec<&Pod> = pods.iter().collect();
        ranked.sort_by(|a, b| deletion_order(a, b));
        let names: Vec<&str> = ranked
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "unassigned",
                "pending",
                "running-not-ready",
                "ready-recent",
                "ready-old-restarts",
                "ready-old-newer",
                "ready-old"
            ]
        );
    }

    #[test]
    fn replica_failure_is_added_once_and_removed_on_success() {
        let at = |s| Timestamp::from_second(s).unwrap();
        let other = ReplicaSetCondition {
            type_: "Other".into(),
            status: "True".into(),
            ..Default::default()
        };
        let failed = with_replica_failure(vec![other.clone()], Some("quota".into()), at(100));
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[1].message.as_deref(), Some("quota"));
        assert_eq!(failed[1].last_transition_time, Some(Time(at(100))));
        let again = with_replica_failure(failed.clone(), Some("still quota".into()), at(200));
        assert_eq!(
            again, failed,
            "a failure that goes on keeps the condition as it was"
        );
        assert_eq!(with_replica_failure(again, None, at(300)), [other]);
    }
}
