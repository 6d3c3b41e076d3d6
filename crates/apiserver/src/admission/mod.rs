//! Admission: the ordered chain of plugins the registry runs over every create, update and
//! delete before it validates and stores, as upstream's admission chain. Namespace lifecycle
//! comes first; the mutating and validating plugins later work adds go after it.

mod default_storage_class;
mod namespace_lifecycle;
mod service_account;
mod storage_protection;

use async_trait::async_trait;
use ferrokube_api::ApiError;
use ferrokube_api::registry::ResourceInfo;

use crate::Inner;

pub use default_storage_class::DefaultStorageClass;
pub use namespace_lifecycle::{IMMORTAL_NAMESPACES, NamespaceLifecycle};
pub use service_account::ServiceAccount;
pub use storage_protection::StorageObjectInUseProtection;

/// The operation a request performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// What a plugin is told about a request.
#[derive(Clone, Copy)]
pub struct Attributes<'a> {
    pub operation: Operation,
    pub info: &'a ResourceInfo,
    /// The namespace of a namespaced resource's object; `None` for cluster-scoped ones.
    pub namespace: Option<&'a str>,
    /// The object's name (empty for a create that generates one).
    pub name: &'a str,
}

impl Attributes<'_> {
    /// Whether the object is a core/v1 Namespace.
    pub fn is_namespace(&self) -> bool {
        self.info.group.is_empty() && self.info.kind == "Namespace"
    }
}

/// One admission plugin. `admit` may read through the registry (`server`), and refuses a
/// request with the error its client sees.
#[async_trait]
pub trait Plugin: Send + Sync {
    /// The plugin's name, as upstream's `--enable-admission-plugins` spells it.
    fn name(&self) -> &'static str;

    /// A validating plugin's check of the request (none for a purely mutating plugin).
    async fn admit(&self, _attributes: &Attributes<'_>, _server: &Inner) -> Result<(), ApiError> {
        Ok(())
    }

    /// A mutating plugin's change of the object (creates and updates), before validation.
    async fn mutate(
        &self,
        _attributes: &Attributes<'_>,
        _obj: &mut serde_json::Value,
        _server: &Inner,
    ) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The plugins in the order they run.
pub struct Chain(Vec<Box<dyn Plugin>>);

impl Chain {
    /// The plugins ferrokube runs by default.
    pub fn standard() -> Self {
        Chain(vec![
            Box::new(NamespaceLifecycle),
            Box::new(ServiceAccount),
            Box::new(DefaultStorageClass),
            Box::new(StorageObjectInUseProtection),
        ])
    }

    /// The plugins' names, in order.
    #[cfg(test)]
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|p| p.name()).collect()
    }

    /// Runs each plugin's mutation in turn; the first refusal ends the request.
    pub async fn mutate(
        &self,
        attributes: &Attributes<'_>,
        obj: &mut serde_json::Value,
        server: &Inner,
    ) -> Result<(), ApiError> {
        for plugin in &self.0 {
            plugin.mutate(attributes, obj, server).await?;
        }
        Ok(())
    }

    /// Runs each plugin in turn; the first refusal ends the request.
    pub async fn admit(&self, attributes: &Attributes<'_>, server: &Inner) -> Result<(), ApiError> {
        for plugin in &self.0 {
            if let Err(err) = plugin.admit(attributes, server).await {
                tracing::debug!(plugin = plugin.name(), resource = %attributes.info.group_resource(), name = attributes.name, code = err.code, "admission refused");
                return Err(err);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_lifecycle_runs_first() {
        assert_eq!(
            Chain::standard().names().first(),
            Some(&"NamespaceLifecycle")
        );
    }
}
