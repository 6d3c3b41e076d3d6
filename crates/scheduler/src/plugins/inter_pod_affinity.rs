//! InterPodAffinity: required pod affinity (a matching pod must run in the node's topology
//! domain), required anti-affinity (none may), existing pods' anti-affinity towards the
//! incoming pod, and preferred terms of both sides as a score. Terms select pods by label
//! selector in the listed namespaces (the pod's own when none is listed; an empty
//! `namespaceSelector` means every namespace).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{PodAffinityTerm, WeightedPodAffinityTerm};

use crate::framework::{Failure, NodeInfo, PodInfo};

pub const AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// A topology domain: a label key and its value on a node.
type Domain = (String, String);

fn required_affinity(pod: &PodInfo) -> &[PodAffinityTerm] {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

fn required_anti_affinity(pod: &PodInfo) -> &[PodAffinityTerm] {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

fn preferred(pod: &PodInfo) -> (&[WeightedPodAffinityTerm], &[WeightedPodAffinityTerm]) {
    let affinity = pod.pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let affinity_terms = affinity
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[]);
    let anti_terms = affinity
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[]);
    (affinity_terms, anti_terms)
}

/// Whether a pod has any pod (anti-)affinity term at all.
pub fn has_terms(pod: &PodInfo) -> bool {
    let (a, b) = preferred(pod);
    !required_affinity(pod).is_empty()
        || !required_anti_affinity(pod).is_empty()
        || !a.is_empty()
        || !b.is_empty()
}

/// Whether `term`, written by a pod in `owner_namespace`, selects `target`.
fn selects(term: &PodAffinityTerm, owner_namespace: &str, target: &PodInfo) -> bool {
    let listed = term.namespaces.as_deref().unwrap_or(&[]);
    let all = term.namespace_selector.as_ref().is_some_and(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    });
    let in_namespace = all
        || listed.contains(&target.namespace)
        || (listed.is_empty()
            && term.namespace_selector.is_none()
            && owner_namespace == target.namespace);
    in_namespace
        && term
            .label_selector
            .as_ref()
            .is_some_and(|s| crate::label_selector_matches(s, &target.labels))
}

fn domain(node: &NodeInfo, key: &str) -> Option<Domain> {
    node.labels.get(key).map(|v| (key.to_owned(), v.clone()))
}

/// What the filter and score need from the whole cluster, computed once per pod.
#[derive(Debug, Default)]
pub struct State {
    /// Domains where an existing pod's required anti-affinity forbids the incoming pod.
    existing_anti: HashMap<Domain, usize>,
    /// Per required affinity term: matching pods per domain.
    affinity: Vec<HashMap<Domain, usize>>,
    /// Whether any pod in the cluster matches the required affinity terms.
    any_affinity_match: bool,
    /// Per required anti-affinity term: matching pods per domain.
    anti: Vec<HashMap<Domain, usize>>,
    /// Preferred terms of both sides: a weight per domain.
    scores: HashMap<Domain, i64>,
    /// Whether anything applies (most pods: nothing to do per node).
    active: bool,
}

