//! `ferrokube server`: opens the datastore (SQLite in the data dir, or etcd), serves the
//! Kubernetes API on loopback, writes an admin kubeconfig, and runs until shut down.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use std::time::Duration;

use crate::heap::Component;
use ferrokube_apiserver::{ApiServer, ApiServerOptions};
use ferrokube_store::{CompactionPolicy, Datastore, StoreTuning};

/// Flags of `ferrokube server`.
#[derive(clap::Args, Debug)]
pub struct ServerConfig {
    /// Where the server keeps its state (the SQLite database, certificates, kubeconfig).
    #[arg(long, default_value = "./ferrokube-data", env = "FERROKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The port the API server listens on (loopback only until TLS and authentication land).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Run without the node agent (the kubelet with containerd on this machine).
    #[arg(long)]
    pub disable_agent: bool,
    #[command(flatten)]
    pub agent: crate::agent::AgentFlags,
    /// The datastore: absent for SQLite in the data dir, `http://HOST:2379` for etcd,
    /// `sqlite:///PATH` for another SQLite file, `memory://` for nothing on disk.
    #[arg(long, env = "FERROKUBE_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
    /// SQLite: keep every revision written within this many seconds (0 keeps only the minimum).
    #[arg(long, default_value_t = 300)]
    pub compaction_window_seconds: u64,
    /// SQLite: never compact away the newest this many revisions.
    #[arg(long, default_value_t = 1000)]
    pub compaction_min_revisions: i64,
    /// SQLite: keep all history (no automatic compaction).
    #[arg(long)]
    pub disable_compaction: bool,
    /// etcd: the prefix of every key ferrokube stores.
    #[arg(long, default_value = "/registry/")]
    pub etcd_prefix: String,
    /// The controllers' requests per second; 0 (the default) for no limit: they reach a
    /// listener of their own in this process, so a client-side limit would only set the pace
    /// (upstream's API server protects itself with priority and fairness instead).
    #[arg(long, default_value_t = 0.0)]
    pub kube_api_qps: f32,
    /// The controllers' burst of requests, when `--kube-api-qps` sets a limit (upstream: 30).
    #[arg(long, default_value_t = 30)]
    pub kube_api_burst: u32,
    #[command(flatten)]
    pub scheduling: crate::scheduler::SchedulingFlags,
    /// The scheduler's requests per second; 0 (the default) for no limit, as for the
    /// controllers.
    #[arg(long, default_value_t = 0.0)]
    pub scheduler_kube_api_qps: f32,
    /// The scheduler's burst of requests, when `--scheduler-kube-api-qps` sets a limit
    /// (upstream: 100).
    #[arg(long, default_value_t = 100)]
    pub scheduler_kube_api_burst: u32,
    /// Also run this many simulated nodes (`hollow-node-0`, …): kubelets whose containers start
    /// at once without running anything, for scale tests (as kubemark's hollow nodes).
    #[arg(long, default_value_t = 0)]
    pub hollow_nodes: u32,
}

impl ServerConfig {
    /// The store settings these flags describe.
    fn store_tuning(&self) -> StoreTuning {
        let compaction = (!self.disable_compaction).then(|| CompactionPolicy {
            window: Duration::from_secs(self.compaction_window_seconds),
            min_retained: self.compaction_min_revisions,
            ..CompactionPolicy::default()
        });
        StoreTuning {
            compaction,
            etcd_prefix: self.etcd_prefix.clone(),
        }
    }
}

