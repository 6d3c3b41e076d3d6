//! Field paths and field errors as upstream's `field.Path` and `field.Error` print them.
//!
//! Example: `FieldPath::new("spec").child("template").child("spec").child("containers").index(0).child("image")`
//! prints `spec.template.spec.containers[0].image`; a `FieldError::required` on it prints
//! `spec.template.spec.containers[0].image: Required value`.

use std::fmt;

use serde_json::Value;

/// A path to a field of an object.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldPath(String);

impl FieldPath {
    /// The path of a top-level field.
    pub fn new(name: &str) -> Self {
        FieldPath(name.to_owned())
    }

    /// The path of a field below this one.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            FieldPath(name.to_owned())
        } else {
            FieldPath(format!("{}.{name}", self.0))
        }
    }

    /// The path of a list element.
    pub fn index(&self, i: usize) -> Self {
        FieldPath(format!("{}[{i}]", self.0))
    }

    /// The path of a map entry.
    pub fn key(&self, key: &str) -> Self {
        FieldPath(format!("{}[{key}]", self.0))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a field error, with upstream's `reason` for `StatusCause`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    Duplicate,
    NotSupported,
    Forbidden,
    TooLong,
    NotFound,
}

impl ErrorType {
    /// The `StatusCause.reason` upstream uses.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::NotFound => "FieldValueNotFound",
        }
    }
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    pub field: FieldPath,
    /// The offending value, already printed as upstream prints it (`"x"`, `-1`, `map[…]`).
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: FieldPath, detail: &str) -> Self {
        FieldError {
            kind: ErrorType::Required,
            field,
            value: None,
            detail: detail.to_owned(),
        }
    }

    pub fn invalid(field: FieldPath, value: impl Into<Value>, detail: &str) -> Self {
        FieldError {
            kind: ErrorType::Invalid,
            field,
            value: Some(go_value(&value.into())),
            detail: detail.to_owned(),
        }
    }

    /// An invalid value printed by the caller, as Go's `%#v` prints maps and structs.
    pub fn invalid_raw(field: FieldPath, printed: String, detail: &str) -> Self {
        FieldError {
            kind: ErrorType::Invalid,
            field,
            value: Some(printed),
            detail: detail.to_owned(),
        }
    }

    pub fn duplicate(field: FieldPath, value: impl Into<Value>) -> Self {
        FieldError {
            kind: ErrorType::Duplicate,
            field,
            value: Some(go_value(&value.into())),
            detail: String::new(),
        }
    }

    pub fn not_supported(field: FieldPath, value: impl Into<Value>, supported: &[&str]) -> Self {
        let quoted: Vec<_> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            kind: ErrorType::NotSupported,
            field,
            value: Some(go_value(&value.into())),
            detail: format!("supported values: {}", quoted.join(", ")),
        }
    }

    /// Upstream's `field.NotFound`: a reference to something that is not there.
    pub fn not_found(field: FieldPath, value: impl Into<Value>) -> Self {
        FieldError {
            kind: ErrorType::NotFound,
            field,
            value: Some(go_value(&value.into())),
            detail: String::new(),
        }
    }

    pub fn forbidden(field: FieldPath, detail: &str) -> Self {
        FieldError {
            kind: ErrorType::Forbidden,
            field,
            value: None,
            detail: detail.to_owned(),
        }
    }

    /// Upstream's `field.TooLong`: the value is not printed, only the limit in bytes.
    pub fn too_long(field: FieldPath, max_bytes: usize) -> Self {
        FieldError {
            kind: ErrorType::TooLong,
            field,
            value: None,
            detail: format!("must have at most {max_bytes} bytes"),
        }
    }

    /// The message without the field, as in `StatusCause.message`.
    pub fn message(&self) -> String {
        let value = self.value.clone();
        let with_detail = |head: String| {
            if self.detail.is_empty() {
                head
            } else {
                format!("{head}: {}", self.detail)
            }
        };
        match self.kind {
            ErrorType::Required => with_detail("Required value".to_owned()),
            ErrorType::Forbidden => with_detail("Forbidden".to_owned()),
            ErrorType::Invalid => {
                with_detail(format!("Invalid value: {}", value.unwrap_or_default()))
            }
            ErrorType::Duplicate => format!("Duplicate value: {}", value.unwrap_or_default()),
            ErrorType::NotSupported => {
                with_detail(format!("Unsupported value: {}", value.unwrap_or_default()))
            }
            ErrorType::TooLong => with_detail("Too long".to_owned()),
            ErrorType::NotFound => format!("Not found: {}", value.unwrap_or_default()),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// A value as Go's `%v`/`%q` print it in upstream's messages: strings quoted, numbers bare.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// A string quoted as Go's `strconv.Quote` quotes it (`\x00`, not Rust's `\0`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_as_upstream() {
        let containers = FieldPath::new("spec")
            .child("template")
            .child("spec")
            .child("containers");
        let cases = [
            (
                FieldError::invalid(
                    FieldPath::new("spec").child("replicas"),
                    -1,
                    "must be greater than or equal to 0",
                ),
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                FieldError::required(containers.index(0).child("image"), ""),
                "spec.template.spec.containers[0].image: Required value",
            ),
            (
                FieldError::duplicate(containers.index(1).child("name"), "web"),
                "spec.template.spec.containers[1].name: Duplicate value: \"web\"",
            ),
            (
                FieldError::not_supported(
                    FieldPath::new("spec").child("restartPolicy"),
                    "Sometimes",
                    &["Always", "Never", "OnFailure"],
                ),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"",
            ),
            (
                FieldError::too_long(FieldPath::new("metadata").child("annotations"), 262144),
                "metadata.annotations: Too long: must have at most 262144 bytes",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }
}
