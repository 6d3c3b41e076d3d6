//! Strategic-merge metadata of the built-in types: which lists merge, and by which key.
//!
//! One table, keyed by the OpenAPI schema name of the type that holds the list and the list's
//! JSON field, serves both the server's strategic merge and the `x-kubernetes-patch-*`
//! extensions in the OpenAPI documents (which kubectl reads to compute `apply` patches).
//! Lists not in the table are atomic: a patch replaces them whole.

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// Replaced whole by the patch's list.
    Atomic,
    /// Items are objects merged by the value of this key.
    MergeByKey(&'static str),
    /// Items are scalars; the patch's items are added to the existing ones.
    MergePrimitives,
}

const CORE: &str = "io.k8s.api.core.v1.";
const APPS: &str = "io.k8s.api.apps.v1.";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// (type, field, strategy)
static TABLE: &[(&str, &str, &str, ListStrategy)] = &[
    (
        META,
        "ObjectMeta",
        "finalizers",
        ListStrategy::MergePrimitives,
    ),
    (
        META,
        "ObjectMeta",
        "ownerReferences",
        ListStrategy::MergeByKey("uid"),
    ),
    (
        CORE,
        "PodSpec",
        "containers",
        ListStrategy::MergeByKey("name"),
    ),
    (
        CORE,
        "PodSpec",
        "initContainers",
        ListStrategy::MergeByKey("name"),
    ),
    (
        CORE,
        "PodSpec",
        "ephemeralContainers",
        ListStrategy::MergeByKey("name"),
    ),
    (CORE, "PodSpec", "volumes", ListStrategy::MergeByKey("name")),
    (
        CORE,
        "PodSpec",
        "imagePullSecrets",
        ListStrategy::MergeByKey("name"),
    ),
    (
        CORE,
        "PodSpec",
        "hostAliases",
        ListStrategy::MergeByKey("ip"),
    ),
    (
        CORE,
        "PodSpec",
        "topologySpreadConstraints",
        ListStrategy::MergeByKey("topologyKey"),
    ),
    (
        CORE,
        "PodSpec",
        "resourceClaims",
        ListStrategy::MergeByKey("name"),
    ),
    (
        CORE,
        "PodSpec",
        "schedulingGates",
        ListStrategy::MergeByKey("name"),
    ),
    (
        CORE,
        "Container",
        "ports",
        ListStrategy::MergeByKey("containerPort"),
    ),
    (CORE, "Container", "env", ListStrategy::MergeByKey("name")),
    (
        CORE,
        "Container",
        "volumeMounts",
        ListStrategy::MergeByKey("mountPath"),
    ),
    (
        CORE,
        "Container",
        "volumeDevices",
        ListStrategy::MergeByKey("devicePath"),
    ),
    (
        CORE,
        "EphemeralContainer",
        "ports",
        ListStrategy::MergeByKey("containerPort"),
    ),
    (
        CORE,
        "EphemeralContainer",
        "env",
        ListStrategy::MergeByKey("name"),
    ),
    (
        CORE,
        "EphemeralContainer",
        "volumeMounts",
        ListStrategy::MergeByKey("mountPath"),
    ),
    (
        CORE,
        "PodStatus",
        "conditions",
        ListStrategy::MergeByKey("type"),
    ),
    (CORE, "PodStatus", "podIPs", ListStrategy::MergeByKey("ip")),
    (
        CORE,
        "NodeStatus",
        "conditions",
        ListStrategy::MergeByKey("type"),
    ),
    (
        CORE,
        "NodeStatus",
        "addresses",
        ListStrategy::MergeByKey("type"),
    ),
    (CORE, "NodeSpec", "podCIDRs", ListStrategy::MergePrimitives),
    (
        CORE,
        "NamespaceStatus",
        "conditions",
        ListStrategy::MergeByKey("type"),
    ),
    (
        CORE,
        "ServiceAccount",
        "secrets",
        ListStrategy::MergeByKey("name"),
    ),
    (
        APPS,
        "DeploymentStatus",
        "conditions",
        ListStrategy::MergeByKey("type"),
    ),
    (
        APPS,
        "ReplicaSetStatus",
        "conditions",
        ListStrategy::MergeByKey("type"),
    ),
];

/// The strategy of list `field` in schema `type_name` (e.g. `io.k8s.api.core.v1.PodSpec`).
pub fn list_strategy(type_name: &str, field: &str) -> ListStrategy {
    TABLE
        .iter()
        .find(|(prefix, ty, f, _)| *f == field && type_name.strip_prefix(prefix) == Some(ty))
        .map_or(ListStrategy::Atomic, |(_, _, _, s)| *s)
}

/// Every table entry as (full type name, field, strategy), for the OpenAPI extensions.
pub fn entries() -> impl Iterator<Item = (String, &'static str, ListStrategy)> {
    TABLE
        .iter()
        .map(|(prefix, ty, field, s)| (format!("{prefix}{ty}"), *field, *s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(
            list_strategy("io.k8s.api.core.v1.PodSpec", "containers"),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            list_strategy("io.k8s.api.core.v1.PodSpec", "tolerations"),
            ListStrategy::Atomic
        );
        assert_eq!(
            list_strategy(
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "finalizers"
            ),
            ListStrategy::MergePrimitives
        );
        assert_eq!(
            list_strategy("io.k8s.api.apps.v1.PodSpec", "containers"),
            ListStrategy::Atomic,
            "types are matched exactly"
        );
    }
}
