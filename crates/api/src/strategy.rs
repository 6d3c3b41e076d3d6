//! How one resource is decoded, defaulted, validated and printed: the `Strategy` trait, and
//! `Typed`, which implements it for a k8s-openapi type through a typed round trip.
//!
//! The round trip is also how unknown fields are found: a field present in the request but
//! absent after decoding into the typed struct and encoding again was not in the schema.
//! Example: `{"spec": {"replicas": 1, "replica": 2}}` → unknown field `spec.replica`.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::field::FieldError;
use crate::table::{Column, age};
use crate::validation::{NameRule, validate_object_meta};

/// A decoded request object.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The object as the schema knows it.
    pub object: Value,
    /// Paths of fields the schema does not know, e.g. `spec.replica`.
    pub unknown_fields: Vec<String>,
}

/// Per-resource behaviour the generic handlers call.
pub trait Strategy: Send + Sync {
    /// Decodes a request object into the schema's shape; `Err` is a type error in the body.
    fn decode(&self, object: Value) -> Result<Decoded, String>;

    /// Sets upstream's defaults.
    fn default(&self, object: &mut Value);

    /// Validates a new object; `namespaced` tells whether `metadata.namespace` is required.
    fn validate(&self, object: &Value, namespaced: bool) -> Vec<FieldError>;

    /// Validates an update against the stored object.
    fn validate_update(&self, object: &Value, old: &Value, namespaced: bool) -> Vec<FieldError> {
        let _ = old;
        self.validate(object, namespaced)
    }

    /// Table columns, in order.
    fn columns(&self) -> Vec<Column>;

    /// Table cells for one object, in column order.
    fn cells(&self, object: &Value, now: Timestamp) -> Vec<Value>;

    /// Field-selector values beyond `metadata.name` and `metadata.namespace`.
    fn fields(&self, object: &Value) -> Vec<(&'static str, String)>;

    /// How `metadata.generation` is kept.
    fn generation(&self) -> Generation;

    /// Whether the object has a `status` the main resource ignores on update.
    fn has_status(&self) -> bool;

    /// Whether a create keeps the `status` the client sent (nodes) instead of clearing it.
    fn keeps_status_on_create(&self) -> bool;

    /// Whether `/status` also writes `metadata.annotations` (Deployments and ReplicaSets,
    /// whose controllers record revisions there without bumping the generation).
    fn status_writes_annotations(&self) -> bool;

    /// The kind's OpenAPI schema: a reference, with the definitions added to `generator`.
    fn openapi_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;

    /// The stored form of a served object (they differ when two versions share storage).
    fn stored_form(&self, object: Value) -> Value;

    /// The served form of a stored object.
    fn served_form(&self, object: Value) -> Value;
}

/// How a resource keeps `metadata.generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Not kept (left unset).
    Untracked,
    /// 1 on create, +1 on every change of `spec`.
    Spec,
    /// Like `Spec`, and also on a change of `metadata.annotations` (Deployments, whose
    /// annotations are copied to their ReplicaSets).
    SpecAndAnnotations,
}

impl Generation {
    /// Whether an update from `old` to `new` bumps the generation.
    ///
    /// Example: with `Spec`, `{spec: {replicas: 2}}` after `{spec: {replicas: 1}}` bumps it;
    /// a label change alone does not.
    pub fn bumps(self, new: &Value, old: &Value) -> bool {
        let annotations = |v: &Value| {
            v.get("metadata")
                .and_then(|m| m.get("annotations"))
                .cloned()
        };
        match self {
            Generation::Untracked => false,
            Generation::Spec => new.get("spec") != old.get("spec"),
            Generation::SpecAndAnnotations => {
                new.get("spec") != old.get("spec") || annotations(new) != annotations(old)
            }
        }
    }
}

