//! Builds `crates/api/src/protobuf/messages.rs`: the messages reachable from the served kinds
//! (and the options kinds), with each `.proto` field's number and wire type from k8s-pb, its
//! JSON name from k8s-openapi's schema, and whether its zero is kept from `go_pointers.txt`.
//!
//! Example: k8s-pb's `pod_ip` (field 6 of `PodStatus`) matches the schema property `podIP`
//! (compared lowercased without underscores); `VolumeSource`, which has no schema of its own
//! and whose fields are properties of `Volume`, becomes an inline field of `Volume`; PodSpec's
//! `hostname_override`, which Kubernetes 1.33's schema lacks, becomes an unserved field.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write;

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::Value;

use super::parse::{MapValue, ProtoField, ProtoMessage, ProtoType};

/// A root kind: what a client sends or the server writes at the top of a body.
struct Root {
    api_version: &'static str,
    kind: &'static str,
    message: &'static str,
    schema: Option<fn(&mut SchemaGenerator)>,
}

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) {
    generator.subschema_for::<T>();
}

macro_rules! root {
    ($api_version:literal, $kind:literal, $message:literal, $ty:ty) => {
        Root {
            api_version: $api_version,
            kind: $kind,
            message: $message,
            schema: Some(add::<$ty>),
        }
    };
    ($api_version:literal, $kind:literal, $message:literal) => {
        Root {
            api_version: $api_version,
            kind: $kind,
            message: $message,
            schema: None,
        }
    };
}

