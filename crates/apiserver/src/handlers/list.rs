//! LIST: label and field selectors, `limit`/`continue` paging, resourceVersion semantics, and
//! Tables.
//!
//! Paging example: `limit=2` over keys a, b, c returns a and b with a continue token naming
//! revision R and start key `b\0`; the next call reads c at revision R, so the pages form one
//! consistent snapshot.

use axum::response::Response;
use base64::Engine;
use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::selector::{FieldSelector, Selector};
use ferrokube_api::{ApiError, meta};
use ferrokube_store::{RangeOptions, Revision};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Call;
use crate::object::{from_stored, parse_resource_version};
use crate::response::{json, wants_table};
use crate::store_error;

/// Items read from the store per page while filtering.
const SCAN_PAGE: u64 = 500;

/// Which objects a list or watch selects.
pub struct Filter {
    pub labels: Selector,
    pub fields: FieldSelector,
    /// The JSON strings a stored object must contain to match (see `may_match_stored`),
    /// worked out once per list or watch.
    needles: Vec<Vec<u8>>,
}

impl Filter {
    pub fn new(labels: Selector, fields: FieldSelector) -> Self {
        let needles = fields
            .0
            .iter()
            .filter(|(_, equal, value)| *equal && !value.is_empty())
            .filter(|(_, _, value)| value != "true" && value != "false")
            .map(|(_, _, value)| serde_json::to_vec(value).expect("strings serialize"))
            .collect();
        Filter {
            labels,
            fields,
            needles,
        }
    }

    pub fn from_call(call: &Call<'_>) -> Result<Self, ApiError> {
        let fields = call.query.field_selector()?;
        for field in fields.fields() {
            let known = ["metadata.name", "metadata.namespace"].contains(&field)
                || selectable(call.info, field);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Filter::new(call.query.label_selector()?, fields))
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.0.is_empty()
    }

    /// False when the stored bytes of an object cannot match: a field selector's term
    /// `field=value` (value a non-empty string) needs the JSON string `"value"` somewhere in
    /// them. A watch of pods by `spec.nodeName` thus skips, without decoding, every pod event of
    /// other nodes — with 100 nodes, 99 of every 100 it sees.
    pub fn may_match_stored(&self, stored: &[u8]) -> bool {
        self.needles
            .iter()
            .all(|needle| memchr::memmem::find(stored, needle).is_some())
    }

    pub fn matches(&self, info: &ResourceInfo, obj: &Value) -> bool {
        if !self.labels.matches(&meta::labels(obj)) {
            return false;
        }
        if self.fields.0.is_empty() {
            return true;
        }
        let mut fields = vec![
            ("metadata.name", meta::name(obj).to_owned()),
            (
                "metadata.namespace",
                meta::namespace(obj).unwrap_or("").to_owned(),
            ),
        ];
        fields.extend(info.strategy.fields(obj));
        self.fields.matches(&fields)
    }
}

/// Whether the resource's strategy offers `field` for selection.
fn selectable(info: &ResourceInfo, field: &str) -> bool {
    // Strategies list their fields for objects that decode; this one decodes for every kind.
    let sample = json!({"metadata": {}, "spec": {}, "status": {}, "involvedObject": {}});
    info.strategy
        .fields(&sample)
        .iter()
        .any(|(f, _)| *f == field)
}

/// The continue token: which revision the list reads at and the key it resumes from.
fn encode_continue(revision: Revision, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision.0, "start": start});
    base64::engine::general_purpose::STANDARD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = value.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((Revision(rv), start.to_owned()))
}

/// One page of a list.
struct Page {
    items: Vec<Value>,
    revision: Revision,
    continue_token: Option<String>,
    remaining: Option<u64>,
}

async fn read_page(call: &Call<'_>, filter: &Filter) -> Result<Page, ApiError> {
    let prefix = call.info.key_prefix(call.key_namespace());
    let limit = call
        .query
        .get("limit")
        .and_then(|l| l.parse::<u64>().ok())
        .filter(|l| *l > 0);
    let (mut revision, mut start) = match call.query.get("continue") {
        Some(token) => {
            let (rv, start) = decode_continue(token)?;
            (Some(rv), Some(format!("{prefix}{start}")))
        }
        None => (list_revision(call)?, None),
    };
    let mut items = Vec::new();
    loop {
        let want = limit.map_or(SCAN_PAGE, |l| (l - items.len() as u64).max(1));
        let options = RangeOptions {
            start_key: start.clone(),
            limit: Some(want),
            revision,
        };
        let page = call
            .server
            .store
            .range(&prefix, options)
            .await
            .map_err(|e| list_error(call, e))?;
        revision = Some(page.revision);
        let last_key = page.items.last().map(|kv| kv.key.clone());
        for kv in page
            .items
            .iter()
            .filter(|kv| filter.may_match_stored(&kv.value))
        {
            let object = from_stored(call.info, kv)?;
            if filter.matches(call.info, &object) {
                items.push(object);
            }
        }
        let full = limit.is_some_and(|l| items.len() as u64 >= l);
        match (page.more, last_key) {
            (true, Some(last)) if full => {
                let resume = last.strip_prefix(&prefix).unwrap_or(&last);
                let token = encode_continue(page.revision, &format!("{resume}\u{0}"));
                let remaining = if filter.is_empty() {
                    let total = call
                        .server
                        .store
                        .count(&prefix)
                        .await
                        .map_err(|e| list_error(call, e))?;
                    let seen = prefix_position(call, &prefix, &last).await?;
                    Some(total.saturating_sub(seen))
                } else {
                    None
                };
                return Ok(Page {
                    items,
                    revision: page.revision,
                    continue_token: Some(token),
                    remaining,
                });
            }
            (true, Some(last)) => start = Some(format!("{last}\u{0}")),
            _ => {
                return Ok(Page {
                    items,
                    revision: page.revision,
                    continue_token: None,
                    remaining: None,
                });
            }
        }
    }
}

