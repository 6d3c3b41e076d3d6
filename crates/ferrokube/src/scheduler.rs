//! `ferrokube scheduler`: the scheduler alone, against any API server named by a kubeconfig.

use std::future::Future;
use std::path::PathBuf;

use ferrokube_client::ClientLimits;
use ferrokube_scheduler::SchedulerOptions;

/// Flags of `ferrokube scheduler`.
#[derive(clap::Args, Debug)]
pub struct SchedulerConfig {
    /// The kubeconfig to reach the API server with.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    #[command(flatten)]
    pub scheduling: SchedulingFlags,
    /// Requests per second to the API server after a burst (upstream's scheduler default);
    /// 0 for no limit.
    #[arg(long, default_value_t = 50.0)]
    pub kube_api_qps: f32,
    /// Requests allowed at once before the per-second rate applies.
    #[arg(long, default_value_t = 100)]
    pub kube_api_burst: u32,
}

/// How pods are scheduled (shared by `ferrokube server` and `ferrokube scheduler`).
#[derive(clap::Args, Debug, Clone)]
pub struct SchedulingFlags {
    /// Pods whose `spec.schedulerName` is this are scheduled.
    #[arg(long, default_value = "default-scheduler")]
    pub scheduler_name: String,
    /// Stop looking for feasible nodes after this share of the nodes (1–100); 0 for
    /// upstream's adaptive rule (50% at 100 nodes down to 5% at 5,625 and more).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub percentage_of_nodes_to_score: u8,
}

impl SchedulingFlags {
    pub fn options(&self) -> SchedulerOptions {
        SchedulerOptions {
            scheduler_name: self.scheduler_name.clone(),
            percentage_of_nodes_to_score: (self.percentage_of_nodes_to_score > 0)
                .then_some(usize::from(self.percentage_of_nodes_to_score)),
        }
    }
}

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(
    config: SchedulerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let client_config = ferrokube_client::config_from_kubeconfig(&config.kubeconfig).await?;
    let limits = ClientLimits {
        kube_api_qps: config.kube_api_qps,
        kube_api_burst: config.kube_api_burst,
    };
    let client = client(client_config, &limits)?;
    tracing::info!(kubeconfig = %config.kubeconfig.display(), "scheduler starting");
    ferrokube_scheduler::run(client, config.scheduling.options(), shutdown).await;
    Ok(())
}

/// The scheduler's API client, limited as `limits` says, with its User-Agent.
pub fn client(config: kube::Config, limits: &ClientLimits) -> anyhow::Result<kube::Client> {
    let agent = ferrokube_client::user_agent("kube-scheduler", "scheduler");
    Ok(ferrokube_client::build(config, limits, &agent)?)
}