/// Builds the state from every node's pods; `any_terms` says whether any existing pod has
/// pod (anti-)affinity terms (when neither side has any, nothing is scanned).
pub fn prepare<'a>(
    pod: &PodInfo,
    nodes: impl Iterator<Item = &'a NodeInfo>,
    any_terms: bool,
) -> State {
    let own = has_terms(pod);
    if !own && !any_terms {
        return State::default();
    }
    let affinity_terms = required_affinity(pod);
    let anti_terms = required_anti_affinity(pod);
    let (preferred_affinity, preferred_anti) = preferred(pod);
    let mut state = State {
        affinity: vec![HashMap::new(); affinity_terms.len()],
        anti: vec![HashMap::new(); anti_terms.len()],
        active: true,
        ..State::default()
    };
    for node in nodes {
        for existing in &node.pods {
            for term in required_anti_affinity(existing) {
                if selects(term, &existing.namespace, pod)
                    && let Some(d) = domain(node, &term.topology_key)
                {
                    *state.existing_anti.entry(d).or_default() += 1;
                }
            }
            let (their_affinity, their_anti) = preferred(existing);
            for w in their_affinity {
                if selects(&w.pod_affinity_term, &existing.namespace, pod)
                    && let Some(d) = domain(node, &w.pod_affinity_term.topology_key)
                {
                    *state.scores.entry(d).or_default() += i64::from(w.weight);
                }
            }
            for w in their_anti {
                if selects(&w.pod_affinity_term, &existing.namespace, pod)
                    && let Some(d) = domain(node, &w.pod_affinity_term.topology_key)
                {
                    *state.scores.entry(d).or_default() -= i64::from(w.weight);
                }
            }
            if !own {
                continue;
            }
            for (i, term) in affinity_terms.iter().enumerate() {
                if selects(term, &pod.namespace, existing) {
                    state.any_affinity_match = true;
                    if let Some(d) = domain(node, &term.topology_key) {
                        *state.affinity[i].entry(d).or_default() += 1;
                    }
                }
            }
            for (i, term) in anti_terms.iter().enumerate() {
                if selects(term, &pod.namespace, existing)
                    && let Some(d) = domain(node, &term.topology_key)
                {
                    *state.anti[i].entry(d).or_default() += 1;
                }
            }
            for w in preferred_affinity {
                if selects(&w.pod_affinity_term, &pod.namespace, existing)
                    && let Some(d) = domain(node, &w.pod_affinity_term.topology_key)
                {
                    *state.scores.entry(d).or_default() += i64::from(w.weight);
                }
            }
            for w in preferred_anti {
                if selects(&w.pod_affinity_term, &pod.namespace, existing)
                    && let Some(d) = domain(node, &w.pod_affinity_term.topology_key)
                {
                    *state.scores.entry(d).or_default() -= i64::from(w.weight);
                }
            }
        }
    }
    state
}

impl State {
    /// Whether the filter has anything to check.
    pub fn active(&self) -> bool {
        self.active
    }
}

fn count(map: &HashMap<Domain, usize>, node: &NodeInfo, key: &str) -> usize {
    domain(node, key)
        .and_then(|d| map.get(&d).copied())
        .unwrap_or(0)
}

pub fn filter(pod: &PodInfo, node: &NodeInfo, state: &State) -> Result<(), Failure> {
    if !state.active {
        return Ok(());
    }
    let blocked = node
        .labels
        .iter()
        .any(|(k, v)| state.existing_anti.contains_key(&(k.clone(), v.clone())));
    if blocked {
        return Err(Failure::unschedulable(EXISTING_ANTI_AFFINITY));
    }
    let affinity_terms = required_affinity(pod);
    let satisfied = affinity_terms
        .iter()
        .enumerate()
        .all(|(i, t)| count(&state.affinity[i], node, &t.topology_key) > 0);
    // The first pod of a group that selects itself may go anywhere its keys exist.
    let first_of_group = !state.any_affinity_match
        && affinity_terms
            .iter()
            .all(|t| selects(t, &pod.namespace, pod) && node.labels.contains_key(&t.topology_key));
    if !satisfied && !first_of_group {
        return Err(Failure::unresolvable(AFFINITY));
    }
    let anti_terms = required_anti_affinity(pod);
    if anti_terms
        .iter()
        .enumerate()
        .any(|(i, t)| count(&state.anti[i], node, &t.topology_key) > 0)
    {
        return Err(Failure::unschedulable(ANTI_AFFINITY));
    }
    Ok(())
}

/// The preferred-term weight of the node's domains (normalized later by min and max).
pub fn score(node: &NodeInfo, state: &State) -> i64 {
    if state.scores.is_empty() {
        return 0;
    }
    node.labels
        .iter()
        .filter_map(|(k, v)| state.scores.get(&(k.clone(), v.clone())))
        .sum()
}

