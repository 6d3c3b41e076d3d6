//! A simulated runtime, as kubemark's hollow nodes: images "pull" and containers "start" at
//! once and run until removed; an image tagged `:404` fails to pull. No processes, no network:
//! pod IPs come from a per-node range.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{ContainerInfo, ContainerState, ExecResult, Runtime, RuntimeError, SandboxInfo};

pub struct Hollow {
    /// The first three octets of this node's pod IPs, e.g. `10.244.3`.
    subnet: String,
    next_ip: AtomicU32,
    pods: Mutex<HashMap<String, (SandboxInfo, Vec<ContainerInfo>)>>,
}

impl Hollow {
    /// A hollow runtime handing out pod IPs in `10.244.<index>.0/24`.
    pub fn new(index: u32) -> Hollow {
        Hollow {
            subnet: format!("10.244.{}", index % 256),
            next_ip: AtomicU32::new(2),
            pods: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl Runtime for Hollow {
    async fn version(&self) -> Result<String, RuntimeError> {
        Ok("hollow://0.1.0".into())
    }

    async fn run_sandbox(&self, pod: &Pod) -> Result<SandboxInfo, RuntimeError> {
        let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let mut pods = self.pods.lock().expect("hollow lock");
        if let Some((sandbox, _)) = pods.get(pod_uid) {
            return Ok(sandbox.clone());
        }
        let host = 2 + self.next_ip.fetch_add(1, Ordering::Relaxed) % 250;
        let sandbox = SandboxInfo {
            id: format!("hollow-sandbox-{pod_uid}"),
            ip: format!("{}.{host}", self.subnet),
        };
        pods.insert(pod_uid.to_owned(), (sandbox.clone(), Vec::new()));
        Ok(sandbox)
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        if image.ends_with(":404") {
            return Err(RuntimeError::ImagePull(format!(
                "failed to pull and unpack image \"{image}\": not found"
            )));
        }
        Ok(format!("hollow://{image}"))
    }

    async fn image_status(&self, image: &str) -> Result<Option<(String, u64)>, RuntimeError> {
        Ok((!image.ends_with(":404")).then(|| (format!("hollow://{image}"), 0)))
    }

    async fn start_container(
        &self,
        sandbox: &SandboxInfo,
        _pod: &Pod,
        container: &Container,
        _setup: &super::ContainerSetup,
        image_id: &str,
        attempt: u32,
    ) -> Result<ContainerInfo, RuntimeError> {
        let name = container.name.as_str();
        let image = container.image.as_deref().unwrap_or_default();
        let mut pods = self.pods.lock().expect("hollow lock");
        let entry = pods
            .values_mut()
            .find(|(s, _)| s.id == sandbox.id)
            .ok_or_else(|| RuntimeError::Other(format!("no sandbox {}", sandbox.id)))?;
        let container = ContainerInfo {
            id: format!("hollow://{}-{name}", sandbox.id),
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: image_id.to_owned(),
            attempt,
            state: ContainerState::Running {
                started_at: jiff::Timestamp::now(),
            },
            log_path: None,
        };
        entry
            .1
            .retain(|c| c.name != name || c.attempt + 1 >= attempt);
        entry.1.push(container.clone());
        Ok(container)
    }

    async fn pod_uids(&self) -> Result<Vec<String>, RuntimeError> {
        Ok(self
            .pods
            .lock()
            .expect("hollow lock")
            .keys()
            .cloned()
            .collect())
    }

    async fn stop_container(
        &self,
        id: &str,
        _grace: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        let now = jiff::Timestamp::now();
        for (_, containers) in self.pods.lock().expect("hollow lock").values_mut() {
            for c in containers.iter_mut().filter(|c| c.id == id) {
                if let ContainerState::Running { started_at } = c.state {
                    c.state = ContainerState::Exited {
                        exit_code: 137,
                        started_at,
                        finished_at: now,
                    };
                }
            }
        }
        Ok(())
    }

    async fn exec_sync(
        &self,
        _id: &str,
        _command: &[String],
        _timeout: std::time::Duration,
    ) -> Result<ExecResult, RuntimeError> {
        Ok(ExecResult {
            exit_code: 0,
            output: String::new(),
        })
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        for (_, containers) in self.pods.lock().expect("hollow lock").values_mut() {
            containers.retain(|c| c.id != id);
        }
        Ok(())
    }

    async fn remove_sandbox(
        &self,
        pod_uid: &str,
        _grace: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        self.pods.lock().expect("hollow lock").remove(pod_uid);
        Ok(())
    }

    async fn pod_state(
        &self,
        pod_uid: &str,
    ) -> Result<Option<(SandboxInfo, Vec<ContainerInfo>)>, RuntimeError> {
        Ok(self.pods.lock().expect("hollow lock").get(pod_uid).cloned())
    }
}
