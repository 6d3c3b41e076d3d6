//! Strategic merge patch (`application/strategic-merge-patch+json`) as upstream applies it:
//! maps merge recursively, `null` deletes, lists follow the table in `metadata` (merge by key,
//! merge primitives, or replace), and the directives `$patch: replace|delete|merge`,
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
//!
//! Example: containers `[{name: a, image: x}, {name: b, image: y}]` patched with
//! `{containers: [{name: b, image: z}]}` become `[{name: a, image: x}, {name: b, image: z}]`.

use serde_json::{Map, Value};

use super::PatchError;
use super::metadata::{ListStrategy, list_strategy};
use super::schemas::Schemas;

/// Applies `patch` to `original`, whose schema is `root` (e.g. `io.k8s.api.apps.v1.Deployment`).
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    schemas: &Schemas,
    root: &str,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::bad(
            "a strategic merge patch must be a JSON object",
        ));
    };
    let empty = Map::new();
    let original = original.as_object().unwrap_or(&empty);
    let merged = Merger { schemas }.map(original, patch, Some(root))?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

struct Merger<'a> {
    schemas: &'a Schemas,
}

const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

impl Merger<'_> {
    fn child(&self, ty: Option<&str>, field: &str) -> Option<String> {
        ty.and_then(|t| self.schemas.child(t, field))
    }

    /// Merges a map; `None` means the patch deletes it.
    fn map(
        &self,
        original: &Map<String, Value>,
        patch: &Map<String, Value>,
        ty: Option<&str>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        check_directives(patch)?;
        match patch.get("$patch").map(|v| v.as_str()) {
            None | Some(Some("merge")) => {}
            Some(Some("replace")) => return Ok(Some(strip_directives(patch))),
            Some(Some("delete")) => return Ok(None),
            Some(_) => {
                let value = &patch["$patch"];
                let map = Value::Object(patch.clone());
                return Err(PatchError::bad(format!(
                    "unknown patch type: {value} in map: {map}"
                )));
            }
        }
        let mut result = original.clone();
        for (key, value) in patch.iter().filter(|(k, _)| !k.starts_with('$')) {
            let child = self.child(ty, key);
            match value {
                Value::Null => {
                    result.remove(key);
                }
                Value::Object(p) => {
                    let empty = Map::new();
                    let existing = result.get(key).and_then(Value::as_object).unwrap_or(&empty);
                    match self.map(existing, p, child.as_deref())? {
                        Some(merged) => result.insert(key.clone(), Value::Object(merged)),
                        None => result.remove(key),
                    };
                }
                Value::Array(p) => {
                    let strategy = ty.map_or(ListStrategy::Atomic, |t| list_strategy(t, key));
                    let existing = result
                        .get(key)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let merged = self.list(&existing, p, strategy, child.as_deref())?;
                    result.insert(key.clone(), Value::Array(merged));
                }
                scalar => {
                    result.insert(key.clone(), scalar.clone());
                }
            }
        }
        for (key, value) in patch {
            if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                let remove = value.as_array().cloned().unwrap_or_default();
                if let Some(Value::Array(items)) = result.get_mut(field) {
                    items.retain(|item| !remove.contains(item));
                }
            }
        }
        for (key, value) in patch {
            if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
                let strategy = ty.map_or(ListStrategy::Atomic, |t| list_strategy(t, field));
                let order = value.as_array().cloned().unwrap_or_default();
                if let Some(Value::Array(items)) = result.get_mut(field) {
                    reorder(items, &order, strategy);
                }
            }
        }
        if let Some(retain) = patch.get("$retainKeys") {
            let keep: Vec<&str> = retain
                .as_array()
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            result.retain(|key, _| keep.contains(&key.as_str()));
        }
        Ok(Some(result))
    }

    fn list(
        &self,
        original: &[Value],
        patch: &[Value],
        strategy: ListStrategy,
        item_type: Option<&str>,
    ) -> Result<Vec<Value>, PatchError> {
        match strategy {
            ListStrategy::Atomic => Ok(patch.to_vec()),
            ListStrategy::MergePrimitives => {
                let mut result = original.to_vec();
                for item in patch {
                    if !result.contains(item) {
                        result.push(item.clone());
                    }
                }
                Ok(result)
            }
            ListStrategy::MergeByKey(key) => self.keyed_list(original, patch, key, item_type),
        }
    }

    fn keyed_list(
        &self,
        original: &[Value],
        patch: &[Value],
        key: &str,
        item_type: Option<&str>,
    ) -> Result<Vec<Value>, PatchError> {
        let replace = patch.iter().any(|p| {
            p.get("$patch").and_then(Value::as_str) == Some("replace")
                && p.as_object().is_some_and(|m| m.len() == 1)
        });
        let mut result: Vec<Value> = if replace {
            Vec::new()
        } else {
            original.to_vec()
        };
        for item in patch {
            let Value::Object(p) = item else {
                return Err(PatchError::bad(format!(
                    "the items of a list merged by {key:?} must be objects"
                )));
            };
            if p.len() == 1 && p.get("$patch").and_then(Value::as_str) == Some("replace") {
                continue;
            }
            let Some(id) = p.get(key) else {
                return Err(PatchError::bad(format!(
                    "map: {item} does not contain declared merge key: {key}"
                )));
            };
            let position = result.iter().position(|r| r.get(key) == Some(id));
            if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                if let Some(i) = position {
                    result.remove(i);
                }
                continue;
            }
            let empty = Map::new();
            let existing = position
                .and_then(|i| result[i].as_object())
                .unwrap_or(&empty);
            let merged = self.map(existing, p, item_type)?;
            match (position, merged) {
                (Some(i), Some(m)) => result[i] = Value::Object(m),
                (Some(i), None) => {
                    result.remove(i);
                }
                (None, Some(m)) => result.push(Value::Object(m)),
                (None, None) => {}
            }
        }
        Ok(result)
    }
}

