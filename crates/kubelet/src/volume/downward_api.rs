//! `downwardAPI` volumes: the pod's fields and its containers' resources as files (upstream's
//! `downwardapi.CollectData`). `metadata.labels` and `metadata.annotations` are one
//! `key="value"` line per entry, sorted by key; the files follow the pod's labels and
//! annotations as they change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, Pod};

use super::atomic_writer::{FileData, Payload};
use crate::pod::env::{NodeFacts, field_value, resource_value};

/// Upstream's `FormatMap`: `k="v"` lines, sorted, with the value quoted.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let lines: Vec<String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::from(v.as_str())))
        .collect();
    lines.join("\n")
}

/// The value of one item.
fn item_value(pod: &Pod, item: &DownwardAPIVolumeFile, node: &NodeFacts) -> Result<String, String> {
    if let Some(field) = &item.field_ref {
        return match field.field_path.as_str() {
            "metadata.labels" => Ok(format_map(pod.metadata.labels.as_ref())),
            "metadata.annotations" => Ok(format_map(pod.metadata.annotations.as_ref())),
            path => field_value(pod, path, "", &node.host_ip),
        };
    }
    if let Some(selector) = &item.resource_field_ref {
        let name = selector.container_name.as_deref().unwrap_or_default();
        let container = crate::pod::plan::container(pod, name)
            .ok_or_else(|| format!("container {name} not found in the pod"))?;
        return resource_value(pod, container, selector, node);
    }
    Err(format!("item {} names no field and no resource", item.path))
}

/// The files of `items` with mode `mode` unless an item sets its own.
pub fn payload(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: i32,
    node: &NodeFacts,
) -> Result<Payload, String> {
    let mut payload = Payload::new();
    for item in items {
        let data = item_value(pod, item, node)?.into_bytes();
        let mode = item.mode.unwrap_or(mode) as u32;
        payload.insert(item.path.clone(), FileData { data, mode });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_annotations_fields_and_resources() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop",
                "labels": {"tier": "front", "app": "web"}, "annotations": {"say": "a \"b\""}},
            "spec": {"containers": [{"name": "c", "image": "i",
                "resources": {"limits": {"memory": "64Mi"}}}]},
        }))
        .unwrap();
        let items: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}, "mode": 0o600},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
        ]))
        .unwrap();
        let files = payload(&pod, &items, 0o644, &NodeFacts::default()).unwrap();
        let text = |p: &str| String::from_utf8(files[p].data.clone()).unwrap();
        assert_eq!(text("labels"), "app=\"web\"\ntier=\"front\"");
        assert_eq!(text("annotations"), "say=\"a \\\"b\\\"\"");
        assert_eq!(files["annotations"].mode, 0o600);
        assert_eq!(files["labels"].mode, 0o644);
        assert_eq!(text("name"), "web");
        assert_eq!(text("tier"), "front");
        assert_eq!(text("mem"), "64");
    }
}
