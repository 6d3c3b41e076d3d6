//! One scheduling decision, pure: run the filters over the nodes (in parallel, starting where
//! the last pod stopped, until upstream's adaptive number of feasible nodes is found), score
//! the feasible ones with the weighted plugins, and pick the best (ties at random); or explain
//! why no node fits, in upstream's words.

use std::collections::BTreeMap;

use rand::Rng;
use rayon::prelude::*;

use crate::cache::Cache;
use crate::framework::{Code, Failure, NodeInfo, PodInfo, normalize};
use crate::plugins::{
    balanced_allocation, inter_pod_affinity, node_affinity, node_name, node_ports,
    node_resources_fit, node_unschedulable, pod_topology_spread, taint_toleration, volume_binding,
};

/// Upstream's `minFeasibleNodesToFind`.
const MIN_FEASIBLE: usize = 100;
/// Upstream's `minFeasibleNodesPercentageToFind`.
const MIN_PERCENTAGE: usize = 5;
/// Upstream's default base percentage for the adaptive rule.
const BASE_PERCENTAGE: usize = 50;

/// How many feasible nodes to find before scoring: all of a small cluster; otherwise the
/// configured percentage, or adaptively 50% − 1% per 125 nodes, at least 5% and 100 nodes.
pub fn nodes_to_find(all: usize, percentage: Option<usize>) -> usize {
    if all < MIN_FEASIBLE || percentage == Some(100) {
        return all;
    }
    let percentage = percentage.filter(|p| *p > 0).unwrap_or_else(|| {
        BASE_PERCENTAGE
            .saturating_sub(all / 125)
            .max(MIN_PERCENTAGE)
    });
    (all * percentage / 100).max(MIN_FEASIBLE)
}

/// Why no node fits: the failure of each node that was checked.
#[derive(Debug)]
pub struct FitError {
    pub nodes: usize,
    pub failures: Vec<Failure>,
    pub preemption_never: bool,
    /// Why the pod fits no node whatever the node (a PreFilter's refusal: a claim not found).
    pub prefilter: Option<String>,
}

fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut lines: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    lines.sort();
    lines.join(", ")
}

impl FitError {
    /// Upstream's FailedScheduling message, with the default preemption plugin's note.
    pub fn message(&self) -> String {
        if self.nodes == 0 {
            return "no nodes available to schedule pods".to_owned();
        }
        if let Some(reason) = &self.prefilter {
            let n = self.nodes;
            return format!(
                "0/{n} nodes are available: {reason}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
            );
        }
        let reasons = histogram(
            self.failures
                .iter()
                .flat_map(|f| f.reasons.iter().map(String::as_str)),
        );
        let preemption = if self.preemption_never {
            "preemption: not eligible due to preemptionPolicy=Never.".to_owned()
        } else {
            // Nothing of lower priority can be evicted here (ferrokube does not preempt), so
            // nodes that failed for a resolvable reason have no victims to offer.
            let notes = histogram(self.failures.iter().map(|f| match f.code {
                Code::Unschedulable => "No preemption victims found for incoming pod",
                Code::Unresolvable => "Preemption is not helpful for scheduling",
            }));
            format!("preemption: 0/{} nodes are available: {notes}.", self.nodes)
        };
        format!(
            "0/{} nodes are available: {reasons}. {preemption}",
            self.nodes
        )
    }
}

/// The per-pod state the cluster-wide plugins need for filtering.
struct FilterStates {
    affinity: inter_pod_affinity::State,
    spread: pod_topology_spread::FilterState,
    volumes: volume_binding::State,
}

fn run_filters(pod: &PodInfo, node: &NodeInfo, states: &FilterStates) -> Result<(), Failure> {
    node_unschedulable::filter(pod, node)?;
    node_name::filter(pod, node)?;
    taint_toleration::filter(pod, node)?;
    node_affinity::filter(pod, node)?;
    node_ports::filter(pod, node)?;
    node_resources_fit::filter(pod, node)?;
    pod_topology_spread::filter(pod, node, &states.spread)?;
    if states.volumes.active() {
        volume_binding::filter(pod, node, &states.volumes)?;
    }
    inter_pod_affinity::filter(pod, node, &states.affinity)
}

