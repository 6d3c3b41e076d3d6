//! The resource registry: every resource the API server serves is one `ResourceInfo` entry.
//! Handlers, discovery, OpenAPI and storage keys all read from here; adding a resource is an
//! entry in `resources::all()`, not new handler code.

use std::fmt;

use serde_json::{Value, json};

use crate::strategy::Strategy;

/// Whether objects live in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// A subresource served below `<resource>/<name>/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    /// `status`: the same kind, only `.status` is written.
    Status,
    /// `scale`: autoscaling/v1 Scale.
    Scale,
    /// `binding` (pods): a Binding assigns the pod to a node.
    Binding,
    /// `finalize` (namespaces): only `spec.finalizers` is written.
    Finalize,
    /// `log` (pods): a container's output, from the kubelet of the pod's node.
    Log,
    /// `token` (serviceaccounts): a TokenRequest is answered with a signed token.
    Token,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Finalize => "finalize",
            Subresource::Log => "log",
            Subresource::Token => "token",
        }
    }

    /// Verbs on the subresource, as discovery lists them.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Status | Subresource::Scale => &["get", "patch", "update"],
            Subresource::Binding | Subresource::Token => &["create"],
            Subresource::Finalize => &["update"],
            Subresource::Log => &["get"],
        }
    }
}

/// Verbs every regular resource supports.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A group and a resource, printed as upstream does in messages: `deployments.apps`, `pods`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// `Status.details` naming an object of this resource.
    pub fn details(&self, name: &str) -> Value {
        let mut details = json!({"kind": self.resource});
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if !self.group.is_empty() {
            details["group"] = json!(self.group);
        }
        details
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// One served resource.
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub scope: Scope,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// The verbs discovery lists: `ALL_VERBS`, or `["create"]` for a review that is answered,
    /// never stored (TokenReview).
    pub verbs: &'static [&'static str],
    /// The store key name when another resource's storage is shared (events.k8s.io events
    /// live with core events); `None` for `<group>/<plural>`.
    pub shared_storage: Option<&'static str>,
    /// Defaulting, validation, table columns and selectable fields.
    pub strategy: Box<dyn Strategy>,
}

/// The verbs of a review: created and answered, never stored.
pub const CREATE_ONLY: &[&str] = &["create"];

impl ResourceInfo {
    /// Whether the resource is a review (created and answered, never stored).
    pub fn is_review(&self) -> bool {
        self.verbs == CREATE_ONLY
    }

    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group, self.plural)
    }

    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    pub fn has_subresource(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// The store key prefix of this resource's objects, optionally within one namespace.
    ///
    /// Example: deployments → `deployments/`; in namespace `default` → `deployments/default/`.
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced() => format!("{}/{ns}/", self.storage_name()),
            _ => format!("{}/", self.storage_name()),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.key_prefix(namespace))
    }

    fn storage_name(&self) -> String {
        match (self.shared_storage, self.group) {
            (Some(name), _) => name.to_owned(),
            (None, "") => self.plural.to_owned(),
            (None, group) => format!("{group}/{}", self.plural),
        }
    }
}

/// All served resources.
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Registry {
    pub fn new(resources: Vec<ResourceInfo>) -> Self {
        Registry { resources }
    }

    /// The built-in resources.
    pub fn builtin() -> Self {
        Registry::new(crate::resources::all())
    }

    pub fn resources(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// The resource served at `/<group>/<version>/<plural>`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource of a kind.
    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// Groups in first-seen order, each with its versions (core group `""` first).
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for r in &self.resources {
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
                Some(_) => {}
                None => groups.push((r.group, vec![r.version])),
            }
        }
        groups
    }

    /// Resources of one group version.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceInfo> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names() {
        let registry = Registry::builtin();
        let deployments = registry.find("apps", "v1", "deployments").unwrap();
        assert_eq!(
            deployments.key("default".into(), "web"),
            "apps/deployments/default/web"
        );
        assert_eq!(deployments.key_prefix(None), "apps/deployments/");
        assert_eq!(deployments.group_resource().to_string(), "deployments.apps");
        let namespaces = registry.find("", "v1", "namespaces").unwrap();
        assert_eq!(
            namespaces.key(Some("ignored"), "default"),
            "namespaces/default"
        );
        assert_eq!(namespaces.api_version(), "v1");
        assert_eq!(registry.groups()[0].0, "");
    }
}
