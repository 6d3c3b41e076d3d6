//! SQLite-only behaviour: state survives reopening, automatic compaction keeps its window, and
//! physical compaction really removes what no read can see.

use std::time::{Duration, Instant};

use ferrokube_store::{
    CompactionPolicy, RangeOptions, Revision, SqliteStore, SqliteStoreOptions, Store, StoreError,
};

fn options(path: &std::path::Path, auto: Option<CompactionPolicy>) -> SqliteStoreOptions {
    SqliteStoreOptions {
        path: path.to_owned(),
        auto_compaction: auto,
    }
}

fn log_rows(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM log", [], |row| row.get(0))
        .unwrap()
}

/// Polls `check` until it holds or 30 s pass.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_revision_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(options(&path, None)).unwrap();
    let a = store.create("pods/a", b"1".to_vec()).await.unwrap();
    store
        .update("pods/a", b"2".to_vec(), a.revision)
        .await
        .unwrap();
    store.create("pods/b", b"b".to_vec()).await.unwrap();
    let gone = store.delete("pods/b", None).await.unwrap();
    store.compact(a.revision.next()).await.unwrap();
    drop(store);

    let store = SqliteStore::open(options(&path, None)).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), gone.revision);
    assert_eq!(store.compacted_revision(), a.revision.next());
    let kv = store.get("pods/a", None).await.unwrap().kv.unwrap();
    assert_eq!((kv.value, kv.version), (b"2".to_vec(), 2));
    assert_eq!(store.get("pods/b", None).await.unwrap().kv, None);
    let next = store.create("pods/c", b"c".to_vec()).await.unwrap();
    assert_eq!(
        next.revision,
        gone.revision.next(),
        "revisions continue after reopening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_compaction_keeps_only_what_reads_can_see() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(options(&path, None)).unwrap();
    let mut rev = store.create("k/hot", b"0".to_vec()).await.unwrap().revision;
    for i in 1..=3000 {
        rev = store
            .update("k/hot", i.to_string().into_bytes(), rev)
            .await
            .unwrap()
            .revision;
    }
    for i in 0..50 {
        let key = format!("k/tmp{i}");
        store.create(&key, b"x".to_vec()).await.unwrap();
        store.delete(&key, None).await.unwrap();
    }
    store.create("k/keep", b"keep".to_vec()).await.unwrap();
    let end = store.current_revision().await.unwrap();
    assert_eq!(
        log_rows(&path),
        end.0,
        "one row per revision before compaction"
    );

    store.compact(end).await.unwrap();
    eventually("physical compaction to finish", async || {
        log_rows(&path) == 2
    })
    .await;

    let items = store
        .range("k/", RangeOptions::default())
        .await
        .unwrap()
        .items;
    let got: Vec<_> = items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.version))
        .collect();
    assert_eq!(got, [("k/hot", 3001), ("k/keep", 1)]);
    let mut watch = store.watch("k/", Some(end.next())).await.unwrap();
    let after = store.update("k/hot", b"after".to_vec(), rev).await.unwrap();
    let event = watch.next_event().await.unwrap().unwrap();
    assert_eq!(event.revision(), after.revision);
    assert_eq!(event.prev.as_ref().unwrap().value, b"3000".to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_compaction_keeps_the_minimum_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let policy = CompactionPolicy {
        window: Duration::ZERO,
        min_retained: 100,
        interval: Duration::from_millis(20),
    };
    let store = SqliteStore::open(options(&path, Some(policy))).unwrap();
    for i in 0..400 {
        store
            .create(&format!("auto/{i}"), b"x".to_vec())
            .await
            .unwrap();
    }
    let end = store.current_revision().await.unwrap();
    eventually("automatic compaction", async || {
        store.compacted_revision() == Revision(end.0 - 100)
    })
    .await;
    match store.get("auto/0", Some(Revision(end.0 - 101))).await {
        Err(StoreError::Compacted { .. }) => {}
        other => panic!("read below the automatic compaction: {other:?}"),
    }
    assert!(
        store
            .get("auto/0", Some(Revision(end.0 - 100)))
            .await
            .unwrap()
            .kv
            .is_some()
    );
    assert_eq!(
        store.count("auto/").await.unwrap(),
        400,
        "compaction never removes live keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_policy_keeps_five_minutes_and_a_thousand_revisions() {
    let policy = CompactionPolicy::default();
    assert_eq!(policy.window, Duration::from_secs(300));
    assert_eq!(policy.min_retained, 1000);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_path(dir.path().join("state.db")).unwrap();
    for i in 0..50 {
        store
            .create(&format!("d/{i}"), b"x".to_vec())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        store.compacted_revision(),
        Revision::ZERO,
        "recent history is kept"
    );
    assert!(
        store
            .get("d/0", Some(Revision(1)))
            .await
            .unwrap()
            .kv
            .is_some()
    );
}