/// Runs the server until `shutdown` resolves.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let datastore = Datastore::parse(config.datastore_endpoint.as_deref(), &config.data_dir)?;
    let store = datastore
        .open_with(&config.store_tuning())
        .await
        .with_context(|| format!("opening datastore {datastore:?}"))?;
    let revision = store.current_revision().await?;
    tracing::info!(datastore = ?datastore, revision = revision.0, "datastore ready");

    let address = std::net::SocketAddr::from(([127, 0, 0, 1], config.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let address = listener.local_addr()?;
    let pki =
        ferrokube_apiserver::pki::Pki::load_or_create(&config.data_dir).with_context(|| {
            format!(
                "key material under {}",
                config.data_dir.join("tls").display()
            )
        })?;
    let tokens = ferrokube_apiserver::serviceaccount::Tokens::from_pem(&pki.service_account_key)
        .map_err(|e| anyhow::anyhow!("the service-account signing key: {e}"))?;
    let options = ApiServerOptions {
        advertise_address: address.to_string(),
        process_metrics: Some(crate::heap::metrics),
        tokens: Some(std::sync::Arc::new(tokens)),
        ..ApiServerOptions::default()
    };
    let api = ApiServer::new(store, options);
    api.bootstrap().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let kubeconfig = write_kubeconfig(&config.data_dir, &format!("http://{address}"))?;
    tracing::info!(address = %address, kubeconfig = %kubeconfig.display(), "API server listening");
    println!("export KUBECONFIG={}", kubeconfig.display());
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    // The controllers and the scheduler are API clients of this server, as if they ran
    // elsewhere, through a door of their own (see `serve_control_plane`).
    let client_config = kube::Config::new(format!("http://{address}").parse()?);
    let (control_plane, control_address) = serve_control_plane(&api, shutdown.clone())?;
    let control_config = kube::Config::new(format!("http://{control_address}").parse()?);
    let limits = ferrokube_client::ClientLimits {
        kube_api_qps: config.kube_api_qps,
        kube_api_burst: config.kube_api_burst,
    };
    let clients = ferrokube_client::per_controller(control_config.clone(), limits)?;
    let controllers = {
        let shutdown = shutdown.clone();
        let root_ca = Some(pki.ca_certificate.clone());
        on_own_thread("controllers", Component::Controllers, move || {
            ferrokube_controllers::run(clients, root_ca, shutdown)
        })?
    };
    let scheduler_limits = ferrokube_client::ClientLimits {
        kube_api_qps: config.scheduler_kube_api_qps,
        kube_api_burst: config.scheduler_kube_api_burst,
    };
    // Checked here, so that building it again on the scheduler's thread cannot fail.
    crate::scheduler::client(control_config.clone(), &scheduler_limits)?;
    let scheduler = {
        let (client_config, options, shutdown) = (
            control_config.clone(),
            config.scheduling.options(),
            shutdown.clone(),
        );
        on_own_thread("scheduler", Component::Scheduler, move || async move {
            let client =
                crate::scheduler::client(client_config, &scheduler_limits).expect("checked above");
            ferrokube_scheduler::run(client, options, shutdown).await;
        })?
    };
    let hollow = start_hollow_nodes(config.hollow_nodes, &client_config, &shutdown)?;
    let agent = (!config.disable_agent)
        .then(|| -> anyhow::Result<_> {
            let client = crate::agent::client(client_config.clone())?;
            let run = crate::agent::run(
                config.agent.clone(),
                config.data_dir.clone(),
                client,
                shutdown.clone(),
            );
            Ok(tokio::spawn(async move {
                if let Err(err) = run.await {
                    tracing::error!(error = %format!("{err:#}"), "node agent stopped");
                }
            }))
        })
        .transpose()?;
    api.serve(listener, shutdown).await?;
    // Each resolves, to an error, when its thread has ended.
    for finished in [controllers, scheduler, control_plane] {
        let _ = finished.await;
    }
    if let Some(hollow) = hollow {
        let _ = hollow.await;
    }
    if let Some(agent) = agent {
        agent.await?;
    }
    tracing::info!("shut down");
    Ok(())
}

/// Serves the API to the control plane (controllers, scheduler) on a second loopback port, on a
/// thread of its own; returns when that stops, and the port.
///
/// Why: upstream's API Priority and Fairness keeps system components' requests from queueing
/// behind a flood of others. Here, with 10,000 pods starting on 100 nodes, the kubelets' status
/// patches and Events kept the server's runtime so busy that a single pod create from the
/// ReplicaSet controller waited 40-90 ms, and its slow-start batches (1, 2, 4, … pods, each
/// waiting for the last) set the pace of the whole rollout. The same API server, store and
/// watches serve both doors; only the threads that run the requests differ.
fn serve_control_plane(
    api: &ApiServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(Finished, std::net::SocketAddr)> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("listening for the control plane")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let api = api.clone();
    let served = on_own_thread(
        "apiserver-control",
        Component::ApiServer,
        move || async move {
            let served = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => api.serve(listener, shutdown).await,
                Err(err) => Err(err),
            };
            if let Err(err) = served {
                tracing::error!(error = %err, "the control plane's API listener stopped");
            }
        },
    )?;
    Ok((served, address))
}

