//! Which objects a list, a watch or a delete-collection selects: label and field selectors.

use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::selector::{FieldSelector, Selector};
use ferrokube_api::{ApiError, meta};
use serde_json::{Value, json};

use crate::query::Query;

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

    /// The selection a request's `labelSelector` and `fieldSelector` ask for; a field the
    /// resource does not offer is a 400, as upstream's.
    pub fn from_query(info: &ResourceInfo, query: &Query) -> Result<Self, ApiError> {
        let fields = query.field_selector()?;
        for field in fields.fields() {
            let known =
                ["metadata.name", "metadata.namespace"].contains(&field) || selectable(info, field);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Filter::new(query.label_selector()?, fields))
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

#[cfg(test)]
mod tests {
    use super::*;

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