/// Every served kind (crates/api/src/resources `all()`), its list, and the options and
/// subresource kinds. A test of this crate checks that the registry serves nothing else.
fn roots() -> Vec<Root> {
    use k8s_openapi::api::{
        apps, authentication, autoscaling, coordination, core, events, policy, storage,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta;
    vec![
        root!(
            "v1",
            "ConfigMap",
            "io.k8s.api.core.v1.ConfigMap",
            core::v1::ConfigMap
        ),
        root!("v1", "ConfigMapList", "io.k8s.api.core.v1.ConfigMapList"),
        root!("v1", "Event", "io.k8s.api.core.v1.Event", core::v1::Event),
        root!("v1", "EventList", "io.k8s.api.core.v1.EventList"),
        root!(
            "v1",
            "Namespace",
            "io.k8s.api.core.v1.Namespace",
            core::v1::Namespace
        ),
        root!("v1", "NamespaceList", "io.k8s.api.core.v1.NamespaceList"),
        root!("v1", "Node", "io.k8s.api.core.v1.Node", core::v1::Node),
        root!("v1", "NodeList", "io.k8s.api.core.v1.NodeList"),
        root!(
            "v1",
            "PersistentVolume",
            "io.k8s.api.core.v1.PersistentVolume",
            core::v1::PersistentVolume
        ),
        root!(
            "v1",
            "PersistentVolumeList",
            "io.k8s.api.core.v1.PersistentVolumeList"
        ),
        root!(
            "v1",
            "PersistentVolumeClaim",
            "io.k8s.api.core.v1.PersistentVolumeClaim",
            core::v1::PersistentVolumeClaim
        ),
        root!(
            "v1",
            "PersistentVolumeClaimList",
            "io.k8s.api.core.v1.PersistentVolumeClaimList"
        ),
        root!("v1", "Pod", "io.k8s.api.core.v1.Pod", core::v1::Pod),
        root!("v1", "PodList", "io.k8s.api.core.v1.PodList"),
        root!(
            "v1",
            "Secret",
            "io.k8s.api.core.v1.Secret",
            core::v1::Secret
        ),
        root!("v1", "SecretList", "io.k8s.api.core.v1.SecretList"),
        root!(
            "v1",
            "ServiceAccount",
            "io.k8s.api.core.v1.ServiceAccount",
            core::v1::ServiceAccount
        ),
        root!(
            "v1",
            "ServiceAccountList",
            "io.k8s.api.core.v1.ServiceAccountList"
        ),
        root!(
            "v1",
            "Binding",
            "io.k8s.api.core.v1.Binding",
            core::v1::Binding
        ),
        root!(
            "apps/v1",
            "Deployment",
            "io.k8s.api.apps.v1.Deployment",
            apps::v1::Deployment
        ),
        root!(
            "apps/v1",
            "DeploymentList",
            "io.k8s.api.apps.v1.DeploymentList"
        ),
        root!(
            "apps/v1",
            "ReplicaSet",
            "io.k8s.api.apps.v1.ReplicaSet",
            apps::v1::ReplicaSet
        ),
        root!(
            "apps/v1",
            "ReplicaSetList",
            "io.k8s.api.apps.v1.ReplicaSetList"
        ),
        root!(
            "events.k8s.io/v1",
            "Event",
            "io.k8s.api.events.v1.Event",
            events::v1::Event
        ),
        root!(
            "events.k8s.io/v1",
            "EventList",
            "io.k8s.api.events.v1.EventList"
        ),
        root!(
            "storage.k8s.io/v1",
            "StorageClass",
            "io.k8s.api.storage.v1.StorageClass",
            storage::v1::StorageClass
        ),
        root!(
            "storage.k8s.io/v1",
            "StorageClassList",
            "io.k8s.api.storage.v1.StorageClassList"
        ),
        root!(
            "coordination.k8s.io/v1",
            "Lease",
            "io.k8s.api.coordination.v1.Lease",
            coordination::v1::Lease
        ),
        root!(
            "coordination.k8s.io/v1",
            "LeaseList",
            "io.k8s.api.coordination.v1.LeaseList"
        ),
        root!(
            "authentication.k8s.io/v1",
            "TokenRequest",
            "io.k8s.api.authentication.v1.TokenRequest",
            authentication::v1::TokenRequest
        ),
        root!(
            "policy/v1",
            "Eviction",
            "io.k8s.api.policy.v1.Eviction",
            policy::v1::Eviction
        ),
        root!(
            "autoscaling/v1",
            "Scale",
            "io.k8s.api.autoscaling.v1.Scale",
            autoscaling::v1::Scale
        ),
        root!(
            "meta.k8s.io/v1",
            "DeleteOptions",
            "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            meta::v1::DeleteOptions
        ),
        root!(
            "v1",
            "Status",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            meta::v1::Status
        ),
        root!(
            "meta.k8s.io/v1",
            "WatchEvent",
            "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
            meta::v1::WatchEvent<()>
        ),
        root!(
            "meta.k8s.io/v1",
            "PartialObjectMetadata",
            "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata"
        ),
        root!(
            "meta.k8s.io/v1",
            "PartialObjectMetadataList",
            "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList"
        ),
    ]
}

/// The (apiVersion, kind) pairs the generator has roots for.
pub fn root_kinds() -> Vec<(&'static str, &'static str)> {
    roots().iter().map(|r| (r.api_version, r.kind)).collect()
}

/// Messages with their own JSON form, written as `Kind::X` instead of a nested message.
fn special(name: &str) -> Option<&'static str> {
    Some(match name {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" => "Time",
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => "MicroTime",
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => "Quantity",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => "IntOrString",
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1" => "FieldsV1",
        "io.k8s.apimachinery.pkg.runtime.RawExtension" => "RawExtension",
        _ => return None,
    })
}

/// Messages without a k8s-openapi schema (lists are generic there, PartialObjectMetadata is
/// absent): their JSON names are their `.proto` names in lower camel case.
fn camel_case_named(name: &str) -> bool {
    name.ends_with("List") || name.ends_with(".PartialObjectMetadata")
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `remaining_item_count` → `remainingItemCount`; refused when a segment is one letter
/// (`pod_i_ps`), where the JSON spelling of the acronym cannot be known.
fn camel_case(name: &str) -> Result<String, String> {
    let mut parts = name.split('_');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let mut chars = part.chars();
        match chars.next() {
            Some(first) if part.len() > 1 => {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
            _ => return Err(format!("cannot camel-case {name:?} unambiguously")),
        }
    }
    Ok(out)
}

/// `go_pointers.txt`: message → normalized names of its pointer scalar fields.
fn pointers(
    text: &str,
    protos: &BTreeMap<String, ProtoMessage>,
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let message = words.next().unwrap_or_default();
        let proto = protos
            .values()
            .find(|p| p.name.to_lowercase() == message.to_lowercase())
            .ok_or_else(|| format!("go_pointers.txt: no message {message}"))?;
        for json in words {
            let field = proto
                .fields
                .iter()
                .find(|f| normalize(&f.name) == normalize(json))
                .ok_or_else(|| format!("go_pointers.txt: {message} has no field {json}"))?;
            if !matches!(field.ty, ProtoType::Scalar(_)) || field.repeated {
                return Err(format!(
                    "go_pointers.txt: {message}.{json} is not a scalar field"
                ));
            }
            out.entry(proto.name.clone())
                .or_default()
                .insert(normalize(json));
        }
    }
    Ok(out)
}

