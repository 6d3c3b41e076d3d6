//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch,
//! with the list metadata of the built-in types and schema navigation they need.

pub mod metadata;
pub mod schemas;
pub mod strategic;

use serde_json::Value;

pub use schemas::Schemas;
pub use strategic::strategic_merge;

/// Why a patch could not be applied, and the status upstream answers it with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatchError {
    pub message: String,
    pub kind: PatchErrorKind,
}

/// The status a [`PatchError`] is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchErrorKind {
    /// 400: the patch itself is malformed.
    BadRequest,
    /// 413: the patch asks for too much (operations, copied bytes).
    TooLarge,
    /// 422: a well-formed JSON patch that does not apply (a failed `test`, a missing path).
    Unprocessable,
}

impl PatchError {
    pub fn bad(message: impl Into<String>) -> Self {
        PatchError {
            message: message.into(),
            kind: PatchErrorKind::BadRequest,
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        PatchError::with(PatchErrorKind::Unprocessable, message.into())
    }

    fn with(kind: PatchErrorKind, message: String) -> Self {
        PatchError { message, kind }
    }
}

/// The most operations a JSON patch may have (upstream's `maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;
/// The most bytes a JSON patch's `copy` operations may add in all (upstream's
/// `JSONPatchMaxCopyBytes`, the largest request body).
pub const MAX_JSON_PATCH_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Applies an RFC 6902 JSON patch, with upstream's bounds: at most 10,000 operations (413),
/// and copies adding at most 3 MiB in all, counted before each copy is made (422, as
/// upstream answers a patch that does not apply).
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::bad(format!("invalid JSON patch: {e}")))?;
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::with(
            PatchErrorKind::TooLarge,
            format!(
                "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
                operations.len()
            ),
        ));
    }
    let unprocessable = |message: String| PatchError::with(PatchErrorKind::Unprocessable, message);
    let mut doc = original.clone();
    let mut copied = 0;
    for (i, operation) in operations.0.into_iter().enumerate() {
        if let json_patch::PatchOperation::Copy(copy) = &operation
            && let Some(source) = doc.pointer(copy.from.as_str())
        {
            copied += encoded_len(source);
            if copied > MAX_JSON_PATCH_COPY_BYTES {
                return Err(unprocessable(format!(
                    "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}"
                )));
            }
        }
        json_patch::patch(&mut doc, &[operation]).map_err(|mut e| {
            e.operation = i;
            unprocessable(e.to_string())
        })?;
    }
    Ok(doc)
}

/// The length of `value` as compact JSON, without writing it out.
fn encoded_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a JSON value serializes");
    count.0
}

/// Applies an RFC 7386 JSON merge patch.
pub fn merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::bad("a merge patch must be a JSON object"));
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
    fn json_patch_bounds() {
        let doc = json!({"a": "x".repeat(1024)});
        // each copy of the whole document into a new key doubles it
        let doubling: Vec<Value> = (0..18)
            .map(|i| json!({"op": "copy", "from": "", "path": format!("/k{i}")}))
            .collect();
        let err = json_patch(&doc, &Value::Array(doubling)).unwrap_err();
        assert_eq!(err.kind, PatchErrorKind::Unprocessable);
        assert!(
            err.message.starts_with(
                "Unable to complete the copy, the accumulated size increase of copy is "
            ),
            "{err}"
        );
        let many = Value::Array(vec![
            json!({"op": "test", "path": "/a", "value": "x".repeat(1024)});
            10_001
        ]);
        let err = json_patch(&doc, &many).unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                PatchErrorKind::TooLarge,
                "The allowed maximum operations in a JSON patch is 10000, got 10001"
            )
        );
        let few = Value::Array(vec![json!({"op": "copy", "from": "/a", "path": "/b"}); 100]);
        assert_eq!(json_patch(&doc, &few).unwrap()["b"], doc["a"]);
        let missing = json!([{"op": "remove", "path": "/nope"}]);
        assert_eq!(
            json_patch(&doc, &missing).unwrap_err().kind,
            PatchErrorKind::Unprocessable
        );
        let malformed = json!([{"op": "nope"}]);
        assert_eq!(
            json_patch(&doc, &malformed).unwrap_err().kind,
            PatchErrorKind::BadRequest
        );
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
