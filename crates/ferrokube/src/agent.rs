//! The node agent: the kubelet with containerd, inside `ferrokube server` (unless
//! `--disable-agent`) or alone as `ferrokube agent --kubeconfig FILE`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ferrokube_kubelet::containerd::{Containerd, ContainerdSetup};
use ferrokube_kubelet::runtime::Runtime;
use ferrokube_kubelet::runtime::cri::Cri;

/// How the node agent runs (shared by `ferrokube server` and `ferrokube agent`).
#[derive(clap::Args, Debug, Clone)]
pub struct AgentFlags {
    /// The node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// A running CRI runtime's socket; absent, ferrokube starts containerd itself with its
    /// state in DATA_DIR/containerd.
    #[arg(long)]
    pub container_runtime_endpoint: Option<PathBuf>,
    /// The pods' subnet on this node.
    #[arg(long, default_value = "10.42.0.0/24")]
    pub pod_cidr: String,
    /// The CNI network and its bridge (distinct for each node sharing one machine).
    #[arg(long, default_value = "ferrokube")]
    pub cni_network: String,
    /// DNS servers for pods with dnsPolicy ClusterFirst (comma-separated); without any, such
    /// pods use the host's resolv.conf, as upstream's kubelet falls back to.
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Vec<String>,
    /// The port of the kubelet's log server, on the node's address (0: any free port; the
    /// node's status tells the API server which).
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// A registry (plain HTTP) tried first for docker.io and registry.k8s.io images.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub registry_mirror: String,
}

/// Runs the kubelet (and containerd, unless an endpoint is given) until `shutdown`.
pub async fn run(
    flags: AgentFlags,
    data_dir: PathBuf,
    client: kube::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let (containerd, socket) = match &flags.container_runtime_endpoint {
        Some(socket) => (None, socket.clone()),
        None => {
            let setup = ContainerdSetup {
                dir: std::path::absolute(data_dir.join("containerd"))?,
                mirror: Some(flags.registry_mirror.clone()),
                pod_cidr: flags.pod_cidr.clone(),
                network: flags.cni_network.clone(),
            };
            let containerd = Containerd::start(&setup).await?;
            let socket = containerd.socket.clone();
            (Some(containerd), socket)
        }
    };
    let logs = std::path::absolute(data_dir.join("pods"))?;
    let cri = Cri::connect(&socket, logs)
        .await
        .with_context(|| format!("container runtime at {}", socket.display()))?
        .with_cluster_dns(flags.cluster_dns.clone());
    let version = tokio::select! {
        version = runtime_version(&cri) => version?,
        () = shutdown.clone() => return Ok(()),
    };
    let name = flags
        .node_name
        .clone()
        .unwrap_or_else(ferrokube_kubelet::node::machine::hostname);
    let mut machine =
        ferrokube_kubelet::node::machine::this_machine(name, Path::new(&data_dir), version);
    let address = (machine.address.as_str(), flags.kubelet_port);
    let log_listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("kubelet port {}:{}", address.0, address.1))?;
    machine.kubelet_port = log_listener.local_addr()?.port();
    tracing::info!(node = %machine.name, runtime = %machine.runtime_version, "node agent starting");
    let options = ferrokube_kubelet::KubeletOptions {
        machine,
        runtime: Arc::new(cri),
        log_listener: Some(log_listener),
        volumes_root: Some(std::path::absolute(data_dir.join("kubelet").join("pods"))?),
        local_path_root: Some(std::path::absolute(data_dir.join("storage"))?),
    };
    ferrokube_kubelet::run(client, options, shutdown).await;
    drop(containerd);
    Ok(())
}

/// The runtime's version, once its CRI service answers: containerd's socket opens before the
/// CRI plugin is ready ("server is not initialized yet"), longer after an unclean stop.
async fn runtime_version(cri: &Cri) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match cri.version().await {
            Ok(version) => return Ok(version),
            Err(err) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %err, "waiting for the container runtime");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err).context("the container runtime never answered"),
        }
    }
}

/// Flags of `ferrokube agent`.
#[derive(clap::Args, Debug)]
pub struct AgentConfig {
    /// The kubeconfig to reach the API server with.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// The API server's URL, instead of the kubeconfig's.
    #[arg(long)]
    pub server: Option<String>,
    /// Where the agent keeps containerd's state and the pods' logs.
    #[arg(long, default_value = "./ferrokube-agent-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub agent: AgentFlags,
}

/// `ferrokube agent`: the node agent against any API server.
pub async fn run_alone(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut client_config = ferrokube_client::config_from_kubeconfig(&config.kubeconfig).await?;
    if let Some(server) = &config.server {
        client_config.cluster_url = server
            .parse()
            .with_context(|| format!("--server {server}"))?;
    }
    let client = client(client_config)?;
    run(config.agent, config.data_dir, client, shutdown).await
}

/// The kubelet's API client: upstream's kubelet limits (50 requests per second, bursts of 100)
/// and its User-Agent.
pub fn client(config: kube::Config) -> anyhow::Result<kube::Client> {
    let limits = ferrokube_client::ClientLimits {
        kube_api_qps: 50.0,
        kube_api_burst: 100,
    };
    let agent = ferrokube_client::user_agent("kubelet", "kubelet");
    Ok(ferrokube_client::build(config, &limits, &agent)?)
}