/// A strategy for a k8s-openapi type `K`.
pub struct Typed<K> {
    pub name_rule: NameRule,
    pub default: fn(&mut K),
    /// Adjusts the defaulted JSON where the typed form cannot say it (e.g. explicit nulls).
    pub finish_json: fn(&mut Value),
    /// Converts a served object to its stored form (identity for most resources).
    pub stored_form: fn(Value) -> Value,
    /// Converts a stored object to its served form.
    pub served_form: fn(Value) -> Value,
    pub validate: fn(&K) -> Vec<FieldError>,
    /// What an update may not change, given the new object and the stored one (immutable
    /// fields); checked besides `validate`.
    pub validate_update: fn(&K, &K) -> Vec<FieldError>,
    /// What upstream refuses while decoding (a malformed quantity): the reason, answered 400.
    pub decode_check: fn(&K) -> Result<(), String>,
    pub columns: &'static [Column],
    pub cells: fn(&K, Timestamp) -> Vec<Value>,
    /// Field-selector values, read off the JSON (every watch with a field selector asks for
    /// them on every event, so they must not decode the whole object).
    pub fields: fn(&Value) -> Vec<(&'static str, String)>,
    pub generation: Generation,
    pub has_status: bool,
    pub keeps_status_on_create: bool,
    pub status_writes_annotations: bool,
}

/// Access to the typed object's metadata.
pub trait HasMeta {
    fn meta(&self) -> &ObjectMeta;
}

impl<K: k8s_openapi::Metadata<Ty = ObjectMeta>> HasMeta for K {
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
}

impl<K> Typed<K> {
    /// A strategy with no defaults and no checks beyond metadata, printing NAME and AGE.
    pub const fn plain(name_rule: NameRule) -> Self {
        Typed {
            name_rule,
            default: |_| {},
            finish_json: |_| {},
            stored_form: |v| v,
            served_form: |v| v,
            validate: |_| Vec::new(),
            validate_update: |_, _| Vec::new(),
            decode_check: |_| Ok(()),
            columns: &[Column::NAME, Column::AGE],
            cells: |_, _| Vec::new(),
            fields: |_| Vec::new(),
            generation: Generation::Untracked,
            has_status: false,
            keeps_status_on_create: false,
            status_writes_annotations: false,
        }
    }
}

/// The NAME and AGE cells of any object.
pub fn name_and_age(meta: &ObjectMeta, now: Timestamp) -> (Value, Value) {
    let name = json!(meta.name.clone().unwrap_or_default());
    let age = json!(age(meta.creation_timestamp.as_ref().map(|t| &t.0), now));
    (name, age)
}

impl<K> Typed<K>
where
    K: Serialize + DeserializeOwned + HasMeta,
{
    fn typed(object: &Value) -> Option<K> {
        // From the borrowed tree: `from_value` would need a clone of the whole object first.
        K::deserialize(object).ok()
    }

    fn encode(typed: &K) -> Value {
        serde_json::to_value(typed).expect("k8s-openapi types serialize")
    }
}

impl<K> Strategy for Typed<K>
where
    K: Serialize + DeserializeOwned + HasMeta + schemars::JsonSchema + Send + Sync,
{
    fn decode(&self, object: Value) -> Result<Decoded, String> {
        let typed = K::deserialize(&object).map_err(|e| e.to_string())?;
        (self.decode_check)(&typed)?;
        let decoded = Self::encode(&typed);
        let mut unknown_fields = Vec::new();
        find_unknown(&object, &decoded, "", &mut unknown_fields);
        Ok(Decoded {
            object: decoded,
            unknown_fields,
        })
    }

    fn default(&self, object: &mut Value) {
        if let Some(mut typed) = Self::typed(object) {
            (self.default)(&mut typed);
            *object = Self::encode(&typed);
            (self.finish_json)(object);
        }
    }

    fn validate(&self, object: &Value, namespaced: bool) -> Vec<FieldError> {
        let Some(typed) = Self::typed(object) else {
            return Vec::new();
        };
        let mut errors = validate_object_meta(typed.meta(), namespaced, self.name_rule);
        errors.extend((self.validate)(&typed));
        errors
    }

    fn validate_update(&self, object: &Value, old: &Value, namespaced: bool) -> Vec<FieldError> {
        let mut errors = self.validate(object, namespaced);
        if let (Some(new), Some(old)) = (Self::typed(object), Self::typed(old)) {
            errors.extend((self.validate_update)(&new, &old));
        }
        errors
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.to_vec()
    }

    fn cells(&self, object: &Value, now: Timestamp) -> Vec<Value> {
        let Some(typed) = Self::typed(object) else {
            return Vec::new();
        };
        let cells = (self.cells)(&typed, now);
        if cells.is_empty() {
            let (name, age) = name_and_age(typed.meta(), now);
            return vec![name, age];
        }
        cells
    }

    fn fields(&self, object: &Value) -> Vec<(&'static str, String)> {
        (self.fields)(object)
    }

    fn generation(&self) -> Generation {
        self.generation
    }

    fn has_status(&self) -> bool {
        self.has_status
    }

    fn keeps_status_on_create(&self) -> bool {
        self.keeps_status_on_create
    }

    fn status_writes_annotations(&self) -> bool {
        self.status_writes_annotations
    }

    fn openapi_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<K>()
    }

    fn stored_form(&self, object: Value) -> Value {
        (self.stored_form)(object)
    }

    fn served_form(&self, object: Value) -> Value {
        (self.served_form)(object)
    }
}

/// Collects the paths of fields in `input` that are missing from `decoded`.
fn find_unknown(input: &Value, decoded: &Value, path: &str, out: &mut Vec<String>) {
    match (input, decoded) {
        (Value::Object(fields), Value::Object(known)) => {
            for (name, value) in fields {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match known.get(name) {
                    Some(known_value) => find_unknown(value, known_value, &child, out),
                    None if !value.is_null() && !is_empty_container(value) => out.push(child),
                    None => {}
                }
            }
        }
        (Value::Array(items), Value::Array(known)) => {
            for (i, (item, known_item)) in items.iter().zip(known).enumerate() {
                find_unknown(item, known_item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_bumps_table() {
        let base = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}});
        let scaled = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2}});
        let relabeled = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"replicas": 1}});
        let annotated = json!({"metadata": {"labels": {"a": "1"}, "annotations": {"x": "y"}}, "spec": {"replicas": 1}});
        let cases = [
            (Generation::Spec, &scaled, true),
            (Generation::Spec, &relabeled, false),
            (Generation::Spec, &annotated, false),
            (Generation::SpecAndAnnotations, &annotated, true),
            (Generation::Untracked, &scaled, false),
        ];
        for (generation, new, want) in cases {
            assert_eq!(generation.bumps(new, &base), want, "{generation:?} {new}");
        }
    }

    #[test]
    fn unknown_fields_are_found_by_path() {
        let input = json!({
            "metadata": {"name": "x", "colour": "red", "creationTimestamp": null},
            "spec": {"replicas": 1, "replica": 2, "template": {"spec": {"containers": [{"name": "a", "image": "i", "imag": "typo"}]}}}
        });
        let decoded = json!({
            "metadata": {"name": "x"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "i"}]}}}
        });
        let mut unknown = Vec::new();
        find_unknown(&input, &decoded, "", &mut unknown);
        assert_eq!(
            unknown,
            [
                "metadata.colour",
                "spec.replica",
                "spec.template.spec.containers[0].imag"
            ]
        );
    }
}
