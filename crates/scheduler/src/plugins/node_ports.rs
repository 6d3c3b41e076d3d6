//! NodePorts: a pod's host ports must be free on the node (same protocol and port, and the
//! same host IP or either side on `0.0.0.0`).

use crate::framework::{Failure, HostPort, NodeInfo, PodInfo};

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

fn conflicts(a: &HostPort, b: &HostPort) -> bool {
    a.port == b.port
        && a.protocol == b.protocol
        && (a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0")
}

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    if pod.host_ports.is_empty() {
        return Ok(());
    }
    let taken = node
        .pods
        .iter()
        .flat_map(|p| &p.host_ports)
        .any(|used| pod.host_ports.iter().any(|want| conflicts(want, used)));
    if taken {
        Err(Failure::unschedulable(REASON))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, with_pods};
    use serde_json::json;

    fn port(port: i32, protocol: &str, ip: &str) -> PodInfo {
        pod(
            json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": port, "protocol": protocol, "hostIP": ip}]}]}),
        )
    }

    #[test]
    fn host_ports_conflict_as_upstream() {
        let n = || {
            with_pods(
                node(json!({"metadata": {"name": "n"}})),
                vec![port(8080, "TCP", "10.0.0.1")],
            )
        };
        let cases = [
            (port(8080, "TCP", "10.0.0.1"), false),
            (port(8080, "TCP", ""), false),
            (port(8080, "TCP", "10.0.0.2"), true),
            (port(8080, "UDP", "10.0.0.1"), true),
            (port(8081, "TCP", "10.0.0.1"), true),
            (pod(json!({"containers": [{"name": "c"}]})), true),
        ];
        for (i, (p, fits)) in cases.into_iter().enumerate() {
            assert_eq!(filter(&p, &n()).is_ok(), fits, "case {i}");
        }
    }
}
