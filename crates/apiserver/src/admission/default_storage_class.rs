//! DefaultStorageClass, as upstream's admission plugin: a new PersistentVolumeClaim that names
//! no class (`storageClassName` absent, not `""`) gets the default StorageClass, the one
//! annotated `storageclass.kubernetes.io/is-default-class: "true"` (the newest, when several
//! are). With no default class the claim is left as it is.

use async_trait::async_trait;
use ferrokube_api::ApiError;
use ferrokube_api::resources::storage::DEFAULT_CLASS_ANNOTATION;
use ferrokube_api::selector::{FieldSelector, Selector};
use serde_json::{Value, json};

use super::{Attributes, Operation, Plugin};
use crate::Inner;
use crate::registry::Filter;
use crate::registry::ListOptions;
use crate::registry::Storage;

/// The DefaultStorageClass plugin.
pub struct DefaultStorageClass;

/// The default class among `classes` (StorageClass objects): the newest of those annotated
/// as default, ties broken by name as upstream's `GetDefaultClass`.
pub fn default_class(classes: &[Value]) -> Option<String> {
    let is_default = |c: &&Value| {
        c.pointer("/metadata/annotations")
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
            .and_then(Value::as_str)
            == Some("true")
    };
    let text = |c: &Value, at: &str| {
        c.pointer(at)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    classes
        .iter()
        .filter(is_default)
        .max_by_key(|c| {
            let created = text(c, "/metadata/creationTimestamp");
            let name = text(c, "/metadata/name");
            (created, std::cmp::Reverse(name))
        })
        .map(|c| text(c, "/metadata/name"))
}

#[async_trait]
impl Plugin for DefaultStorageClass {
    fn name(&self) -> &'static str {
        "DefaultStorageClass"
    }

    async fn mutate(
        &self,
        attributes: &Attributes<'_>,
        obj: &mut Value,
        server: &Inner,
    ) -> Result<(), ApiError> {
        let info = attributes.info;
        let is_claim = info.group.is_empty() && info.kind == "PersistentVolumeClaim";
        if attributes.operation != Operation::Create || !is_claim {
            return Ok(());
        }
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if spec.get("storageClassName").is_some_and(|c| !c.is_null()) {
            return Ok(());
        }
        let filter = Filter::new(Selector::default(), FieldSelector::default());
        let classes = Storage::of(server, "storage.k8s.io", "v1", "storageclasses")
            .list(None, &filter, &ListOptions::default())
            .await?;
        if let Some(name) = default_class(&classes.items) {
            spec.insert("storageClassName".to_owned(), json!(name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_default_class_wins() {
        let class = |name: &str, created: &str, default: Option<&str>| {
            let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
            if let Some(d) = default {
                c["metadata"]["annotations"] = json!({DEFAULT_CLASS_ANNOTATION: d});
            }
            c
        };
        let cases = [
            (vec![], None),
            (vec![class("a", "2026-01-01T00:00:00Z", None)], None),
            (
                vec![class("a", "2026-01-01T00:00:00Z", Some("false"))],
                None,
            ),
            (
                vec![
                    class("old", "2026-01-01T00:00:00Z", Some("true")),
                    class("new", "2026-02-01T00:00:00Z", Some("true")),
                    class("plain", "2026-03-01T00:00:00Z", None),
                ],
                Some("new"),
            ),
            (
                vec![
                    class("b", "2026-01-01T00:00:00Z", Some("true")),
                    class("a", "2026-01-01T00:00:00Z", Some("true")),
                ],
                Some("a"),
            ),
        ];
        for (classes, want) in cases {
            assert_eq!(default_class(&classes).as_deref(), want, "{classes:?}");
        }
    }
}
