//! The CRI runtime: containerd (or any CRI runtime) over its unix socket with the CRI v1 gRPC
//! API. Sandboxes and containers carry upstream's `io.kubernetes.*` labels, so a restarted
//! kubelet finds its pods' sandboxes again by pod UID; logs go to
//! `<log root>/<namespace>_<name>_<uid>/<container>/<attempt>.log` as upstream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_openapi::api::core::v1::{Container, Pod};
use tonic::transport::{Channel, Endpoint, Uri};

use super::{ContainerInfo, ContainerState, ExecResult, Runtime, RuntimeError, SandboxInfo};

const POD_UID: &str = "io.kubernetes.pod.uid";
const POD_NAME: &str = "io.kubernetes.pod.name";
const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// A connection to a CRI runtime.
#[derive(Clone)]
pub struct Cri {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    log_root: PathBuf,
    /// The cluster DNS servers for `ClusterFirst` pods (none yet: such pods use the host's).
    cluster_dns: Vec<String>,
}

fn failed(step: &str, status: tonic::Status) -> RuntimeError {
    RuntimeError::Other(format!("{step}: {}", status.message()))
}

fn timestamp(nanos: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(nanos)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

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

/// A container's configuration: image, command, args, env (with the pod's name and namespace
/// from fieldRefs), working dir and log path.
pub fn container_config(
    pod: &Pod,
    container: &Container,
    image_id: &str,
    pod_ip: &str,
    attempt: u32,
) -> cri::ContainerConfig {
    let field = |path: &str| match path {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "spec.nodeName" => pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        "status.podIP" => Some(pod_ip.to_owned()),
        _ => None,
    };
    let envs = container
        .env
        .iter()
        .flatten()
        .map(|e| cri::KeyValue {
            key: e.name.clone(),
            value: e.value.clone().unwrap_or_else(|| {
                e.value_from
                    .as_ref()
                    .and_then(|v| v.field_ref.as_ref())
                    .and_then(|f| field(&f.field_path))
                    .unwrap_or_default()
            }),
        })
        .collect();
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
        command: container.command.clone().unwrap_or_default(),
        args: container.args.clone().unwrap_or_default(),
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

impl Cri {
    /// Connects to the runtime's socket; container logs go under `log_root`.
    pub async fn connect(socket: &Path, log_root: PathBuf) -> Result<Cri, RuntimeError> {
        let socket = socket.to_owned();
        let channel = Endpoint::try_from("http://[::]:0")
            .map_err(|e| RuntimeError::Other(e.to_string()))?
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }))
            .await
            .map_err(|e| {
                RuntimeError::Other(format!("connecting to the container runtime: {e}"))
            })?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            log_root,
            cluster_dns: Vec::new(),
        })
    }

    /// Gives `ClusterFirst` pods these DNS servers.
    pub fn with_cluster_dns(mut self, servers: Vec<String>) -> Cri {
        self.cluster_dns = servers;
        self
    }

    async fn sandboxes_of(
        &self,
        pod_uid: &str,
        ready_only: bool,
    ) -> Result<Vec<cri::PodSandbox>, RuntimeError> {
        let state = ready_only.then_some(cri::PodSandboxStateValue {
            state: cri::PodSandboxState::SandboxReady as i32,
        });
        let filter = cri::PodSandboxFilter {
            state,
            label_selector: HashMap::from([(POD_UID.to_owned(), pod_uid.to_owned())]),
            ..Default::default()
        };
        let response = self
            .runtime
            .clone()
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(filter),
            })
            .await
            .map_err(|s| failed("ListPodSandbox", s))?;
        Ok(response.into_inner().items)
    }

    async fn sandbox_ip(&self, id: &str) -> Result<String, RuntimeError> {
        let status = self
            .runtime
            .clone()
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.to_owned(),
                verbose: false,
            })
            .await
            .map_err(|s| failed("PodSandboxStatus", s))?
            .into_inner();
        Ok(status
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default())
    }

    async fn containers_in(&self, sandbox_id: &str) -> Result<Vec<cri::Container>, RuntimeError> {
        let filter = cri::ContainerFilter {
            pod_sandbox_id: sandbox_id.to_owned(),
            ..Default::default()
        };
        let response = self
            .runtime
            .clone()
            .list_containers(cri::ListContainersRequest {
                filter: Some(filter),
            })
            .await
            .map_err(|s| failed("ListContainers", s))?;
        Ok(response.into_inner().containers)
    }

    async fn container_info(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        let status = self
            .runtime
            .clone()
            .container_status(cri::ContainerStatusRequest {
                container_id: id.to_owned(),
                verbose: false,
            })
            .await
            .map_err(|s| failed("ContainerStatus", s))?
            .into_inner()
            .status
            .ok_or_else(|| RuntimeError::Other(format!("no status for container {id}")))?;
        let state = match cri::ContainerState::try_from(status.state) {
            Ok(cri::ContainerState::ContainerRunning) => ContainerState::Running {
                started_at: timestamp(status.started_at),
            },
            Ok(cri::ContainerState::ContainerExited) => ContainerState::Exited {
                exit_code: status.exit_code,
                started_at: timestamp(status.started_at),
                finished_at: timestamp(status.finished_at),
            },
            _ => ContainerState::Created,
        };
        Ok(ContainerInfo {
            id: format!("containerd://{}", status.id),
            attempt: status.metadata.as_ref().map_or(0, |m| m.attempt),
            name: status.metadata.map(|m| m.name).unwrap_or_default(),
            image: status.image.map(|i| i.image).unwrap_or_default(),
            image_id: status.image_ref,
            state,
            log_path: Some(PathBuf::from(status.log_path)).filter(|p| !p.as_os_str().is_empty()),
        })
    }
}

