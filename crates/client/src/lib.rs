//! What every component that is an API client shares: clients with client-go's request rate
//! limits, caches whose readiness many tasks can await, an Event recorder, and merge patches
//! that clear what a writer no longer sets.

pub mod cache;
pub mod events;
pub mod merge_patch;
pub mod quantity;
pub mod rate_limit;

use rate_limit::RateLimitLayer;

/// Client-side request limits (upstream's controller-manager flags and defaults).
#[derive(clap::Args, Debug, Clone)]
pub struct ClientLimits {
    /// Requests per second to the API server after a burst; 0 for no limit.
    #[arg(long, default_value_t = 20.0)]
    pub kube_api_qps: f32,
    /// Requests allowed at once before the per-second rate applies.
    #[arg(long, default_value_t = 30)]
    pub kube_api_burst: u32,
}

/// One client per controller, each with its own bucket (as upstream's `ClientBuilder`); checks
/// `config` once so that building the others cannot fail.
pub fn per_controller(
    config: kube::Config,
    limits: ClientLimits,
) -> anyhow::Result<impl Fn(&str) -> kube::Client> {
    build(config.clone(), &limits)?;
    Ok(move |_name: &str| build(config.clone(), &limits).expect("checked above"))
}

/// Sends a request that `kube::core::Request` built and returns the answer's body unparsed,
/// for callers that need little or nothing of the object in it: decoding a whole pod costs
/// more than the request. Error statuses are errors, as with `Api`'s methods.
pub async fn send(
    client: &kube::Client,
    request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
) -> Result<String, kube::Error> {
    client
        .request_text(request.map_err(kube::Error::BuildRequest)?)
        .await
}

/// The client settings in a kubeconfig file (its current context).
pub async fn config_from_kubeconfig(path: &std::path::Path) -> anyhow::Result<kube::Config> {
    use anyhow::Context;
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let options = kube::config::KubeConfigOptions::default();
    Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?)
}

/// A client for `config`, limited as `limits` says.
pub fn build(config: kube::Config, limits: &ClientLimits) -> anyhow::Result<kube::Client> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(
        match RateLimitLayer::new(limits.kube_api_qps, limits.kube_api_burst) {
            Some(layer) => builder.with_layer(&layer).build(),
            None => builder.build(),
        },
    )
}
