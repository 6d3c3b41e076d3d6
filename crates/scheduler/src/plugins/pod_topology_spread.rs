//! PodTopologySpread: spreads the pods of one group over topology domains. A pod's own
//! `topologySpreadConstraints` apply (DoNotSchedule ones also filter); a pod without any gets
//! upstream's system defaults (maxSkew 3 over hostnames, 5 over zones, ScheduleAnyway) for
//! the pods of its controller. Upstream's default selector is built from the Services,
//! ReplicaSets and StatefulSets selecting the pod; here the group is the pods with the same
//! controller, which is the same set for pods of one ReplicaSet.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::framework::{Failure, MAX_SCORE, NodeInfo, PodInfo};

pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// Which pods a constraint counts.
#[derive(Clone, Debug)]
pub enum Group {
    /// Pods with this controller UID (system defaults).
    Owner(String),
    /// Pods in this namespace matching the selector.
    Labels(String, LabelSelector),
}

impl Group {
    fn contains(&self, pod: &PodInfo) -> bool {
        match self {
            Group::Owner(uid) => pod.owner.as_deref() == Some(uid),
            Group::Labels(namespace, selector) => {
                pod.namespace == *namespace && crate::label_selector_matches(selector, &pod.labels)
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Constraint {
    pub max_skew: i64,
    pub key: String,
    pub hard: bool,
    pub group: Group,
}

/// The pod's constraints and whether they are the system defaults.
pub fn constraints(pod: &PodInfo) -> (Vec<Constraint>, bool) {
    let explicit = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[]);
    if !explicit.is_empty() {
        let list = explicit
            .iter()
            .map(|c| Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                hard: c.when_unsatisfiable == "DoNotSchedule",
                group: Group::Labels(
                    pod.namespace.clone(),
                    c.label_selector.clone().unwrap_or_default(),
                ),
            })
            .collect();
        return (list, false);
    }
    let Some(owner) = &pod.owner else {
        return (Vec::new(), true);
    };
    let default = |max_skew, key: &str| Constraint {
        max_skew,
        key: key.to_owned(),
        hard: false,
        group: Group::Owner(owner.clone()),
    };
    (vec![default(3, HOSTNAME), default(5, ZONE)], true)
}

/// Matching pods per domain value of `key`, over `nodes`.
fn count_by_domain<'a>(
    group: &Group,
    key: &str,
    nodes: impl Iterator<Item = &'a NodeInfo>,
) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for node in nodes {
        if let Some(value) = node.labels.get(key) {
            let n = node.pods.iter().filter(|p| group.contains(p)).count() as i64;
            *counts.entry(value.clone()).or_default() += n;
        }
    }
    counts
}

/// What the hard constraints need: per constraint, matching pods per domain.
pub struct FilterState {
    hard: Vec<(Constraint, HashMap<String, i64>)>,
}

impl FilterState {
    /// Whether the pod has constraints to check.
    pub fn active(&self) -> bool {
        !self.hard.is_empty()
    }
}

pub fn prepare_filter<'a>(
    pod: &PodInfo,
    nodes: impl Iterator<Item = &'a NodeInfo> + Clone,
) -> FilterState {
    let (list, _) = constraints(pod);
    let hard = list
        .into_iter()
        .filter(|c| c.hard)
        .map(|c| {
            let counts = count_by_domain(&c.group, &c.key, nodes.clone());
            (c, counts)
        })
        .collect();
    FilterState { hard }
}

/// Upstream's skew check: pods in the node's domain (plus this one) minus the fewest in any
/// domain may not exceed maxSkew.
pub fn filter(pod: &PodInfo, node: &NodeInfo, state: &FilterState) -> Result<(), Failure> {
    for (c, counts) in &state.hard {
        let Some(value) = node.labels.get(&c.key) else {
            return Err(Failure::unresolvable(MISSING_LABEL));
        };
        let here = counts.get(value).copied().unwrap_or(0);
        let min = counts.values().copied().min().unwrap_or(0);
        let own = i64::from(c.group.contains(pod));
        if here + own - min > c.max_skew {
            return Err(Failure::unschedulable(REASON));
        }
    }
    Ok(())
}

/// What scoring needs: per soft constraint, pods per domain among the feasible nodes' domains
/// and the constraint's weight (upstream: ln(number of domains + 2)).
pub struct ScoreState {
    soft: Vec<(Constraint, HashMap<String, i64>, f64)>,
    system_default: bool,
}

/// `owner_counts` gives, for a controller UID, its pods per node name (the cache's index), so
/// that system defaults never scan every pod.
pub fn prepare_score<'a>(
    pod: &PodInfo,
    feasible: &[&'a NodeInfo],
    all: impl Iterator<Item = &'a NodeInfo> + Clone,
    owner_counts: Option<&HashMap<String, i64>>,
    node_labels: impl Fn(&str) -> Option<&'a std::collections::BTreeMap<String, String>>,
) -> ScoreState {
    let (list, system_default) = constraints(pod);
    let soft = list
        .into_iter()
        .filter(|c| !c.hard)
        .map(|c| {
            let domains: HashSet<&String> = feasible
                .iter()
                .filter_map(|n| n.labels.get(&c.key))
                .collect();
            let size = if c.key == HOSTNAME {
                feasible.len()
            } else {
                domains.len()
            };
            let weight = ((size + 2) as f64).ln();
            let counts = match (&c.group, owner_counts) {
                (Group::Owner(_), Some(by_node)) => {
                    let mut counts: HashMap<String, i64> = HashMap::new();
                    for (node, n) in by_node {
                        let value = if c.key == HOSTNAME {
                            Some(node.clone())
                        } else {
                            node_labels(node).and_then(|l| l.get(&c.key)).cloned()
                        };
                        if let Some(v) = value.filter(|v| c.key == HOSTNAME || domains.contains(v))
                        {
                            *counts.entry(v).or_default() += n;
                        }
                    }
                    counts
                }
                (Group::Owner(_), None) => HashMap::new(),
                (group, _) => count_by_domain(group, &c.key, all.clone()),
            };
            (c, counts, weight)
        })
        .collect();
    ScoreState {
        soft,
        system_default,
    }
}

