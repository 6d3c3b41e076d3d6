//! Table tests of `plan`: upstream's worked examples, RollingUpdate and Recreate steps,
//! scaling, paused Deployments, rollbacks, history cleanup and the progress deadline.

use super::*;
use crate::deployment::annotations::{DESIRED, MAX_REPLICAS, REVISION, ROLLBACK_TO};
use crate::deployment::progress::{
    AVAILABLE, MINIMUM_UNAVAILABLE, NEW_RS_AVAILABLE, NEW_RS_CREATED, PAUSED, PROGRESSING, RESUMED,
    RS_UPDATED, TIMED_OUT, new_condition,
};
use crate::deployment::replicas::{
    actual_replicas, available_replicas, ready_replicas, spec_replicas,
};
use crate::deployment::template::{HASH_LABEL, template_hash};
use k8s_openapi::api::apps::v1::{
    DeploymentCondition, DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The time of every pass.
const NOW: i64 = 1_700_000_000;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn labels() -> BTreeMap<String, String> {
    [("app".to_owned(), "web".to_owned())].into()
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// Deployment `web` of `replicas` pods of `image`, RollingUpdate with `surge`/`unavailable`,
/// a progress deadline of 600 s and a revision history of 10.
fn deployment(replicas: i32, image: &str, surge: i32, unavailable: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("d-uid".into()),
            generation: Some(1),
            resource_version: Some("100".into()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            template: template(image),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(surge)),
                    max_unavailable: Some(IntOrString::Int(unavailable)),
                }),
            }),
            progress_deadline_seconds: Some(600),
            revision_history_limit: Some(10),
            ..Default::default()
        }),
        status: None,
    }
}

fn recreate(replicas: i32, image: &str) -> Deployment {
    let mut d = deployment(replicas, image, 0, 0);
    d.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    });
    d
}

/// ReplicaSet `name` of `image` at `revision`, created at second `created`, empty.
fn rs(name: &str, image: &str, revision: i64, created: i64) -> ReplicaSet {
    let mut t = template(image);
    let hash = template_hash(&t, None);
    t.metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(HASH_LABEL.into(), hash);
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            resource_version: Some(format!("rv-{name}")),
            creation_timestamp: Some(Time(at(created))),
            annotations: Some([(REVISION.to_owned(), revision.to_string())].into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            template: Some(t),
            ..Default::default()
        }),
        status: Some(ReplicaSetStatus::default()),
    }
}

/// `rs` scaled to `spec`, with `pods` pods of which `available` are ready and available.
fn sized(mut rs: ReplicaSet, spec: i32, pods: i32, available: i32) -> ReplicaSet {
    rs.spec.as_mut().unwrap().replicas = Some(spec);
    rs.status = Some(ReplicaSetStatus {
        replicas: pods,
        ready_replicas: Some(available),
        available_replicas: Some(available),
        ..Default::default()
    });
    rs
}

/// `rs` as last scaled for a Deployment of `desired` replicas and `max` with surge.
fn sized_for(mut rs: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    annotations.insert(DESIRED.into(), desired.to_string());
    annotations.insert(MAX_REPLICAS.into(), max.to_string());
    rs
}

fn progressing(status: &str, reason: &str, updated: i64) -> DeploymentCondition {
    new_condition(PROGRESSING, status, reason, "earlier".into(), at(updated))
}

/// `d` with the status a pass over `all` (new: `new`) would count, and `conditions`.
fn observed(
    mut d: Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    conditions: Vec<DeploymentCondition>,
) -> Deployment {
    let count = |f: fn(&ReplicaSet) -> i32| all.iter().map(|rs| f(rs)).sum::<i32>();
    let nonzero = |n: i32| (n != 0).then_some(n);
    let unavailable = (count(spec_replicas) - count(available_replicas)).max(0);
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: nonzero(count(actual_replicas)),
        updated_replicas: nonzero(new.map_or(0, actual_replicas)),
        ready_replicas: nonzero(count(ready_replicas)),
        available_replicas: nonzero(count(available_replicas)),
        unavailable_replicas: nonzero(unavailable),
        conditions: Some(conditions),
        ..Default::default()
    });
    d
}

