//! The embedded default backend: the revision log in one SQLite file, written by one thread
//! with group commit and read through a pool of read-only connections.

mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::Store;
use crate::compaction::CompactionPolicy;
use crate::error::StoreError;
use crate::log::WriteOp;
use crate::route::Route;
use crate::types::{GetResult, RangeOptions, RangeResult, Revision, WriteResult, check_write_size};
use crate::watch::{History, HistoryPage, WatchHub, WatchStream};
use reader::ReadPool;
use writer::{Published, Writer, WriterRequest};

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteStoreOptions {
    /// The database file; created with its directory if absent.
    pub path: PathBuf,
    /// Automatic compaction, or `None` to keep all history until `compact` is called.
    pub auto_compaction: Option<CompactionPolicy>,
}

impl SqliteStoreOptions {
    /// Options for `path` with the default compaction window.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteStoreOptions {
            path: path.into(),
            auto_compaction: Some(CompactionPolicy::default()),
        }
    }
}

/// Bytes SQLite holds on its own heap in this process (its page caches, prepared statements),
/// which Rust's allocator does not see.
pub fn sqlite_memory_used() -> i64 {
    // SAFETY: a plain read of SQLite's global memory counter; callable from any thread.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

/// A [`Store`] in one SQLite file; cheap to clone, clones share the file and writer.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    requests: std::sync::mpsc::Sender<WriterRequest>,
    reads: ReadPool,
    hub: WatchHub,
    published: Arc<Published>,
}

impl SqliteStore {
    /// Opens or creates the store and starts its writer thread.
    pub fn open(options: SqliteStoreOptions) -> Result<Self, StoreError> {
        if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::sqlite(format!("creating {}: ", dir.display()), e))?;
        }
        let conn = schema::open_writer(&options.path)?;
        let hub = WatchHub::new();
        let published = Arc::new(Published::default());
        let writer = Writer::new(
            conn,
            hub.clone(),
            published.clone(),
            options.auto_compaction,
        )?;
        let (requests, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::sqlite("starting writer thread: ", e))?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                requests,
                reads: ReadPool::new(options.path),
                hub,
                published,
            }),
        })
    }

    /// The path-only shorthand for [`SqliteStore::open`].
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open(SqliteStoreOptions::new(path.as_ref()))
    }

    /// The compacted revision, as the writer last set it.
    pub fn compacted_revision(&self) -> Revision {
        Revision(self.shared.published.compacted.load(Ordering::Acquire))
    }

    async fn write(&self, op: WriteOp) -> Result<WriteResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .requests
            .send(WriterRequest::Write { op, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadPool) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.shared.clone();
        blocking(move || read(&shared.reads)).await
    }
}

/// Runs blocking SQLite work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::sqlite("read task failed: ", e))?
}

#[async_trait]
impl History for Shared {
    async fn read_history(
        self: Arc<Self>,
        prefix: &str,
        from: Revision,
        max_revisions: i64,
    ) -> Result<HistoryPage, StoreError> {
        let prefix = prefix.to_owned();
        blocking(move || self.reads.history(&prefix, from, max_revisions)).await
    }

    async fn revisions(self: Arc<Self>) -> Result<(Revision, Revision), StoreError> {
        blocking(move || self.reads.revisions()).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult, StoreError> {
        // A point read takes tens of microseconds from cached pages, so it runs on the calling
        // thread: handing it to the blocking pool and back cost two thread wake-ups per read,
        // and every update reads its object first.
        let (kv, revision) = self.shared.reads.get(key, revision)?;
        Ok(GetResult { kv, revision })
    }

    async fn range(&self, prefix: &str, options: RangeOptions) -> Result<RangeResult, StoreError> {
        let prefix = prefix.to_owned();
        self.read(move |reads| {
            reads.range(
                &prefix,
                options.start_key.as_deref(),
                options.limit,
                options.revision,
            )
        })
        .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<WriteResult, StoreError> {
        check_write_size(key, &value)?;
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<WriteResult, StoreError> {
        check_write_size(key, &value)?;
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
        .await
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<WriteResult, StoreError> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
        .await
    }

    async fn watch_routed(
        &self,
        prefix: &str,
        start: Option<Revision>,
        route: Option<&Route>,
    ) -> Result<WatchStream, StoreError> {
        self.shared
            .hub
            .watch(self.shared.clone(), prefix, start, route)
            .await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .requests
            .send(WriterRequest::Compact { revision, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(Revision(
            self.shared.published.current.load(Ordering::Acquire),
        ))
    }

    async fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        let prefix = prefix.to_owned();
        self.read(move |reads| reads.count(&prefix)).await
    }
}
