//! The annotations a Deployment and its ReplicaSets carry, as upstream's `deployment_util.go`
//! keeps them: revisions (and the history of a ReplicaSet rolled back to), the replicas a
//! ReplicaSet was last sized for, and the Deployment's own annotations copied onto its new
//! ReplicaSet.
//!
//! Example (a rollback): revisions 1 (nginx:1.25) and 2 (nginx:1.26); `rollout undo` brings
//! 1.25 back, so its ReplicaSet becomes revision 3 with `revision-history: "1"`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

/// A ReplicaSet's revision; on a Deployment, its new ReplicaSet's.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The former revisions of a ReplicaSet that was rolled back to, oldest first.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas + maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// A rollback asked for through the extensions/v1beta1 field that apps/v1 round-trips.
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Upstream keeps `revision-history` to this many characters.
const MAX_HISTORY_CHARS: usize = 2000;

/// Annotations never copied between a Deployment and its ReplicaSets (`annotationsToSkip`).
fn skipped(key: &str) -> bool {
    [
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED,
        MAX_REPLICAS,
        ROLLBACK_TO,
    ]
    .contains(&key)
}

fn annotation<'a>(annotations: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.as_ref()?.get(key).map(String::as_str)
}

/// A ReplicaSet's revision: 0 when it has none, `None` when it is not a number (upstream
/// skips such a ReplicaSet when it compares revisions).
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    annotation(&rs.metadata.annotations, REVISION).map_or(Some(0), |r| r.parse().ok())
}

/// The highest revision among ReplicaSets (`MaxRevision`).
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().filter_map(revision).max().unwrap_or(0)
}

/// The second highest revision among ReplicaSets, the one before the current (`LastRevision`).
pub fn last_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    let (mut max, mut second) = (0, 0);
    for v in rss.into_iter().filter_map(revision) {
        if v >= max {
            second = max;
            max = v;
        } else if v > second {
            second = v;
        }
    }
    second
}

/// The replicas a ReplicaSet was last sized for.
pub fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata.annotations, DESIRED)?.parse().ok()
}

/// The replicas + maxSurge a ReplicaSet was last sized for.
pub fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata.annotations, MAX_REPLICAS)?
        .parse()
        .ok()
}

/// The Deployment's revision annotation.
pub fn deployment_revision(d: &Deployment) -> Option<&str> {
    annotation(&d.metadata.annotations, REVISION)
}

/// The revision a rollback asks for (0: the one before the current), if one is asked for.
pub fn rollback_to(d: &Deployment) -> Option<i64> {
    annotation(&d.metadata.annotations, ROLLBACK_TO)?
        .parse()
        .ok()
}

/// Sets `key` to `value`; whether that changed anything.
fn set(rs: &mut ReplicaSet, key: &str, value: String) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    if annotations.get(key) == Some(&value) {
        return false;
    }
    annotations.insert(key.to_owned(), value);
    true
}

/// Records the Deployment's replicas and replicas + maxSurge on a ReplicaSet being scaled
/// (`SetReplicasAnnotations`); whether that changed anything.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let desired = set(rs, DESIRED, desired.to_string());
    set(rs, MAX_REPLICAS, max.to_string()) || desired
}

/// Copies the Deployment's annotations, but the skipped ones, onto its new ReplicaSet; whether
/// that changed anything.
fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (key, value) in d.metadata.annotations.iter().flatten() {
        if !skipped(key) {
            changed |= set(rs, key, value.clone());
        }
    }
    changed
}

/// The new ReplicaSet's annotations (`SetNewReplicaSetAnnotations`): the Deployment's own,
/// and revision `new_revision` unless it already has a later one; a ReplicaSet that had a
/// revision keeps it in its history. Whether that changed anything.
pub fn set_new_replicaset_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let old = annotation(&rs.metadata.annotations, REVISION).map(str::to_owned);
    let Ok(old_revision) = old.as_deref().map_or(Ok(0), str::parse::<i64>) else {
        return changed;
    };
    if old_revision >= new_revision {
        return changed;
    }
    changed |= set(rs, REVISION, new_revision.to_string());
    if let Some(old) = old {
        let history = annotation(&rs.metadata.annotations, REVISION_HISTORY).unwrap_or("");
        if let Some(history) = append_history(history, &old) {
            set(rs, REVISION_HISTORY, history);
        }
    }
    changed
}

