//! What the plugins see: the pod being scheduled with its requests worked out once, each
//! node with the pods on it, and how a filter says no (upstream's status codes and reasons).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::resources::{self, Resources};

/// A host port a pod asks for: protocol, host IP (`0.0.0.0` for any) and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

/// A pod and what the plugins need of it, computed once.
#[derive(Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub requests: Resources,
    pub non_zero_requests: Resources,
    pub host_ports: Vec<HostPort>,
    /// The UID of the controller owning the pod (its ReplicaSet, …), for default spreading.
    pub owner: Option<String>,
    pub priority: i32,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let host_ports = spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .flat_map(|c| c.ports.iter().flatten())
            .filter(|p| p.host_port.is_some_and(|h| h > 0))
            .map(|p| HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                port: p.host_port.unwrap_or_default(),
            })
            .collect();
        PodInfo {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            requests: resources::pod_requests(&pod),
            non_zero_requests: resources::pod_requests_non_zero(&pod),
            host_ports,
            owner: meta
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| o.uid.clone()),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            pod,
        }
    }

    /// The info of a pod bound to its node: what a later pod's checks read of it (its
    /// identity, labels, node and affinity terms, besides the counts worked out here); its
    /// containers, tolerations and the rest were most of the scheduler's memory with 10,000
    /// pods bound.
    pub fn bound(pod: Arc<Pod>) -> PodInfo {
        let mut info = PodInfo::new(pod);
        let pod = &info.pod;
        let spec = pod.spec.as_ref();
        let skeleton = Arc::new(Pod {
            metadata: ObjectMeta {
                name: pod.metadata.name.clone(),
                namespace: pod.metadata.namespace.clone(),
                uid: pod.metadata.uid.clone(),
                labels: pod.metadata.labels.clone(),
                owner_references: pod.metadata.owner_references.clone(),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: spec.and_then(|s| s.node_name.clone()),
                affinity: spec.and_then(|s| s.affinity.clone()),
                priority: spec.and_then(|s| s.priority),
                ..Default::default()
            }),
            status: None,
        });
        info.pod = skeleton;
        info
    }

    pub fn tolerations(&self) -> &[Toleration] {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[])
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A node and the pods the scheduler counts on it (bound or assumed).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub node: Arc<Node>,
    pub labels: BTreeMap<String, String>,
    pub allocatable: Resources,
    pub requested: Resources,
    pub non_zero_requested: Resources,
    pub pods: Vec<Arc<PodInfo>>,
    /// `spec.unschedulable` and `spec.taints`, read once (checked for every pod).
    unschedulable: bool,
    taints: Vec<Taint>,
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let spec = node.spec.as_ref();
        NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            allocatable: resources::allocatable(&node),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            pods: Vec::new(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            node,
        }
    }

    /// Replaces the Node object, keeping the pods counted on it.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        self.allocatable = resources::allocatable(&node);
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.node = node;
    }

    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.pods.push(pod);
    }

    /// Removes the pod with this UID.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.requested.subtract(&pod.requests);
        self.non_zero_requested.subtract(&pod.non_zero_requests);
        Some(pod)
    }
}

/// How a filter said no: upstream's `Unschedulable` (another pod leaving could make room, so
/// preemption might help) or `UnschedulableAndUnresolvable` (nothing a pod does changes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Unschedulable,
    Unresolvable,
}

/// A filter's refusal with upstream's reason text, e.g. "Insufficient cpu".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Failure {
    pub fn unschedulable(reason: impl Into<String>) -> Failure {
        Failure {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
        }
    }

    pub fn unresolvable(reason: impl Into<String>) -> Failure {
        Failure {
            code: Code::Unresolvable,
            reasons: vec![reason.into()],
        }
    }
}

/// Upstream's `MaxNodeScore`: every plugin's normalized score is within 0..=100.
pub const MAX_SCORE: i64 = 100;

/// Scales raw scores to 0..=100 by the highest (upstream's `DefaultNormalizeScore`), reversed
/// when less is better.
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_SCORE * *s / max;
        if reverse {
            *s = MAX_SCORE - *s;
        }
    }
}

