//! A pod and its containers as the CRI's configurations: the sandbox (hostname, DNS, ports,
//! cgroup parent, labels) and each container (image, command, env, mounts, resources).

use std::collections::HashMap;
use std::path::Path;

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod};

use super::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};
use crate::runtime::{ContainerSetup, Mount, Propagation};

/// The longest hostname the kernel takes (`sethostname` refuses longer ones).
const MAX_HOSTNAME: usize = 63;

/// The pod's hostname: `spec.hostname`, else its name, cut to 63 characters and stripped of
/// the `-` and `.` that would then end it (upstream's `truncatePodHostnameIfNeeded`), so that a
/// pod with a longer name starts.
pub fn pod_hostname(pod: &Pod) -> String {
    let hostname = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    if hostname.len() <= MAX_HOSTNAME {
        return hostname;
    }
    // Names are DNS labels or subdomains: ASCII, so any byte is a character boundary.
    hostname[..MAX_HOSTNAME]
        .trim_end_matches(['-', '.'])
        .to_owned()
}

/// The sandbox configuration of a pod: metadata, hostname, log directory, DNS, host ports and
/// the labels that find it again.
pub fn sandbox_config(pod: &Pod, log_root: &Path, cluster_dns: &[String]) -> cri::PodSandboxConfig {
    let meta = &pod.metadata;
    let (name, namespace, uid) = (
        meta.name.clone().unwrap_or_default(),
        meta.namespace.clone().unwrap_or_default(),
        meta.uid.clone().unwrap_or_default(),
    );
    let spec = pod.spec.as_ref();
    let port_mappings = spec
        .into_iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| cri::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp as i32,
                Some("SCTP") => cri::Protocol::Sctp as i32,
                _ => cri::Protocol::Tcp as i32,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let labels = HashMap::from([
        (POD_UID.to_owned(), uid.clone()),
        (POD_NAME.to_owned(), name.clone()),
        (POD_NAMESPACE.to_owned(), namespace.clone()),
    ]);
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.clone(),
            uid: uid.clone(),
            namespace: namespace.clone(),
            attempt: 0,
        }),
        hostname: pod_hostname(pod),
        log_directory: log_root
            .join(format!("{namespace}_{name}_{uid}"))
            .to_string_lossy()
            .into_owned(),
        dns_config: dns_config(pod, cluster_dns),
        port_mappings,
        labels,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent(pod),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pod's resolv.conf by its dnsPolicy: `None` from its dnsConfig; `ClusterFirst` the
/// cluster DNS with upstream's search path and ndots:5, or, with no cluster DNS configured,
/// the host's as `Default` (upstream's fallback); `Default` the host's (`None` here: containerd
/// copies the host's file). A dnsConfig adds servers, searches and options to the first two.
pub fn dns_config(pod: &Pod, cluster_dns: &[String]) -> Option<cri::DnsConfig> {
    let spec = pod.spec.as_ref()?;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut config = match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "None" => cri::DnsConfig::default(),
        "ClusterFirst" | "ClusterFirstWithHostNet" if !cluster_dns.is_empty() => cri::DnsConfig {
            servers: cluster_dns.to_vec(),
            searches: vec![
                format!("{namespace}.svc.cluster.local"),
                "svc.cluster.local".into(),
                "cluster.local".into(),
            ],
            options: vec!["ndots:5".into()],
        },
        _ => return None,
    };
    if let Some(extra) = &spec.dns_config {
        config
            .servers
            .extend(extra.nameservers.iter().flatten().cloned());
        config
            .searches
            .extend(extra.searches.iter().flatten().cloned());
        for option in extra.options.iter().flatten() {
            let name = option.name.clone().unwrap_or_default();
            config
                .options
                .retain(|o| o.split(':').next() != Some(name.as_str()));
            config.options.push(match &option.value {
                Some(value) => format!("{name}:{value}"),
                None => name,
            });
        }
    }
    Some(config)
}

