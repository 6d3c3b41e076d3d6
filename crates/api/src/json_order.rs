//! JSON written as upstream writes it: an object's fields in its Go type's declaration order
//! (from the protobuf message tables, whose `.proto` order is the Go order), `kind` and
//! `apiVersion` first where they come from TypeMeta, keys the table does not know after the
//! known ones (sorted), map keys (labels, data) sorted, and a trailing newline.
//!
//! Example: a Pod stored as the sorted map
//! `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d"},"spec":{…},"status":{}}`
//! is written `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"d"},"spec":{…},"status":{}}`
//! followed by `\n`; a Status as
//! `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":…,"reason":…,"details":{…},"code":404}`.

use serde_json::{Map, Value};

use crate::protobuf::messages::{
    APIS_META_V1_LISTMETA, APIS_META_V1_PARTIALOBJECTMETADATA, APIS_META_V1_STATUS,
};
use crate::protobuf::schema::{Field, Kind, MapValue, Message, Unserved, kind_message};

/// `meta.k8s.io/v1` Table, which has no protobuf form (`+protobuf=false` upstream): its Go
/// field order, by hand.
static TABLE: Message = json_message(
    "io.k8s.apimachinery.pkg.apis.meta.v1.Table",
    &[
        json_field("metadata", Kind::Message(&APIS_META_V1_LISTMETA), false),
        json_field(
            "columnDefinitions",
            Kind::Message(&TABLE_COLUMN_DEFINITION),
            true,
        ),
        json_field("rows", Kind::Message(&TABLE_ROW), true),
    ],
);
static TABLE_COLUMN_DEFINITION: Message = json_message(
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableColumnDefinition",
    &[
        json_field("name", Kind::String, false),
        json_field("type", Kind::String, false),
        json_field("format", Kind::String, false),
        json_field("description", Kind::String, false),
        json_field("priority", Kind::Int32, false),
    ],
);
static TABLE_ROW: Message = json_message(
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableRow",
    &[
        json_field("cells", Kind::RawExtension, true),
        json_field("conditions", Kind::Message(&TABLE_ROW_CONDITION), true),
        json_field("object", Kind::RawExtension, false),
    ],
);
static TABLE_ROW_CONDITION: Message = json_message(
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableRowCondition",
    &[
        json_field("type", Kind::String, false),
        json_field("status", Kind::String, false),
        json_field("reason", Kind::String, false),
        json_field("message", Kind::String, false),
    ],
);
/// A watch event as the server writes it (`type`, `object`): `meta.v1.WatchEvent`'s order.
static WATCH_EVENT: Message = json_message(
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    &[
        json_field("type", Kind::String, false),
        json_field("object", Kind::RawExtension, false),
    ],
);

const fn json_field(json: &'static str, kind: Kind, repeated: bool) -> Field {
    Field {
        number: 0,
        json,
        kind,
        repeated,
        keep_zero: true,
        inline: false,
    }
}

const fn json_message(name: &'static str, fields: &'static [Field]) -> Message {
    const NONE: &[Unserved] = &[];
    Message {
        name,
        fields,
        unserved: NONE,
    }
}

/// The message for an object by its own `apiVersion` and `kind`, including the JSON-only
/// `Table`.
pub fn message_of(value: &Value) -> Option<&'static Message> {
    let api_version = value.get("apiVersion")?.as_str()?;
    let kind = value.get("kind")?.as_str()?;
    match (api_version, kind) {
        (_, "Table") => Some(&TABLE),
        _ => kind_message(api_version, kind),
    }
}

/// `value` in upstream's field order, and `\n`. Without `message`, the object's own
/// `apiVersion` and `kind` choose it (an object, a list, a Status, a Table).
pub fn to_vec_ordered(value: &Value, message: Option<&'static Message>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_ordered(&mut out, value, message);
    out.push(b'\n');
    out
}

/// Appends `value` in upstream's field order to `out`, without the trailing newline.
pub fn write_ordered(out: &mut Vec<u8>, value: &Value, message: Option<&'static Message>) {
    match (value, message.or_else(|| message_of(value))) {
        (Value::Object(map), Some(message)) => write_object(out, map, message),
        (value, _) => write_plain(out, value),
    }
}

/// A `*List` (`{"kind":"PodList","apiVersion":"v1","metadata":{…},"items":[…]}`): the list's
/// own table when there is one, else ListMeta and items of the item kind.
pub fn list(value: &Value) -> Vec<u8> {
    if let Some(message) = message_of(value) {
        return to_vec_ordered(value, Some(message));
    }
    let Value::Object(map) = value else {
        return to_vec_ordered(value, None);
    };
    let item = map
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| k.strip_suffix("List"))
        .zip(map.get("apiVersion").and_then(Value::as_str))
        .and_then(|(kind, api_version)| kind_message(api_version, kind))
        .unwrap_or(&APIS_META_V1_PARTIALOBJECTMETADATA);
    let fields = [
        json_field("metadata", Kind::Message(&APIS_META_V1_LISTMETA), false),
        json_field("items", Kind::Message(item), true),
    ];
    let mut out = Vec::with_capacity(256);
    write_fields(&mut out, map, &fields, true);
    out.push(b'\n');
    out
}

