//! NodeAffinity: `nodeSelector` and required node affinity filter nodes (terms are ORed,
//! expressions within a term ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields on
//! `metadata.name`); preferred node affinity scores them by the weights of matching terms.

pub use ferrokube_client::node_selector::term_matches;

use crate::framework::{Failure, NodeInfo, PodInfo};

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    let spec = pod.pod.spec.as_ref();
    let selector_ok = spec
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| sel.iter().all(|(k, v)| node.labels.get(k) == Some(v)));
    let required = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok = required.is_none_or(|r| {
        r.node_selector_terms
            .iter()
            .any(|t| term_matches(t, &node.labels, &node.name))
    });
    if selector_ok && affinity_ok {
        Ok(())
    } else {
        Err(Failure::unresolvable(REASON))
    }
}

/// The sum of the weights of the preferred terms the node matches (normalized later).
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|p| term_matches(&p.preference, &node.labels, &node.name))
        .map(|p| i64::from(p.weight))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn with_affinity(terms: serde_json::Value) -> PodInfo {
        pod(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
    }

    #[test]
    fn required_affinity_and_selector() {
        let n = node(json!({"metadata": {"name": "n1", "labels": {"zone": "a", "cores": "8"}}}));
        let expr = |op: &str, values: serde_json::Value| json!([{"matchExpressions": [{"key": "zone", "operator": op, "values": values}]}]);
        let cases = [
            (with_affinity(expr("In", json!(["a", "b"]))), true),
            (with_affinity(expr("In", json!(["b"]))), false),
            (with_affinity(expr("NotIn", json!(["b"]))), true),
            (with_affinity(expr("NotIn", json!(["a"]))), false),
            (
                with_affinity(
                    json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]),
                ),
                true,
            ),
            (
                with_affinity(
                    json!([{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}]),
                ),
                true,
            ),
            (
                with_affinity(
                    json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]),
                ),
                true,
            ),
            (
                with_affinity(
                    json!([{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]}]),
                ),
                false,
            ),
            // terms are ORed
            (
                with_affinity(json!([
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])),
                true,
            ),
            (
                with_affinity(
                    json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}]),
                ),
                false,
            ),
            // an empty term matches nothing
            (with_affinity(json!([{}])), false),
            (
                pod(json!({"containers": [], "nodeSelector": {"zone": "a"}})),
                true,
            ),
            (
                pod(json!({"containers": [], "nodeSelector": {"zone": "b"}})),
                false,
            ),
            (pod(json!({"containers": []})), true),
        ];
        for (i, (p, fits)) in cases.iter().enumerate() {
            let want = if *fits {
                Ok(())
            } else {
                Err(Failure::unresolvable(REASON))
            };
            assert_eq!(filter(p, &n), want, "case {i}");
        }
    }

    #[test]
    fn preferred_terms_add_their_weights() {
        let p = pod(json!({"containers": [], "affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}]}}}));
        let a = node(json!({"metadata": {"name": "a", "labels": {"zone": "a", "disk": "ssd"}}}));
        let b = node(json!({"metadata": {"name": "b", "labels": {"zone": "b"}}}));
        assert_eq!(score(&p, &a), 15);
        assert_eq!(score(&p, &b), 0);
    }
}
