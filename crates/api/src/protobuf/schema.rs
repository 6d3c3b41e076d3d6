//! The shape of the protobuf message tables: each message's fields in `.proto` declaration
//! order (which is the Go struct's declaration order, hence upstream's JSON field order) with
//! field number, JSON name, wire kind and zero-value rule; and the lookups other code uses.
//!
//! The tables themselves are generated into `messages.rs` from k8s-pb's prost output and
//! k8s-openapi's schemas; see the `protobuf_tables` test of this crate for how.
//!
//! Example: `message("io.k8s.api.core.v1.ConfigMap")` has fields
//! `metadata` (1, ObjectMeta), `immutable` (4, bool, zero kept: a Go `*bool`),
//! `data` (2, map of strings), `binaryData` (3, map of bytes), in that order.

use std::fmt;

use super::messages::KINDS;
pub use super::messages::MESSAGES;

/// How a field's value is encoded on the wire and written in JSON.
#[derive(Clone, Copy)]
pub enum Kind {
    String,
    Int32,
    Int64,
    Bool,
    /// `double`, a JSON number.
    Double,
    /// `bytes`, base64 in JSON.
    Bytes,
    /// A nested message.
    Message(&'static Message),
    /// `map<string, V>`: a JSON object whose keys are sorted.
    Map(MapValue),
    /// `meta.v1.Time`: RFC 3339 in seconds, absent when zero.
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with microseconds, absent when zero.
    MicroTime,
    /// `resource.Quantity`: its string form.
    Quantity,
    /// `intstr.IntOrString`: a JSON number or string.
    IntOrString,
    /// `meta.v1.FieldsV1`: raw JSON.
    FieldsV1,
    /// `runtime.RawExtension`: an embedded object (raw JSON, or a `k8s\0` protobuf object).
    RawExtension,
}

/// The value type of a `map<string, V>` field.
#[derive(Clone, Copy)]
pub enum MapValue {
    String,
    /// Values as base64, as Secret `data`.
    Bytes,
    /// Values as quantity strings, as `resources.limits`.
    Quantity,
    Message(&'static Message),
}

/// One field of a message.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub number: u32,
    /// The JSON property name; empty for an inline field.
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
    /// A zero value (`0`, `false`, `""`) decoded from the wire is kept. True for Go pointer
    /// fields (`replicas`, `gracePeriodSeconds`, …) and for every message-valued field; a plain
    /// Go scalar's zero is dropped, as JSON's `omitempty` drops it upstream.
    pub keep_zero: bool,
    /// The message's fields are the parent's JSON properties (Go `json:",inline"`, as
    /// `Volume.volumeSource` or `Probe.handler`).
    pub inline: bool,
}

/// A field of the upstream `.proto` that this server's API (Kubernetes 1.33, the k8s-openapi
/// types it stores) does not have: refused when sent, never dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unserved {
    pub number: u32,
    /// The `.proto` field name in snake case, as k8s-pb spells it.
    pub name: &'static str,
}

/// A message and its fields, in declaration order.
#[derive(Debug)]
pub struct Message {
    /// The full name, as the OpenAPI definition: `io.k8s.api.core.v1.PodSpec`.
    pub name: &'static str,
    pub fields: &'static [Field],
    pub unserved: &'static [Unserved],
}

/// `Field` flags, for the generated tables.
pub(super) const PLAIN: u8 = 0;
pub(super) const REPEATED: u8 = 1;
pub(super) const KEEP_ZERO: u8 = 2;
pub(super) const INLINE: u8 = 4;

impl Field {
    /// A field from its number, JSON name, kind and flags (`REPEATED | KEEP_ZERO`).
    pub(super) const fn new(number: u32, json: &'static str, kind: Kind, flags: u8) -> Self {
        Field {
            number,
            json,
            kind,
            repeated: flags & REPEATED != 0,
            keep_zero: flags & KEEP_ZERO != 0,
            inline: flags & INLINE != 0,
        }
    }
}

impl Message {
    /// The field with protobuf number `number`.
    pub fn by_number(&self, number: u32) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.number == number)
    }

    /// The field with JSON name `json` (not looking into inline fields).
    pub fn by_json(&self, json: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.json == json)
    }

    /// The short name: `PodSpec` for `io.k8s.api.core.v1.PodSpec`.
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Message(m) => write!(f, "Message({})", m.name),
            Kind::Map(v) => write!(f, "Map({v:?})"),
            other => f.write_str(match other {
                Kind::String => "String",
                Kind::Int32 => "Int32",
                Kind::Int64 => "Int64",
                Kind::Bool => "Bool",
                Kind::Double => "Double",
                Kind::Bytes => "Bytes",
                Kind::Time => "Time",
                Kind::MicroTime => "MicroTime",
                Kind::Quantity => "Quantity",
                Kind::IntOrString => "IntOrString",
                Kind::FieldsV1 => "FieldsV1",
                _ => "RawExtension",
            }),
        }
    }
}