/// A list written in pieces, so that its items can be encoded (and sent) one at a time: the
/// head up to `"items":[`, the items with commas between them, and [`LIST_TAIL`]; together the
/// bytes [`list`] writes for the whole list.
///
/// Example: for `{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5"}}`
/// the head is `{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[`.
pub struct ListPieces {
    item: Kind,
}

/// What closes a list written in pieces.
pub const LIST_TAIL: &[u8] = b"]}\n";

impl ListPieces {
    /// The pieces of a list of `kind` (`ConfigMapList`) in `api_version`.
    pub fn new(kind: &str, api_version: &str) -> Self {
        let list = serde_json::json!({"kind": kind, "apiVersion": api_version});
        let item = match message_of(&list) {
            Some(message) => message.by_json("items").map(|field| field.kind),
            None => kind
                .strip_suffix("List")
                .and_then(|item| kind_message(api_version, item))
                .map(Kind::Message),
        };
        ListPieces {
            item: item.unwrap_or(Kind::Message(&APIS_META_V1_PARTIALOBJECTMETADATA)),
        }
    }

    /// The list's bytes up to and including `"items":[`; `list` holds everything but `items`.
    pub fn head(&self, list: &Value) -> Vec<u8> {
        let mut empty = list.clone();
        empty["items"] = Value::Array(Vec::new());
        let mut bytes = self::list(&empty);
        debug_assert!(bytes.ends_with(b"[]}\n"), "items come last");
        bytes.truncate(bytes.len() - LIST_TAIL.len());
        bytes
    }

    /// Appends one item (without the comma before it).
    pub fn write_item(&self, out: &mut Vec<u8>, item: &Value) {
        write_kind(out, self.item, item);
    }
}

/// A `meta.v1` Status.
pub fn status(value: &Value) -> Vec<u8> {
    to_vec_ordered(value, Some(&APIS_META_V1_STATUS))
}

/// A `meta.k8s.io/v1` Table.
pub fn table(value: &Value) -> Vec<u8> {
    to_vec_ordered(value, Some(&TABLE))
}

/// One watch event line: `{"type":"ADDED","object":{…}}` and `\n`.
pub fn watch_event(event_type: &str, object: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":");
    write_str(&mut out, event_type);
    out.extend_from_slice(b",\"object\":");
    write_ordered(&mut out, object, None);
    out.extend_from_slice(b"}\n");
    out
}

/// The table watch events are written by, for callers that build the event as a Value.
pub fn watch_event_message() -> &'static Message {
    &WATCH_EVENT
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>, message: &'static Message) {
    let type_meta = map.contains_key("kind") && message.by_json("kind").is_none();
    write_fields(out, map, message.fields, type_meta);
}

/// `{`, TypeMeta when asked, the table's fields in order, then the keys it lacks, `}`.
fn write_fields(out: &mut Vec<u8>, map: &Map<String, Value>, fields: &[Field], type_meta: bool) {
    out.push(b'{');
    let mut first = true;
    let mut written = 0;
    if type_meta {
        for key in ["kind", "apiVersion"] {
            if let Some(value) = map.get(key) {
                write_key(out, &mut first, key);
                write_plain(out, value);
                written += 1;
            }
        }
    }
    written += write_known(out, &mut first, map, fields);
    if written < map.len() {
        for (key, value) in map {
            let typed = type_meta && (key == "kind" || key == "apiVersion");
            if !typed && !knows(fields, key) {
                write_key(out, &mut first, key);
                write_plain(out, value);
            }
        }
    }
    out.push(b'}');
}

/// At most this many keys are placed by looking each up in the table; objects with more keys
/// are written by looking each table field up in the object.
const FEW_KEYS: usize = 8;

/// Writes the fields of `fields` present in `map`, in order; returns how many.
fn write_known(
    out: &mut Vec<u8>,
    first: &mut bool,
    map: &Map<String, Value>,
    fields: &[Field],
) -> usize {
    if map.len() <= FEW_KEYS && map.len() * 2 < fields.len() {
        return write_few(out, first, map, fields);
    }
    let mut written = 0;
    for field in fields {
        if field.inline {
            if let Kind::Message(inner) = field.kind {
                written += write_known(out, first, map, inner.fields);
            }
            continue;
        }
        if let Some(value) = map.get(field.json) {
            write_key(out, first, field.json);
            write_field_value(out, field, value);
            written += 1;
        }
    }
    written
}

