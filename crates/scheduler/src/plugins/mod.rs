//! The filter and score plugins, each a pure function of the pod, a node and (for the
//! cluster-wide ones) state computed once per scheduling cycle.

pub mod balanced_allocation;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

#[cfg(test)]
pub mod testing {
    //! Builders for plugin tables.

    use std::sync::Arc;

    use crate::framework::{NodeInfo, PodInfo};

    /// A pod in `default` with this spec.
    pub fn pod(spec: serde_json::Value) -> PodInfo {
        pod_with(
            serde_json::json!({"name": "p", "namespace": "default", "uid": "p"}),
            spec,
        )
    }

    /// A pod with this metadata and spec.
    pub fn pod_with(metadata: serde_json::Value, spec: serde_json::Value) -> PodInfo {
        let pod = serde_json::from_value(serde_json::json!({"metadata": metadata, "spec": spec}))
            .expect("a pod");
        PodInfo::new(Arc::new(pod))
    }

    /// A node from its JSON.
    pub fn node(json: serde_json::Value) -> NodeInfo {
        NodeInfo::new(Arc::new(serde_json::from_value(json).expect("a node")))
    }

    /// The node with these pods on it.
    pub fn with_pods(mut node: NodeInfo, pods: Vec<PodInfo>) -> NodeInfo {
        for (i, mut p) in pods.into_iter().enumerate() {
            p.uid = format!("{}-{i}", p.uid);
            node.add_pod(Arc::new(p));
        }
        node
    }
}
