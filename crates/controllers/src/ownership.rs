//! Owner references, shared by the controllers that own objects (Deployments own
//! ReplicaSets, ReplicaSets own pods): controller references, selector matching, which owner
//! a child's change concerns, and adopting or releasing a child.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The controller ownerReference (`controller: true`, `blockOwnerDeletion: true`) to `owner`.
pub fn controller_reference<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The uid of the object's controller, if it has one.
pub fn controller_uid<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta()
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// A controller's label selector, parsed once (kube-core's `Selector`): an empty selector
/// selects nothing, as upstream's controllers treat it, and so does one that does not parse
/// (an unknown operator), as upstream's `LabelSelectorAsSelector` errors are.
pub struct ControllerSelector(Option<Selector>);

impl ControllerSelector {
    pub fn new(selector: &LabelSelector) -> Self {
        let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(|e| e.is_empty());
        ControllerSelector(
            (!empty)
                .then(|| Selector::try_from(selector.clone()).ok())
                .flatten(),
        )
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.as_ref().is_some_and(|s| s.matches(labels))
    }
}

/// Whether a selector matches labels, for one check (see [`ControllerSelector`]).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    ControllerSelector::new(selector).matches(labels)
}

/// The owners of kind `K` a child's change concerns: its controller if it is a `K`, or, for
/// an orphan, every `K` in its namespace whose selector matches (which may adopt it).
pub fn owners_of<K, C>(
    owners: &Store<K>,
    child: &C,
    selector: impl Fn(&K) -> Option<&LabelSelector>,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
    C: Resource,
{
    let namespace = child.meta().namespace.clone().unwrap_or_default();
    if let Some(owner) = child
        .meta()
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
    {
        return if owner.kind == K::kind(&()) {
            vec![ObjectRef::new(&owner.name).within(&namespace)]
        } else {
            Vec::new()
        };
    }
    let labels = child.meta().labels.clone().unwrap_or_default();
    owners
        .state()
        .iter()
        .filter(|o| {
            o.meta().namespace.as_deref() == Some(&namespace)
                && selector(o).is_some_and(|s| selector_matches(s, &labels))
        })
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// Sets a child's ownerReferences, if it is unchanged since read; false when it went. A child
/// changed since read is a conflict (409) the caller fails on, as upstream's claim does: its
/// cache is behind, and acting on the rest of it (creating what the child would have been)
/// waits for the retry.
async fn set_owner_references<C>(
    api: &Api<C>,
    child: &C,
    refs: Vec<OwnerReference>,
) -> Result<bool, kube::Error>
where
    C: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        json!(refs)
    };
    let patch =
        json!({"metadata": {"ownerReferences": refs, "resourceVersion": child.resource_version()}});
    match api
        .patch(
            &child.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(err) => Err(err),
    }
}

/// Makes `owner` the controller of an orphan child.
pub async fn adopt<K, C>(api: &Api<C>, child: &C, owner: &K) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()>,
    C: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let mut refs = child.owner_references().to_vec();
    refs.push(controller_reference(owner));
    set_owner_references(api, child, refs).await
}

/// Drops the reference to owner `uid` from a child that no longer matches.
pub async fn release<C>(api: &Api<C>, child: &C, uid: &str) -> Result<bool, kube::Error>
where
    C: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let refs = child
        .owner_references()
        .iter()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    set_owner_references(api, child, refs).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    #[test]
    fn references_and_selectors() {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some("web".into());
        rs.metadata.uid = Some("u1".into());
        let reference = controller_reference(&rs);
        assert_eq!(
            (
                reference.kind.as_str(),
                reference.api_version.as_str(),
                reference.uid.as_str()
            ),
            ("ReplicaSet", "apps/v1", "u1")
        );
        assert_eq!(reference.block_owner_deletion, Some(true));
        let labels: BTreeMap<String, String> = [("app".to_owned(), "web".to_owned())].into();
        let selector = LabelSelector {
            match_labels: Some(labels.clone()),
            ..Default::default()
        };
        assert!(selector_matches(&selector, &labels));
        assert!(
            !selector_matches(&LabelSelector::default(), &labels),
            "an empty selector matches nothing"
        );
    }

    #[test]
    fn selectors_with_expressions_as_upstream() {
        let selector =
            |v: serde_json::Value| -> LabelSelector { serde_json::from_value(v).unwrap() };
        let labels: BTreeMap<String, String> = [
            ("app".into(), "web".into()),
            ("tier".into(), "front".into()),
        ]
        .into();
        let cases = [
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                false,
            ),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                true,
            ),
            (json!({"matchLabels": {"app": "db"}}), false),
            // An operator upstream does not know selects nothing (its selector does not parse).
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Like", "values": ["web"]}]}),
                false,
            ),
            (json!({"matchLabels": {}, "matchExpressions": []}), false),
        ];
        for (spec, want) in cases {
            let parsed = ControllerSelector::new(&selector(spec.clone()));
            assert_eq!(parsed.matches(&labels), want, "{spec}");
            assert_eq!(
                selector_matches(&selector(spec.clone()), &labels),
                want,
                "{spec}"
            );
        }
    }
}
