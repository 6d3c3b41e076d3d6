//! `ferrokube controller-manager`: the controllers alone, against any API server named by a
//! kubeconfig.

use std::future::Future;
use std::path::PathBuf;

/// Flags of `ferrokube controller-manager`.
#[derive(clap::Args, Debug)]
pub struct ControllerManagerConfig {
    /// The kubeconfig to reach the API server with.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// Requests per second to the API server after a burst (upstream's default); 0 for no
    /// limit.
    #[arg(long, default_value_t = 20.0)]
    pub kube_api_qps: f32,
    /// Requests allowed at once before the per-second rate applies (upstream's default).
    #[arg(long, default_value_t = 30)]
    pub kube_api_burst: u32,
    /// The cluster CA (PEM) the root CA publisher puts in every namespace's `kube-root-ca.crt`
    /// (upstream's flag); without it, nothing is published.
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,
}

/// Runs the controllers until `shutdown` resolves.
pub async fn run(
    config: ControllerManagerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let client_config = ferrokube_client::config_from_kubeconfig(&config.kubeconfig).await?;
    let limits = ferrokube_client::ClientLimits {
        kube_api_qps: config.kube_api_qps,
        kube_api_burst: config.kube_api_burst,
    };
    let clients = ferrokube_client::per_controller(client_config, limits)?;
    tracing::info!(kubeconfig = %config.kubeconfig.display(), "controller manager starting");
    let root_ca = match &config.root_ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--root-ca-file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    ferrokube_controllers::run(clients, root_ca, shutdown).await;
    Ok(())
}
