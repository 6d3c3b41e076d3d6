//! Pod templates and the ReplicaSets made from them: the pod-template hash, template equality
//! that ignores it, the new ReplicaSet for a Deployment's template, and what a ReplicaSet
//! already holding that one's name is to the Deployment.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use crate::ownership::{controller_reference, controller_uid, selector_matches};

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

/// The ReplicaSet for the Deployment's current template, hashed with its collision count, with
/// `replicas` and no annotations yet (upstream's `getNewReplicaSet`): named
/// `<deployment>-<hash>`, labelled and selecting with the hash label beside the template's.
pub fn new_replicaset(d: &Deployment, replicas: i32) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&spec.template, collision_count);
    let mut template = spec.template;
    let labels = template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default);
    labels.insert(HASH_LABEL.into(), hash.clone());
    let labels = labels.clone();
    let mut selector = spec.selector;
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![controller_reference(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;

    fn deployment(replicas: i32) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rs(replicas: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        }
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
        let mut d = deployment(5);
        d.metadata.uid = Some("d-uid".into());
        let spec = d.spec.as_mut().unwrap();
        spec.template = template("nginx:1.26");
        spec.selector.match_labels = Some([("app".to_owned(), "web".to_owned())].into());
        let replicaset = |image: &str, owner: Option<&str>, labels: &[(&str, &str)]| {
            let mut rs = rs(5);
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
