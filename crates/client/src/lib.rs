//! What every component that is an API client shares: clients with client-go's request rate
//! limits, caches whose readiness many tasks can await, an Event recorder, merge patches that
//! clear what a writer no longer sets, and the injected wall clock.

pub mod cache;
pub mod clock;
pub mod events;
pub mod merge_patch;
pub mod node_selector;
pub mod quantity;
pub mod rate_limit;
pub mod volumes;

use rate_limit::RateLimitLayer;

/// Client-side request limits, as client-go's `--kube-api-qps` and `--kube-api-burst` (the
/// binary's flags set them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientLimits {
    /// Requests per second to the API server after a burst; 0 for no limit.
    pub kube_api_qps: f32,
    /// Requests allowed at once before the per-second rate applies.
    pub kube_api_burst: u32,
}

impl ClientLimits {
    /// No client-side limit.
    pub const UNLIMITED: ClientLimits = ClientLimits {
        kube_api_qps: 0.0,
        kube_api_burst: 0,
    };
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("User-Agent {agent:?}: {source}")]
    UserAgent {
        agent: String,
        source: http::header::InvalidHeaderValue,
    },
    #[error("reading {path}: {source}")]
    Kubeconfig {
        path: std::path::PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("the kubeconfig's current context: {0}")]
    Context(#[source] kube::config::KubeconfigError),
    #[error("building the client: {0}")]
    Build(#[source] kube::Error),
}

/// The Kubernetes version ferrokube's components speak for (the kubelet's `nodeInfo`, the
/// components' User-Agent).
pub const KUBE_VERSION: &str = "v1.33.0";

/// This machine's architecture as Go names it (`GOARCH`: `amd64`, `arm64`), as Kubernetes
/// reports it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The User-Agent of an upstream component, `kube-scheduler/v1.33.0 (linux/amd64)
/// ferrokube/scheduler`. A write without `fieldManager` is managed by the agent's first part, so
/// objects name `kube-controller-manager`, `kube-scheduler` or `kubelet` in their
/// managedFields, as upstream's do.
pub fn user_agent(component: &str, detail: &str) -> String {
    let os = std::env::consts::OS;
    format!(
        "{component}/{KUBE_VERSION} ({os}/{}) ferrokube/{detail}",
        go_arch()
    )
}

/// One client per controller, each with its own bucket (as upstream's `ClientBuilder`) and a
/// `kube-controller-manager` User-Agent naming the controller; checks `config` once so that
/// building the others cannot fail.
pub fn per_controller(
    config: kube::Config,
    limits: ClientLimits,
) -> Result<impl Fn(&str) -> kube::Client, ClientError> {
    let agent = |name: &str| user_agent("kube-controller-manager", name);
    build(config.clone(), &limits, &agent("check"))?;
    Ok(move |name: &str| build(config.clone(), &limits, &agent(name)).expect("checked above"))
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
pub async fn config_from_kubeconfig(path: &std::path::Path) -> Result<kube::Config, ClientError> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|source| ClientError::Kubeconfig {
            path: path.to_owned(),
            source,
        })?;
    let options = kube::config::KubeConfigOptions::default();
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(ClientError::Context)
}

/// Requests one client has in flight at most (until their answers' headers arrive, so a watch
/// holds a slot only until it starts); the rest wait their turn in the client's queue.
///
/// Why: over HTTP/1.1 every request in flight is a connection, and the pool keeps it open
/// after. 10,000 hollow pods' status patches and Events left ~1,500 idle connections, ~40 MiB
/// of buffers on both ends; a client-go client multiplexes over one HTTP/2 connection instead.
/// On one machine, with two cores, more in flight only queues in the server.
pub const MAX_IN_FLIGHT: usize = 64;

/// A client for `config`, limited as `limits` says, sending `agent` (see [`user_agent`]).
pub fn build(
    mut config: kube::Config,
    limits: &ClientLimits,
    agent: &str,
) -> Result<kube::Client, ClientError> {
    let value = http::HeaderValue::from_str(agent).map_err(|source| ClientError::UserAgent {
        agent: agent.to_owned(),
        source,
    })?;
    config.headers.push((http::header::USER_AGENT, value));
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(ClientError::Build)?
        .with_layer(&tower::limit::ConcurrencyLimitLayer::new(MAX_IN_FLIGHT));
    Ok(
        match RateLimitLayer::new(limits.kube_api_qps, limits.kube_api_burst) {
            Some(layer) => builder.with_layer(&layer).build(),
            None => builder.build(),
        },
    )
}
