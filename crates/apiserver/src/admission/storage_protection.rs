//! StorageObjectInUseProtection, as upstream's admission plugin: every new
//! PersistentVolumeClaim gets the `kubernetes.io/pvc-protection` finalizer and every new
//! PersistentVolume `kubernetes.io/pv-protection`, so that deleting a claim a pod still uses,
//! or a volume still bound, waits until it is no longer so (the PV controller lifts them).

use async_trait::async_trait;
use ferrokube_api::ApiError;
use serde_json::{Value, json};

use super::{Attributes, Operation, Plugin};
use crate::Inner;

pub const CLAIM_FINALIZER: &str = "kubernetes.io/pvc-protection";
pub const VOLUME_FINALIZER: &str = "kubernetes.io/pv-protection";

/// The StorageObjectInUseProtection plugin.
pub struct StorageObjectInUseProtection;

/// Adds `finalizer` to an object's metadata unless it is there.
pub fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if list.is_null() {
        *list = json!([]);
    }
    if let Some(list) = list.as_array_mut()
        && !list.iter().any(|f| f == finalizer)
    {
        list.push(json!(finalizer));
    }
}

#[async_trait]
impl Plugin for StorageObjectInUseProtection {
    fn name(&self) -> &'static str {
        "StorageObjectInUseProtection"
    }

    async fn mutate(
        &self,
        attributes: &Attributes<'_>,
        obj: &mut Value,
        _server: &Inner,
    ) -> Result<(), ApiError> {
        let info = attributes.info;
        if attributes.operation != Operation::Create || !info.group.is_empty() {
            return Ok(());
        }
        match info.kind {
            "PersistentVolumeClaim" => add_finalizer(obj, CLAIM_FINALIZER),
            "PersistentVolume" => add_finalizer(obj, VOLUME_FINALIZER),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finalizer_is_added_once() {
        let cases = [
            (json!({"metadata": {"name": "c"}}), json!([CLAIM_FINALIZER])),
            (
                json!({"metadata": {"name": "c", "finalizers": null}}),
                json!([CLAIM_FINALIZER]),
            ),
            (
                json!({"metadata": {"finalizers": ["a"]}}),
                json!(["a", CLAIM_FINALIZER]),
            ),
            (
                json!({"metadata": {"finalizers": [CLAIM_FINALIZER]}}),
                json!([CLAIM_FINALIZER]),
            ),
        ];
        for (mut obj, want) in cases {
            add_finalizer(&mut obj, CLAIM_FINALIZER);
            assert_eq!(obj["metadata"]["finalizers"], want);
        }
    }
}
