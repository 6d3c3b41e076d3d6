//! The CRI runtime: containerd (or any CRI runtime) over its unix socket with the CRI v1 gRPC
//! API. Sandboxes and containers carry upstream's `io.kubernetes.*` labels, so a restarted
//! kubelet finds its pods' sandboxes again by pod UID; logs go to
//! `<log root>/<namespace>_<name>_<uid>/<container>/<attempt>.log` as upstream. `config`
//! translates a pod into the CRI's sandbox and container configurations.

pub mod config;

pub use config::{
    cgroup_parent, container_config, dns_config, linux_resources, pod_hostname, sandbox_config,
};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_openapi::api::core::v1::{Container, Pod};
use tonic::transport::{Channel, Endpoint, Uri};

use super::{
    ContainerInfo, ContainerSetup, ContainerState, ExecResult, Runtime, RuntimeError, SandboxInfo,
};

pub(crate) const POD_UID: &str = "io.kubernetes.pod.uid";
pub(crate) const POD_NAME: &str = "io.kubernetes.pod.name";
pub(crate) const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub(crate) const CONTAINER_NAME: &str = "io.kubernetes.container.name";

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
        setup: &ContainerSetup,
        image_id: &str,
        attempt: u32,
    ) -> Result<ContainerInfo, RuntimeError> {
        let config = container_config(pod, container, setup, image_id, attempt);
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
