//! Reads k8s-pb's prost-build output back into the `.proto` messages it was generated from:
//! each `#[derive(::prost::Message)] pub struct` with its `#[prost(...)]` fields, in order.
//!
//! Example: in `src/api/apps/v1/mod.rs`,
//! `#[prost(int32, optional, tag = "1")] pub replicas: Option<i32>` inside `pub struct
//! DeploymentSpec` is field 1 of `io.k8s.api.apps.v1.DeploymentSpec`, a scalar `int32`.

use std::collections::BTreeMap;
use std::path::Path;

/// A field's protobuf type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoType {
    /// `string`, `int32`, `int64`, `bool`, `double` or `bytes`.
    Scalar(&'static str),
    /// A message, by full name.
    Message(String),
    /// `map<string, V>`.
    Map(MapValue),
}

/// The value type of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    String,
    Bytes,
    Message(String),
}

/// One field, as declared.
#[derive(Debug, Clone)]
pub struct ProtoField {
    /// The Rust (snake case) name without `r#`: `pod_ip`, `type`.
    pub name: String,
    pub number: u32,
    pub ty: ProtoType,
    pub repeated: bool,
}

/// One message, with its fields in declaration order.
#[derive(Debug, Clone)]
pub struct ProtoMessage {
    pub name: String,
    pub fields: Vec<ProtoField>,
}

/// Every message under `src` (k8s-pb's `src/`), by full name.
pub fn read_dir(src: &Path) -> Result<BTreeMap<String, ProtoMessage>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = module_of(src, &path);
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
                for message in
                    parse_file(&text, &module).map_err(|e| format!("{}: {e}", path.display()))?
                {
                    out.insert(message.name.clone(), message);
                }
            }
        }
    }
    Ok(out)
}

/// `src/api/core/v1/mod.rs` → `["api", "core", "v1"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    if last != "mod.rs" && last != "lib.rs" {
        parts.push(last.trim_end_matches(".rs").to_owned());
    }
    parts
}

/// The full message name of a Rust type path used in module `module`.
fn resolve(module: &[String], path: &str) -> String {
    let mut segments: Vec<&str> = module.iter().map(String::as_str).collect();
    let mut rest = path;
    while let Some(tail) = rest.strip_prefix("super::") {
        segments.pop();
        rest = tail;
    }
    segments.extend(rest.split("::"));
    format!("io.k8s.{}", segments.join("."))
}

/// The messages declared in one file.
pub fn parse_file(text: &str, module: &[String]) -> Result<Vec<ProtoMessage>, String> {
    let mut messages = Vec::new();
    let mut derive_message = false;
    let mut current: Option<ProtoMessage> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(message) = current.as_mut() {
            if line == "}" {
                messages.extend(current.take());
            } else if let Some(attr) = trimmed.strip_prefix("#[prost(") {
                let declaration = read_declaration(&mut lines)?;
                message
                    .fields
                    .push(parse_field(attr, &declaration, module)?);
            }
            continue;
        }
        if trimmed.starts_with("#[derive(") {
            derive_message = trimmed.contains("::prost::Message");
        } else if let Some(rest) = trimmed.strip_prefix("pub struct ") {
            let name = rest.split([' ', '{']).next().unwrap_or_default();
            if derive_message {
                let message = ProtoMessage {
                    name: format!("io.k8s.{}.{name}", module.join(".")),
                    fields: Vec::new(),
                };
                if rest.trim_end().ends_with("{}") {
                    messages.push(message);
                } else {
                    current = Some(message);
                }
            }
            derive_message = false;
        }
    }
    Ok(messages)
}

/// The `pub name: Type,` after a field attribute, joined when rustfmt split it.
fn read_declaration<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Result<String, String> {
    let mut declaration = String::new();
    for line in lines {
        declaration.push_str(line.trim());
        let depth: i32 = declaration
            .chars()
            .map(|c| match c {
                '<' => 1,
                '>' => -1,
                _ => 0,
            })
            .sum();
        if depth == 0 && declaration.ends_with(',') {
            return Ok(declaration);
        }
    }
    Err(format!("field declaration never ends: {declaration}"))
}

