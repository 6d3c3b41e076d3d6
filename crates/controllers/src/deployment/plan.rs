//! The Deployment controller's decisions as pure functions: the pod-template hash, template
//! equality that ignores it, what a ReplicaSet holding the new one's name is to us,
//! maxSurge/maxUnavailable arithmetic, and how far to scale the new and the old ReplicaSets in
//! one step of a rolling update.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::ownership::{controller_uid, selector_matches};

/// The label that ties a ReplicaSet and its pods to one template.
pub const HASH_LABEL: &str = "pod-template-hash";
/// Upstream's alphabet for generated names (no vowels, no confusable characters).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable hash of a template and the collision count, encoded as upstream encodes it.
///
/// FNV-32a over the template's canonical JSON and the collision count, then each decimal
/// digit mapped into the safe alphabet (`rand.SafeEncodeString`).
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(template).expect("templates serialize"));
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|d| SAFE_ALPHABET[usize::from(d) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// A template without the hash label, for comparing templates.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(HASH_LABEL);
        }
        meta.labels = meta.labels.take().filter(|l| !l.is_empty());
    }
    if let Some(meta) = t.metadata.as_mut() {
        meta.creation_timestamp = None;
    }
    t
}

/// Whether two templates are the same apart from the hash label (as upstream's
/// `EqualIgnoreHash`); `rollout undo` sends an old template without the label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// What a ReplicaSet already holding the name of the Deployment's new one is to it.
#[derive(Debug, PartialEq, Eq)]
pub enum NameTaken {
    /// It is the Deployment's own, with its template: nothing to create.
    Ours,
    /// An orphan with the Deployment's template and labels: adopt it, nothing to create.
    Adopt,
    /// Another template, another controller's, or going: a hash collision, so the Deployment
    /// counts it (`status.collisionCount`) and hashes again.
    Collision,
}

/// What `existing`, read live when creating the new ReplicaSet met its name, is to `d`. The
/// cache cannot say: after `kubectl delete --cascade=orphan` and a new Deployment, it may still
/// show the old owner, and counting that as a collision made a second ReplicaSet of one
/// template (upstream reads its lister here and can do the same).
pub fn name_taken(existing: &ReplicaSet, d: &Deployment) -> NameTaken {
    let Some(spec) = d.spec.as_ref() else {
        return NameTaken::Collision;
    };
    let same_template = existing
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .is_some_and(|t| equal_ignore_hash(t, &spec.template));
    if !same_template {
        return NameTaken::Collision;
    }
    let labels = existing.metadata.labels.clone().unwrap_or_default();
    match controller_uid(existing) {
        Some(owner) if Some(owner) == d.metadata.uid.as_deref() => NameTaken::Ours,
        None if existing.metadata.deletion_timestamp.is_none()
            && selector_matches(&spec.selector, &labels) =>
        {
            NameTaken::Adopt
        }
        _ => NameTaken::Collision,
    }
}

/// An int-or-percent of `total`, rounded up or down.
fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let percent: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let exact = percent * f64::from(total) / 100.0;
            (if round_up {
                exact.ceil()
            } else {
                exact.floor()
            }) as i32
        }
    }
}