/// What a plan does, in the terms the cases state.
#[derive(Debug, Default, PartialEq)]
struct Summary {
    /// The replicas of the ReplicaSet created.
    create: Option<i32>,
    /// (ReplicaSet, from, to).
    scales: Vec<(String, i32, i32)>,
    /// Revision annotations set on ReplicaSets.
    revisions: Vec<(String, String)>,
    deletions: Vec<String>,
    /// The Deployment's revision annotation written.
    revision: Option<String>,
    /// The Progressing condition after the pass: status, reason, message.
    progressing: Option<(String, String, String)>,
    /// Seconds until the pass is looked at again though nothing changes.
    recheck: Option<u64>,
    /// A rollback: the template's image, the Event's reason and message.
    rollback: Option<(Option<String>, String, String)>,
}

fn summary(d: &Deployment, plan: &Plan) -> Summary {
    let status = plan
        .status
        .as_ref()
        .map(|w| w.status.clone())
        .or_else(|| d.status.clone())
        .unwrap_or_default();
    let progressing = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == PROGRESSING)
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        });
    Summary {
        create: plan.create.as_ref().map(spec_replicas),
        scales: plan
            .changes
            .iter()
            .filter_map(|c| c.scale.map(|(from, to)| (c.name.clone(), from, to)))
            .collect(),
        revisions: plan
            .changes
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.annotations.get(REVISION)?.clone())))
            .collect(),
        deletions: plan.deletions.iter().map(|d| d.name.clone()).collect(),
        revision: plan.status.as_ref().and_then(|w| w.revision.clone()),
        progressing,
        recheck: plan.recheck.map(|r| r.as_secs()),
        rollback: plan.rollback.as_ref().map(|r| {
            let image = r.template.as_ref().map(|t| {
                t.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap()
            });
            (image, r.event.1.to_owned(), r.event.2.clone())
        }),
    }
}

fn scales(list: &[(&str, i32, i32)]) -> Vec<(String, i32, i32)> {
    list.iter()
        .map(|(name, from, to)| (name.to_string(), *from, *to))
        .collect()
}

fn condition(status: &str, reason: &str, message: &str) -> Option<(String, String, String)> {
    Some((status.into(), reason.into(), message.into()))
}

/// The name of the ReplicaSet created for `d`'s template.
fn new_name(d: &Deployment) -> String {
    format!(
        "web-{}",
        template_hash(&d.spec.as_ref().unwrap().template, None)
    )
}

struct Case {
    what: &'static str,
    d: Deployment,
    rss: Vec<ReplicaSet>,
    expected: Summary,
}

fn check(cases: Vec<Case>) {
    for case in cases {
        let plan = plan(&case.d, &case.rss, at(NOW));
        assert_eq!(summary(&case.d, &plan), case.expected, "{}", case.what);
    }
}