/// The JSON names of each schema definition, by normalized name.
fn schema_names() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut generator = SchemaSettings::openapi3().into_generator();
    for root in roots() {
        if let Some(schema) = root.schema {
            schema(&mut generator);
        }
    }
    let defs: BTreeMap<String, Value> = generator.take_definitions(true).into_iter().collect();
    defs.into_iter()
        .map(|(name, schema)| {
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().map(|k| (normalize(k), k.clone())).collect())
                .unwrap_or_default();
            (name, props)
        })
        .collect()
}

/// One generated field.
struct Field {
    number: u32,
    json: String,
    kind: String,
    repeated: bool,
    keep_zero: bool,
    inline: bool,
}

/// One generated message.
struct Message {
    name: String,
    fields: Vec<Field>,
    unserved: Vec<(u32, String)>,
}

/// Where a message's JSON names come from.
#[derive(Clone)]
enum Naming {
    /// The properties of a schema definition (its own, or its parent's for an inline message).
    Schema(String),
    CamelCase,
}

struct Builder<'a> {
    protos: &'a BTreeMap<String, ProtoMessage>,
    schemas: BTreeMap<String, BTreeMap<String, String>>,
    pointers: BTreeMap<String, BTreeSet<String>>,
    queue: VecDeque<(String, Naming)>,
    naming: BTreeMap<String, String>,
    done: BTreeMap<String, Message>,
}

