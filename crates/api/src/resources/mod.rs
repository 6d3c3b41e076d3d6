//! The built-in resources: one registry entry each, with its strategy.

mod config;
mod deployments;
mod events;
mod namespaces;
mod nodes;
mod pods;
pub mod podspec;
mod replicasets;
mod workload;

pub use nodes::node_status;
pub use pods::{display_status, qos_class};

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
        strategy,
    }
}

/// Every built-in resource, core group first, in discovery order.
pub fn all() -> Vec<ResourceInfo> {
    use Scope::{Cluster, Namespaced};
    use Subresource::{Binding, Scale, Status};
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
            &[Status],
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
            ("", "v1", "Pod"),
            ("pods", "pod"),
            Namespaced,
            &["po"],
            &["all"],
            &[Binding, Status],
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
            &[],
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