/// Upstream's example in `reconcileOldReplicaSets`: 10 replicas, maxUnavailable 2, maxSurge 3.
#[test]
fn upstreams_worked_example() {
    // The new pods crash-loop; a node failed and took one old pod's availability.
    let old = sized_for(sized(rs("web-old", "v1", 1, 100), 8, 8, 7), 10, 13);
    let bad = sized_for(sized(rs("web-bad", "v2", 2, 200), 5, 5, 0), 10, 13);
    let stuck_conditions = || {
        vec![
            new_condition(
                AVAILABLE,
                "False",
                MINIMUM_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                at(NOW - 60),
            ),
            progressing("True", RS_UPDATED, NOW - 60),
        ]
    };
    let mut stuck = observed(
        deployment(10, "v2", 3, 2),
        &[&old, &bad],
        Some(&bad),
        stuck_conditions(),
    );
    stuck.metadata.annotations = Some([(REVISION.to_owned(), "2".to_owned())].into());
    // `rollout undo`: the template is v1's again; the status is still the stuck one.
    let mut undone = stuck.clone();
    undone.spec.as_mut().unwrap().template = template("v1");
    // The next pass: the good ReplicaSet is revision 3, the bad one down to 1.
    let good = sized_for(sized(rs("web-old", "v1", 3, 100), 8, 8, 7), 10, 13);
    let one_bad = sized_for(sized(rs("web-bad", "v2", 2, 200), 1, 1, 0), 10, 13);
    let after_undo = observed(
        undone.clone(),
        &[&good, &one_bad],
        Some(&good),
        stuck_conditions(),
    );
    // Or a third template ("roll over").
    let mut rolled_over = stuck.clone();
    rolled_over.spec.as_mut().unwrap().template = template("v3");
    let v3 = new_name(&rolled_over);
    check(vec![
        Case {
            what: "13 pods, 8 must be available, 5 new unavailable: 13 - 8 - 5 = 0 may go",
            d: stuck.clone(),
            rss: vec![old.clone(), bad.clone()],
            expected: Summary {
                progressing: condition("True", RS_UPDATED, "earlier"),
                recheck: Some(600 - 60 + 1),
                ..Default::default()
            },
        },
        Case {
            what: "after rollout undo, 1 new unavailable: 13 - 8 - 1 = 4 crash-looping pods go",
            d: undone,
            rss: vec![old.clone(), bad.clone()],
            expected: Summary {
                scales: scales(&[("web-bad", 5, 1)]),
                revisions: vec![("web-old".into(), "3".into())],
                revision: Some("3".into()),
                // 8 pods of the template now, not 5: progress.
                progressing: condition(
                    "True",
                    RS_UPDATED,
                    "ReplicaSet \"web-old\" is progressing.",
                ),
                recheck: Some(601),
                ..Default::default()
            },
        },
        Case {
            what: "then 9 pods: the good ReplicaSet grows to 10",
            d: after_undo,
            rss: vec![good, one_bad],
            expected: Summary {
                scales: scales(&[("web-old", 8, 10)]),
                revision: Some("3".into()),
                progressing: condition("True", RS_UPDATED, "earlier"),
                recheck: Some(541),
                ..Default::default()
            },
        },
        Case {
            what: "rolled over: created at 0 (13 pods run); 13 - 8 - 0 = 5 unhealthy pods go",
            d: rolled_over,
            rss: vec![old, bad],
            expected: Summary {
                create: Some(0),
                scales: scales(&[("web-old", 8, 7), ("web-bad", 5, 1)]),
                revision: Some("3".into()),
                progressing: condition(
                    "True",
                    NEW_RS_CREATED,
                    &format!("Created new replica set \"{v3}\""),
                ),
                recheck: Some(601),
                ..Default::default()
            },
        },
    ]);
}

#[test]
fn rolling_update_steps() {
    let old = sized_for(sized(rs("web-old", "v1", 1, 100), 3, 3, 3), 3, 4);
    let fresh = observed(
        deployment(3, "v2", 1, 0),
        &[&old],
        None,
        vec![progressing("True", NEW_RS_AVAILABLE, NOW - 100)],
    );
    let created = new_name(&fresh);
    let new_ready = sized_for(sized(rs("web-new", "v2", 2, 200), 1, 1, 1), 3, 4);
    let new_starting = sized_for(sized(rs("web-new", "v2", 2, 200), 1, 1, 0), 3, 4);
    let updated = |rss: &[&ReplicaSet], new: &ReplicaSet| {
        observed(
            deployment(3, "v2", 1, 0),
            rss,
            Some(new),
            vec![progressing("True", RS_UPDATED, NOW - 10)],
        )
    };
    let done = sized_for(sized(rs("web-new", "v2", 2, 200), 3, 3, 3), 3, 4);
    let idle =
        |name: &str, revision: i64, created: i64| sized(rs(name, "v0", revision, created), 0, 0, 0);
    let mut unseen = idle("web-r2", 2, 20);
    unseen.metadata.generation = Some(2);
    unseen.status.as_mut().unwrap().observed_generation = Some(1);
    let current = sized_for(sized(rs("web-r4", "v3", 4, 40), 3, 3, 3), 3, 4);
    let mut complete = observed(
        deployment(3, "v3", 1, 0),
        &[&current],
        Some(&current),
        vec![progressing("True", NEW_RS_AVAILABLE, NOW - 10)],
    );
    complete.spec.as_mut().unwrap().revision_history_limit = Some(1);
    complete.metadata.annotations = Some([(REVISION.to_owned(), "4".to_owned())].into());
    check(vec![
        Case {
            what: "a new template: the new ReplicaSet is created at maxSurge, revision 2",
            d: fresh,
            rss: vec![old.clone()],
            expected: Summary {
                create: Some(1),
                revision: Some("2".into()),
                progressing: condition(
                    "True",
                    NEW_RS_CREATED,
                    &format!("Created new replica set \"{created}\""),
                ),
                recheck: Some(601),
                ..Default::default()
            },
        },
        Case {
            what: "its pod is not available yet: no old pod may go (maxUnavailable 0)",
            d: updated(&[&old, &new_starting], &new_starting),
            rss: vec![old.clone(), new_starting.clone()],
            expected: Summary {
                revision: Some("2".into()),
                progressing: condition("True", RS_UPDATED, "earlier"),
                recheck: Some(591),
                ..Default::default()
            },
        },
        Case {
            what: "its pod is available: one old pod goes",
            d: updated(&[&old, &new_starting], &new_starting),
            rss: vec![old.clone(), new_ready.clone()],
            expected: Summary {
                scales: scales(&[("web-old", 3, 2)]),
                revision: Some("2".into()),
                progressing: condition(
                    "True",
                    RS_UPDATED,
                    "ReplicaSet \"web-new\" is progressing.",
                ),
                recheck: Some(601),
                ..Default::default()
            },
        },
        Case {
            what: "every new pod available, the old ones gone: complete",
            d: updated(&[&idle("web-old", 1, 100), &new_ready], &new_ready),
            rss: vec![idle("web-old", 1, 100), done],
            expected: Summary {
                revision: Some("2".into()),
                progressing: condition(
                    "True",
                    NEW_RS_AVAILABLE,
                    "ReplicaSet \"web-new\" has successfully progressed.",
                ),
                ..Default::default()
            },
        },
        Case {
            what: "complete, history limit 1: the oldest idle revision goes, one whose change its controller has not seen stays",
            d: complete,
            rss: vec![
                idle("web-r1", 1, 10),
                unseen,
                idle("web-r3", 3, 30),
                current,
            ],
            expected: Summary {
                deletions: vec!["web-r1".into()],
                progressing: condition("True", NEW_RS_AVAILABLE, "earlier"),
                ..Default::default()
            },
        },
    ]);
}

