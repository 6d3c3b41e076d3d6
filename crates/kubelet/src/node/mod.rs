//! The node a kubelet registers and keeps alive: its Node object (capacity, conditions,
//! addresses, nodeInfo) and its Lease in `kube-node-lease`, renewed every 10 seconds.

use ferrokube_client::clock::rfc3339 as time;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

pub mod heartbeat;
pub mod machine;

/// The kubelet version reported in `nodeInfo`.
pub const KUBELET_VERSION: &str = ferrokube_client::KUBE_VERSION;
/// How often the Lease is renewed (upstream's default).
pub const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(10);
/// Upstream's `nodeLeaseDurationSeconds`.
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// The Node's status is written at least this often, even unchanged.
pub const STATUS_REPORT: std::time::Duration = std::time::Duration::from_secs(300);

/// What the kubelet knows of its machine.
#[derive(Clone, Debug)]
pub struct Machine {
    pub name: String,
    pub address: String,
    pub milli_cpu: i64,
    pub memory_bytes: i64,
    pub ephemeral_storage_bytes: i64,
    pub max_pods: i64,
    pub runtime_version: String,
    /// The port of the kubelet's log server (0: none).
    pub kubelet_port: u16,
}

/// The Node object as the kubelet registers it, with Ready and the pressure conditions.
pub fn node_object(m: &Machine, now: jiff::Timestamp) -> Node {
    let now = time(now);
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let resources = json!({
        "cpu": format!("{}m", m.milli_cpu),
        "memory": format!("{}", m.memory_bytes),
        "ephemeral-storage": format!("{}", m.ephemeral_storage_bytes),
        "pods": format!("{}", m.max_pods),
    });
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": m.name, "labels": {
            "kubernetes.io/hostname": m.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": ferrokube_client::go_arch(),
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": ferrokube_client::go_arch(),
        }},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": m.kubelet_port}},
            "addresses": [{"type": "InternalIP", "address": m.address}, {"type": "Hostname", "address": m.name}],
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": "", "osImage": "", "operatingSystem": "linux",
                "architecture": ferrokube_client::go_arch(),
                "containerRuntimeVersion": m.runtime_version,
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
            },
        },
    }))
    .expect("a Node")
}

/// The node's Lease, held by the node and owned by its Node object.
pub fn lease_object(node: &str, node_uid: &str, now: jiff::Timestamp) -> Lease {
    let micro = now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": micro},
    }))
    .expect("a Lease")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            name: "n1".into(),
            address: "10.0.0.5".into(),
            milli_cpu: 2000,
            memory_bytes: 4 << 30,
            ephemeral_storage_bytes: 10 << 30,
            max_pods: 110,
            runtime_version: "hollow://0.1.0".into(),
            kubelet_port: 10250,
        }
    }

    #[test]
    fn node_as_a_kubelet_registers_it() {
        let node = node_object(
            &machine(),
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        );
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "n1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        let status = node.status.unwrap();
        let allocatable = status.allocatable.unwrap();
        assert_eq!(allocatable["cpu"].0, "2000m");
        assert_eq!(allocatable["pods"].0, "110");
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("True", Some("KubeletReady"))
        );
        let info = status.node_info.unwrap();
        assert_eq!(info.kubelet_version, "v1.33.0");
        assert_eq!(info.container_runtime_version, "hollow://0.1.0");
        assert_eq!(status.addresses.unwrap()[0].address, "10.0.0.5");
        let endpoint = status.daemon_endpoints.unwrap().kubelet_endpoint.unwrap();
        assert_eq!(endpoint.port, 10250);
    }

    #[test]
    fn lease_is_held_by_the_node() {
        let lease = lease_object(
            "n1",
            "uid-1",
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        );
        assert_eq!(lease.metadata.namespace.as_deref(), Some("kube-node-lease"));
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(lease.metadata.owner_references.unwrap()[0].uid, "uid-1");
    }
}