/// The raw score (more matching pods in the node's domains is worse); `None` for a node
/// ignored because it lacks a constraint's key (explicit constraints only).
pub fn score(node: &NodeInfo, state: &ScoreState) -> Option<i64> {
    let mut total = 0.0;
    for (c, counts, weight) in &state.soft {
        let value = if c.key == HOSTNAME {
            Some(&node.name)
        } else {
            node.labels.get(&c.key)
        };
        let Some(value) = value else {
            if state.system_default {
                continue;
            }
            return None;
        };
        let count = counts.get(value).copied().unwrap_or(0) as f64;
        total += count * weight + (c.max_skew - 1) as f64;
    }
    Some(total.round() as i64)
}

/// Upstream's normalization: fewer matching pods score higher; ignored nodes score 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let known = raw.iter().flatten().copied();
    let (min, max) = (known.clone().min().unwrap_or(0), known.max().unwrap_or(0));
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_SCORE,
            Some(s) => MAX_SCORE * (max + min - s) / max,
        })
        .collect()
}

/// Whether the pod has soft constraints to score (explicit or system defaults).
pub fn scores_anything(pod: &PodInfo) -> bool {
    constraints(pod).0.iter().any(|c| !c.hard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod_with, with_pods};
    use serde_json::json;

    fn owned(name: &str, owner: &str) -> PodInfo {
        pod_with(
            json!({"name": name, "namespace": "default", "uid": name, "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner, "controller": true}]}),
            json!({"containers": []}),
        )
    }

    fn zone_node(name: &str, zone: &str, pods: Vec<PodInfo>) -> NodeInfo {
        with_pods(
            node(json!({"metadata": {"name": name, "labels": {ZONE: zone, HOSTNAME: name}}})),
            pods,
        )
    }

    fn owner_index(nodes: &[NodeInfo], owner: &str) -> HashMap<String, i64> {
        let mut m = HashMap::new();
        for n in nodes {
            let c = n
                .pods
                .iter()
                .filter(|p| p.owner.as_deref() == Some(owner))
                .count() as i64;
            if c > 0 {
                m.insert(n.name.clone(), c);
            }
        }
        m
    }

    fn scores(p: &PodInfo, nodes: &[NodeInfo]) -> Vec<i64> {
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        let index = p.owner.as_ref().map(|o| owner_index(nodes, o));
        let state = prepare_score(p, &feasible, nodes.iter(), index.as_ref(), |name| {
            nodes.iter().find(|n| n.name == name).map(|n| &n.labels)
        });
        normalize(&nodes.iter().map(|n| score(n, &state)).collect::<Vec<_>>())
    }

    #[test]
    fn system_defaults_spread_one_owner_over_hosts_and_zones() {
        let nodes = vec![
            zone_node("n1", "a", vec![owned("w1", "rs1"), owned("w2", "rs1")]),
            zone_node("n2", "a", vec![owned("w3", "rs1")]),
            zone_node("n3", "b", vec![owned("other", "rs2")]),
        ];
        let s = scores(&owned("new", "rs1"), &nodes);
        assert!(s[2] > s[1] && s[1] > s[0], "emptiest domain first: {s:?}");
        assert_eq!(s[2], 100);
        // A pod without a controller gets no default constraints.
        let lone = pod_with(
            json!({"name": "x", "namespace": "default"}),
            json!({"containers": []}),
        );
        assert!(!scores_anything(&lone));
    }

    #[test]
    fn hard_constraints_filter_by_skew() {
        let nodes = [
            zone_node("n1", "a", vec![owned("w1", "rs1"), owned("w2", "rs1")]),
            zone_node("n2", "b", vec![owned("w3", "rs1")]),
            node(json!({"metadata": {"name": "bare"}})),
        ];
        let p = pod_with(
            json!({"name": "new", "namespace": "default", "labels": {"app": "web"}}),
            json!({"containers": [], "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}),
        );
        let state = prepare_filter(&p, nodes.iter());
        assert_eq!(
            filter(&p, &nodes[0], &state),
            Err(Failure::unschedulable(REASON))
        );
        assert_eq!(filter(&p, &nodes[1], &state), Ok(()));
        assert_eq!(
            filter(&p, &nodes[2], &state),
            Err(Failure::unresolvable(MISSING_LABEL))
        );
    }

    #[test]
    fn normalize_as_upstream() {
        assert_eq!(normalize(&[Some(10), Some(5), None]), vec![50, 100, 0]);
        assert_eq!(normalize(&[Some(0), Some(0)]), vec![100, 100]);
    }
}
