//! Node selector terms as upstream's `nodeaffinity` helpers read them: terms are ORed,
//! expressions within a term ANDed (In, NotIn, Exists, DoesNotExist, Gt, Lt), matchFields on
//! `metadata.name`. The scheduler's NodeAffinity and the volume checks (a PersistentVolume's
//! node affinity) share them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(|v| number(v)),
                values.first().and_then(|v| number(v)),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// Whether a node selector term matches a node's labels and name; an empty term matches
/// nothing, as upstream.
pub fn term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let name = name.to_owned();
    expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields
            .iter()
            .all(|r| requirement_matches(r, (r.key == "metadata.name").then_some(&name)))
}

/// Whether any term of a node selector matches the node.
pub fn selector_matches(
    selector: &NodeSelector,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|t| term_matches(t, labels, name))
}