impl fmt::Debug for MapValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapValue::String => f.write_str("String"),
            MapValue::Bytes => f.write_str("Bytes"),
            MapValue::Quantity => f.write_str("Quantity"),
            MapValue::Message(m) => write!(f, "Message({})", m.name),
        }
    }
}

/// The table entry of a message by full name (`io.k8s.api.apps.v1.DeploymentSpec`).
pub fn message(name: &str) -> Option<&'static Message> {
    MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| MESSAGES[i])
}

/// Kinds that every group version carries (upstream's `metav1.AddToGroupVersion`): clients
/// send them under the apiVersion of the resource they act on.
const ANY_VERSION_KINDS: &[&str] = &["DeleteOptions", "Status", "WatchEvent"];

/// The message of an object by its `apiVersion` and `kind`: the served kinds, their lists,
/// and the options and subresource kinds (`DeleteOptions`, `policy/v1` `Eviction`, `Binding`,
/// `autoscaling/v1` `Scale`, `Status`).
///
/// Example: `kind_message("apps/v1", "Deployment")` is `io.k8s.api.apps.v1.Deployment`;
/// `kind_message("apps/v1", "DeleteOptions")` is `io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions`.
pub fn kind_message(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .or_else(|| {
            ANY_VERSION_KINDS
                .contains(&kind)
                .then(|| KINDS.iter().find(|(_, k, _)| *k == kind))
                .flatten()
        })
        .map(|(_, _, m)| *m)
}

/// Every (apiVersion, kind) the tables have a root message for.
pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str, &'static Message)> {
    KINDS.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sorted_and_numbers_unique() {
        for pair in MESSAGES.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for m in MESSAGES {
            let mut numbers: Vec<u32> = m.fields.iter().map(|f| f.number).collect();
            numbers.extend(m.unserved.iter().map(|u| u.number));
            let count = numbers.len();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), count, "duplicate field number in {}", m.name);
        }
    }

    #[test]
    fn looks_up_kinds_and_messages() {
        let cases = [
            ("v1", "ConfigMap", Some("io.k8s.api.core.v1.ConfigMap")),
            (
                "apps/v1",
                "Deployment",
                Some("io.k8s.api.apps.v1.Deployment"),
            ),
            (
                "events.k8s.io/v1",
                "Event",
                Some("io.k8s.api.events.v1.Event"),
            ),
            ("v1", "Event", Some("io.k8s.api.core.v1.Event")),
            (
                "policy/v1",
                "Eviction",
                Some("io.k8s.api.policy.v1.Eviction"),
            ),
            (
                "autoscaling/v1",
                "Scale",
                Some("io.k8s.api.autoscaling.v1.Scale"),
            ),
            (
                "apps/v1",
                "DeleteOptions",
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
            ),
            ("v1", "PodList", Some("io.k8s.api.core.v1.PodList")),
            ("v1", "Service", None),
            ("apps/v1", "ConfigMap", None),
        ];
        for (api_version, kind, want) in cases {
            assert_eq!(
                kind_message(api_version, kind).map(|m| m.name),
                want,
                "{api_version} {kind}"
            );
        }
        let spec = message("io.k8s.api.apps.v1.DeploymentSpec").unwrap();
        let replicas = spec.by_json("replicas").unwrap();
        assert_eq!((replicas.number, replicas.keep_zero), (1, true));
        assert!(!spec.by_json("minReadySeconds").unwrap().keep_zero);
        assert_eq!(spec.short_name(), "DeploymentSpec");
        assert!(message("io.k8s.api.core.v1.Nope").is_none());
    }

    #[test]
    fn volume_source_is_inline_and_empty_dir_a_message() {
        let volume = message("io.k8s.api.core.v1.Volume").unwrap();
        let source = volume.by_number(2).unwrap();
        assert!(source.inline && source.json.is_empty());
        let Kind::Message(source) = source.kind else {
            panic!("volumeSource is a message")
        };
        assert!(source.by_json("emptyDir").unwrap().keep_zero);
    }
}
