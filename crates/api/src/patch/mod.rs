//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch,
//! with the list metadata of the built-in types and schema navigation they need.

pub mod metadata;
pub mod schemas;
pub mod strategic;

use serde_json::Value;

pub use schemas::Schemas;
pub use strategic::strategic_merge;

/// Why a patch could not be applied; the API server answers it with a 4xx.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Applies an RFC 6902 JSON patch.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError(format!("invalid JSON patch: {e}")))?;
    let mut doc = original.clone();
    json_patch::patch(&mut doc, &operations).map_err(|e| PatchError(e.to_string()))?;
    Ok(doc)
}

/// Applies an RFC 7386 JSON merge patch.
pub fn merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError("a merge patch must be a JSON object".into()));
    }
    let mut doc = original.clone();
    json_patch::merge(&mut doc, patch);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_operations() {
        let doc = json!({"a": 1, "b": [1, 2]});
        let patch = json!([
            {"op": "test", "path": "/a", "value": 1},
            {"op": "copy", "from": "/a", "path": "/c"},
            {"op": "move", "from": "/b", "path": "/d"},
            {"op": "add", "path": "/d/-", "value": 3}
        ]);
        assert_eq!(
            json_patch(&doc, &patch).unwrap(),
            json!({"a": 1, "c": 1, "d": [1, 2, 3]})
        );
        let failing = json!([{"op": "test", "path": "/a", "value": 2}]);
        assert!(json_patch(&doc, &failing).is_err());
    }

    #[test]
    fn merge_patch_rfc7386() {
        let doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let patch = json!({"a": "z", "c": {"f": null}});
        assert_eq!(
            merge_patch(&doc, &patch).unwrap(),
            json!({"a": "z", "c": {"d": "e"}})
        );
    }
}
