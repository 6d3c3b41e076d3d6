//! NodeResourcesBalancedAllocation: prefers nodes where CPU and memory would be used in equal
//! shares after placing the pod (score = (1 − standard deviation of the shares) × 100).

use crate::framework::{MAX_SCORE, NodeInfo, PodInfo};

pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let share = |requested: i64, capacity: i64| {
        if capacity <= 0 {
            return 1.0;
        }
        (requested as f64 / capacity as f64).min(1.0)
    };
    let cpu = share(
        node.non_zero_requested.milli_cpu + pod.non_zero_requests.milli_cpu,
        node.allocatable.milli_cpu,
    );
    let memory = share(
        node.non_zero_requested.memory + pod.non_zero_requests.memory,
        node.allocatable.memory,
    );
    // With two resources the standard deviation is half their difference.
    let deviation = (cpu - memory).abs() / 2.0;
    ((1.0 - deviation) * MAX_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn equal_shares_score_highest() {
        let n = node(
            json!({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"}}}),
        );
        let balanced = pod(
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "2", "memory": "2Gi"}}}]}),
        );
        let cpu_heavy = pod(
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "4", "memory": "1Gi"}}}]}),
        );
        assert_eq!(score(&balanced, &n), 100);
        // shares 1.0 and 0.25: deviation 0.375
        assert_eq!(score(&cpu_heavy, &n), 62);
    }
}