/// How many keys under `prefix` sort at or before `last` (for remainingItemCount).
async fn prefix_position(call: &Call<'_>, prefix: &str, last: &str) -> Result<u64, ApiError> {
    let mut n = 0;
    let mut start: Option<String> = None;
    loop {
        let options = RangeOptions {
            start_key: start.clone(),
            limit: Some(SCAN_PAGE),
            revision: None,
        };
        let page = call
            .server
            .store
            .range(prefix, options)
            .await
            .map_err(|e| list_error(call, e))?;
        for kv in &page.items {
            if kv.key.as_str() > last {
                return Ok(n);
            }
            n += 1;
        }
        match page.items.last() {
            Some(kv) if page.more => start = Some(format!("{}\u{0}", kv.key)),
            _ => return Ok(n),
        }
    }
}

/// The revision a list reads at: now, unless `resourceVersionMatch=Exact` names one.
fn list_revision(call: &Call<'_>) -> Result<Option<Revision>, ApiError> {
    let rv = call.query.get("resourceVersion");
    match (call.query.get("resourceVersionMatch"), rv) {
        (Some("Exact"), Some(rv)) => Ok(Some(parse_resource_version(rv)?)),
        (Some("Exact"), None) => Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"\"",
        )),
        (Some("NotOlderThan") | None, rv) => {
            if let Some(rv) = rv {
                parse_resource_version(rv)?;
            }
            Ok(None)
        }
        (Some(other), _) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}

fn list_error(call: &Call<'_>, err: ferrokube_store::StoreError) -> ApiError {
    match err {
        ferrokube_store::StoreError::Compacted { .. } => {
            ApiError::gone("The resourceVersion for the provided list is too old.")
        }
        other => store_error(other, &call.resource(), ""),
    }
}

pub async fn list(call: Call<'_>) -> Result<Response, ApiError> {
    let filter = Filter::from_call(&call)?;
    let page = read_page(&call, &filter).await?;
    let mut list_meta = json!({"resourceVersion": page.revision.0.to_string()});
    if let Some(token) = &page.continue_token {
        list_meta["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        list_meta["remainingItemCount"] = json!(remaining);
    }
    if wants_table(call.headers) {
        return Ok(json(
            200,
            &table_of(&call, &page.items, list_meta, Timestamp::now()),
        ));
    }
    let items: Vec<Value> = page.items.into_iter().map(strip_type).collect();
    Ok(json(
        200,
        &json!({"kind": format!("{}List", call.info.kind), "apiVersion": call.info.api_version(), "metadata": list_meta, "items": items}),
    ))
}

/// List items carry no `kind`/`apiVersion`, as upstream's typed lists.
fn strip_type(mut obj: Value) -> Value {
    if let Some(map) = obj.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    obj
}

/// A Table of objects with the resource's columns.
pub fn table_of(call: &Call<'_>, objects: &[Value], list_meta: Value, now: Timestamp) -> Value {
    let columns = call.info.strategy.columns();
    let rows = objects
        .iter()
        .map(|obj| {
            (
                call.info.strategy.cells(obj, now),
                ferrokube_api::table::partial_object_metadata(obj),
            )
        })
        .collect();
    ferrokube_api::table::table(&columns, rows, list_meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_round_trips() {
        let token = encode_continue(Revision(42), "web\u{0}");
        assert_eq!(
            decode_continue(&token).unwrap(),
            (Revision(42), "web\u{0}".to_owned())
        );
        assert!(decode_continue("not-base64!").is_err());
    }

    #[test]
    fn stored_bytes_rule_out_objects_of_other_field_values() {
        let filter = |selector: &str| {
            let fields = ferrokube_api::selector::parse_field_selector(selector).unwrap();
            Filter::new(Selector::default(), fields)
        };
        let pod = br#"{"metadata":{"name":"p"},"spec":{"nodeName":"node-10"}}"#;
        assert!(filter("spec.nodeName=node-10").may_match_stored(pod));
        assert!(!filter("spec.nodeName=node-1").may_match_stored(pod));
        // Terms that absent or non-string fields can satisfy are not ruled out.
        assert!(filter("spec.nodeName!=node-1").may_match_stored(pod));
        assert!(filter("spec.nodeName=").may_match_stored(pod));
        assert!(filter("spec.hostNetwork=false").may_match_stored(pod));
    }
}