/// (maxSurge, maxUnavailable) in pods: surge rounds up, unavailable down, and both zero
/// becomes one unavailable, as upstream's `ResolveFenceposts`.
pub fn fenceposts(deployment: &Deployment) -> (i32, i32) {
    let spec = deployment.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1);
    let rolling = spec
        .strategy
        .and_then(|s| s.rolling_update)
        .unwrap_or_default();
    let surge = scaled_value(rolling.max_surge.as_ref(), replicas, true);
    let unavailable = scaled_value(rolling.max_unavailable.as_ref(), replicas, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// The new ReplicaSet's replicas after one scale-up step: up to replicas + maxSurge pods in all.
pub fn new_replicas(deployment: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let (surge, _) = fenceposts(deployment);
    let current: i32 = all.iter().map(|rs| spec_replicas(rs)).sum();
    let max_total = replicas + surge;
    if current >= max_total {
        return spec_replicas(new);
    }
    let scale_up = (max_total - current).min(replicas - spec_replicas(new));
    spec_replicas(new) + scale_up.max(0)
}

/// How many old pods one scale-down step may remove: keep replicas − maxUnavailable available.
pub fn old_scale_down_budget(
    deployment: &Deployment,
    all: &[&ReplicaSet],
    new: &ReplicaSet,
) -> i32 {
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let (_, unavailable) = fenceposts(deployment);
    let total: i32 = all.iter().map(|rs| spec_replicas(rs)).sum();
    let min_available = replicas - unavailable;
    let new_unavailable = spec_replicas(new) - available(new);
    (total - min_available - new_unavailable).max(0)
}

/// The annotation recording replicas + maxSurge when a ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Upstream's `getReplicaSetFraction`: how much of the change a ReplicaSet takes, from its
/// share of the size it was scaled for.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if replicas == 0 {
        return -spec_replicas(rs);
    }
    let max = replicas + fenceposts(d).0;
    let before = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MAX_REPLICAS))
        .and_then(|v| v.parse::<i32>().ok())
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
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> Vec<(String, i32)> {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let allowed = if replicas > 0 {
        replicas + fenceposts(d).0
    } else {
        0
    };
    let current: i32 = active.iter().map(|rs| spec_replicas(rs)).sum();
    let to_add = allowed - current;
    let mut sorted: Vec<&ReplicaSet> = active.to_vec();
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    sorted.sort_by(|a, b| {
        let by_size = spec_replicas(b).cmp(&spec_replicas(a));
        let newer_first = created(b).cmp(&created(a));
        by_size.then(if to_add > 0 {
            newer_first
        } else {
            newer_first.reverse()
        })
    });
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = sorted
        .iter()
        .map(|rs| {
            let proportion = if to_add == 0 || spec_replicas(rs) == 0 || to_add == added {
                0
            } else if to_add > 0 {
                fraction(rs, d).min(to_add - added)
            } else {
                fraction(rs, d).max(to_add - added)
            };
            added += proportion;
            (
                rs.metadata.name.clone().unwrap_or_default(),
                spec_replicas(rs) + proportion,
            )
        })
        .collect();
    if let Some(first) = sizes.first_mut() {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus,
        RollingUpdateDeployment,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rs(replicas: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                available_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn fenceposts_table() {
        let cases = [
            (10, pct("25%"), pct("25%"), (3, 2)),
            (1, pct("25%"), pct("25%"), (1, 0)),
            (4, IntOrString::Int(0), IntOrString::Int(0), (0, 1)),
            (10, IntOrString::Int(3), IntOrString::Int(2), (3, 2)),
        ];
        for (replicas, surge, unavailable, want) in cases {
            assert_eq!(
                fenceposts(&deployment(replicas, surge.clone(), unavailable.clone())),
                want,
                "{replicas} {surge:?} {unavailable:?}"
            );
        }
    }

    #[test]
    fn rolling_steps() {
        let d = deployment(3, IntOrString::Int(1), IntOrString::Int(0));
        let old = rs(3, 3);
        let new = rs(0, 0);
        assert_eq!(new_replicas(&d, &[&old, &new], &new), 1, "surge by one");
        let new = rs(1, 0);
        assert_eq!(
            old_scale_down_budget(&d, &[&old, &new], &new),
            0,
            "the new pod is not available yet"
        );
        let new = rs(1, 1);
        assert_eq!(old_scale_down_budget(&d, &[&old, &new], &new), 1);
        assert_eq!(
            new_replicas(&d, &[&old, &new], &new),
            1,
            "at max total until an old pod goes"
        );
    }

    #[test]
    fn proportional_scaling_as_upstream_conformance() {
        let mut d = deployment(30, IntOrString::Int(3), IntOrString::Int(2));
        d.metadata.name = Some("web".into());
        let mut old = rs(8, 8);
        old.metadata.name = Some("old".into());
        old.metadata.annotations = Some([(MAX_REPLICAS.to_owned(), "13".to_owned())].into());
        old.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::from_second(100).unwrap(),
            ));
        let mut new = rs(5, 0);
        new.metadata.name = Some("new".into());
        new.metadata.annotations = Some([(MAX_REPLICAS.to_owned(), "13".to_owned())].into());
        new.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::from_second(200).unwrap(),
            ));
        let sizes = proportional_sizes(&d, &[&old, &new]);
        assert_eq!(sizes, [("old".to_owned(), 20), ("new".to_owned(), 13)]);
        // Scaling back down to 10 shrinks both in proportion, never below zero.
        let mut shrink = deployment(10, IntOrString::Int(3), IntOrString::Int(2));
        shrink.metadata.name = Some("web".into());
        let mut old = rs(20, 20);
        old.metadata.name = Some("old".into());
        old.metadata.annotations = Some([(MAX_REPLICAS.to_owned(), "33".to_owned())].into());
        let mut new = rs(13, 0);
        new.metadata.name = Some("new".into());
        new.metadata.annotations = Some([(MAX_REPLICAS.to_owned(), "33".to_owned())].into());
        let sizes = proportional_sizes(&shrink, &[&old, &new]);
        assert_eq!(sizes.iter().map(|(_, n)| n).sum::<i32>(), 13, "{sizes:?}");
        assert_eq!(sizes, [("old".to_owned(), 8), ("new".to_owned(), 5)]);
    }

    #[test]
    fn name_taken_table() {
        let template = |image: &str| PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..Default::default()
            }),
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                containers: vec![k8s_openapi::api::core::v1::Container {
                    name: "nginx".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        let mut d = deployment(5, pct("25%"), pct("25%"));
        d.metadata.uid = Some("d-uid".into());
        let spec = d.spec.as_mut().unwrap();
        spec.template = template("nginx:1.26");
        spec.selector.match_labels = Some([("app".to_owned(), "web".to_owned())].into());
        let replicaset = |image: &str, owner: Option<&str>, labels: &[(&str, &str)]| {
            let mut rs = rs(5, 5);
            let mut t = template(image);
            let hash = template_hash(&t, None);
            t.metadata
                .as_mut()
                .unwrap()
                .labels
                .as_mut()
                .unwrap()
                .insert(HASH_LABEL.into(), hash);
            rs.spec.as_mut().unwrap().template = Some(t);
            rs.metadata.labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            rs.metadata.owner_references = owner.map(|uid| {
                let mut owner = d.clone();
                owner.metadata.uid = Some(uid.into());
                vec![crate::ownership::controller_reference(&owner)]
            });
            rs
        };
        let app = [("app", "web")];
        let mut going = replicaset("nginx:1.26", None, &app);
        going.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        let cases = [
            (
                "ours",
                replicaset("nginx:1.26", Some("d-uid"), &app),
                NameTaken::Ours,
            ),
            (
                "an orphan",
                replicaset("nginx:1.26", None, &app),
                NameTaken::Adopt,
            ),
            (
                "an orphan the selector misses",
                replicaset("nginx:1.26", None, &[("app", "db")]),
                NameTaken::Collision,
            ),
            ("an orphan being deleted", going, NameTaken::Collision),
            (
                "another controller's",
                replicaset("nginx:1.26", Some("other"), &app),
                NameTaken::Collision,
            ),
            (
                "another template, ours",
                replicaset("nginx:1.25", Some("d-uid"), &app),
                NameTaken::Collision,
            ),
            (
                "another template, orphaned",
                replicaset("nginx:1.25", None, &app),
                NameTaken::Collision,
            ),
        ];
        for (what, existing, expected) in cases {
            assert_eq!(name_taken(&existing, &d), expected, "{what}");
        }
    }

    #[test]
    fn hash_is_stable_and_ignores_nothing_else() {
        let mut template = PodTemplateSpec {
            metadata: Some(ObjectMeta::default()),
            spec: None,
        };
        let a = template_hash(&template, None);
        assert_eq!(a, template_hash(&template, None));
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_ne!(
            a,
            template_hash(&template, Some(1)),
            "the collision count changes the hash"
        );
        let mut hashed = template.clone();
        hashed.metadata.as_mut().unwrap().labels =
            Some([(HASH_LABEL.to_owned(), a.clone())].into());
        assert!(equal_ignore_hash(&template, &hashed));
        template.metadata.as_mut().unwrap().labels =
            Some([("app".to_owned(), "x".to_owned())].into());
        assert!(!equal_ignore_hash(&template, &hashed));
    }
}
