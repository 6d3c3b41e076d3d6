//! The built-in resources: one registry entry each, with its strategy.

mod config;
mod deployments;
mod events;
mod events_v1;
mod namespaces;
mod nodes;
mod pods;
pub mod podspec;
mod replicasets;
pub mod storage;
pub mod volumes;
mod workload;

pub use nodes::node_status;
pub use pods::{display_status, qos_class};

/// A workload's `spec.selector` in string form (`app=web`), as Scale's `status.selector`.
pub fn workload_selector(obj: &serde_json::Value) -> String {
    let selector = obj.pointer("/spec/selector").and_then(|s| {
        serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(
            s.clone(),
        )
        .ok()
    });
    match workload::selector_string(selector.as_ref()).as_str() {
        "<none>" => String::new(),
        text => text.to_owned(),
    }
}

use crate::registry::{ResourceInfo, Scope, Subresource};
use crate::strategy::Strategy;

fn entry(
    (group, version, kind): (&'static str, &'static str, &'static str),
    (plural, singular): (&'static str, &'static str),
    scope: Scope,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
    strategy: Box<dyn Strategy>,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        kind,
        plural,
        singular,
        scope,
        short_names,
        categories,
        subresources,
        verbs: crate::registry::ALL_VERBS,
        shared_storage: None,
        strategy,
    }
}

/// Every built-in resource, core group first, in discovery order.
pub fn all() -> Vec<ResourceInfo> {
    use Scope::{Cluster, Namespaced};
    use Subresource::{Binding, Finalize, Log, Scale, Status, Token};
    vec![
        entry(
            ("", "v1", "ConfigMap"),
            ("configmaps", "configmap"),
            Namespaced,
            &["cm"],
            &[],
            &[],
            Box::new(config::configmaps()),
        ),
        entry(
            ("", "v1", "Event"),
            ("events", "event"),
            Namespaced,
            &["ev"],
            &[],
            &[],
            Box::new(events::strategy()),
        ),
        entry(
            ("", "v1", "Namespace"),
            ("namespaces", "namespace"),
            Cluster,
            &["ns"],
            &[],
            &[Finalize, Status],
            Box::new(namespaces::strategy()),
        ),
        entry(
            ("", "v1", "Node"),
            ("nodes", "node"),
            Cluster,
            &["no"],
            &[],
            &[Status],
            Box::new(nodes::strategy()),
        ),
        entry(
            ("", "v1", "PersistentVolume"),
            ("persistentvolumes", "persistentvolume"),
            Cluster,
            &["pv"],
            &[],
            &[Status],
            Box::new(storage::persistent_volumes()),
        ),
        entry(
            ("", "v1", "PersistentVolumeClaim"),
            ("persistentvolumeclaims", "persistentvolumeclaim"),
            Namespaced,
            &["pvc"],
            &[],
            &[Status],
            Box::new(storage::persistent_volume_claims()),
        ),
        entry(
            ("", "v1", "Pod"),
            ("pods", "pod"),
            Namespaced,
            &["po"],
            &["all"],
            &[Binding, Log, Status],
            Box::new(pods::strategy()),
        ),
        entry(
            ("", "v1", "Secret"),
            ("secrets", "secret"),
            Namespaced,
            &[],
            &[],
            &[],
            Box::new(config::secrets()),
        ),
        entry(
            ("", "v1", "ServiceAccount"),
            ("serviceaccounts", "serviceaccount"),
            Namespaced,
            &["sa"],
            &[],
            &[Token],
            Box::new(config::serviceaccounts()),
        ),
        entry(
            ("apps", "v1", "Deployment"),
            ("deployments", "deployment"),
            Namespaced,
            &["deploy"],
            &["all"],
            &[Scale, Status],
            Box::new(deployments::strategy()),
        ),
        entry(
            ("apps", "v1", "ReplicaSet"),
            ("replicasets", "replicaset"),
            Namespaced,
            &["rs"],
            &["all"],
            &[Scale, Status],
            Box::new(replicasets::strategy()),
        ),
        ResourceInfo {
            shared_storage: Some("events"),
            ..entry(
                ("events.k8s.io", "v1", "Event"),
                ("events", "event"),
                Namespaced,
                &["ev"],
                &[],
                &[],
                Box::new(events_v1::strategy()),
            )
        },
        ResourceInfo {
            verbs: crate::registry::CREATE_ONLY,
            ..entry(
                ("authentication.k8s.io", "v1", "TokenReview"),
                ("tokenreviews", "tokenreview"),
                Cluster,
                &[],
                &[],
                &[],
                Box::new(crate::strategy::Typed::<
                    k8s_openapi::api::authentication::v1::TokenReview,
                >::plain(
                    crate::validation::NameRule::Subdomain
                )),
            )
        },
        entry(
            ("storage.k8s.io", "v1", "StorageClass"),
            ("storageclasses", "storageclass"),
            Cluster,
            &["sc"],
            &[],
            &[],
            Box::new(storage::storage_classes()),
        ),
        entry(
            ("coordination.k8s.io", "v1", "Lease"),
            ("leases", "lease"),
            Namespaced,
            &[],
            &[],
            &[],
            Box::new(config::leases()),
        ),
    ]
}