impl Builder<'_> {
    fn enqueue(&mut self, name: &str, naming: Naming) -> Result<(), String> {
        let key = match &naming {
            Naming::Schema(s) => s.clone(),
            Naming::CamelCase => String::new(),
        };
        match self.naming.get(name) {
            Some(previous) if *previous != key => {
                Err(format!("{name} is named by both {previous:?} and {key:?}"))
            }
            Some(_) => Ok(()),
            None => {
                self.naming.insert(name.to_owned(), key);
                self.queue.push_back((name.to_owned(), naming));
                Ok(())
            }
        }
    }

    fn naming_of(&self, name: &str) -> Result<Naming, String> {
        if self.schemas.contains_key(name) {
            Ok(Naming::Schema(name.to_owned()))
        } else if camel_case_named(name) {
            Ok(Naming::CamelCase)
        } else {
            Err(format!("{name} has no schema in k8s-openapi"))
        }
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some((name, naming)) = self.queue.pop_front() {
            let proto = self
                .protos
                .get(&name)
                .ok_or_else(|| format!("k8s-pb has no message {name}"))?
                .clone();
            let message = self.message(&proto, &naming)?;
            self.done.insert(name, message);
        }
        Ok(())
    }

    fn message(&mut self, proto: &ProtoMessage, naming: &Naming) -> Result<Message, String> {
        let mut message = Message {
            name: proto.name.clone(),
            fields: Vec::new(),
            unserved: Vec::new(),
        };
        let mut covered = BTreeSet::from(["apiversion".to_owned(), "kind".to_owned()]);
        for field in &proto.fields {
            match self.json_name(field, naming)? {
                Some(json) => {
                    covered.insert(normalize(&json));
                    let generated = self.field(proto, field, json, false)?;
                    message.fields.push(generated);
                }
                None => match &field.ty {
                    ProtoType::Message(target)
                        if special(target).is_none() && self.is_inline(target, naming) =>
                    {
                        let inner = &self.protos[target].fields;
                        covered.extend(inner.iter().map(|f| normalize(&f.name)));
                        let generated = self.field(proto, field, String::new(), true)?;
                        message.fields.push(generated);
                    }
                    _ => message.unserved.push((field.number, field.name.clone())),
                },
            }
        }
        self.check_covered(proto, naming, &covered)?;
        Ok(message)
    }

    /// Every property of a message's own schema is some field of its `.proto`: a property
    /// that matched nothing would be a JSON field that protobuf bodies could never carry.
    fn check_covered(
        &self,
        proto: &ProtoMessage,
        naming: &Naming,
        covered: &BTreeSet<String>,
    ) -> Result<(), String> {
        let Naming::Schema(schema) = naming else {
            return Ok(());
        };
        if *schema != proto.name {
            return Ok(());
        }
        let missing: Vec<&String> = self.schemas[schema]
            .iter()
            .filter(|(normalized, _)| !covered.contains(*normalized))
            .map(|(_, json)| json)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{schema}: schema properties {missing:?} match no .proto field"
            ))
        }
    }

    fn json_name(&self, field: &ProtoField, naming: &Naming) -> Result<Option<String>, String> {
        match naming {
            Naming::Schema(schema) => {
                Ok(self.schemas[schema].get(&normalize(&field.name)).cloned())
            }
            Naming::CamelCase => camel_case(&field.name).map(Some),
        }
    }

    /// Whether `target`'s fields are properties of the parent's schema (Go `json:",inline"`):
    /// `LocalObjectReference` in `SecretKeySelector`, `VolumeSource` in `Volume`. An inline
    /// message with a schema of its own keeps its own names; one without takes the parent's.
    fn is_inline(&self, target: &str, naming: &Naming) -> bool {
        let (Naming::Schema(schema), Some(proto)) = (naming, self.protos.get(target)) else {
            return false;
        };
        let props = &self.schemas[schema];
        let matching = proto
            .fields
            .iter()
            .filter(|f| props.contains_key(&normalize(&f.name)))
            .count();
        matching > 0 && matching * 2 >= proto.fields.len()
    }

    fn field(
        &mut self,
        parent: &ProtoMessage,
        field: &ProtoField,
        json: String,
        inline: bool,
    ) -> Result<Field, String> {
        let pointer = self
            .pointers
            .get(&parent.name)
            .is_some_and(|p| p.contains(&normalize(&field.name)));
        let (kind, keep_zero) = match &field.ty {
            ProtoType::Scalar(s) => (scalar_kind(s).to_owned(), pointer),
            ProtoType::Message(target) => {
                let kind = self.message_kind(target, inline, parent)?;
                let time = matches!(special(target), Some("Time" | "MicroTime"));
                (kind, !time)
            }
            ProtoType::Map(value) => (format!("Kind::Map({})", self.map_value(value)?), false),
        };
        Ok(Field {
            number: field.number,
            json,
            kind,
            repeated: field.repeated,
            keep_zero,
            inline,
        })
    }

    fn message_kind(
        &mut self,
        target: &str,
        inline: bool,
        parent: &ProtoMessage,
    ) -> Result<String, String> {
        if let Some(kind) = special(target) {
            return Ok(format!("Kind::{kind}"));
        }
        let naming = if inline && !self.schemas.contains_key(target) {
            let parent_naming = self.naming.get(&parent.name).cloned().unwrap_or_default();
            Naming::Schema(parent_naming)
        } else {
            self.naming_of(target)?
        };
        self.enqueue(target, naming)?;
        Ok(format!("Kind::Message(&{})", ident(target)))
    }

    fn map_value(&mut self, value: &MapValue) -> Result<String, String> {
        Ok(match value {
            MapValue::String => "MapValue::String".to_owned(),
            MapValue::Bytes => "MapValue::Bytes".to_owned(),
            MapValue::Message(m) if special(m) == Some("Quantity") => {
                "MapValue::Quantity".to_owned()
            }
            MapValue::Message(m) if special(m).is_some() => {
                return Err(format!("maps of {m} are not supported"));
            }
            MapValue::Message(m) => {
                let naming = self.naming_of(m)?;
                self.enqueue(m, naming)?;
                format!("MapValue::Message(&{})", ident(m))
            }
        })
    }
}

fn scalar_kind(scalar: &str) -> &'static str {
    match scalar {
        "string" => "Kind::String",
        "int32" => "Kind::Int32",
        "int64" => "Kind::Int64",
        "bool" => "Kind::Bool",
        "double" => "Kind::Double",
        _ => "Kind::Bytes",
    }
}

/// `io.k8s.api.core.v1.PodSpec` → `API_CORE_V1_PODSPEC`.
fn ident(name: &str) -> String {
    name.trim_start_matches("io.k8s.")
        .trim_start_matches("apimachinery.pkg.")
        .replace('.', "_")
        .to_uppercase()
}