/// A key placed in table order: field index, index inside an inline message, key, value, field.
type Placed<'a> = (usize, usize, &'a str, Option<&'a Value>, Option<&'a Field>);

/// `write_known` for an object with few keys and a message with many fields (a volume's one
/// source among thirty): each key's position in the table, then the keys in that order.
fn write_few(
    out: &mut Vec<u8>,
    first: &mut bool,
    map: &Map<String, Value>,
    fields: &[Field],
) -> usize {
    let mut placed: [Placed<'_>; FEW_KEYS] = [(usize::MAX, 0, "", None, None); FEW_KEYS];
    let mut count = 0;
    for (key, value) in map {
        if let Some((position, inner, field)) = position(fields, key) {
            placed[count] = (position, inner, key, Some(value), Some(field));
            count += 1;
        }
    }
    let placed = &mut placed[..count];
    placed.sort_unstable_by_key(|(position, inner, ..)| (*position, *inner));
    for (_, _, key, value, field) in placed.iter() {
        if let (Some(value), Some(field)) = (value, field) {
            write_key(out, first, key);
            write_field_value(out, field, value);
        }
    }
    count
}

/// Where `key` is in `fields`: its index, the index inside an inline message, the field.
fn position<'f>(fields: &'f [Field], key: &str) -> Option<(usize, usize, &'f Field)> {
    fields.iter().enumerate().find_map(|(i, f)| {
        if f.inline {
            let Kind::Message(inner) = f.kind else {
                return None;
            };
            let (j, _, field) = position(inner.fields, key)?;
            Some((i, j, field))
        } else {
            (f.json == key).then_some((i, 0, f))
        }
    })
}

fn knows(fields: &[Field], key: &str) -> bool {
    fields.iter().any(|f| {
        f.json == key || (f.inline && matches!(f.kind, Kind::Message(m) if knows(m.fields, key)))
    })
}

fn write_field_value(out: &mut Vec<u8>, field: &Field, value: &Value) {
    match (value, field.repeated) {
        (Value::Array(items), true) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_kind(out, field.kind, item);
            }
            out.push(b']');
        }
        (value, _) => write_kind(out, field.kind, value),
    }
}

fn write_kind(out: &mut Vec<u8>, kind: Kind, value: &Value) {
    match (kind, value) {
        (Kind::Message(message), Value::Object(map)) => write_object(out, map, message),
        (Kind::Map(MapValue::Message(message)), Value::Object(map)) => {
            out.push(b'{');
            let mut first = true;
            for (key, value) in map {
                write_key(out, &mut first, key);
                write_kind(out, Kind::Message(message), value);
            }
            out.push(b'}');
        }
        (Kind::RawExtension, value) => write_ordered(out, value, None),
        (_, value) => write_plain(out, value),
    }
}

/// A value with no table: objects with sorted keys (TypeMeta first when present).
fn write_plain(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) if map.contains_key("kind") && map.contains_key("apiVersion") => {
            write_fields(out, map, &[], true)
        }
        Value::Object(map) => {
            out.push(b'{');
            let mut first = true;
            for (key, value) in map {
                write_key(out, &mut first, key);
                write_plain(out, value);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_plain(out, item);
            }
            out.push(b']');
        }
        Value::String(s) => write_str(out, s),
        leaf => write_leaf(out, leaf),
    }
}

fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    write_str(out, key);
    out.push(b':');
}

/// A string with serde_json's escaping.
fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("a string serializes into a Vec without error");
}

