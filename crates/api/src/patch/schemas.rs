//! The OpenAPI schemas of every served kind (from k8s-openapi), indexed by name, with the
//! navigation strategic merge and managed fields need: the schema of a field, of a list's
//! items, of a map's values.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::registry::{Registry, ResourceInfo};

/// All component schemas, by name (`io.k8s.api.apps.v1.Deployment`, …).
pub struct Schemas {
    defs: BTreeMap<String, Value>,
    /// The schema name of each kind, by `group/version/kind`.
    roots: BTreeMap<String, String>,
}

impl Schemas {
    /// The schemas reachable from every kind in the registry.
    pub fn for_registry(registry: &Registry) -> Self {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let mut roots = BTreeMap::new();
        for info in registry.resources() {
            let reference = info.strategy.openapi_schema(&mut generator);
            roots.insert(
                kind_key(info),
                ref_name(reference.as_value()).unwrap_or_default(),
            );
        }
        Schemas {
            defs: generator.take_definitions(true).into_iter().collect(),
            roots,
        }
    }

    /// The schema name of a served kind, computed once.
    pub fn root_of(&self, info: &ResourceInfo) -> &str {
        self.roots.get(&kind_key(info)).map_or("", String::as_str)
    }

    /// The schema name of a resource's kind.
    pub fn root(info: &ResourceInfo) -> String {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let reference = info.strategy.openapi_schema(&mut generator);
        ref_name(reference.as_value()).unwrap_or_default()
    }

    /// Whether property `field` of `type_name` is a map of arbitrary keys (labels, data, …).
    pub fn is_map(&self, type_name: &str, field: &str) -> bool {
        self.defs
            .get(type_name)
            .and_then(|t| t.get("properties"))
            .and_then(|p| p.get(field))
            .is_some_and(|p| p.get("additionalProperties").is_some())
    }

    /// The schema name of property `field` of `type_name`, following list items and map values
    /// (the element type for lists and maps).
    pub fn child(&self, type_name: &str, field: &str) -> Option<String> {
        let property = self.defs.get(type_name)?.get("properties")?.get(field)?;
        element_type(property)
    }
}

fn kind_key(info: &ResourceInfo) -> String {
    format!("{}/{}/{}", info.group, info.version, info.kind)
}

/// The referenced schema name of a property, or of its items / additionalProperties.
fn element_type(schema: &Value) -> Option<String> {
    ref_name(schema)
        .or_else(|| schema.get("items").and_then(element_type))
        .or_else(|| schema.get("additionalProperties").and_then(element_type))
}

/// `#/components/schemas/X` → `X`, directly or through `allOf: [{$ref}]`.
fn ref_name(schema: &Value) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().map(str::to_owned);
    }
    schema.get("allOf")?.as_array()?.iter().find_map(ref_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigates_from_deployment_to_containers() {
        let registry = Registry::builtin();
        let schemas = Schemas::for_registry(&registry);
        let root = Schemas::root(registry.find("apps", "v1", "deployments").unwrap());
        assert_eq!(root, "io.k8s.api.apps.v1.Deployment");
        assert_eq!(
            schemas.root_of(registry.find("apps", "v1", "deployments").unwrap()),
            root
        );
        let spec = schemas.child(&root, "spec").unwrap();
        let template = schemas.child(&spec, "template").unwrap();
        let pod_spec = schemas.child(&template, "spec").unwrap();
        assert_eq!(pod_spec, "io.k8s.api.core.v1.PodSpec");
        assert_eq!(
            schemas.child(&pod_spec, "containers").unwrap(),
            "io.k8s.api.core.v1.Container"
        );
        let metadata = schemas.child(&root, "metadata").unwrap();
        assert_eq!(metadata, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    }
}
