//! Choosing a backend from a datastore endpoint, as `ferrokube server --datastore-endpoint` takes it.
//!
//! | endpoint                              | backend                                  |
//! |---------------------------------------|------------------------------------------|
//! | absent                                | SQLite at `<data-dir>/db/state.db`       |
//! | `sqlite:///var/lib/x.db`              | SQLite at that path                      |
//! | `http://127.0.0.1:2379[,http://…]`    | etcd at those client URLs, `/registry/`  |
//! | `memory://`                           | in memory (nothing survives the process) |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compaction::CompactionPolicy;
use crate::error::StoreError;
use crate::{EtcdStore, EtcdStoreOptions, MemoryStore, SqliteStore, SqliteStoreOptions, Store};

/// A parsed datastore endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datastore {
    /// The embedded SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A real etcd cluster.
    Etcd {
        /// Client URLs.
        endpoints: Vec<String>,
    },
    /// In memory only.
    Memory,
}

impl Datastore {
    /// Parses `endpoint`; without one, SQLite in `data_dir`.
    pub fn parse(endpoint: Option<&str>, data_dir: &Path) -> Result<Datastore, StoreError> {
        let Some(endpoint) = endpoint.map(str::trim).filter(|e| !e.is_empty()) else {
            return Ok(Datastore::Sqlite {
                path: data_dir.join("db").join("state.db"),
            });
        };
        let invalid = |reason: &str| StoreError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = endpoint.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(invalid(
                    "sqlite:// needs a file path, e.g. sqlite:///var/lib/ferrokube/state.db",
                ));
            }
            return Ok(Datastore::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if endpoint == "memory://" {
            return Ok(Datastore::Memory);
        }
        let endpoints: Vec<String> = endpoint.split(',').map(|e| e.trim().to_owned()).collect();
        let all_http = endpoints.iter().all(|e| {
            (e.starts_with("http://") || e.starts_with("https://")) && e.len() > "https://".len()
        });
        if !all_http {
            return Err(invalid(
                "want http://HOST:PORT[,…] for etcd, sqlite://PATH or memory://",
            ));
        }
        Ok(Datastore::Etcd { endpoints })
    }

    /// Opens the store this endpoint names with the default tuning.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.open_with(&StoreTuning::default()).await
    }

    /// Opens the store this endpoint names.
    pub async fn open_with(&self, tuning: &StoreTuning) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Datastore::Sqlite { path } => {
                let options = SqliteStoreOptions {
                    path: path.clone(),
                    auto_compaction: tuning.compaction,
                };
                Arc::new(SqliteStore::open(options)?)
            }
            Datastore::Etcd { endpoints } => {
                let options = EtcdStoreOptions {
                    prefix: tuning.etcd_prefix.clone(),
                    ..EtcdStoreOptions::new(endpoints.clone())
                };
                Arc::new(EtcdStore::connect(options).await?)
            }
            Datastore::Memory => Arc::new(MemoryStore::new()),
        })
    }
}

/// Settings that apply to some backends only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreTuning {
    /// Automatic compaction of the SQLite backend, or `None` to keep all history.
    pub compaction: Option<CompactionPolicy>,
    /// Prefix of every key in etcd.
    pub etcd_prefix: String,
}

impl Default for StoreTuning {
    fn default() -> Self {
        StoreTuning {
            compaction: Some(CompactionPolicy::default()),
            etcd_prefix: "/registry/".to_owned(),
        }
    }
}

/// Parses `endpoint` and opens that store with the default tuning.
pub async fn open(endpoint: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Datastore::parse(endpoint, data_dir)?.open().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let dir = Path::new("/data");
        let cases: Vec<(Option<&str>, Result<Datastore, ()>)> = vec![
            (
                None,
                Ok(Datastore::Sqlite {
                    path: "/data/db/state.db".into(),
                }),
            ),
            (
                Some(""),
                Ok(Datastore::Sqlite {
                    path: "/data/db/state.db".into(),
                }),
            ),
            (
                Some("sqlite:///tmp/x.db"),
                Ok(Datastore::Sqlite {
                    path: "/tmp/x.db".into(),
                }),
            ),
            (Some("sqlite://"), Err(())),
            (Some("memory://"), Ok(Datastore::Memory)),
            (
                Some("http://127.0.0.1:2379"),
                Ok(Datastore::Etcd {
                    endpoints: vec!["http://127.0.0.1:2379".into()],
                }),
            ),
            (
                Some("http://a:2379, http://b:2379"),
                Ok(Datastore::Etcd {
                    endpoints: vec!["http://a:2379".into(), "http://b:2379".into()],
                }),
            ),
            (Some("postgres://x"), Err(())),
            (Some("http://"), Err(())),
        ];
        for (endpoint, want) in cases {
            let got = Datastore::parse(endpoint, dir).map_err(|_| ());
            assert_eq!(got, want, "{endpoint:?}");
        }
    }
}