#[async_trait::async_trait]
impl Runtime for Cri {
    async fn version(&self) -> Result<String, RuntimeError> {
        let v = self
            .runtime
            .clone()
            .version(cri::VersionRequest {
                version: "v1".into(),
            })
            .await
            .map_err(|s| failed("Version", s))?
            .into_inner();
        Ok(format!("{}://{}", v.runtime_name, v.runtime_version))
    }

    async fn run_sandbox(&self, pod: &Pod) -> Result<SandboxInfo, RuntimeError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if let Some(existing) = self.sandboxes_of(&uid, true).await?.into_iter().next() {
            let ip = self.sandbox_ip(&existing.id).await?;
            return Ok(SandboxInfo {
                id: existing.id,
                ip,
            });
        }
        let config = sandbox_config(pod, &self.log_root, &self.cluster_dns);
        std::fs::create_dir_all(&config.log_directory)
            .map_err(|e| RuntimeError::Other(format!("creating {}: {e}", config.log_directory)))?;
        let id = self
            .runtime
            .clone()
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
            .map_err(|s| failed("RunPodSandbox", s))?
            .into_inner()
            .pod_sandbox_id;
        let ip = self.sandbox_ip(&id).await?;
        Ok(SandboxInfo { id, ip })
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        let request = cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: image.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.images
            .clone()
            .pull_image(request)
            .await
            .map(|r| r.into_inner().image_ref)
            .map_err(|s| RuntimeError::ImagePull(s.message().to_owned()))
    }

    async fn image_status(&self, image: &str) -> Result<Option<(String, u64)>, RuntimeError> {
        let request = cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: image.to_owned(),
                ..Default::default()
            }),
            verbose: false,
        };
        let status = self
            .images
            .clone()
            .image_status(request)
            .await
            .map_err(|s| failed("ImageStatus", s))?
            .into_inner();
        Ok(status.image.map(|i| (i.id, i.size)))
    }

    async fn start_container(
        &self,
        sandbox: &SandboxInfo,
        pod: &Pod,
        container: &Container,
        image_id: &str,
        attempt: u32,
    ) -> Result<ContainerInfo, RuntimeError> {
        let config = container_config(pod, container, image_id, &sandbox.ip, attempt);
        let mut sandbox_config = sandbox_config(pod, &self.log_root, &self.cluster_dns);
        sandbox_config.port_mappings.clear();
        let dir = Path::new(&sandbox_config.log_directory).join(&container.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| RuntimeError::Other(format!("creating {}: {e}", dir.display())))?;
        let id = self
            .runtime
            .clone()
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox.id.clone(),
                config: Some(config),
                sandbox_config: Some(sandbox_config),
            })
            .await
            .map_err(|s| failed("CreateContainer", s))?
            .into_inner()
            .container_id;
        self.runtime
            .clone()
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(|s| failed("StartContainer", s))?;
        self.container_info(&id).await
    }

    async fn pod_uids(&self) -> Result<Vec<String>, RuntimeError> {
        let response = self
            .runtime
            .clone()
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
            .await
            .map_err(|s| failed("ListPodSandbox", s))?;
        let mut uids: Vec<String> = response
            .into_inner()
            .items
            .into_iter()
            .filter_map(|s| s.labels.get(POD_UID).cloned())
            .collect();
        uids.sort();
        uids.dedup();
        Ok(uids)
    }

    async fn stop_container(
        &self,
        id: &str,
        grace: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        let id = id.strip_prefix("containerd://").unwrap_or(id).to_owned();
        self.runtime
            .clone()
            .stop_container(cri::StopContainerRequest {
                container_id: id,
                timeout: grace.as_secs() as i64,
            })
            .await
            .map(drop)
            .map_err(|s| failed("StopContainer", s))
    }

    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let id = id.strip_prefix("containerd://").unwrap_or(id).to_owned();
        let request = cri::ExecSyncRequest {
            container_id: id,
            cmd: command.to_vec(),
            timeout: timeout.as_secs().max(1) as i64,
        };
        let response = tokio::time::timeout(
            timeout + std::time::Duration::from_secs(1),
            self.runtime.clone().exec_sync(request),
        )
        .await
        .map_err(|_| {
            RuntimeError::Other(format!("command timed out after {}s", timeout.as_secs()))
        })?
        .map_err(|s| failed("ExecSync", s))?
        .into_inner();
        let mut output = String::from_utf8_lossy(&response.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&response.stderr));
        Ok(ExecResult {
            exit_code: response.exit_code,
            output,
        })
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let id = id.strip_prefix("containerd://").unwrap_or(id).to_owned();
        self.runtime
            .clone()
            .remove_container(cri::RemoveContainerRequest { container_id: id })
            .await
            .map(drop)
            .map_err(|s| failed("RemoveContainer", s))
    }

    async fn remove_sandbox(
        &self,
        pod_uid: &str,
        grace: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        for sandbox in self.sandboxes_of(pod_uid, false).await? {
            for container in self.containers_in(&sandbox.id).await? {
                let mut runtime = self.runtime.clone();
                let timeout = grace.as_secs() as i64;
                runtime
                    .stop_container(cri::StopContainerRequest {
                        container_id: container.id.clone(),
                        timeout,
                    })
                    .await
                    .map_err(|s| failed("StopContainer", s))?;
                runtime
                    .remove_container(cri::RemoveContainerRequest {
                        container_id: container.id,
                    })
                    .await
                    .map_err(|s| failed("RemoveContainer", s))?;
            }
            let mut runtime = self.runtime.clone();
            runtime
                .stop_pod_sandbox(cri::StopPodSandboxRequest {
                    pod_sandbox_id: sandbox.id.clone(),
                })
                .await
                .map_err(|s| failed("StopPodSandbox", s))?;
            runtime
                .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id: sandbox.id,
                })
                .await
                .map_err(|s| failed("RemovePodSandbox", s))?;
        }
        Ok(())
    }

    async fn pod_state(
        &self,
        pod_uid: &str,
    ) -> Result<Option<(SandboxInfo, Vec<ContainerInfo>)>, RuntimeError> {
        let Some(sandbox) = self.sandboxes_of(pod_uid, true).await?.into_iter().next() else {
            return Ok(None);
        };
        let ip = self.sandbox_ip(&sandbox.id).await?;
        let mut containers = Vec::new();
        for c in self.containers_in(&sandbox.id).await? {
            containers.push(self.container_info(&c.id).await?);
        }
        Ok(Some((SandboxInfo { id: sandbox.id, ip }, containers)))
    }
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
