//! The store conformance suite, run against every backend: memory, SQLite and a real etcd.

mod conformance {
    pub mod suite;
}

use std::any::Any;
use std::sync::Arc;

use ferrokube_store::{MemoryStore, SqliteStore, SqliteStoreOptions, Store};
use ferrokube_testing::EtcdServer;

/// A store under test and whatever must live as long as it (a temp dir, an etcd process).
pub struct Subject {
    pub store: Arc<dyn Store>,
    _keep: Box<dyn Any + Send>,
}

async fn memory() -> Subject {
    Subject {
        store: Arc::new(MemoryStore::new()),
        _keep: Box::new(()),
    }
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteStoreOptions {
        path: dir.path().join("state.db"),
        auto_compaction: None,
    };
    let store = SqliteStore::open(options).expect("open sqlite store");
    Subject {
        store: Arc::new(store),
        _keep: Box::new(dir),
    }
}

async fn etcd() -> Subject {
    let server = EtcdServer::start().await;
    let store = server.store("/registry/").await;
    Subject {
        store: Arc::new(store),
        _keep: Box::new(server),
    }
}

macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            use crate::conformance::suite;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let subject = crate::$backend().await;
                        suite::$name(subject.store.as_ref()).await;
                    }
                };
            }

            case!(create_get_update_delete);
            case!(failed_writes_change_nothing);
            case!(recreate_after_delete_starts_a_new_generation);
            case!(range_prefix_limit_and_paging);
            case!(reads_at_past_revisions);
            case!(compaction_bounds_reads_and_watches);
            case!(watch_delivers_changes_with_previous_values);
            case!(watch_from_random_revisions_sees_identical_sequences);
            case!(watch_from_future_revision_waits);
            case!(concurrent_updates_one_winner_per_revision);
            case!(unread_watcher_does_not_stall_writers);
            case!(lagging_watcher_past_compaction_ends_with_error);
            case!(dropped_watch_ends_quietly);
            case!(routed_watch_gets_every_event_of_its_value);
        }
    };
}

/// Routing is what the embedded backends add over etcd's semantics.
mod routing {
    use crate::conformance::suite;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_routed_watch_hears_only_its_value() {
        suite::routed_watch_hears_only_its_value(crate::memory().await.store.as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_routed_watch_hears_only_its_value() {
        suite::routed_watch_hears_only_its_value(crate::sqlite().await.store.as_ref()).await;
    }
}

conformance!(memory);
conformance!(sqlite);
conformance!(etcd);