#[test]
fn recreate_steps() {
    let running = sized_for(sized(rs("db-old", "v1", 1, 100), 3, 3, 3), 3, 3);
    let terminating = sized_for(sized(rs("db-old", "v1", 1, 100), 0, 2, 0), 3, 3);
    let gone = sized_for(sized(rs("db-old", "v1", 1, 100), 0, 0, 0), 3, 3);
    // Each pass sees the status the one before wrote; v1's rollout completed 100 s ago.
    let after = |rs: &ReplicaSet| {
        let mut d = observed(
            recreate(3, "v2"),
            &[rs],
            None,
            vec![progressing("True", NEW_RS_AVAILABLE, NOW - 100)],
        );
        d.metadata.annotations = Some([(REVISION.to_owned(), "1".to_owned())].into());
        d
    };
    let created = new_name(&after(&gone));
    check(vec![
        Case {
            what: "old pods first: the old ReplicaSet goes to 0, nothing is created",
            d: after(&running),
            rss: vec![running.clone()],
            expected: Summary {
                scales: scales(&[("db-old", 3, 0)]),
                progressing: condition("True", NEW_RS_AVAILABLE, "earlier"),
                recheck: Some(501),
                ..Default::default()
            },
        },
        Case {
            what: "old pods still terminating: nothing is created (fewer old pods is progress)",
            d: after(&running),
            rss: vec![terminating],
            expected: Summary {
                progressing: condition("True", RS_UPDATED, "Deployment \"web\" is progressing."),
                recheck: Some(601),
                ..Default::default()
            },
        },
        Case {
            what: "old pods gone: the new ReplicaSet is created with every replica",
            d: after(&gone),
            rss: vec![gone.clone()],
            expected: Summary {
                create: Some(3),
                revision: Some("2".into()),
                progressing: condition(
                    "True",
                    NEW_RS_CREATED,
                    &format!("Created new replica set \"{created}\""),
                ),
                recheck: Some(601),
                ..Default::default()
            },
        },
    ]);
}

