//! NodeResourcesFit: a pod fits where its requests (cpu, memory, ephemeral-storage, one pod)
//! fit in what is left of the node's allocatable; LeastAllocated scores nodes by how much
//! CPU and memory would stay free (requests counted with upstream's non-zero defaults).

use crate::framework::{Failure, MAX_SCORE, NodeInfo, PodInfo};

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    let (want, used, have) = (&pod.requests, &node.requested, &node.allocatable);
    let mut reasons = Vec::new();
    if used.pods + 1 > have.pods {
        reasons.push("Too many pods".to_owned());
    }
    let checks = [
        ("cpu", want.milli_cpu, used.milli_cpu, have.milli_cpu),
        ("memory", want.memory, used.memory, have.memory),
        (
            "ephemeral-storage",
            want.ephemeral_storage,
            used.ephemeral_storage,
            have.ephemeral_storage,
        ),
    ];
    for (name, want, used, have) in checks {
        if want > 0 && want > have.saturating_sub(used) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: crate::framework::Code::Unschedulable,
            reasons,
        })
    }
}

/// The free share of one resource after placing the pod, 0..=100.
fn free_share(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_SCORE / capacity
}

/// LeastAllocated: the mean free share of CPU and memory (weights 1 and 1).
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let (node_used, pod_wants) = (&node.non_zero_requested, &pod.non_zero_requests);
    let cpu = node_used.milli_cpu.saturating_add(pod_wants.milli_cpu);
    let memory = node_used.memory.saturating_add(pod_wants.memory);
    (free_share(cpu, node.allocatable.milli_cpu) + free_share(memory, node.allocatable.memory)) / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, with_pods};
    use serde_json::json;

    fn capacity(cpu: &str, memory: &str, pods: &str) -> NodeInfo {
        node(
            json!({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "1Gi"}}}),
        )
    }

    fn requesting(cpu: &str, memory: &str) -> PodInfo {
        pod(
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}),
        )
    }

    #[test]
    fn requests_must_fit_in_what_is_left() {
        let busy = with_pods(
            capacity("2", "4Gi", "110"),
            vec![requesting("1500m", "1Gi")],
        );
        let full = with_pods(capacity("8", "8Gi", "1"), vec![requesting("100m", "1Mi")]);
        let cases = [
            (requesting("500m", "1Gi"), &busy, vec![]),
            (requesting("600m", "1Gi"), &busy, vec!["Insufficient cpu"]),
            (
                requesting("600m", "5Gi"),
                &busy,
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (requesting("100m", "1Mi"), &full, vec!["Too many pods"]),
            (
                pod(
                    json!({"containers": [{"name": "c", "resources": {"requests": {"ephemeral-storage": "2Gi"}}}]}),
                ),
                &busy,
                vec!["Insufficient ephemeral-storage"],
            ),
            // a quantity too large to count exactly fits nowhere
            (requesting("1e400", "1Mi"), &busy, vec!["Insufficient cpu"]),
            // a pod without requests always fits the resources
            (pod(json!({"containers": [{"name": "c"}]})), &busy, vec![]),
        ];
        for (i, (p, n, reasons)) in cases.into_iter().enumerate() {
            let got = filter(&p, n).err().map(|f| f.reasons).unwrap_or_default();
            assert_eq!(got, reasons, "case {i}");
        }
    }

    #[test]
    fn least_allocated_prefers_emptier_nodes() {
        let empty = capacity("4", "8Gi", "110");
        let half = with_pods(capacity("4", "8Gi", "110"), vec![requesting("2", "4Gi")]);
        let p = requesting("1", "2Gi");
        assert_eq!(least_allocated(&p, &empty), 75);
        assert_eq!(least_allocated(&p, &half), 25);
        // a pod bound past the scheduler with an uncountable request leaves nothing free
        let bound = with_pods(
            capacity("4", "8Gi", "110"),
            vec![requesting("1e400", "1Mi")],
        );
        assert_eq!(least_allocated(&p, &bound), 37);
        // pods without requests count as 100m and 200Mi
        let zero = pod(json!({"containers": [{"name": "c"}]}));
        let small = capacity("1", "1000Mi", "110");
        assert_eq!(least_allocated(&zero, &small), (90 + 80) / 2);
    }
}