/// A number, bool or null, as serde_json writes it.
fn write_leaf(out: &mut Vec<u8>, value: &Value) {
    serde_json::to_writer(&mut *out, value)
        .expect("a JSON leaf serializes into a Vec without error");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_list_in_pieces_is_the_list() {
        let cm = |name: &str| json!({"metadata": {"name": name, "namespace": "d"}, "data": {"b": "2", "a": "1"}});
        let lists = [
            ("ConfigMapList", "v1", vec![cm("x"), cm("y"), cm("z")]),
            ("PodList", "v1", vec![]),
            (
                "DeploymentList",
                "apps/v1",
                vec![json!({"spec": {"replicas": 1}, "metadata": {"name": "d"}})],
            ),
            ("WidgetList", "example.com/v1", vec![cm("w")]),
        ];
        for (kind, api_version, items) in lists {
            let meta = json!({"resourceVersion": "7", "continue": "abc", "remainingItemCount": 3});
            let whole =
                json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items});
            let pieces = ListPieces::new(kind, api_version);
            let mut out =
                pieces.head(&json!({"kind": kind, "apiVersion": api_version, "metadata": meta}));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                pieces.write_item(&mut out, item);
            }
            out.extend_from_slice(LIST_TAIL);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(list(&whole)).unwrap(),
                "{kind}"
            );
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn writes_in_declared_order() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"annotations": {"b": "2", "a": "1"}, "creationTimestamp": "2025-01-02T03:04:05Z",
                "labels": {"z": "1", "app": "web"}, "name": "p", "namespace": "d", "uid": "u",
                "resourceVersion": "7", "generateName": "p-"},
            "spec": {"restartPolicy": "Always", "containers": [{"image": "nginx", "name": "app",
                "resources": {}, "ports": [{"protocol": "TCP", "containerPort": 80}]}],
                "volumes": [{"name": "v", "emptyDir": {}}]},
            "status": {"phase": "Pending", "conditions": [{"status": "True", "type": "PodScheduled"}]},
        });
        let deployment = json!({
            "kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": []}, "metadata": {}}, "selector": {"matchLabels": {"a": "b"}}, "replicas": 1,
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}, "type": "RollingUpdate"}},
        });
        let status = json!({
            "apiVersion": "v1", "kind": "Status", "code": 404, "details": {"kind": "pods", "name": "x", "causes": [{"message": "m", "reason": "r", "field": "f"}]},
            "message": "pods \"x\" not found", "metadata": {}, "reason": "NotFound", "status": "Failure",
        });
        let list = json!({
            "apiVersion": "v1", "kind": "ConfigMapList", "items": [{"data": {"k": "v"}, "metadata": {"name": "c"}}],
            "metadata": {"resourceVersion": "5", "continue": ""},
        });
        let extra = json!({
            "apiVersion": "v1", "kind": "ConfigMap", "zeta": 1, "data": {"k": "v"}, "alpha": [true, null],
            "metadata": {"name": "c", "x-extra": "e"},
        });
        let cases = [
            (
                pod,
                r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","generateName":"p-","namespace":"d","uid":"u","resourceVersion":"7","creationTimestamp":"2025-01-02T03:04:05Z","labels":{"app":"web","z":"1"},"annotations":{"a":"1","b":"2"}},"spec":{"volumes":[{"name":"v","emptyDir":{}}],"containers":[{"name":"app","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{}}],"restartPolicy":"Always"},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"True"}]}}"#,
            ),
            (
                deployment,
                r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{},"spec":{"containers":[]}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":"25%"}}}}"#,
            ),
            (
                status,
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods","causes":[{"reason":"r","message":"m","field":"f"}]},"code":404}"#,
            ),
            (
                list,
                r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5","continue":""},"items":[{"metadata":{"name":"c"},"data":{"k":"v"}}]}"#,
            ),
            (
                extra,
                r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c","x-extra":"e"},"data":{"k":"v"},"alpha":[true,null],"zeta":1}"#,
            ),
        ];
        for (value, want) in cases {
            let got = text(to_vec_ordered(&value, None));
            assert_eq!(got, format!("{want}\n"));
            let reparsed: Value = serde_json::from_str(&got).unwrap();
            assert_eq!(reparsed, value, "the same object, only reordered");
        }
    }

    #[test]
    fn helpers_for_wrappers() {
        let status =
            json!({"status": "Success", "kind": "Status", "apiVersion": "v1", "metadata": {}});
        assert_eq!(
            text(super::status(&status)),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\"}\n"
        );
        let table = json!({
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "3"},
            "rows": [{"object": {"metadata": {"name": "p"}, "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata"},
                "cells": ["p", 1, {"b": 1, "a": 2}]}],
            "columnDefinitions": [{"type": "string", "priority": 0, "name": "Name", "format": "name", "description": "d"}],
        });
        assert_eq!(
            text(super::table(&table)),
            concat!(
                r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"3"},"#,
                r#""columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"d","priority":0}],"#,
                r#""rows":[{"cells":["p",1,{"a":2,"b":1}],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"p"}}}]}"#,
                "\n"
            )
        );
        let pod = json!({"metadata": {"name": "p"}, "kind": "Pod", "apiVersion": "v1"});
        assert_eq!(
            text(watch_event("ADDED", &pod)),
            "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\"}}}\n"
        );
        let unknown_list =
            json!({"kind": "WidgetList", "apiVersion": "v1", "items": [], "metadata": {}});
        assert_eq!(
            text(list(&unknown_list)),
            "{\"kind\":\"WidgetList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[]}\n"
        );
        assert_eq!(watch_event_message().fields[0].json, "type");
    }

    #[test]
    fn escapes_strings_as_serde_json_does() {
        let cm = json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"q\"uote": "line\nbreak \u{1} é \\ </script>"}});
        let got = to_vec_ordered(&cm, None);
        let want = serde_json::to_vec(&cm["data"]).unwrap();
        let got = text(got);
        assert!(got.contains(std::str::from_utf8(&want).unwrap()), "{got}");
    }
}
