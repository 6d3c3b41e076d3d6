//! events.k8s.io/v1 Events: served from the same storage as core/v1 Events, converted field
//! by field as upstream does (`regarding` ↔ `involvedObject`, `note` ↔ `message`,
//! `reportingController` ↔ `reportingComponent`, `deprecated*` ↔ the core fields).

use k8s_openapi::api::events::v1::Event;
use serde_json::{Map, Value, json};

use crate::strategy::Typed;
use crate::validation::NameRule;

pub fn strategy() -> Typed<Event> {
    Typed {
        stored_form,
        served_form,
        ..Typed::plain(NameRule::Subdomain)
    }
}

/// (events.k8s.io/v1 field, core/v1 field) pairs that only change name.
const RENAMED: [(&str, &str); 6] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields with the same name in both versions.
const SAME: [&str; 8] = [
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
];

fn convert(
    object: Value,
    api_version: &str,
    kind_pairs: impl Iterator<Item = (&'static str, &'static str)>,
    source: (&str, &str),
) -> Value {
    let Value::Object(from) = object else {
        return object;
    };
    let mut to = Map::new();
    to.insert("apiVersion".into(), json!(api_version));
    to.insert("kind".into(), json!("Event"));
    for field in SAME {
        if let Some(v) = from.get(field) {
            to.insert(field.into(), v.clone());
        }
    }
    for (src, dst) in kind_pairs {
        if let Some(v) = from.get(src) {
            to.insert(dst.into(), v.clone());
        }
    }
    if let Some(v) = from.get(source.0) {
        to.insert(source.1.into(), v.clone());
    }
    Value::Object(to)
}

/// events.k8s.io/v1 → the stored core/v1 form.
fn stored_form(object: Value) -> Value {
    convert(
        object,
        "v1",
        RENAMED.into_iter(),
        ("deprecatedSource", "source"),
    )
}

/// The stored core/v1 form → events.k8s.io/v1.
fn served_form(object: Value) -> Value {
    convert(
        object,
        "events.k8s.io/v1",
        RENAMED.into_iter().map(|(a, b)| (b, a)),
        ("source", "deprecatedSource"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_core_form() {
        let served = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "web"}, "note": "Pulling image", "reason": "Pulling",
            "type": "Normal", "reportingController": "kubelet", "reportingInstance": "node-1",
            "action": "Pull", "eventTime": "2026-01-01T00:00:00.000000Z", "deprecatedCount": 2
        });
        let stored = stored_form(served.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["involvedObject"]["name"], "web");
        assert_eq!(stored["message"], "Pulling image");
        assert_eq!(stored["reportingComponent"], "kubelet");
        assert_eq!(stored["count"], 2);
        assert_eq!(served_form(stored), served);
    }
}