#[test]
fn scaling_paused_and_resumed() {
    // Upstream's proportional scaling conformance case: stuck at old 8 + new 5, scaled to 30.
    let old = sized_for(sized(rs("web-old", "v1", 1, 100), 8, 8, 8), 10, 13);
    let new = sized_for(sized(rs("web-new", "v2", 2, 200), 5, 5, 0), 10, 13);
    let to_30 = observed(
        deployment(30, "v2", 3, 2),
        &[&old, &new],
        Some(&new),
        vec![progressing("True", RS_UPDATED, NOW - 10)],
    );
    let big_old = sized_for(sized(rs("web-old", "v1", 1, 100), 20, 20, 20), 30, 33);
    let big_new = sized_for(sized(rs("web-new", "v2", 2, 200), 13, 13, 0), 30, 33);
    let to_10 = observed(
        deployment(10, "v2", 3, 2),
        &[&big_old, &big_new],
        Some(&big_new),
        vec![progressing("True", RS_UPDATED, NOW - 10)],
    );
    let mut paused = deployment(5, "v2", 1, 0);
    paused.spec.as_mut().unwrap().paused = Some(true);
    let single = sized_for(sized(rs("web-old", "v1", 1, 100), 3, 3, 3), 3, 4);
    let mut paused_unscaled = deployment(3, "v2", 1, 0);
    paused_unscaled.spec.as_mut().unwrap().paused = Some(true);
    let stuck = sized_for(sized(rs("web-new", "v2", 2, 200), 2, 2, 0), 2, 3);
    let resumed = observed(
        deployment(2, "v2", 1, 0),
        &[&stuck],
        Some(&stuck),
        vec![progressing("Unknown", PAUSED, NOW - 3600)],
    );
    check(vec![
        Case {
            what: "scaled 10 → 30 mid-rollout: in proportion, old 20 and new 13",
            d: to_30,
            rss: vec![old.clone(), new.clone()],
            expected: Summary {
                scales: scales(&[("web-old", 8, 20), ("web-new", 5, 13)]),
                revision: Some("2".into()),
                // Scaling reports status without estimating progress.
                progressing: condition("True", RS_UPDATED, "earlier"),
                ..Default::default()
            },
        },
        Case {
            what: "and back to 10: old 8, new 5",
            d: to_10,
            rss: vec![big_old, big_new],
            expected: Summary {
                scales: scales(&[("web-old", 20, 8), ("web-new", 13, 5)]),
                revision: Some("2".into()),
                progressing: condition("True", RS_UPDATED, "earlier"),
                ..Default::default()
            },
        },
        Case {
            what: "paused: resized, the new template not rolled out, marked paused",
            d: paused,
            rss: vec![single.clone()],
            expected: Summary {
                scales: scales(&[("web-old", 3, 5)]),
                progressing: condition("Unknown", PAUSED, "Deployment is paused"),
                ..Default::default()
            },
        },
        Case {
            what: "paused with a new template: no new ReplicaSet",
            d: paused_unscaled,
            rss: vec![single.clone()],
            expected: Summary {
                progressing: condition("Unknown", PAUSED, "Deployment is paused"),
                ..Default::default()
            },
        },
        Case {
            what: "resumed after an hour: marked resumed, the hour paused does not count",
            d: resumed,
            rss: vec![stuck],
            expected: Summary {
                revision: Some("2".into()),
                progressing: condition("Unknown", RESUMED, "Deployment is resumed"),
                recheck: Some(601),
                ..Default::default()
            },
        },
    ]);
}

#[test]
fn progress_deadline() {
    let stuck = sized_for(sized(rs("web-new", "v1", 1, 100), 2, 2, 0), 2, 3);
    let one_up = sized_for(sized(rs("web-new", "v1", 1, 100), 2, 2, 1), 2, 3);
    let since = |updated: i64| {
        let mut d = observed(
            deployment(2, "v1", 1, 0),
            &[&stuck],
            Some(&stuck),
            vec![progressing("True", RS_UPDATED, updated)],
        );
        d.metadata.annotations = Some([(REVISION.to_owned(), "1".to_owned())].into());
        d
    };
    let mut no_deadline = since(NOW - 3600);
    no_deadline.spec.as_mut().unwrap().progress_deadline_seconds = None;
    check(vec![
        Case {
            what: "no progress for 590 s of 600: looked at again when the deadline passes",
            d: since(NOW - 590),
            rss: vec![stuck.clone()],
            expected: Summary {
                progressing: condition("True", RS_UPDATED, "earlier"),
                recheck: Some(11),
                ..Default::default()
            },
        },
        Case {
            what: "no progress for 601 s: ProgressDeadlineExceeded, and no more rechecks",
            d: since(NOW - 601),
            rss: vec![stuck.clone()],
            expected: Summary {
                progressing: condition(
                    "False",
                    TIMED_OUT,
                    "ReplicaSet \"web-new\" has timed out progressing.",
                ),
                ..Default::default()
            },
        },
        Case {
            what: "a pod became available at 700 s: progress, the deadline counts from now",
            d: since(NOW - 700),
            rss: vec![one_up],
            expected: Summary {
                progressing: condition(
                    "True",
                    RS_UPDATED,
                    "ReplicaSet \"web-new\" is progressing.",
                ),
                recheck: Some(601),
                ..Default::default()
            },
        },
        Case {
            what: "no progressDeadlineSeconds: no Progressing condition at all",
            d: no_deadline,
            rss: vec![stuck],
            expected: Summary::default(),
        },
    ]);
}