/// Upstream's texts for directives whose value has the wrong shape (`mergepatch` errors).
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Refuses a map whose directives have values of the wrong type, before anything is merged:
/// `$retainKeys` must be a list of strings naming every key the patch sets to a value,
/// `$deleteFromPrimitiveList/…` and `$setElementOrder/…` lists; each is a 400 as upstream.
fn check_directives(patch: &Map<String, Value>) -> Result<(), PatchError> {
    if let Some(retain) = patch.get("$retainKeys") {
        let keys: Option<Vec<&str>> = retain
            .as_array()
            .and_then(|keys| keys.iter().map(Value::as_str).collect());
        let Some(keys) = keys else {
            return Err(PatchError::bad(BAD_RETAIN_KEYS));
        };
        let mut set = patch
            .iter()
            .filter(|(k, v)| !k.starts_with('$') && !v.is_null());
        if set.any(|(k, _)| !keys.contains(&k.as_str())) {
            return Err(PatchError::bad(BAD_RETAIN_KEYS));
        }
    }
    for (key, value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) && !value.is_array() {
            return Err(PatchError::bad(BAD_PRIMITIVE_LIST));
        }
        if key.starts_with(SET_ELEMENT_ORDER) && !value.is_array() {
            return Err(PatchError::bad(BAD_SET_ELEMENT_ORDER));
        }
    }
    Ok(())
}

/// Orders `items` as `order` lists them; items it does not mention keep their relative order
/// after the ordered ones.
fn reorder(items: &mut Vec<Value>, order: &[Value], strategy: ListStrategy) {
    let matches = |item: &Value, wanted: &Value| match strategy {
        ListStrategy::MergeByKey(key) => {
            item.get(key).is_some() && item.get(key) == wanted.get(key)
        }
        _ => item == wanted,
    };
    let mut rest = std::mem::take(items);
    for wanted in order {
        if let Some(i) = rest.iter().position(|item| matches(item, wanted)) {
            items.push(rest.remove(i));
        }
    }
    items.extend(rest);
}

