//! Server-side Tables (`application/json;as=Table;v=v1;g=meta.k8s.io`): column definitions,
//! rows with PartialObjectMetadata, and upstream's human-readable ages.

use jiff::Timestamp;
use serde_json::{Value, json};

/// One column of a Table.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0 for the default view, 1 for `-o wide` only.
    pub priority: u8,
}

impl Column {
    pub const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column {
            name,
            kind,
            format: "",
            description,
            priority: 0,
        }
    }

    pub const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column {
            name,
            kind,
            format: "",
            description,
            priority: 1,
        }
    }

    /// The Name column every table starts with.
    pub const NAME: Column = Column {
        name: "Name",
        kind: "string",
        format: "name",
        description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        priority: 0,
    };

    /// The Age column.
    pub const AGE: Column = Column::new(
        "Age",
        "string",
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    );

    pub fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Upstream's `duration.HumanDuration`: `45s`, `5m30s`, `3h`, `2d4h`, `400d`, `3y20d`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of a timestamp as upstream's printers show it, `<unknown>` when absent.
pub fn age(timestamp: Option<&Timestamp>, now: Timestamp) -> String {
    match timestamp {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".to_owned(),
    }
}

/// The row object: PartialObjectMetadata with the object's metadata.
pub fn partial_object_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// What each row of a Table carries as its `object` (the request's `includeObject`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing (`"object": null`).
    None,
    /// The object's metadata, as PartialObjectMetadata (the default).
    #[default]
    Metadata,
    /// The whole object (kubectl asks for it to `--sort-by` a field outside metadata).
    Object,
}

impl IncludeObject {
    /// The `includeObject` parameter; an unknown value is upstream's 400 text.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(format!(
                "includeObject: Unsupported value: {other:?}: supported values: \"Metadata\", \"None\", \"Object\""
            )),
        }
    }

    /// A row's `object` for `obj`.
    pub fn row_object(self, obj: &Value) -> Value {
        match self {
            IncludeObject::None => Value::Null,
            IncludeObject::Metadata => partial_object_metadata(obj),
            IncludeObject::Object => obj.clone(),
        }
    }
}

/// A Table of `rows` (cells, object) under `columns`.
pub fn table(columns: &[Column], rows: Vec<(Vec<Value>, Value)>, list_meta: Value) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns.iter().map(Column::definition).collect::<Vec<_>>(),
        "rows": rows.into_iter().map(|(cells, object)| json!({"cells": cells, "object": object})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn include_object_table() {
        use super::IncludeObject;
        let pod = serde_json::json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}, "spec": {"x": 1}});
        let cases = [
            (None, Ok(IncludeObject::Metadata)),
            (Some("Metadata"), Ok(IncludeObject::Metadata)),
            (Some("None"), Ok(IncludeObject::None)),
            (Some("Object"), Ok(IncludeObject::Object)),
        ];
        for (value, want) in cases {
            assert_eq!(IncludeObject::parse(value), want, "{value:?}");
        }
        assert_eq!(
            IncludeObject::parse(Some("All")).unwrap_err(),
            "includeObject: Unsupported value: \"All\": supported values: \"Metadata\", \"None\", \"Object\""
        );
        assert_eq!(IncludeObject::Object.row_object(&pod), pod);
        assert_eq!(
            IncludeObject::None.row_object(&pod),
            serde_json::Value::Null
        );
        assert_eq!(
            IncludeObject::Metadata.row_object(&pod)["kind"],
            "PartialObjectMetadata"
        );
        assert!(
            IncludeObject::Metadata
                .row_object(&pod)
                .get("spec")
                .is_none()
        );
    }

    use super::*;

    #[test]
    fn human_duration_table() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (52 * 3600, "2d4h"),
            (8 * 86400, "8d"),
            (400 * 86400, "400d"),
            (730 * 86400, "2y"),
            (750 * 86400, "2y20d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
    }
}