/// A container's configuration: image, the command, args and env the kubelet resolved, its
/// mounts, working dir, log path and resources.
pub fn container_config(
    pod: &Pod,
    container: &Container,
    setup: &ContainerSetup,
    image_id: &str,
    attempt: u32,
) -> cri::ContainerConfig {
    let envs = setup
        .env
        .iter()
        .map(|(key, value)| cri::KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    let mounts = setup.mounts.iter().map(mount).collect();
    let labels = HashMap::from([
        (
            POD_UID.to_owned(),
            pod.metadata.uid.clone().unwrap_or_default(),
        ),
        (
            POD_NAME.to_owned(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (
            POD_NAMESPACE.to_owned(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (CONTAINER_NAME.to_owned(), container.name.clone()),
    ]);
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: container.name.clone(),
            attempt,
        }),
        image: Some(cri::ImageSpec {
            image: image_id.to_owned(),
            user_specified_image: container.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command: setup.command.clone(),
        args: setup.args.clone(),
        mounts,
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs,
        labels,
        log_path: format!("{}/{attempt}.log", container.name),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(linux_resources(container, qos_class(pod))),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A bind mount as the CRI's.
fn mount(m: &Mount) -> cri::Mount {
    let propagation = match m.propagation {
        Propagation::Private => cri::MountPropagation::PropagationPrivate,
        Propagation::HostToContainer => cri::MountPropagation::PropagationHostToContainer,
        Propagation::Bidirectional => cri::MountPropagation::PropagationBidirectional,
    };
    cri::Mount {
        container_path: m.container_path.clone(),
        host_path: m.host_path.to_string_lossy().into_owned(),
        readonly: m.read_only,
        recursive_read_only: m.recursive_read_only,
        propagation: propagation.into(),
        ..Default::default()
    }
}

/// The pod's QoS class, as the API server set it.
fn qos_class(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.qos_class.as_deref())
        .unwrap_or("BestEffort")
}

/// The pod's cgroup under upstream's hierarchy for the cgroupfs driver:
/// `/kubepods/<qos>/pod<uid>` (`/kubepods/pod<uid>` for Guaranteed pods).
pub fn cgroup_parent(pod: &Pod) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    match qos_class(pod) {
        "Guaranteed" => format!("/kubepods/pod{uid}"),
        "Burstable" => format!("/kubepods/burstable/pod{uid}"),
        _ => format!("/kubepods/besteffort/pod{uid}"),
    }
}

/// CPU and memory limits as cgroup settings, with upstream's conversions: shares from the CPU
/// request (1024 per core, at least 2 and at most 262144), a CFS quota from the CPU limit over a 100 ms period,
/// the memory limit in bytes, and the OOM score of the QoS class.
pub fn linux_resources(container: &Container, qos: &str) -> cri::LinuxContainerResources {
    /// Upstream's `MaxShares`, the kernel's bound on cpu.shares.
    const MAX_SHARES: i64 = 262_144;
    use ferrokube_client::quantity::value;
    let resources = container.resources.as_ref();
    let get = |list: Option<&std::collections::BTreeMap<String, _>>, name: &str, scale| {
        list.and_then(|l| l.get(name)).map(|q| value(q, scale))
    };
    let limits = resources.and_then(|r| r.limits.as_ref());
    let requests = resources.and_then(|r| r.requests.as_ref());
    let cpu_request = get(requests, "cpu", 1000).or(get(limits, "cpu", 1000));
    let mut linux = cri::LinuxContainerResources {
        cpu_shares: cpu_request.map_or(2, |milli| {
            (milli.saturating_mul(1024) / 1000).clamp(2, MAX_SHARES)
        }),
        oom_score_adj: match qos {
            "Guaranteed" => -997,
            "BestEffort" => 1000,
            _ => 0,
        },
        ..Default::default()
    };
    if let Some(milli) = get(limits, "cpu", 1000).filter(|m| *m > 0) {
        linux.cpu_period = 100_000;
        linux.cpu_quota = milli.saturating_mul(100).max(1000);
    }
    if let Some(bytes) = get(limits, "memory", 1).filter(|b| *b > 0) {
        linux.memory_limit_in_bytes = bytes;
    }
    linux
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_cut_to_63_characters_as_upstream() {
        let pod = |name: &str, hostname: Option<&str>| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name}, "spec": {"hostname": hostname, "containers": []},
            }))
            .unwrap()
        };
        let long = "a".repeat(70);
        let dash_at_63 = format!("{}-b{}", "a".repeat(62), "c".repeat(10));
        let dots = format!("{}..-x", "a".repeat(60));
        let cases = [
            (pod("web", None), "web".to_owned()),
            (pod("web", Some("front")), "front".to_owned()),
            (pod(&long, None), "a".repeat(63)),
            (pod(&dash_at_63, None), "a".repeat(62)),
            (pod(&dots, None), "a".repeat(60)),
            (pod(&"b".repeat(63), None), "b".repeat(63)),
        ];
        for (pod, want) in cases {
            assert_eq!(pod_hostname(&pod), want, "{:?}", pod.metadata.name);
        }
    }

    #[test]
    fn limits_as_upstream_converts_them() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "a",
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}},
        }))
        .unwrap();
        let r = linux_resources(&c, "Burstable");
        assert_eq!(
            (
                r.cpu_shares,
                r.cpu_period,
                r.cpu_quota,
                r.memory_limit_in_bytes
            ),
            (256, 100_000, 50_000, 64 << 20)
        );
        let none = linux_resources(&Container::default(), "BestEffort");
        assert_eq!(
            (none.cpu_shares, none.cpu_quota, none.oom_score_adj),
            (2, 0, 1000)
        );
        let huge: Container = serde_json::from_value(serde_json::json!({
            "name": "a", "resources": {"limits": {"cpu": "1e400"}},
        }))
        .unwrap();
        let r = linux_resources(&huge, "Guaranteed");
        assert_eq!((r.cpu_shares, r.cpu_quota), (262_144, i64::MAX));

        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"uid": "u1"}, "status": {"qosClass": "Guaranteed"}
        }))
        .unwrap();
        assert_eq!(cgroup_parent(&pod), "/kubepods/podu1");
        pod.status = None;
        assert_eq!(cgroup_parent(&pod), "/kubepods/besteffort/podu1");
    }

    #[test]
    fn dns_by_policy() {
        let pod = |policy: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": "web"},
                "spec": {"dnsPolicy": policy, "containers": [],
                    "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]}},
            }))
            .unwrap()
        };
        let cluster = ["10.43.0.10".to_owned()];
        let first = dns_config(&pod("ClusterFirst"), &cluster).unwrap();
        assert_eq!(first.servers, ["10.43.0.10", "1.1.1.1"]);
        assert_eq!(first.searches[0], "web.svc.cluster.local");
        assert_eq!(first.options, ["ndots:2"]);
        assert_eq!(dns_config(&pod("ClusterFirst"), &[]), None);
        assert_eq!(dns_config(&pod("Default"), &cluster), None);
        let none = dns_config(&pod("None"), &cluster).unwrap();
        assert_eq!(none.servers, ["1.1.1.1"]);
    }
}