/// Resolves (to an error, as the sender is dropped) when a thread `on_own_thread` started ends.
type Finished = tokio::sync::oneshot::Receiver<()>;

/// Runs the future `make` returns on a thread of its own, with a single-threaded runtime, as
/// if it were a process of its own (as upstream's scheduler is).
///
/// Why: the scheduler is one loop. As a task among the hundreds a busy server runs (request
/// handlers, watches, controllers, kubelets), it waited its turn behind all of them and bound
/// ~400 pods/s even once the rest had work to spare; as a thread, the OS gives it its share.
/// Its client is built on that thread, so that its HTTP connections are driven there too.
fn on_own_thread<F>(
    name: &str,
    component: Component,
    make: impl FnOnce() -> F + Send + 'static,
) -> anyhow::Result<Finished>
where
    F: Future<Output = ()>,
{
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            crate::heap::set_component(component);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a single-threaded runtime builds");
            runtime.block_on(make());
            drop(done);
        })
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(finished)
}

/// Starts `count` hollow kubelets (4 CPU, 32 GiB, 110 pods each, as kubemark's) on a thread of
/// their own (so that their memory and CPU are told apart from the API server's), sharing one
/// client without a rate limit; none when `count` is 0.
fn start_hollow_nodes(
    count: u32,
    client_config: &kube::Config,
    shutdown: &(impl Future<Output = ()> + Clone + Send + 'static),
) -> anyhow::Result<Option<Finished>> {
    if count == 0 {
        return Ok(None);
    }
    let unlimited = ferrokube_client::ClientLimits::UNLIMITED;
    let agent = ferrokube_client::user_agent("kubelet", "hollow-kubelet");
    // Checked here, so that building it again on the nodes' thread cannot fail.
    ferrokube_client::build(client_config.clone(), &unlimited, &agent)?;
    let (client_config, shutdown) = (client_config.clone(), shutdown.clone());
    let finished = on_own_thread("hollow-nodes", Component::HollowNodes, move || async move {
        let client =
            ferrokube_client::build(client_config, &unlimited, &agent).expect("checked above");
        let nodes: Vec<_> = (0..count)
            .map(|i| {
                tokio::spawn(ferrokube_kubelet::run(
                    client.clone(),
                    hollow_node(i),
                    shutdown.clone(),
                ))
            })
            .collect();
        for node in nodes {
            if let Err(err) = node.await {
                tracing::error!(error = %err, "a hollow node failed");
            }
        }
    })?;
    Ok(Some(finished))
}

/// The options of hollow node `i`.
fn hollow_node(i: u32) -> ferrokube_kubelet::KubeletOptions {
    let machine = ferrokube_kubelet::node::Machine {
        name: format!("hollow-node-{i}"),
        address: format!("10.64.{}.{}", i / 256, i % 256),
        milli_cpu: 4000,
        memory_bytes: 32 << 30,
        ephemeral_storage_bytes: 100 << 30,
        max_pods: 110,
        runtime_version: "hollow://0.1.0".into(),
        kubelet_port: 0,
    };
    ferrokube_kubelet::KubeletOptions {
        machine,
        runtime: std::sync::Arc::new(ferrokube_kubelet::runtime::hollow::Hollow::new(i)),
        log_listener: None,
        volumes_root: None,
        local_path_root: None,
    }
}

/// Writes `DIR/admin.kubeconfig` pointing at `server`; returns its absolute path.
fn write_kubeconfig(data_dir: &std::path::Path, server: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = std::path::absolute(data_dir.join("admin.kubeconfig"))?;
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrokube\n  cluster:\n    server: {server}\ncontexts:\n- name: ferrokube\n  context:\n    cluster: ferrokube\n    user: admin\n    namespace: default\ncurrent-context: ferrokube\nusers:\n- name: admin\n  user: {{}}\n"
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