/// One field from its attribute (`int32, optional, tag = "1")]`) and declaration.
fn parse_field(attr: &str, declaration: &str, module: &[String]) -> Result<ProtoField, String> {
    let attr = attr.trim_end_matches(")]");
    let items = split_items(attr);
    let (name, rust_type) = declaration
        .strip_prefix("pub ")
        .and_then(|d| d.split_once(':'))
        .ok_or_else(|| format!("not a field declaration: {declaration}"))?;
    let name = name.trim().trim_start_matches("r#").to_owned();
    let mut number = None;
    let mut repeated = false;
    for item in &items[1..] {
        match item.split_once(" = ") {
            Some(("tag", n)) => number = n.trim_matches('"').parse().ok(),
            Some(("packed", _)) => {}
            None if item == "repeated" => repeated = true,
            None if item == "optional" || item == "boxed" => {}
            _ => return Err(format!("unknown prost attribute item {item:?} of {name}")),
        }
    }
    let number = number.ok_or_else(|| format!("no tag on {name}"))?;
    let target = || resolve(module, &inner_path(rust_type));
    let ty = match items[0].as_str() {
        "string" => ProtoType::Scalar("string"),
        "int32" => ProtoType::Scalar("int32"),
        "int64" => ProtoType::Scalar("int64"),
        "bool" => ProtoType::Scalar("bool"),
        "double" => ProtoType::Scalar("double"),
        "bytes = \"vec\"" => ProtoType::Scalar("bytes"),
        "message" => ProtoType::Message(target()),
        map => match map.split_once(" = ").map(|(_, v)| v.trim_matches('"')) {
            Some("string, string") => ProtoType::Map(MapValue::String),
            Some("string, bytes") => ProtoType::Map(MapValue::Bytes),
            Some("string, message") => ProtoType::Map(MapValue::Message(target())),
            _ => return Err(format!("unknown prost type {map:?} of {name}")),
        },
    };
    Ok(ProtoField {
        name,
        number,
        ty,
        repeated,
    })
}

/// `a, b = "x, y", tag = "3"` → `["a", "b = \"x, y\"", "tag = \"3\""]`.
fn split_items(attr: &str) -> Vec<String> {
    let mut items = vec![String::new()];
    let mut quoted = false;
    for c in attr.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                items.last_mut().expect("never empty").push(c);
            }
            ',' if !quoted => items.push(String::new()),
            c => items.last_mut().expect("never empty").push(c),
        }
    }
    items.iter().map(|i| i.trim().to_owned()).collect()
}

/// The message path inside `Option<…>`, `Vec<…>`, `Box<…>` or a map's value.
fn inner_path(rust_type: &str) -> String {
    let mut t: String = rust_type.chars().filter(|c| !c.is_whitespace()).collect();
    const WRAPPERS: [&str; 4] = [
        "::core::option::Option<",
        "::prost::alloc::vec::Vec<",
        "::prost::alloc::boxed::Box<",
        "::prost::alloc::collections::BTreeMap<::prost::alloc::string::String,",
    ];
    while let Some(inner) = WRAPPERS.iter().find_map(|w| t.strip_prefix(w)) {
        t = inner.to_owned();
    }
    t.trim_end_matches([',', '>']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_of_every_shape() {
        let text = r#"
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Eviction {
    /// doc
    #[prost(message, optional, tag = "1")]
    pub metadata: ::core::option::Option<super::super::super::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    #[prost(message, repeated, tag = "2")]
    pub items: ::prost::alloc::vec::Vec<Volume>,
    #[prost(btree_map = "string, message", tag = "3")]
    pub limits: ::prost::alloc::collections::BTreeMap<
        ::prost::alloc::string::String,
        super::super::super::apimachinery::pkg::api::resource::Quantity,
    >,
    #[prost(string, optional, tag = "4")]
    pub r#type: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(int64, repeated, packed = "false", tag = "5")]
    pub groups: ::prost::alloc::vec::Vec<i64>,
}
impl crate::Resource for Eviction {}
"#;
        let module = ["api".to_owned(), "policy".to_owned(), "v1".to_owned()];
        let messages = parse_file(text, &module).unwrap();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.name, "io.k8s.api.policy.v1.Eviction");
        let shapes: Vec<(&str, u32, ProtoType, bool)> = m
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.number, f.ty.clone(), f.repeated))
            .collect();
        assert_eq!(
            shapes,
            vec![
                (
                    "metadata",
                    1,
                    ProtoType::Message("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into()),
                    false
                ),
                (
                    "items",
                    2,
                    ProtoType::Message("io.k8s.api.policy.v1.Volume".into()),
                    true
                ),
                (
                    "limits",
                    3,
                    ProtoType::Map(MapValue::Message(
                        "io.k8s.apimachinery.pkg.api.resource.Quantity".into()
                    )),
                    false
                ),
                ("type", 4, ProtoType::Scalar("string"), false),
                ("groups", 5, ProtoType::Scalar("int64"), true),
            ]
        );
    }
}