/// Filters run on several threads for batches this large (below it, waking the pool costs
/// more than the checks: a plain pod is checked against a node in well under a microsecond).
const PARALLEL_FROM: usize = 1000;

/// Upstream's default score plugin weights.
const WEIGHT_TAINT: i64 = 3;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_SPREAD: i64 = 2;
const WEIGHT_POD_AFFINITY: i64 = 2;
const WEIGHT_FIT: i64 = 1;
const WEIGHT_BALANCED: i64 = 1;

/// The weighted total score of each feasible node.
fn score(
    pod: &PodInfo,
    feasible: &[&NodeInfo],
    cache: &Cache,
    affinity: &inter_pod_affinity::State,
) -> Vec<i64> {
    let per_node = |f: &(dyn Fn(&NodeInfo) -> i64 + Sync)| -> Vec<i64> {
        feasible.iter().map(|n| f(n)).collect()
    };
    let mut total = vec![0i64; feasible.len()];
    let mut add = |scores: Vec<i64>, weight: i64| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += s * weight;
        }
    };
    add(
        per_node(&|n| node_resources_fit::least_allocated(pod, n)),
        WEIGHT_FIT,
    );
    add(
        per_node(&|n| balanced_allocation::score(pod, n)),
        WEIGHT_BALANCED,
    );
    let mut taints = per_node(&|n| taint_toleration::score(pod, n));
    normalize(&mut taints, true);
    add(taints, WEIGHT_TAINT);
    let mut preferred = per_node(&|n| node_affinity::score(pod, n));
    normalize(&mut preferred, false);
    add(preferred, WEIGHT_NODE_AFFINITY);
    if pod_topology_spread::scores_anything(pod) {
        let owners = pod.owner.as_deref().and_then(|o| cache.owner_counts(o));
        let state =
            pod_topology_spread::prepare_score(pod, feasible, cache.nodes(), owners, |name| {
                cache.node(name).map(|n| &n.labels)
            });
        let raw: Vec<Option<i64>> = feasible
            .iter()
            .map(|n| pod_topology_spread::score(n, &state))
            .collect();
        add(pod_topology_spread::normalize(&raw), WEIGHT_SPREAD);
    }
    let mut pods = per_node(&|n| inter_pod_affinity::score(n, affinity));
    inter_pod_affinity::normalize(&mut pods);
    add(pods, WEIGHT_POD_AFFINITY);
    total
}

