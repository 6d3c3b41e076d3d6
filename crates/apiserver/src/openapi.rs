//! OpenAPI v3: `/openapi/v3` lists one document per group version; each document has the
//! kinds' schemas (from k8s-openapi, marked with `x-kubernetes-group-version-kind`) and the
//! paths and operations kubectl inspects (it looks for the `fieldValidation` parameter).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use ferrokube_api::patch::Schemas;
use ferrokube_api::registry::{ResourceInfo, Subresource};
use ferrokube_api::{ApiError, Registry};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The documents, built once.
pub struct OpenApi {
    /// (path such as `apis/apps/v1`, document, hash)
    documents: OnceLock<Vec<(String, Value, String)>>,
    /// The v2 document and its protobuf encoding.
    v2: OnceLock<(Value, Vec<u8>)>,
}

impl Default for OpenApi {
    fn default() -> Self {
        OpenApi {
            documents: OnceLock::new(),
            v2: OnceLock::new(),
        }
    }
}

impl OpenApi {
    fn documents(&self, registry: &Registry) -> &[(String, Value, String)] {
        self.documents.get_or_init(|| {
            registry
                .groups()
                .into_iter()
                .flat_map(|(group, versions)| versions.into_iter().map(move |v| (group, v)))
                .map(|(group, version)| {
                    let path = if group.is_empty() {
                        format!("api/{version}")
                    } else {
                        format!("apis/{group}/{version}")
                    };
                    let doc = group_version_document(registry, group, version);
                    let mut hasher = DefaultHasher::new();
                    doc.to_string().hash(&mut hasher);
                    (path, doc, format!("{:016X}", hasher.finish()))
                })
                .collect()
        })
    }

    /// `/openapi/v3`: where each group version's document is.
    pub fn root(&self, registry: &Registry) -> Value {
        let paths: Map<String, Value> = self
            .documents(registry)
            .iter()
            .map(|(path, _, hash)| {
                (
                    path.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
                )
            })
            .collect();
        json!({"paths": paths})
    }

    /// `/openapi/v2`: every kind's definition, as JSON and as protobuf, built once.
    pub fn v2(&self, registry: &Registry) -> &(Value, Vec<u8>) {
        self.v2.get_or_init(|| {
            let doc =
                crate::openapi_v2::document(self.documents(registry).iter().map(|(_, d, _)| d));
            let bytes = crate::openapi_v2::to_protobuf(&doc);
            (doc, bytes)
        })
    }

    /// `/openapi/v3/<path>`.
    pub fn document(&self, registry: &Registry, path: &str) -> Result<Value, ApiError> {
        self.documents(registry)
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, doc, _)| doc.clone())
            .ok_or_else(ApiError::path_not_found)
    }
}

fn group_version_document(registry: &Registry, group: &str, version: &str) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut paths = Map::new();
    let resources: Vec<&ResourceInfo> = registry.in_group_version(group, version).collect();
    for info in &resources {
        info.strategy.openapi_schema(&mut generator);
        add_paths(&mut paths, info);
    }
    let mut schemas = generator.take_definitions(true);
    add_patch_extensions(&mut schemas);
    for info in &resources {
        let gvk = json!([{"group": info.group, "version": info.version, "kind": info.kind}]);
        let name = Schemas::root(info);
        if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            schema.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn query_param(name: &str, kind: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": true}})
}

fn operation(info: &ResourceInfo, action: &str, id: &str, params: &[&str], body: bool) -> Value {
    let schema_ref = json!({"$ref": format!("#/components/schemas/{}", Schemas::root(info))});
    let mut op = json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": info.version, "kind": info.kind},
        "parameters": params.iter().map(|p| query_param(p, if *p == "limit" || *p == "timeoutSeconds" { "integer" } else { "string" })).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
    });
    if body {
        op["requestBody"] = json!({"content": {"*/*": {"schema": schema_ref}}, "required": true});
    }
    op
}

fn add_paths(paths: &mut Map<String, Value>, info: &ResourceInfo) {
    let base = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let collection = if info.namespaced() {
        format!("{base}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{base}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let id = |verb: &str| format!("{verb}{}", info.kind);
    let write = ["dryRun", "fieldManager", "fieldValidation"];
    paths.insert(
        collection.clone(),
        json!({
            "get": operation(info, "list", &id("list"), &["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "timeoutSeconds", "watch"], false),
            "post": operation(info, "post", &id("create"), &write, true),
            "delete": operation(info, "deletecollection", &id("deleteCollection"), &["labelSelector", "fieldSelector", "dryRun"], false),
        }),
    );
    paths.insert(
        item.clone(),
        json!({
            "get": operation(info, "get", &id("read"), &[], false),
            "put": operation(info, "put", &id("replace"), &write, true),
            "patch": operation(info, "patch", &id("patch"), &["dryRun", "fieldManager", "fieldValidation", "force"], true),
            "delete": operation(info, "delete", &id("delete"), &["dryRun", "gracePeriodSeconds", "propagationPolicy"], false),
        }),
    );
    if info.has_subresource(Subresource::Status) {
        paths.insert(
            format!("{item}/status"),
            json!({
                "get": operation(info, "get", &id("read_status"), &[], false),
                "put": operation(info, "put", &id("replace_status"), &write, true),
                "patch": operation(info, "patch", &id("patch_status"), &["dryRun", "fieldManager", "fieldValidation", "force"], true),
            }),
        );
    }
}

/// Marks list properties with upstream's `x-kubernetes-patch-strategy` and
/// `x-kubernetes-patch-merge-key`, from the same table the server's strategic merge uses.
fn add_patch_extensions(schemas: &mut Map<String, Value>) {
    use ferrokube_api::patch::metadata::{ListStrategy, entries};
    for (type_name, field, strategy) in entries() {
        let Some(property) = schemas
            .get_mut(&type_name)
            .and_then(|t| t.pointer_mut(&format!("/properties/{field}")))
        else {
            continue;
        };
        let Some(property) = property.as_object_mut() else {
            continue;
        };
        match strategy {
            ListStrategy::MergeByKey(key) => {
                property.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                property.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            }
            ListStrategy::MergePrimitives => {
                property.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            }
            ListStrategy::Atomic => {}
        }
    }
}