/// `history` with `revision` appended, dropping the oldest entries to stay within upstream's
/// 2,000 characters; `None` if even `revision` alone does not fit.
fn append_history(history: &str, revision: &str) -> Option<String> {
    if history.is_empty() {
        return Some(revision.to_owned());
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut length = history.len() + revision.len() + 1;
    let mut start = 0;
    while length > MAX_HISTORY_CHARS && start < entries.len() {
        length -= entries[start].len() + 1;
        start += 1;
    }
    if length > MAX_HISTORY_CHARS {
        return None;
    }
    entries.drain(..start);
    entries.push(revision);
    Some(entries.join(","))
}

/// The Deployment's annotations after a rollback to `rs` (`SetDeploymentAnnotationsTo`): its
/// skipped ones kept, the rest taken from the ReplicaSet.
pub fn annotations_from(d: &Deployment, rs: &ReplicaSet) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| skipped(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in rs.metadata.annotations.iter().flatten() {
        if !skipped(key) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    annotations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(annotations: &[(&str, &str)]) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        rs
    }

    #[test]
    fn revisions_max_and_last() {
        let rss = [
            with(&[(REVISION, "1")]),
            with(&[(REVISION, "4")]),
            with(&[(REVISION, "x")]),
            with(&[(REVISION, "3")]),
            with(&[]),
        ];
        assert_eq!(max_revision(&rss), 4);
        assert_eq!(last_revision(&rss), 3, "the one before the current");
        assert_eq!(last_revision(&rss[..1]), 0, "only one revision");
    }

    #[test]
    fn new_replicaset_annotations_table() {
        let mut d = Deployment::default();
        d.metadata.annotations = Some(
            [
                ("kubernetes.io/change-cause", "edit"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
                (REVISION, "7"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        type Annotations<'a> = &'a [(&'a str, &'a str)];
        let cases: [(&str, ReplicaSet, i64, bool, Annotations); 4] = [
            (
                "a new ReplicaSet gets the Deployment's annotations and the revision",
                with(&[]),
                3,
                true,
                &[("kubernetes.io/change-cause", "edit"), (REVISION, "3")],
            ),
            (
                "up to date: nothing changes",
                with(&[("kubernetes.io/change-cause", "edit"), (REVISION, "3")]),
                3,
                false,
                &[("kubernetes.io/change-cause", "edit"), (REVISION, "3")],
            ),
            (
                "rolled back to: revision 1 becomes 4, and 1 goes into the history",
                with(&[
                    ("kubernetes.io/change-cause", "edit"),
                    (REVISION, "1"),
                    (REVISION_HISTORY, "0"),
                ]),
                4,
                true,
                &[
                    ("kubernetes.io/change-cause", "edit"),
                    (REVISION, "4"),
                    (REVISION_HISTORY, "0,1"),
                ],
            ),
            (
                "a later revision than the one computed is kept",
                with(&[("kubernetes.io/change-cause", "edit"), (REVISION, "5")]),
                3,
                false,
                &[("kubernetes.io/change-cause", "edit"), (REVISION, "5")],
            ),
        ];
        for (what, mut rs, new_revision, changed, expected) in cases {
            assert_eq!(
                set_new_replicaset_annotations(&d, &mut rs, new_revision),
                changed,
                "{what}"
            );
            assert_eq!(rs, with(expected), "{what}");
        }
    }

    #[test]
    fn history_keeps_to_2000_characters() {
        assert_eq!(append_history("", "1").as_deref(), Some("1"));
        assert_eq!(append_history("1,2", "3").as_deref(), Some("1,2,3"));
        let long = vec!["123456789"; 200].join(",");
        assert_eq!(long.len(), 1999);
        let appended = append_history(&long, "42").unwrap();
        assert!(appended.len() <= 2000, "{}", appended.len());
        assert!(appended.ends_with(",123456789,42"));
        assert_eq!(appended.split(',').count(), 200, "the oldest one dropped");
    }

    #[test]
    fn rollback_takes_the_replicasets_annotations() {
        let mut d = Deployment::default();
        d.metadata.annotations = Some(
            [
                ("kubernetes.io/change-cause", "edit"),
                (REVISION, "2"),
                (ROLLBACK_TO, "1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let rs = with(&[("kubernetes.io/change-cause", "create"), (REVISION, "1")]);
        let annotations = annotations_from(&d, &rs);
        assert_eq!(
            annotations,
            with(&[
                ("kubernetes.io/change-cause", "create"),
                (REVISION, "2"),
                (ROLLBACK_TO, "1"),
            ])
            .metadata
            .annotations
            .unwrap()
        );
    }
}