/// Picks a node for `pod`, checking nodes from `*start` on (and moving `*start` past the
/// ones checked, so the next pod starts elsewhere, as upstream).
pub fn select_node(
    pod: &PodInfo,
    cache: &Cache,
    start: &mut usize,
    percentage: Option<usize>,
    volumes: volume_binding::State,
    rng: &mut impl Rng,
) -> Result<String, FitError> {
    let nodes = cache.node_list();
    let all = nodes.len();
    let preemption_never = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        == Some("Never");
    if all == 0 {
        return Err(FitError {
            nodes: 0,
            failures: Vec::new(),
            preemption_never,
            prefilter: None,
        });
    }
    let states = FilterStates {
        affinity: inter_pod_affinity::prepare(pod, cache.nodes(), cache.any_affinity_terms()),
        spread: pod_topology_spread::prepare_filter(pod, cache.nodes()),
        volumes,
    };
    let wanted = nodes_to_find(all, percentage);
    // Pod (anti-)affinity and spread constraints make each check costly enough to share.
    let heavy = states.affinity.active() || states.spread.active();
    let first = *start % all;
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    while feasible.len() < wanted && checked < all {
        let end = (checked + wanted.max(64)).min(all);
        // Positions `checked..end` counted from `first`, wrapping around.
        let at = |i: usize| &nodes[(first + i) % all];
        let check = |i: usize| run_filters(pod, at(i), &states);
        let results: Vec<Result<(), Failure>> = if end - checked >= PARALLEL_FROM || heavy {
            (checked..end).into_par_iter().map(check).collect()
        } else {
            (checked..end).map(check).collect()
        };
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(()) if feasible.len() < wanted => {
                    feasible.push(at(checked + i));
                    *start = first + checked + i + 1;
                }
                Ok(()) => {}
                Err(f) => failures.push(f),
            }
        }
        checked = end;
    }
    if feasible.is_empty() {
        *start = first;
        return Err(FitError {
            nodes: all,
            failures,
            preemption_never,
            prefilter: None,
        });
    }
    if feasible.len() == 1 {
        return Ok(feasible[0].name.clone());
    }
    let scores = score(pod, &feasible, cache, &states.affinity);
    let best = scores.iter().copied().max().unwrap_or(0);
    // Reservoir sampling among the best, as upstream's selectHost.
    let mut chosen = 0;
    let mut ties = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s == best {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                chosen = i;
            }
        }
    }
    Ok(feasible[chosen].name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Failure;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn adaptive_number_of_nodes_to_find() {
        let cases = [
            (50, None, 50),     // a small cluster: every node
            (100, None, 100),   // 50%, but at least 100
            (1000, None, 420),  // 50 − 8 = 42%
            (5000, None, 500),  // 50 − 40 = 10%
            (6000, None, 300),  // 50 − 48 = 2%, raised to 5%
            (10000, None, 500), // 5%
            (5000, Some(100), 5000),
            (5000, Some(30), 1500),
        ];
        for (all, pct, want) in cases {
            assert_eq!(nodes_to_find(all, pct), want, "{all} {pct:?}");
        }
    }

    #[test]
    fn fit_error_message_as_upstream() {
        let cases = [
            (
                vec![
                    Failure::unschedulable("Insufficient cpu"),
                    Failure::unresolvable("node(s) had untolerated taint {dedicated: x}"),
                    Failure::unresolvable("node(s) had untolerated taint {dedicated: x}"),
                ],
                "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: x}. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
            ),
            (
                vec![Failure::unschedulable("Insufficient cpu"); 3],
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            ),
            (
                vec![
                    Failure {
                        code: Code::Unschedulable,
                        reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
                    },
                    Failure::unresolvable("node(s) were unschedulable"),
                ],
                "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
            ),
        ];
        for (failures, want) in cases {
            let e = FitError {
                nodes: failures.len(),
                failures,
                preemption_never: false,
                prefilter: None,
            };
            assert_eq!(e.message(), want);
        }
        let none = FitError {
            nodes: 0,
            failures: vec![],
            preemption_never: false,
            prefilter: None,
        };
        assert_eq!(none.message(), "no nodes available to schedule pods");
        let claim = FitError {
            nodes: 2,
            failures: vec![],
            preemption_never: false,
            prefilter: Some("persistentvolumeclaim \"data\" not found".into()),
        };
        assert_eq!(
            claim.message(),
            "0/2 nodes are available: persistentvolumeclaim \"data\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
    }

    fn cache_of(nodes: &[(&str, &str)]) -> Cache {
        let mut cache = Cache::default();
        for (name, cpu) in nodes {
            let node = serde_json::from_value(
                json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}),
            )
            .unwrap();
            cache.set_node(Arc::new(node));
        }
        cache
    }

    fn pod(uid: &str, cpu: &str) -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": uid, "namespace": "default", "uid": uid,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs1", "controller": true}]},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
            .unwrap(),
        ))
    }

    #[test]
    fn replicas_spread_one_per_equal_node() {
        let mut cache = cache_of(&[("n1", "4"), ("n2", "4"), ("n3", "4")]);
        let mut rng = rand::rng();
        let mut start = 0;
        let mut placed = Vec::new();
        for i in 0..3 {
            let p = Arc::new(pod(&format!("p{i}"), "100m"));
            let node =
                select_node(&p, &cache, &mut start, None, Default::default(), &mut rng).unwrap();
            cache.assume(p, &node);
            placed.push(node);
        }
        placed.sort();
        assert_eq!(placed, vec!["n1", "n2", "n3"]);
    }

    #[test]
    fn no_fit_explains_every_node() {
        let cache = cache_of(&[("n1", "1"), ("n2", "1"), ("n3", "1")]);
        let mut start = 0;
        let err = select_node(
            &pod("big", "2"),
            &cache,
            &mut start,
            None,
            Default::default(),
            &mut rand::rng(),
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn the_roomiest_node_wins() {
        let cache = cache_of(&[("small", "1"), ("large", "16")]);
        let mut start = 0;
        let node = select_node(
            &pod("p", "500m"),
            &cache,
            &mut start,
            None,
            Default::default(),
            &mut rand::rng(),
        )
        .unwrap();
        assert_eq!(node, "large");
    }
}
