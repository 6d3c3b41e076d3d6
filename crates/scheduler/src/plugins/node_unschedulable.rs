//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use crate::framework::{Failure, NodeInfo, PodInfo, tolerates};

pub const REASON: &str = "node(s) were unschedulable";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    if !node.unschedulable() {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if pod.tolerations().iter().any(|t| tolerates(t, &taint)) {
        return Ok(());
    }
    Err(Failure::unresolvable(REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_refuse_pods_that_do_not_tolerate_it() {
        let cordoned = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}));
        let open = node(json!({"metadata": {"name": "n"}}));
        let plain = pod(json!({"containers": [{"name": "c"}]}));
        let tolerant = pod(json!({"containers": [{"name": "c"}], "tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}));
        assert_eq!(
            filter(&plain, &cordoned),
            Err(Failure::unresolvable(REASON))
        );
        assert_eq!(filter(&tolerant, &cordoned), Ok(()));
        assert_eq!(filter(&plain, &open), Ok(()));
    }
}
