//! NodeName: a pod that names a node (`spec.nodeName` set before scheduling) fits only there.

use crate::framework::{Failure, NodeInfo, PodInfo};

pub const REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(name) if !name.is_empty() && name != node.name => Err(Failure::unresolvable(REASON)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn only_the_named_node_fits() {
        let n1 = node(json!({"metadata": {"name": "n1"}}));
        let cases = [
            (json!({"containers": [], "nodeName": "n1"}), Ok(())),
            (
                json!({"containers": [], "nodeName": "n2"}),
                Err(Failure::unresolvable(REASON)),
            ),
            (json!({"containers": []}), Ok(())),
        ];
        for (spec, want) in cases {
            assert_eq!(filter(&pod(spec.clone()), &n1), want, "{spec}");
        }
    }
}
