//! TaintToleration: a node's NoSchedule and NoExecute taints keep off pods that do not
//! tolerate them (the not-ready and unreachable taints included); PreferNoSchedule taints
//! lower the score by how many are not tolerated.

use crate::framework::{Failure, NodeInfo, PodInfo, tolerates};

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    let tolerations = pod.tolerations();
    let untolerated = node.taints().iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerations.iter().any(|t| tolerates(t, taint))
    });
    match untolerated {
        None => Ok(()),
        Some(taint) => Err(Failure::unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint.key,
            taint.value.as_deref().unwrap_or("")
        ))),
    }
}

/// How many PreferNoSchedule taints the pod does not tolerate (fewer is better).
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let tolerations: Vec<_> = pod
        .tolerations()
        .iter()
        .filter(|t| {
            t.effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
        })
        .collect();
    node.taints()
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn tainted(taints: serde_json::Value) -> NodeInfo {
        node(json!({"metadata": {"name": "n"}, "spec": {"taints": taints}}))
    }

    #[test]
    fn untolerated_taints_filter_as_upstream() {
        let plain = pod(json!({"containers": []}));
        let tolerant = pod(
            json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]}),
        );
        let cases = [
            (
                &plain,
                json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
                Some("node(s) had untolerated taint {dedicated: x}"),
            ),
            (
                &tolerant,
                json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
                None,
            ),
            (
                &plain,
                json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
                Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            ),
            (
                &plain,
                json!([{"key": "soft", "effect": "PreferNoSchedule"}]),
                None,
            ),
            (
                &tolerant,
                json!([{"key": "dedicated", "value": "x", "effect": "NoExecute"}]),
                Some("node(s) had untolerated taint {dedicated: x}"),
            ),
        ];
        for (p, taints, want) in cases {
            let got = filter(p, &tainted(taints.clone()));
            assert_eq!(
                got,
                want.map_or(Ok(()), |r| Err(Failure::unresolvable(r))),
                "{taints}"
            );
        }
    }

    #[test]
    fn prefer_no_schedule_taints_count_against_a_node() {
        let n = tainted(
            json!([{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}, {"key": "c", "effect": "NoSchedule"}]),
        );
        assert_eq!(score(&pod(json!({"containers": []})), &n), 2);
        let tolerant = pod(
            json!({"containers": [], "tolerations": [{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}]}),
        );
        assert_eq!(score(&tolerant, &n), 1);
    }
}