/// Whether a toleration tolerates a taint (upstream's `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    let exists = toleration.operator.as_deref() == Some("Exists");
    if key.is_empty() {
        return exists;
    }
    if key != taint.key {
        return false;
    }
    exists || toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod with what each plugin reads and much that none does.
    fn busy_pod(node: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                "labels": {"app": "web"}, "annotations": {"big": "x".repeat(1000)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": "rs", "controller": true}]},
            "spec": {
                "nodeName": node, "priority": 7, "schedulerName": "default-scheduler",
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname",
                     "labelSelector": {"matchLabels": {"app": "web"}}}]}},
                "volumes": [{"name": "data", "emptyDir": {}}],
                "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "50m"}}}],
                "containers": [{"name": "web", "image": "nginx", "command": ["nginx"],
                    "env": [{"name": "A", "value": "b"}],
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                    "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
            "status": {"phase": "Pending", "podIP": "10.0.0.1", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                {"type": "Ready", "status": "False"}]}
        }))
        .unwrap()
    }

    fn same_counts(a: &PodInfo, b: &PodInfo) {
        assert_eq!(
            (
                &a.namespace,
                &a.name,
                &a.uid,
                &a.labels,
                &a.owner,
                a.priority
            ),
            (
                &b.namespace,
                &b.name,
                &b.uid,
                &b.labels,
                &b.owner,
                b.priority
            )
        );
        assert_eq!(a.requests, b.requests);
        assert_eq!(a.non_zero_requests, b.non_zero_requests);
        assert_eq!(a.host_ports, b.host_ports);
    }

    #[test]
    fn a_trimmed_pod_is_scheduled_as_the_whole_one() {
        let full = busy_pod(None);
        let mut trimmed = full.clone();
        crate::keep_what_scheduler_reads(&mut trimmed);
        let (a, b) = (
            PodInfo::new(Arc::new(full.clone())),
            PodInfo::new(Arc::new(trimmed.clone())),
        );
        same_counts(&a, &b);
        assert_eq!(a.tolerations(), b.tolerations());
        let (spec, kept) = (full.spec.unwrap(), trimmed.spec.unwrap());
        assert_eq!(spec.affinity, kept.affinity);
        assert_eq!(spec.node_selector, kept.node_selector);
        assert_eq!(kept.containers[0].image, None, "images are not read");
        assert_eq!(kept.containers[0].env, None);
        assert_eq!(kept.volumes, None);
        assert_eq!(trimmed.metadata.annotations, None);
        let status = trimmed.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        let kinds: Vec<&str> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(kinds, ["PodScheduled"]);
    }

    #[test]
    fn a_bound_pod_keeps_its_counts_labels_and_affinity_terms() {
        let full = Arc::new(busy_pod(Some("n1")));
        let (whole, bound) = (PodInfo::new(full.clone()), PodInfo::bound(full.clone()));
        same_counts(&whole, &bound);
        let spec = bound.pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.affinity, full.spec.as_ref().unwrap().affinity);
        assert!(spec.containers.is_empty());
        assert_eq!(bound.pod.metadata.labels, full.metadata.labels);
        assert!(bound.pod.status.is_none());
    }

    fn toleration(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn toleration_matching_as_upstream() {
        let taint: Taint = serde_json::from_value(
            json!({"key": "dedicated", "value": "x", "effect": "NoSchedule"}),
        )
        .unwrap();
        let cases = [
            (
                json!({"key": "dedicated", "value": "x", "effect": "NoSchedule"}),
                true,
            ),
            (
                json!({"key": "dedicated", "operator": "Equal", "value": "x"}),
                true,
            ),
            (json!({"key": "dedicated", "value": "y"}), false),
            (json!({"key": "dedicated", "operator": "Exists"}), true),
            (json!({"operator": "Exists"}), true),
            (json!({"operator": "Exists", "effect": "NoExecute"}), false),
            (json!({"key": "other", "operator": "Exists"}), false),
            (
                json!({"key": "dedicated", "value": "x", "effect": "PreferNoSchedule"}),
                false,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(tolerates(&toleration(t.clone()), &taint), want, "{t}");
        }
    }

    #[test]
    fn normalize_scales_to_the_highest() {
        let mut s = [0, 5, 10];
        normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut s = [0, 5, 10];
        normalize(&mut s, true);
        assert_eq!(s, [100, 50, 0]);
        let mut s = [0, 0];
        normalize(&mut s, true);
        assert_eq!(s, [100, 100]);
    }

    #[test]
    fn host_ports_default_protocol_and_ip() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [
            {"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]}]}}))
        .unwrap();
        let info = PodInfo::new(Arc::new(pod));
        assert_eq!(
            info.host_ports,
            vec![HostPort {
                protocol: "TCP".into(),
                ip: "0.0.0.0".into(),
                port: 8080
            }]
        );
        assert_eq!(info.key(), "d/p");
    }
}
