//! core/v1 Events: LAST SEEN TYPE REASON OBJECT MESSAGE, and `involvedObject.*` field selectors.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use serde_json::{Value, json};

use crate::strategy::{Typed, name_and_age};
use crate::table::{Column, age};
use crate::validation::NameRule;

pub fn strategy() -> Typed<Event> {
    Typed {
        default,
        columns: &COLUMNS,
        cells,
        fields,
        ..Typed::plain(NameRule::Subdomain)
    }
}

const COLUMNS: [Column; 10] = [
    Column::new(
        "Last Seen",
        "string",
        "Time when this Event was last observed.",
    ),
    Column::new(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    Column::new(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    Column::new("Object", "string", "The object that this event is about."),
    Column::new(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    Column::wide("Subobject", "string", "Subobject of the involved object."),
    Column::wide(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    Column::wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    Column::wide(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Column {
        priority: 1,
        ..Column::NAME
    },
];

fn default(event: &mut Event) {
    event.type_.get_or_insert_with(|| "Normal".to_owned());
}

/// The Count column as upstream prints it: the series' count, else `count`, else 1 (a
/// singleton of the new API has none).
fn count(event: &Event) -> i32 {
    match (event.series.as_ref().and_then(|s| s.count), event.count) {
        (Some(count), _) => count,
        (None, Some(count)) if count != 0 => count,
        _ => 1,
    }
}

fn cells(event: &Event, now: Timestamp) -> Vec<Value> {
    let (name, _) = name_and_age(&event.metadata, now);
    let last = event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(event.last_timestamp.as_ref().map(|t| t.0))
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let first = event
        .first_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(event.event_time.as_ref().map(|t| t.0));
    let involved = &event.involved_object;
    let object = format!(
        "{}/{}",
        involved.kind.clone().unwrap_or_default().to_lowercase(),
        involved.name.clone().unwrap_or_default()
    );
    let source = event
        .source
        .as_ref()
        .and_then(|s| s.component.clone())
        .or(event.reporting_component.clone())
        .unwrap_or_default();
    vec![
        json!(age(last.as_ref(), now)),
        json!(event.type_.clone().unwrap_or_default()),
        json!(event.reason.clone().unwrap_or_default()),
        json!(object),
        json!(event.message.clone().unwrap_or_default()),
        json!(involved.field_path.clone().unwrap_or_default()),
        json!(source),
        json!(age(first.as_ref(), now)),
        json!(count(event)),
        name,
    ]
}

fn fields(event: &Value) -> Vec<(&'static str, String)> {
    let text = |pointer: &str| crate::meta::text_at(event, pointer);
    vec![
        ("involvedObject.kind", text("/involvedObject/kind")),
        (
            "involvedObject.namespace",
            text("/involvedObject/namespace"),
        ),
        ("involvedObject.name", text("/involvedObject/name")),
        ("involvedObject.uid", text("/involvedObject/uid")),
        (
            "involvedObject.apiVersion",
            text("/involvedObject/apiVersion"),
        ),
        (
            "involvedObject.resourceVersion",
            text("/involvedObject/resourceVersion"),
        ),
        (
            "involvedObject.fieldPath",
            text("/involvedObject/fieldPath"),
        ),
        ("reason", text("/reason")),
        ("reportingComponent", text("/reportingComponent")),
        ("source", text("/source/component")),
        ("type", text("/type")),
    ]
}
