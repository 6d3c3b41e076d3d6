//! `ferrokube server`: opens the datastore (SQLite in the data dir, or etcd) and serves until
//! shut down. The API server and the other components join this process in later steps.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use std::time::Duration;

use ferrokube_store::{CompactionPolicy, Datastore, StoreTuning};

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
pub async fn run(config: ServerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let datastore = Datastore::parse(config.datastore_endpoint.as_deref(), &config.data_dir)?;
    let store = datastore
        .open_with(&config.store_tuning())
        .await
        .with_context(|| format!("opening datastore {datastore:?}"))?;
    let revision = store.current_revision().await?;
    tracing::info!(datastore = ?datastore, revision = revision.0, "datastore ready");
    shutdown.await;
    tracing::info!("shutting down");
    Ok(())
}
