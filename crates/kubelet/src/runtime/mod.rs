//! The container runtime a kubelet drives, as the CRI's operations: sandboxes (one per pod),
//! images and containers. `hollow` simulates it (for scale tests); `cri` drives containerd.

pub mod cri;
pub mod hollow;

use k8s_openapi::api::core::v1::{Container, Pod};

/// What a container is doing, as the runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContainerState {
    Created,
    Running {
        started_at: jiff::Timestamp,
    },
    Exited {
        exit_code: i32,
        started_at: jiff::Timestamp,
        finished_at: jiff::Timestamp,
    },
}

/// How a bind mount propagates mounts made under it (the CRI's `MountPropagation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Propagation {
    #[default]
    Private,
    HostToContainer,
    Bidirectional,
}

/// A path of the node bound into a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mount {
    pub container_path: String,
    pub host_path: std::path::PathBuf,
    pub read_only: bool,
    /// Read-only all the way down, submounts too (`recursiveReadOnly: Enabled`).
    pub recursive_read_only: bool,
    pub propagation: Propagation,
}

/// What the kubelet worked out for a container before it starts: its environment, its command
/// and args with `$(VAR)` references expanded, and its mounts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSetup {
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub mounts: Vec<Mount>,
}

/// A container the runtime knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// Which run of the container this is: 0, then 1 after the first restart, …
    pub attempt: u32,
    pub state: ContainerState,
    /// Where the runtime writes the run's output (CRI log format); none for hollow containers.
    pub log_path: Option<std::path::PathBuf>,
}

/// What a command run in a container (an exec probe) gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecResult {
    pub exit_code: i32,
    /// Its standard output, then its standard error.
    pub output: String,
}

/// A pod's sandbox: its network namespace and IP.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SandboxInfo {
    pub id: String,
    pub ip: String,
}

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image could not be pulled (reported as ErrImagePull).
    #[error("{0}")]
    ImagePull(String),
    #[error("{0}")]
    Other(String),
}

/// The runtime operations a pod worker uses (a subset of the CRI).
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// The runtime's name and version, e.g. `containerd://1.6.20`.
    async fn version(&self) -> Result<String, RuntimeError>;
    /// Starts the pod's sandbox; returns it (an existing ready one is reused).
    async fn run_sandbox(&self, pod: &Pod) -> Result<SandboxInfo, RuntimeError>;
    /// Pulls an image; returns its ID (digest).
    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError>;
    /// The image's ID and size in bytes, if the runtime has it.
    async fn image_status(&self, image: &str) -> Result<Option<(String, u64)>, RuntimeError>;
    /// Creates and starts one of the pod's containers in its sandbox.
    async fn start_container(
        &self,
        sandbox: &SandboxInfo,
        pod: &Pod,
        container: &Container,
        setup: &ContainerSetup,
        image_id: &str,
        attempt: u32,
    ) -> Result<ContainerInfo, RuntimeError>;
    /// The pod UIDs of every sandbox the runtime has (ready or not).
    async fn pod_uids(&self) -> Result<Vec<String>, RuntimeError>;
    /// Stops a running container: SIGTERM, then SIGKILL after `grace`.
    async fn stop_container(
        &self,
        id: &str,
        grace: std::time::Duration,
    ) -> Result<(), RuntimeError>;
    /// Runs a command in a running container, waiting at most `timeout`.
    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecResult, RuntimeError>;
    /// Removes one (exited) container.
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError>;
    /// Stops (within `grace`) and removes every container of the sandbox, then the sandbox.
    async fn remove_sandbox(
        &self,
        pod_uid: &str,
        grace: std::time::Duration,
    ) -> Result<(), RuntimeError>;
    /// The sandbox and containers (every run not yet removed) of a pod, if it has a sandbox.
    async fn pod_state(
        &self,
        pod_uid: &str,
    ) -> Result<Option<(SandboxInfo, Vec<ContainerInfo>)>, RuntimeError>;
}