#[test]
fn rollback_to_a_revision() {
    let v1 = sized(rs("web-1", "v1", 1, 100), 0, 0, 0);
    let v2 = sized_for(sized(rs("web-2", "v2", 2, 200), 3, 3, 3), 3, 4);
    let asking = |to: &str| {
        let mut d = observed(
            deployment(3, "v2", 1, 0),
            &[&v1, &v2],
            Some(&v2),
            vec![progressing("True", NEW_RS_AVAILABLE, NOW - 10)],
        );
        d.metadata.annotations = Some(
            [
                (REVISION.to_owned(), "2".to_owned()),
                (ROLLBACK_TO.to_owned(), to.to_owned()),
            ]
            .into(),
        );
        d
    };
    let rolled_back = |image: Option<&str>, reason: &str, message: &str| Summary {
        rollback: Some((image.map(str::to_owned), reason.into(), message.into())),
        progressing: condition("True", NEW_RS_AVAILABLE, "earlier"),
        ..Default::default()
    };
    check(vec![
        Case {
            what: "to revision 1: its template",
            d: asking("1"),
            rss: vec![v1.clone(), v2.clone()],
            expected: rolled_back(
                Some("v1"),
                "DeploymentRollback",
                "Rolled back deployment \"web\" to revision 1",
            ),
        },
        Case {
            what: "to 0: the revision before the current",
            d: asking("0"),
            rss: vec![v1.clone(), v2.clone()],
            expected: rolled_back(
                Some("v1"),
                "DeploymentRollback",
                "Rolled back deployment \"web\" to revision 1",
            ),
        },
        Case {
            what: "to the current template: nothing but a warning",
            d: asking("2"),
            rss: vec![v1.clone(), v2.clone()],
            expected: rolled_back(
                None,
                "DeploymentRollbackTemplateUnchanged",
                "The rollback revision contains the same template as current deployment \"web\"",
            ),
        },
        Case {
            what: "to a revision that is gone: a warning",
            d: asking("7"),
            rss: vec![v1, v2],
            expected: rolled_back(
                None,
                "DeploymentRollbackRevisionNotFound",
                "Unable to find the revision to rollback to.",
            ),
        },
    ]);
}

#[test]
fn writes_name_the_versions_they_were_planned_from() {
    let old = sized_for(sized(rs("web-old", "v1", 1, 100), 3, 3, 3), 3, 4);
    let new = sized_for(sized(rs("web-new", "v2", 2, 200), 1, 1, 1), 3, 4);
    let d = deployment(3, "v2", 1, 0);
    let plan = plan(&d, &[old, new], at(NOW));
    let versions: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| c.resource_version.as_str())
        .collect();
    assert_eq!(versions, ["rv-web-old"]);
    let created = plan.status.unwrap();
    assert_eq!(created.revision.as_deref(), Some("2"));
    assert_eq!(
        created.status.observed_generation,
        Some(1),
        "the generation planned from"
    );
}

#[test]
fn a_created_replicaset_is_named_labelled_and_owned_as_upstreams() {
    let d = deployment(3, "v2", 1, 0);
    let plan = plan(&d, &[], at(NOW));
    let rs = plan.create.expect("created");
    let hash = template_hash(&d.spec.as_ref().unwrap().template, None);
    assert_eq!(rs.metadata.name, Some(format!("web-{hash}")));
    assert_eq!(rs.labels().get(HASH_LABEL), Some(&hash));
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(
        spec.selector.match_labels.as_ref().unwrap().get(HASH_LABEL),
        Some(&hash)
    );
    assert_eq!(spec.replicas, Some(3), "no old pods: all at once");
    assert_eq!(rs.owner_references()[0].uid, "d-uid");
    assert_eq!(
        rs.annotations(),
        &BTreeMap::from([
            (DESIRED.to_owned(), "3".to_owned()),
            (MAX_REPLICAS.to_owned(), "4".to_owned()),
            (REVISION.to_owned(), "1".to_owned()),
        ])
    );
}
