//! OpenAPI v2 (`/openapi/v2`): the definitions of every served kind, made from the v3
//! documents' schemas, as JSON or — what kubectl asks for — as gnostic's `openapi.v2.Document`
//! protobuf. kubectl reads it for client-side validation: with it, a manifest of a kind the
//! server does not serve fails with upstream's `no matches for kind "X" in version "Y"`.
//!
//! The document carries definitions only (`paths` is empty): kubectl's validation and
//! explain read models by their `x-kubernetes-group-version-kind`; the operations are in v3.

use serde_json::{Map, Value, json};

/// The Swagger 2.0 document for the given OpenAPI v3 documents.
pub fn document<'a>(v3_documents: impl Iterator<Item = &'a Value>) -> Value {
    let mut definitions = Map::new();
    for doc in v3_documents {
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                definitions
                    .entry(name.clone())
                    .or_insert_with(|| to_v2(schema));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": {},
        "definitions": definitions,
    })
}

/// A v3 schema in v2 form: references point into `#/definitions/`, and what v2 has no
/// word for (`nullable`, `oneOf`, `anyOf`) is left out.
fn to_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "nullable" | "oneOf" | "anyOf"))
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => (
                        k.clone(),
                        json!(r.replace("#/components/schemas/", "#/definitions/")),
                    ),
                    // Maps keyed by field name: their values are schemas, the keys are not.
                    ("properties", Value::Object(props)) => (
                        k.clone(),
                        Value::Object(props.iter().map(|(n, s)| (n.clone(), to_v2(s))).collect()),
                    ),
                    _ => (k.clone(), to_v2(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}

/// Protobuf writing: just what gnostic's messages need.
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        let mut inner = Writer(Vec::new());
        write(&mut inner);
        self.bytes(field, &inner.0);
    }

    fn boolean(&mut self, field: u32, value: bool) {
        self.key(field, 0);
        self.varint(u64::from(value));
    }

    fn int64(&mut self, field: u32, value: i64) {
        self.key(field, 0);
        self.varint(value as u64);
    }

    fn double(&mut self, field: u32, value: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// gnostic's `Any`: the value as YAML text (JSON is YAML).
    fn any(&mut self, field: u32, value: &Value) {
        self.message(field, |w| w.string(2, &value.to_string()));
    }
}

/// The Swagger 2.0 document `doc` as an `openapi.v2.Document`.
pub fn to_protobuf(doc: &Value) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.string(1, doc["swagger"].as_str().unwrap_or("2.0"));
    w.message(2, |info| {
        info.string(
            1,
            doc.pointer("/info/title")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        info.string(
            2,
            doc.pointer("/info/version")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
    });
    w.message(8, |_| {});
    w.message(9, |defs| {
        for (name, schema) in doc["definitions"].as_object().into_iter().flatten() {
            defs.message(1, |named| named_schema(named, name, schema));
        }
    });
    w.0
}

fn named_schema(w: &mut Writer, name: &str, schema: &Value) {
    w.string(1, name);
    w.message(2, |s| write_schema(s, schema));
}

/// A JSON schema as gnostic's `Schema` (field numbers of its OpenAPIv2.proto).
fn write_schema(w: &mut Writer, schema: &Value) {
    let Some(map) = schema.as_object() else {
        return;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    for (field, key) in [(1, "$ref"), (2, "format"), (3, "title"), (4, "description")] {
        if let Some(value) = text(key) {
            w.string(field, value);
        }
    }
    if let Some(default) = map.get("default") {
        w.any(5, default);
    }
    for (field, key) in [(6, "multipleOf"), (7, "maximum"), (9, "minimum")] {
        if let Some(value) = map.get(key).and_then(Value::as_f64) {
            w.double(field, value);
        }
    }
    for (field, key) in [
        (8, "exclusiveMaximum"),
        (10, "exclusiveMinimum"),
        (16, "uniqueItems"),
        (27, "readOnly"),
    ] {
        if let Some(value) = map.get(key).and_then(Value::as_bool) {
            w.boolean(field, value);
        }
    }
    for (field, key) in [
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ] {
        if let Some(value) = map.get(key).and_then(Value::as_i64) {
            w.int64(field, value);
        }
    }
    if let Some(pattern) = text("pattern") {
        w.string(13, pattern);
    }
    for required in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = required.as_str() {
            w.string(19, name);
        }
    }
    for value in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.any(20, value);
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(allowed)) => w.message(21, |a| a.boolean(2, *allowed)),
        Some(inner @ Value::Object(_)) => {
            w.message(21, |a| a.message(1, |s| write_schema(s, inner)))
        }
        _ => {}
    }
    match map.get("type") {
        Some(Value::String(kind)) => w.message(22, |t| t.string(1, kind)),
        Some(Value::Array(kinds)) => w.message(22, |t| {
            kinds
                .iter()
                .filter_map(Value::as_str)
                .for_each(|k| t.string(1, k))
        }),
        _ => {}
    }
    match map.get("items") {
        Some(items @ Value::Object(_)) => {
            w.message(23, |i| i.message(1, |s| write_schema(s, items)))
        }
        Some(Value::Array(items)) => w.message(23, |i| {
            items
                .iter()
                .for_each(|item| i.message(1, |s| write_schema(s, item)))
        }),
        _ => {}
    }
    for part in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, |s| write_schema(s, part));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        w.message(25, |p| {
            for (name, property) in properties {
                p.message(1, |named| named_schema(named, name, property));
            }
        });
    }
    for (name, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
        w.message(31, |named| {
            named.string(1, name);
            named.any(2, value);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_point_into_definitions() {
        let v3 = json!({"components": {"schemas": {
            "io.k8s.api.core.v1.Pod": {"type": "object", "nullable": true, "properties": {
                "spec": {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}},
                "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Pod"}]}
        }}});
        let doc = document([&v3].into_iter());
        let pod = &doc["definitions"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        assert!(pod.get("nullable").is_none());
        let bytes = to_protobuf(&doc);
        // swagger = "2.0" first, as field 1.
        assert_eq!(&bytes[..5], b"\x0a\x032.0");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("#/definitions/io.k8s.api.core.v1.PodSpec"));
        assert!(text.contains("x-kubernetes-group-version-kind"));
    }

    #[test]
    fn varints_and_keys() {
        let mut w = Writer(Vec::new());
        w.varint(300);
        assert_eq!(w.0, [0xac, 0x02]);
        let mut w = Writer(Vec::new());
        w.int64(11, 3);
        assert_eq!(w.0, [11 << 3, 3]);
    }
}