/// A map without its `$` directives (recursively), as `$patch: replace` leaves it.
fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| {
            let v = match v {
                Value::Object(m) => Value::Object(strip_directives(m)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn apply(original: Value, patch: Value) -> Value {
        let registry = Registry::builtin();
        let schemas = Schemas::for_registry(&registry);
        strategic_merge(&original, &patch, &schemas, "io.k8s.api.apps.v1.Deployment").unwrap()
    }

    fn deployment(containers: Value) -> Value {
        json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": containers}}}})
    }

    fn containers(v: &Value) -> &Value {
        &v["spec"]["template"]["spec"]["containers"]
    }

    /// Cases after upstream's documented examples (strategic-merge-patch.md).
    #[test]
    fn directives_of_the_wrong_type_are_refused() {
        let schemas = Schemas::for_registry(&Registry::builtin());
        let original = json!({"data": {"a": "1"}, "metadata": {"finalizers": ["x"]}});
        let cases = [
            (json!({"data": {"$retainKeys": 5}}), BAD_RETAIN_KEYS),
            (json!({"data": {"$retainKeys": [5]}}), BAD_RETAIN_KEYS),
            (
                json!({"data": {"$retainKeys": ["a"], "b": "2"}}),
                BAD_RETAIN_KEYS,
            ),
            (
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
                BAD_PRIMITIVE_LIST,
            ),
            (
                json!({"metadata": {"$setElementOrder/finalizers": {"a": 1}}}),
                BAD_SET_ELEMENT_ORDER,
            ),
        ];
        for (patch, message) in cases {
            let err = strategic_merge(&original, &patch, &schemas, "io.k8s.api.core.v1.ConfigMap")
                .unwrap_err();
            assert_eq!(err, PatchError::bad(message), "{patch}");
        }
        let unknown = strategic_merge(
            &original,
            &json!({"data": {"$patch": 5}}),
            &schemas,
            "io.k8s.api.core.v1.ConfigMap",
        )
        .unwrap_err();
        assert_eq!(
            unknown.message,
            r#"unknown patch type: 5 in map: {"$patch":5}"#
        );
        // a retained key set to null, and directives, are not checked against the list
        let fine = json!({"data": {"$retainKeys": ["a"], "a": "2", "b": null}});
        let merged =
            strategic_merge(&original, &fine, &schemas, "io.k8s.api.core.v1.ConfigMap").unwrap();
        assert_eq!(merged["data"], json!({"a": "2"}));
    }

    #[test]
    fn strategic_merge_table() {
        let two = json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]);
        let cases: Vec<(&str, Value, Value, Value)> = vec![
            (
                "merge by key changes one item",
                deployment(two.clone()),
                deployment(json!([{"name": "b", "image": "z"}])),
                json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}]),
            ),
            (
                "a new key appends",
                deployment(two.clone()),
                deployment(json!([{"name": "c", "image": "w"}])),
                json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}, {"name": "c", "image": "w"}]),
            ),
            (
                "$patch: delete removes one item",
                deployment(two.clone()),
                deployment(json!([{"name": "a", "$patch": "delete"}])),
                json!([{"name": "b", "image": "y"}]),
            ),
            (
                "$patch: replace replaces the list",
                deployment(two.clone()),
                deployment(json!([{"name": "c", "image": "w"}, {"$patch": "replace"}])),
                json!([{"name": "c", "image": "w"}]),
            ),
            (
                "null deletes a field inside an item",
                deployment(json!([{"name": "a", "image": "x", "workingDir": "/w"}])),
                deployment(json!([{"name": "a", "workingDir": null}])),
                json!([{"name": "a", "image": "x"}]),
            ),
        ];
        for (name, original, patch, want) in cases {
            assert_eq!(containers(&apply(original, patch)), &want, "{name}");
        }
    }

    #[test]
    fn nested_env_merges_by_name_and_ports_by_container_port() {
        let original = deployment(
            json!([{"name": "a", "env": [{"name": "X", "value": "1"}], "ports": [{"containerPort": 80}]}]),
        );
        let patch = deployment(
            json!([{"name": "a", "env": [{"name": "Y", "value": "2"}], "ports": [{"containerPort": 443}]}]),
        );
        let merged = apply(original, patch);
        assert_eq!(
            containers(&merged)[0]["env"],
            json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])
        );
        assert_eq!(
            containers(&merged)[0]["ports"],
            json!([{"containerPort": 80}, {"containerPort": 443}])
        );
    }

    #[test]
    fn directives() {
        let original = json!({
            "metadata": {"name": "d", "finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}
        });
        let patch = json!({
            "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"$patch": "replace", "z": "3"}},
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
            }
        });
        let merged = apply(original, patch);
        assert_eq!(
            merged["metadata"]["finalizers"],
            json!(["b", "c"]),
            "primitive merge and delete"
        );
        assert_eq!(
            merged["metadata"]["labels"],
            json!({"z": "3"}),
            "$patch: replace on a map"
        );
        assert_eq!(
            merged["spec"]["strategy"],
            json!({"type": "Recreate"}),
            "$retainKeys drops rollingUpdate"
        );
        assert_eq!(
            containers(&merged),
            &json!([{"name": "b"}, {"name": "a"}]),
            "$setElementOrder"
        );
    }

    #[test]
    fn atomic_lists_are_replaced_and_missing_keys_refused() {
        let registry = Registry::builtin();
        let schemas = Schemas::for_registry(&registry);
        let pod = json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c"}]}});
        let patched = strategic_merge(
            &pod,
            &json!({"spec": {"tolerations": [{"key": "b"}]}}),
            &schemas,
            "io.k8s.api.core.v1.Pod",
        )
        .unwrap();
        assert_eq!(patched["spec"]["tolerations"], json!([{"key": "b"}]));
        let bad = strategic_merge(
            &pod,
            &json!({"spec": {"containers": [{"image": "x"}]}}),
            &schemas,
            "io.k8s.api.core.v1.Pod",
        );
        assert!(
            bad.unwrap_err()
                .message
                .contains("does not contain declared merge key: name")
        );
    }
}