/// k8s-pb spells acronyms in Rust style (`PodIp`, `HttpGetAction`); the `.proto` and the
/// OpenAPI definitions spell them `PodIP`, `HTTPGetAction`. Renames every message (and every
/// reference to it) to the definition's spelling where a definition matches lowercased.
fn canonicalize(
    protos: &BTreeMap<String, ProtoMessage>,
    schemas: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeMap<String, ProtoMessage> {
    let spelled: BTreeMap<String, &String> = schemas
        .keys()
        .map(|name| (name.to_lowercase(), name))
        .collect();
    let rename = |name: &str| {
        spelled
            .get(&name.to_lowercase())
            .map_or_else(|| name.to_owned(), |n| (*n).clone())
    };
    protos
        .values()
        .map(|proto| {
            let mut proto = proto.clone();
            proto.name = rename(&proto.name);
            for field in &mut proto.fields {
                match &mut field.ty {
                    ProtoType::Message(target) | ProtoType::Map(MapValue::Message(target)) => {
                        *target = rename(target);
                    }
                    _ => {}
                }
            }
            (proto.name.clone(), proto)
        })
        .collect()
}

/// The text of `messages.rs`.
pub fn generate(
    protos: &BTreeMap<String, ProtoMessage>,
    pointer_list: &str,
) -> Result<String, String> {
    let schemas = schema_names();
    let protos = &canonicalize(protos, &schemas);
    let mut builder = Builder {
        protos,
        schemas,
        pointers: pointers(pointer_list, protos)?,
        queue: VecDeque::new(),
        naming: BTreeMap::new(),
        done: BTreeMap::new(),
    };
    let roots = roots();
    for root in &roots {
        let naming = builder.naming_of(root.message)?;
        builder.enqueue(root.message, naming)?;
    }
    builder.run()?;
    Ok(render(&roots, &builder.done))
}

fn render(roots: &[Root], messages: &BTreeMap<String, Message>) -> String {
    let mut out = String::from(HEADER);
    out.push_str("\npub(super) static KINDS: &[(&str, &str, &Message)] = &[\n");
    for root in roots {
        let _ = writeln!(
            out,
            "    ({:?}, {:?}, &{}),",
            root.api_version,
            root.kind,
            ident(root.message)
        );
    }
    out.push_str(
        "];\n\n/// Every message, sorted by name.\npub static MESSAGES: &[&Message] = &[\n",
    );
    for name in messages.keys() {
        let _ = writeln!(out, "    &{},", ident(name));
    }
    out.push_str("];\n");
    for message in messages.values() {
        render_message(&mut out, message);
    }
    out
}

fn render_message(out: &mut String, message: &Message) {
    let _ = writeln!(
        out,
        "\npub(crate) static {}: Message = Message {{\n    name: {:?},\n    fields: &[",
        ident(&message.name),
        message.name
    );
    for f in &message.fields {
        let mut flags = Vec::new();
        if f.repeated {
            flags.push("REPEATED");
        }
        if f.keep_zero {
            flags.push("KEEP_ZERO");
        }
        if f.inline {
            flags.push("INLINE");
        }
        let flags = if flags.is_empty() {
            "PLAIN".to_owned()
        } else {
            flags.join(" | ")
        };
        let _ = writeln!(
            out,
            "        Field::new({}, {:?}, {}, {flags}),",
            f.number, f.json, f.kind
        );
    }
    out.push_str("    ],\n    unserved: &[");
    for (number, name) in &message.unserved {
        let _ = write!(out, "Unserved {{ number: {number}, name: {name:?} }}, ");
    }
    out.push_str("],\n};\n");
}

const HEADER: &str = "\
//! The protobuf messages of every served kind and of the options kinds, with every message
//! they reach: fields in `.proto` declaration order (number, JSON name, kind, flags).
//!
//! @generated by the `protobuf_tables` test of ferrokube-api from k8s-pb's prost output,
//! k8s-openapi's schemas and `go_pointers.txt`; do not edit. Regenerate with
//! `FERROKUBE_REGENERATE=1 cargo test -p ferrokube-api --test protobuf_tables`.

use super::schema::{Field, INLINE, KEEP_ZERO, Kind, MapValue, Message, PLAIN, REPEATED, Unserved};
";