/// Upstream's normalization for this plugin: (s − min) × 100 / (max − min).
pub fn normalize(scores: &mut [i64]) {
    let (min, max) = (
        scores.iter().copied().min().unwrap_or(0),
        scores.iter().copied().max().unwrap_or(0),
    );
    for s in scores.iter_mut() {
        *s = if max > min {
            (*s - min) * 100 / (max - min)
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod_with, with_pods};
    use serde_json::json;

    fn labelled(app: &str, spec: serde_json::Value) -> PodInfo {
        pod_with(
            json!({"name": app, "namespace": "default", "uid": app, "labels": {"app": app}}),
            spec,
        )
    }

    fn zone_node(name: &str, zone: &str, pods: Vec<PodInfo>) -> NodeInfo {
        with_pods(
            node(
                json!({"metadata": {"name": name, "labels": {"zone": zone, "kubernetes.io/hostname": name}}}),
            ),
            pods,
        )
    }

    fn term(app: &str, key: &str) -> serde_json::Value {
        json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
    }

    fn run(p: &PodInfo, nodes: &[NodeInfo]) -> Vec<Result<(), Failure>> {
        let any = nodes.iter().flat_map(|n| &n.pods).any(|p| has_terms(p));
        let state = prepare(p, nodes.iter(), any);
        nodes.iter().map(|n| filter(p, n, &state)).collect()
    }

    #[test]
    fn required_affinity_follows_the_matching_pods_domain() {
        let nodes = [
            zone_node("n1", "a", vec![labelled("db", json!({"containers": []}))]),
            zone_node("n2", "a", vec![]),
            zone_node("n3", "b", vec![]),
        ];
        let web = labelled(
            "web",
            json!({"containers": [], "affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("db", "zone")]}}}),
        );
        let got = run(&web, &nodes);
        assert_eq!(
            got,
            vec![Ok(()), Ok(()), Err(Failure::unresolvable(AFFINITY))]
        );
        // The first pod of a self-selecting group goes anywhere.
        let first = labelled(
            "cache",
            json!({"containers": [], "affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("cache", "zone")]}}}),
        );
        assert!(run(&first, &nodes).iter().all(Result::is_ok));
    }

    #[test]
    fn required_anti_affinity_both_ways() {
        let guarded = labelled(
            "solo",
            json!({"containers": [], "affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("web", "kubernetes.io/hostname")]}}}),
        );
        let nodes = [
            zone_node("n1", "a", vec![guarded]),
            zone_node("n2", "a", vec![labelled("web", json!({"containers": []}))]),
            zone_node("n3", "b", vec![]),
        ];
        // An existing pod's anti-affinity keeps `web` off its node.
        let web = labelled("web", json!({"containers": []}));
        assert_eq!(
            run(&web, &nodes),
            vec![
                Err(Failure::unschedulable(EXISTING_ANTI_AFFINITY)),
                Ok(()),
                Ok(())
            ]
        );
        // The incoming pod's own anti-affinity keeps it away from `web` pods' zone.
        let spread = labelled(
            "spread",
            json!({"containers": [], "affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("web", "zone")]}}}),
        );
        assert_eq!(
            run(&spread, &nodes),
            vec![
                Err(Failure::unschedulable(ANTI_AFFINITY)),
                Err(Failure::unschedulable(ANTI_AFFINITY)),
                Ok(())
            ]
        );
    }

    #[test]
    fn preferred_terms_score_domains() {
        let nodes = [
            zone_node("n1", "a", vec![labelled("db", json!({"containers": []}))]),
            zone_node("n2", "b", vec![]),
        ];
        let web = labelled(
            "web",
            json!({"containers": [], "affinity": {"podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": term("db", "zone")}]}}}),
        );
        let state = prepare(&web, nodes.iter(), false);
        let mut scores: Vec<i64> = nodes.iter().map(|n| score(n, &state)).collect();
        assert_eq!(scores, vec![50, 0]);
        normalize(&mut scores);
        assert_eq!(scores, vec![100, 0]);
    }

    #[test]
    fn nothing_is_scanned_without_terms() {
        let nodes = [zone_node(
            "n1",
            "a",
            vec![labelled("db", json!({"containers": []}))],
        )];
        let plain = labelled("web", json!({"containers": []}));
        assert!(!prepare(&plain, nodes.iter(), false).active);
    }
}
