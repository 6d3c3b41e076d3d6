//! The scheduler's view of the cluster: nodes with the pods counted on them, bound or assumed.
//! A pod counts on its node from the moment it is chosen (assumed), before its binding is
//! seen; a failed binding forgets it. An index of each controller's pods per node serves the
//! default spreading without scanning every pod.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::{NodeInfo, PodInfo};
use crate::plugins::inter_pod_affinity;

#[derive(Default)]
pub struct Cache {
    /// Nodes in one contiguous list (the order the scheduler rotates through), and where
    /// each name is in it.
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Every counted pod: UID → (node, assumed).
    pods: HashMap<String, (String, bool)>,
    /// Controller UID → node name → how many of its pods are there.
    owners: HashMap<String, HashMap<String, i64>>,
    /// How many counted pods have pod (anti-)affinity terms.
    with_affinity_terms: usize,
    /// Pods on nodes not (yet) in the cache, by node name.
    waiting: HashMap<String, Vec<Arc<PodInfo>>>,
}

impl Cache {
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> + Clone {
        self.nodes.iter()
    }

    /// The nodes as a slice, to check from any position.
    pub fn node_list(&self) -> &[NodeInfo] {
        &self.nodes
    }

    fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        self.index.get(name).map(|i| &mut self.nodes[*i])
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub fn owner_counts(&self, owner: &str) -> Option<&HashMap<String, i64>> {
        self.owners.get(owner)
    }

    pub fn any_affinity_terms(&self) -> bool {
        self.with_affinity_terms > 0
    }

    pub fn set_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.node_mut(&name) {
            Some(info) => info.set_node(node),
            None => {
                let mut info = NodeInfo::new(node);
                for pod in self.waiting.remove(&name).unwrap_or_default() {
                    info.add_pod(pod);
                }
                self.index.insert(name, self.nodes.len());
                self.nodes.push(info);
            }
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let info = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        // The pods stay counted until they are deleted, as upstream.
        self.waiting.insert(name.to_owned(), info.pods);
    }

    /// Whether the pod with this UID is counted somewhere.
    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: &str, assumed: bool) {
        if inter_pod_affinity::has_terms(&pod) {
            self.with_affinity_terms += 1;
        }
        if let Some(owner) = &pod.owner {
            *self
                .owners
                .entry(owner.clone())
                .or_default()
                .entry(node.to_owned())
                .or_default() += 1;
        }
        self.pods
            .insert(pod.uid.clone(), (node.to_owned(), assumed));
        match self.node_mut(node) {
            Some(info) => info.add_pod(pod),
            None => self.waiting.entry(node.to_owned()).or_default().push(pod),
        }
    }

    /// Counts a pod on the node the scheduler chose for it.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove_pod(&pod.uid.clone());
        self.place(pod, node, true);
    }

    /// Stops counting an assumed pod whose binding failed.
    pub fn forget(&mut self, uid: &str) {
        if matches!(self.pods.get(uid), Some((_, true))) {
            self.remove_pod(uid);
        }
    }

    /// A pod seen bound to a node (or updated there): counted there, no longer assumed.
    pub fn set_bound_pod(&mut self, pod: Arc<Pod>) {
        let info = Arc::new(PodInfo::bound(pod));
        let node = info
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        self.remove_pod(&info.uid.clone());
        self.place(info, &node, false);
    }

    pub fn remove_pod(&mut self, uid: &str) {
        let Some((node, _)) = self.pods.remove(uid) else {
            return;
        };
        let removed = match self.node_mut(&node) {
            Some(info) => info.remove_pod(uid),
            None => self.waiting.get_mut(&node).and_then(|pods| take(pods, uid)),
        };
        let Some(pod) = removed else { return };
        if inter_pod_affinity::has_terms(&pod) {
            self.with_affinity_terms -= 1;
        }
        if let Some(owner) = &pod.owner
            && let Some(by_node) = self.owners.get_mut(owner)
        {
            if let Some(n) = by_node.get_mut(&node) {
                *n -= 1;
                if *n <= 0 {
                    by_node.remove(&node);
                }
            }
            if by_node.is_empty() {
                self.owners.remove(owner);
            }
        }
    }
}

fn take(pods: &mut Vec<Arc<PodInfo>>, uid: &str) -> Option<Arc<PodInfo>> {
    let i = pods.iter().position(|p| p.uid == uid)?;
    Some(pods.swap_remove(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"}}}))
                .unwrap(),
        )
    }

    fn pod(uid: &str, node: Option<&str>) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": uid, "namespace": "default", "uid": uid,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs1", "controller": true}]},
                "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}))
            .unwrap(),
        )
    }

    #[test]
    fn assumed_pods_count_until_forgotten_or_bound() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        cache.assume(Arc::new(PodInfo::new(pod("a", None))), "n1");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 1000);
        assert_eq!(cache.owner_counts("rs1").unwrap()["n1"], 1);
        cache.forget("a");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 0);
        assert!(cache.owner_counts("rs1").is_none());

        cache.assume(Arc::new(PodInfo::new(pod("b", None))), "n1");
        cache.set_bound_pod(pod("b", Some("n1")));
        // Bound now: forgetting (a late bind failure) no longer removes it.
        cache.forget("b");
        assert_eq!(cache.node("n1").unwrap().pods.len(), 1);
        cache.remove_pod("b");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 0);
    }

    #[test]
    fn pods_seen_before_their_node_join_it() {
        let mut cache = Cache::default();
        cache.set_bound_pod(pod("a", Some("late")));
        cache.set_node(node("late"));
        assert_eq!(cache.node("late").unwrap().requested.milli_cpu, 1000);
        cache.remove_node("late");
        cache.set_node(node("late"));
        assert_eq!(cache.node("late").unwrap().pods.len(), 1);
    }
}
