//! `ferrokube server`: opens the datastore (SQLite in the data dir, or etcd) and serves until
//! shut down. The API server and the other components join this process in later steps.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use ferrokube_store::Datastore;

/// Flags of `ferrokube server`.
#[derive(clap::Args, Debug)]
pub struct ServerConfig {
    /// Where the server keeps its state (the SQLite database, certificates, kubeconfig).
    #[arg(long, default_value = "./ferrokube-data", env = "FERROKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The datastore: absent for SQLite in the data dir, `http://HOST:2379` for etcd,
    /// `sqlite:///PATH` for another SQLite file, `memory://` for nothing on disk.
    #[arg(long, env = "FERROKUBE_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
}

/// Runs the server until `shutdown` resolves.
pub async fn run(config: ServerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let datastore = Datastore::parse(config.datastore_endpoint.as_deref(), &config.data_dir)?;
    let store = datastore
        .open()
        .await
        .with_context(|| format!("opening datastore {datastore:?}"))?;
    let revision = store.current_revision().await?;
    tracing::info!(datastore = ?datastore, revision = revision.0, "datastore ready");
    shutdown.await;
    tracing::info!("shutting down");
    Ok(())
}
