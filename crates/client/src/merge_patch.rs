//! JSON merge patches (RFC 7386) that turn one object into another, so that a field the
//! writer no longer sets is cleared instead of kept.
//!
//! Serialized Kubernetes types skip absent and empty fields, and a merge patch leaves alone
//! what it does not name: a ReplicaSet's `availableReplicas` written as 1 stayed 1 after its
//! last pod went, because 0 is written by leaving the field out. Upstream's controllers replace
//! the whole status (`UpdateStatus`); a patch from the old status to the new says the same.

use serde::Serialize;
use serde_json::{Map, Value};

/// The merge patch that makes `old` into `new`: `new`'s fields, with `null` for each field of
/// `old` that `new` lacks, through nested objects. Arrays and scalars are replaced whole.
pub fn between(old: &Value, new: &Value) -> Value {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return new.clone();
    };
    let mut patch: Map<String, Value> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| (k.clone(), Value::Null))
        .collect();
    for (key, value) in new {
        let field = match old.get(key) {
            Some(before) => between(before, value),
            None => value.clone(),
        };
        patch.insert(key.clone(), field);
    }
    Value::Object(patch)
}

/// [`between`] for two values of a serializable type, such as a status before and after.
pub fn between_values<T: Serialize>(old: Option<&T>, new: &T) -> Value {
    let old = old.map_or(Value::Null, |o| {
        serde_json::to_value(o).expect("serializes")
    });
    between(&old, &serde_json::to_value(new).expect("serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patches_that_clear_what_the_new_value_lacks() {
        let cases = [
            (
                "a count that fell to zero (left out) is cleared",
                json!({"replicas": 1, "availableReplicas": 1, "readyReplicas": 1}),
                json!({"replicas": 1}),
                json!({"replicas": 1, "availableReplicas": null, "readyReplicas": null}),
            ),
            (
                "nested objects are patched field by field",
                json!({"nodeInfo": {"a": "1", "b": "2"}}),
                json!({"nodeInfo": {"a": "3"}}),
                json!({"nodeInfo": {"a": "3", "b": null}}),
            ),
            (
                "arrays are replaced whole",
                json!({"conditions": [{"type": "ReplicaFailure"}], "replicas": 2}),
                json!({"conditions": [], "replicas": 2}),
                json!({"conditions": [], "replicas": 2}),
            ),
            (
                "nothing before: the new value as it is",
                Value::Null,
                json!({"replicas": 3}),
                json!({"replicas": 3}),
            ),
            (
                "an object replacing a scalar",
                json!({"x": 1}),
                json!({"x": {"y": 2}}),
                json!({"x": {"y": 2}}),
            ),
        ];
        for (what, old, new, expected) in cases {
            let patch = between(&old, &new);
            assert_eq!(patch, expected, "{what}");
            let mut patched = old.clone();
            json_patch::merge(&mut patched, &patch);
            assert_eq!(
                patched, new,
                "{what}: applying the patch gives the new value"
            );
        }
    }
}
