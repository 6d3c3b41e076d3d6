//! Resource amounts the scheduler counts: what a pod requests (upstream's rules for init
//! containers and overhead) and what a node can allocate.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU a container without a request counts as when scoring (upstream's non-zero default).
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// Memory a container without a request counts as when scoring (200 MiB).
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// Amounts of the resources the scheduler fits: CPU in millicores, bytes, and a pod count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
}

impl Resources {
    /// Adds `other`, saturating: a request too large to count (`1e400` CPUs) stays the largest.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.pods = self.pods.saturating_add(other.pods);
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.pods = self.pods.saturating_sub(other.pods);
    }

    fn max(&self, other: &Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.max(other.milli_cpu),
            memory: self.memory.max(other.memory),
            ephemeral_storage: self.ephemeral_storage.max(other.ephemeral_storage),
            pods: self.pods.max(other.pods),
        }
    }
}

use ferrokube_client::quantity::value;

/// Reads cpu, memory, ephemeral-storage and pods from a resource list.
pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
    let get = |name: &str, scale: i64| {
        list.and_then(|l| l.get(name))
            .map_or(0, |q| value(q, scale))
    };
    Resources {
        milli_cpu: get("cpu", 1000),
        memory: get("memory", 1),
        ephemeral_storage: get("ephemeral-storage", 1),
        pods: get("pods", 1),
    }
}

fn container_requests(c: &Container) -> Resources {
    from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

/// What a pod requests: the larger of its containers' sum and any one init container, plus
/// its overhead, and one pod (upstream's `computePodResourceRequest`). Restartable init
/// containers (sidecars) keep running, so they add to everything after them.
pub fn pod_requests(pod: &Pod) -> Resources {
    requests_with(pod, container_requests)
}

/// The same, counting containers without CPU or memory requests as 100m and 200 MiB (what
/// upstream's scoring plugins use, so empty pods still spread).
pub fn pod_requests_non_zero(pod: &Pod) -> Resources {
    requests_with(pod, |c| {
        let mut r = container_requests(c);
        if r.milli_cpu == 0 {
            r.milli_cpu = DEFAULT_MILLI_CPU;
        }
        if r.memory == 0 {
            r.memory = DEFAULT_MEMORY;
        }
        r
    })
}

fn requests_with(pod: &Pod, of: impl Fn(&Container) -> Resources) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources {
            pods: 1,
            ..Default::default()
        };
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&of(c));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = of(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            init_peak = init_peak.max(&sidecars);
        } else {
            let mut during = sidecars;
            during.add(&r);
            init_peak = init_peak.max(&during);
        }
    }
    total.add(&sidecars);
    let mut requests = total.max(&init_peak);
    requests.add(&from_list(spec.overhead.as_ref()));
    requests.pods = 1;
    requests
}

/// What a node offers to pods: its allocatable, or its capacity when allocatable is unset.
pub fn allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    from_list(
        status
            .and_then(|s| s.allocatable.as_ref())
            .or_else(|| status.and_then(|s| s.capacity.as_ref())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn c(cpu: &str, memory: &str) -> serde_json::Value {
        json!({"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}})
    }

    #[test]
    fn pod_requests_as_upstream() {
        let cases = [
            // containers add up
            (
                json!({"containers": [c("100m", "1Mi"), c("200m", "1Mi")]}),
                (300, 2 << 20),
            ),
            // an init container larger than the sum sets the peak
            (
                json!({"containers": [c("100m", "1Mi")], "initContainers": [c("1", "1Ki")]}),
                (1000, 1 << 20),
            ),
            // overhead is added
            (
                json!({"containers": [c("250m", "64Mi")], "overhead": {"cpu": "250m", "memory": "64Mi"}}),
                (500, 128 << 20),
            ),
            // a sidecar (restartable init container) adds to the containers
            (
                json!({"containers": [c("100m", "1Mi")], "initContainers": [{"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}}]}),
                (150, 1 << 20),
            ),
            // no requests at all
            (json!({"containers": [{"name": "c"}]}), (0, 0)),
            // fractions round up, decimal suffixes
            (json!({"containers": [c("0.0005", "1k")]}), (1, 1000)),
        ];
        for (spec, (cpu, memory)) in cases {
            let r = pod_requests(&pod(spec.clone()));
            assert_eq!((r.milli_cpu, r.memory, r.pods), (cpu, memory, 1), "{spec}");
        }
    }

    #[test]
    fn non_zero_requests_fill_in_defaults() {
        let r = pod_requests_non_zero(&pod(json!({"containers": [{"name": "c"}, c("1", "0")]})));
        assert_eq!(r.milli_cpu, 100 + 1000);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY);
    }

    #[test]
    fn node_allocatable_falls_back_to_capacity() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}, "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "10Gi"}}}))
        .unwrap();
        let r = allocatable(&node);
        assert_eq!((r.milli_cpu, r.memory, r.pods), (4000, 8 << 30, 110));
    }
}
