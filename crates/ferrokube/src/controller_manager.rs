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
    #[command(flatten)]
    pub limits: ferrokube_client::ClientLimits,
}

/// Runs the controllers until `shutdown` resolves.
pub async fn run(
    config: ControllerManagerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let client_config = ferrokube_client::config_from_kubeconfig(&config.kubeconfig).await?;
    let clients = ferrokube_client::per_controller(client_config, config.limits.clone())?;
    tracing::info!(kubeconfig = %config.kubeconfig.display(), "controller manager starting");
    ferrokube_controllers::run(clients, shutdown).await;
    Ok(())
}
