//! The conformance cases: each takes a fresh store and checks one part of etcd v3 semantics.
//!
//! Revisions are checked relative to the store's revision at the start of each case, since a
//! fresh etcd starts at revision 1 and the embedded backends at 0.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_store::{
    EventKind, IndexedField, RangeOptions, Revision, Route, Store, StoreError, WatchEvent,
    WatchStream,
};
use rand::Rng;

/// Long enough that only a stall or a lost event reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(PATIENCE, stream.next_event()).await {
        Ok(Some(Ok(event))) => (*event).clone(),
        other => panic!("expected a watch event, got {other:?}"),
    }
}

async fn take_events(stream: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(stream).await);
    }
    events
}

/// Asserts no event arrives within a short while.
async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next_event()).await {
        panic!("expected no more events, got {item:?}");
    }
}

fn keys_and_kinds(events: &[WatchEvent]) -> Vec<(String, EventKind)> {
    events.iter().map(|e| (e.kv.key.clone(), e.kind)).collect()
}

pub async fn create_get_update_delete(store: &dyn Store) {
    let base = store.current_revision().await.unwrap();

    let created = store.create("pods/default/a", v("one")).await.unwrap();
    assert_eq!(created.revision, base.next());
    assert_eq!(created.prev, None);

    let got = store.get("pods/default/a", None).await.unwrap();
    let kv = got.kv.expect("created key is readable");
    assert_eq!(got.revision, created.revision);
    assert_eq!(kv.value, v("one"));
    assert_eq!(kv.create_revision, created.revision);
    assert_eq!(kv.mod_revision, created.revision);
    assert_eq!(kv.version, 1);

    let updated = store
        .update("pods/default/a", v("two"), created.revision)
        .await
        .unwrap();
    assert_eq!(updated.revision, created.revision.next());
    assert_eq!(
        updated.prev.as_ref().map(|p| p.value.clone()),
        Some(v("one"))
    );
    let kv = store.get("pods/default/a", None).await.unwrap().kv.unwrap();
    assert_eq!(
        (kv.version, kv.create_revision, kv.mod_revision),
        (2, created.revision, updated.revision)
    );
    assert_eq!(kv.value, v("two"));

    let deleted = store
        .delete("pods/default/a", Some(updated.revision))
        .await
        .unwrap();
    assert_eq!(deleted.revision, updated.revision.next());
    assert_eq!(deleted.prev.map(|p| p.value), Some(v("two")));
    assert_eq!(store.get("pods/default/a", None).await.unwrap().kv, None);
    assert_eq!(store.current_revision().await.unwrap(), deleted.revision);

    let plain = store.create("pods/default/b", v("x")).await.unwrap();
    let gone = store.delete("pods/default/b", None).await.unwrap();
    assert_eq!(gone.revision, plain.revision.next(), "unconditional delete");
}

pub async fn failed_writes_change_nothing(store: &dyn Store) {
    let first = store.create("cm/a", v("one")).await.unwrap();
    let second = store
        .update("cm/a", v("two"), first.revision)
        .await
        .unwrap();
    let before = store.current_revision().await.unwrap();

    match store.create("cm/a", v("again")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "cm/a"),
        other => panic!("create over existing key: {other:?}"),
    }
    match store.update("cm/a", v("stale"), first.revision).await {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!(expected, first.revision);
            assert_eq!(current.mod_revision, second.revision);
            assert_eq!(current.value, v("two"));
        }
        other => panic!("stale update: {other:?}"),
    }
    match store.delete("cm/a", Some(first.revision)).await {
        Err(StoreError::Conflict { current, .. }) => {
            assert_eq!(current.mod_revision, second.revision)
        }
        other => panic!("stale delete: {other:?}"),
    }
    match store.update("cm/missing", v("x"), second.revision).await {
        Err(StoreError::NotFound { key }) => assert_eq!(key, "cm/missing"),
        other => panic!("update of missing key: {other:?}"),
    }
    match store.delete("cm/missing", None).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("delete of missing key: {other:?}"),
    }
    assert_eq!(
        store.current_revision().await.unwrap(),
        before,
        "failed writes must not advance the revision"
    );
    let kv = store.get("cm/a", None).await.unwrap().kv.unwrap();
    assert_eq!(
        (kv.value, kv.mod_revision, kv.version),
        (v("two"), second.revision, 2)
    );
}

pub async fn recreate_after_delete_starts_a_new_generation(store: &dyn Store) {
    let first = store.create("ns/a", v("1")).await.unwrap();
    store.update("ns/a", v("2"), first.revision).await.unwrap();
    let deleted = store.delete("ns/a", None).await.unwrap();
    match store.update("ns/a", v("3"), deleted.revision).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("update of deleted key: {other:?}"),
    }
    let again = store.create("ns/a", v("new")).await.unwrap();
    assert_eq!(again.prev, None);
    let kv = store.get("ns/a", None).await.unwrap().kv.unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (again.revision, again.revision, 1)
    );
}

pub async fn range_prefix_limit_and_paging(store: &dyn Store) {
    for key in ["a/3", "a/1", "ab", "a/2", "b/1", "a/4"] {
        store.create(key, v(key)).await.unwrap();
    }
    let gone = store.create("a/0", v("gone")).await.unwrap();
    store.delete("a/0", Some(gone.revision)).await.unwrap();
    let now = store.current_revision().await.unwrap();

    let all = store.range("a/", RangeOptions::default()).await.unwrap();
    let keys: Vec<_> = all.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["a/1", "a/2", "a/3", "a/4"]);
    assert!(!all.more);
    assert_eq!(all.revision, now);
    assert_eq!(all.items[0].value, v("a/1"));

    let page = store
        .range(
            "a/",
            RangeOptions {
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.more);
    let next = RangeOptions {
        start_key: Some(format!("{}\0", page.items[2].key)),
        limit: Some(3),
        revision: Some(page.revision),
    };
    let rest = store.range("a/", next).await.unwrap();
    let keys: Vec<_> = rest.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["a/4"]);
    assert!(!rest.more);

    let exact = store
        .range(
            "a/",
            RangeOptions {
                limit: Some(4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((exact.items.len(), exact.more), (4, false));

    let everything = store.range("", RangeOptions::default()).await.unwrap();
    assert_eq!(everything.items.len(), 6);
    assert_eq!(store.count("a/").await.unwrap(), 4);
    assert_eq!(store.count("").await.unwrap(), 6);
    assert_eq!(store.count("zzz/").await.unwrap(), 0);
}

pub async fn reads_at_past_revisions(store: &dyn Store) {
    let one = store.create("k/a", v("1")).await.unwrap();
    let other = store.create("k/b", v("b")).await.unwrap();
    let two = store.update("k/a", v("2"), one.revision).await.unwrap();
    let del = store.delete("k/a", None).await.unwrap();

    let at = |r: Revision| async move {
        store
            .get("k/a", Some(r))
            .await
            .unwrap()
            .kv
            .map(|kv| kv.value)
    };
    assert_eq!(at(one.revision).await, Some(v("1")));
    assert_eq!(at(other.revision).await, Some(v("1")));
    assert_eq!(at(two.revision).await, Some(v("2")));
    assert_eq!(at(del.revision).await, None);

    let past = store
        .range(
            "k/",
            RangeOptions {
                revision: Some(two.revision),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(past.revision, two.revision);
    let got: Vec<_> = past
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone()))
        .collect();
    assert_eq!(got, [("k/a", v("2")), ("k/b", v("b"))]);
    assert_eq!(past.items[0].version, 2);

    let future = del.revision.next().next();
    match store.get("k/a", Some(future)).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!((requested, current), (future, del.revision));
        }
        other => panic!("read at a future revision: {other:?}"),
    }
    match store
        .range(
            "k/",
            RangeOptions {
                revision: Some(future),
                ..Default::default()
            },
        )
        .await
    {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("range at a future revision: {other:?}"),
    }
}

pub async fn compaction_bounds_reads_and_watches(store: &dyn Store) {
    let one = store.create("c/a", v("1")).await.unwrap();
    let two = store.update("c/a", v("2"), one.revision).await.unwrap();
    store.create("c/b", v("b")).await.unwrap();
    let gone = store.create("c/gone", v("x")).await.unwrap();
    let del = store.delete("c/gone", Some(gone.revision)).await.unwrap();
    let three = store.update("c/a", v("3"), two.revision).await.unwrap();

    store.compact(del.revision).await.unwrap();

    match store.get("c/a", Some(two.revision)).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (two.revision, del.revision));
        }
        other => panic!("read below the compacted revision: {other:?}"),
    }
    let at_compacted = store
        .range(
            "c/",
            RangeOptions {
                revision: Some(del.revision),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<_> = at_compacted
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone()))
        .collect();
    assert_eq!(
        got,
        [("c/a", v("2")), ("c/b", v("b"))],
        "the state at the compacted revision is kept"
    );
    assert_eq!(
        store.get("c/a", None).await.unwrap().kv.unwrap().value,
        v("3")
    );

    match store.watch("c/", Some(two.revision)).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (two.revision, del.revision));
        }
        Err(other) => panic!("watch below the compacted revision: {other:?}"),
        Ok(_) => panic!("watch below the compacted revision opened"),
    }
    let mut watch = store.watch("c/", Some(del.revision.next())).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.revision(), event.kv.value.clone()),
        (three.revision, v("3"))
    );
    assert_eq!(
        event.prev.map(|p| p.value),
        Some(v("2")),
        "previous value survives compaction"
    );

    match store.compact(del.revision).await {
        Err(StoreError::Compacted { .. }) => {}
        other => panic!("compacting to the compacted revision again: {other:?}"),
    }
    match store.compact(three.revision.next().next()).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("compacting to a future revision: {other:?}"),
    }
    let next = store.create("c/z", v("z")).await.unwrap();
    assert_eq!(
        next.revision,
        three.revision.next(),
        "compaction does not use up revisions"
    );
}

pub async fn watch_delivers_changes_with_previous_values(store: &dyn Store) {
    let mut watch = store.watch("w/", None).await.unwrap();
    let a = store.create("w/a", v("1")).await.unwrap();
    store.create("other/x", v("x")).await.unwrap();
    let a2 = store.update("w/a", v("2"), a.revision).await.unwrap();
    store.create("w/b", v("b")).await.unwrap();
    let del = store.delete("w/a", None).await.unwrap();

    let events = take_events(&mut watch, 4).await;
    assert_eq!(
        keys_and_kinds(&events),
        [
            ("w/a".to_owned(), EventKind::Put),
            ("w/a".to_owned(), EventKind::Put),
            ("w/b".to_owned(), EventKind::Put),
            ("w/a".to_owned(), EventKind::Delete),
        ]
    );
    assert_eq!(events[0].prev, None);
    assert_eq!(events[0].kv.version, 1);
    assert_eq!(events[1].revision(), a2.revision);
    assert_eq!(
        events[1].prev.as_ref().map(|p| p.value.clone()),
        Some(v("1"))
    );
    assert_eq!(events[1].kv.create_revision, a.revision);
    assert_eq!(events[3].revision(), del.revision);
    assert_eq!(
        events[3].prev.as_ref().map(|p| p.value.clone()),
        Some(v("2"))
    );
    assert_quiet(&mut watch).await;
}

pub async fn watch_from_random_revisions_sees_identical_sequences(store: &dyn Store) {
    let base = store.current_revision().await.unwrap();
    let mut rng = rand::rng();
    let mut under_r = 0;
    for i in 0..300 {
        let key = format!("r/{}", rng.random_range(0..20));
        let prefix = if i % 3 == 0 { "s/" } else { "" };
        let key = format!("{prefix}{key}");
        let result = match store.get(&key, None).await.unwrap().kv {
            None => store.create(&key, v(&i.to_string())).await.unwrap(),
            Some(kv) if rng.random_bool(0.2) => {
                store.delete(&key, Some(kv.mod_revision)).await.unwrap()
            }
            Some(kv) => store
                .update(&key, v(&i.to_string()), kv.mod_revision)
                .await
                .unwrap(),
        };
        assert!(result.revision > base);
        under_r += usize::from(prefix.is_empty());
    }
    let end = store.current_revision().await.unwrap();
    assert_eq!(
        end.0 - base.0,
        300,
        "every write advanced the revision by one"
    );

    let mut full = store.watch("r/", Some(base.next())).await.unwrap();
    let reference = take_events(&mut full, under_r).await;
    assert_quiet(&mut full).await;
    assert!(
        reference
            .windows(2)
            .all(|w| w[0].revision() < w[1].revision()),
        "revision order"
    );
    assert!(reference.iter().all(|e| e.kv.key.starts_with("r/")));

    for _ in 0..8 {
        let start = Revision(rng.random_range(base.0 + 1..=end.0));
        let expected: Vec<_> = reference
            .iter()
            .filter(|e| e.revision() >= start)
            .cloned()
            .collect();
        let mut watch = store.watch("r/", Some(start)).await.unwrap();
        let got = take_events(&mut watch, expected.len()).await;
        assert_eq!(got, expected, "watch from {start}");
        assert_quiet(&mut watch).await;
    }
}

pub async fn watch_from_future_revision_waits(store: &dyn Store) {
    let base = store.current_revision().await.unwrap();
    let start = Revision(base.0 + 3);
    let mut watch = store.watch("f/", Some(start)).await.unwrap();
    for i in 0..5 {
        store.create(&format!("f/{i}"), v("x")).await.unwrap();
    }
    let events = take_events(&mut watch, 3).await;
    let revisions: Vec<_> = events.iter().map(WatchEvent::revision).collect();
    assert_eq!(revisions, [start, start.next(), start.next().next()]);
    assert_quiet(&mut watch).await;
}

pub async fn concurrent_updates_one_winner_per_revision(store: &dyn Store) {
    const TASKS: usize = 8;
    const WINS_EACH: usize = 15;
    let created = store.create("race/key", v("0")).await.unwrap();
    let store: Arc<&dyn Store> = Arc::new(store);
    let results = futures::future::join_all((0..TASKS).map(|task| {
        let store = store.clone();
        async move {
            let mut wins = Vec::new();
            let mut conflicts = 0;
            while wins.len() < WINS_EACH {
                let kv = store.get("race/key", None).await.unwrap().kv.unwrap();
                // Let the other tasks read the same version before this one writes.
                tokio::task::yield_now().await;
                match store
                    .update("race/key", v(&format!("{task}")), kv.mod_revision)
                    .await
                {
                    Ok(result) => {
                        let prev = result.prev.expect("an update has a previous value");
                        assert_eq!(
                            prev.mod_revision, kv.mod_revision,
                            "won from the revision it read"
                        );
                        wins.push((result.revision, prev.mod_revision));
                    }
                    Err(StoreError::Conflict { expected, current }) => {
                        assert_eq!(expected, kv.mod_revision);
                        assert!(
                            current.mod_revision > kv.mod_revision,
                            "conflict reports a newer version"
                        );
                        conflicts += 1;
                    }
                    Err(other) => panic!("unexpected error in race: {other}"),
                }
            }
            (wins, conflicts)
        }
    }))
    .await;
    let wins: Vec<_> = results
        .iter()
        .flat_map(|(w, _)| w.iter().copied())
        .collect();
    let conflicts: usize = results.iter().map(|(_, c)| c).sum();
    let revisions: HashSet<_> = wins.iter().map(|(rev, _)| *rev).collect();
    let predecessors: HashSet<_> = wins.iter().map(|(_, prev)| *prev).collect();
    assert_eq!(
        revisions.len(),
        TASKS * WINS_EACH,
        "each revision has one winner"
    );
    assert_eq!(
        predecessors.len(),
        TASKS * WINS_EACH,
        "no two winners share a predecessor"
    );
    assert!(
        conflicts > 0,
        "8 racing tasks should have collided at least once"
    );
    let kv = store.get("race/key", None).await.unwrap().kv.unwrap();
    assert_eq!(kv.version, 1 + (TASKS * WINS_EACH) as i64);
    assert_eq!(kv.create_revision, created.revision);
}

pub async fn unread_watcher_does_not_stall_writers(store: &dyn Store) {
    const WRITERS: usize = 16;
    const WRITES_EACH: usize = 400;
    let base = store.current_revision().await.unwrap();
    let mut unread = store.watch("slow/", None).await.unwrap();
    let store_ref: Arc<&dyn Store> = Arc::new(store);
    let writes = futures::future::join_all((0..WRITERS).map(|w| {
        let store = store_ref.clone();
        async move {
            for i in 0..WRITES_EACH {
                store
                    .create(&format!("slow/{w}/{i}"), vec![b'x'; 256])
                    .await
                    .unwrap();
            }
        }
    }));
    tokio::time::timeout(PATIENCE, writes)
        .await
        .expect("writers finished while a watcher was not reading");

    let total = WRITERS * WRITES_EACH;
    let events = take_events(&mut unread, total).await;
    let revisions: Vec<_> = events.iter().map(|e| e.revision().0).collect();
    let expected: Vec<_> = (base.0 + 1..=base.0 + total as i64).collect();
    assert_eq!(
        revisions, expected,
        "the slow watcher got every event, in order, once"
    );
    assert_quiet(&mut unread).await;
}

pub async fn lagging_watcher_past_compaction_ends_with_error(store: &dyn Store) {
    const WRITES: usize = 6000;
    let base = store.current_revision().await.unwrap();
    let mut unread = store.watch("lag/", Some(base.next())).await.unwrap();
    let store_ref: Arc<&dyn Store> = Arc::new(store);
    futures::future::join_all((0..16).map(|w| {
        let store = store_ref.clone();
        async move {
            for i in 0..WRITES / 16 {
                store
                    .create(&format!("lag/{w}/{i}"), vec![b'y'; 1024])
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    let end = store.current_revision().await.unwrap();
    store.compact(end).await.unwrap();

    let mut next = base.next();
    loop {
        match tokio::time::timeout(PATIENCE, unread.next_event())
            .await
            .expect("watch answered")
        {
            Some(Ok(event)) => {
                assert_eq!(event.revision(), next, "no gap before the error");
                next = next.next();
            }
            Some(Err(StoreError::WatchLagged { at, reason })) => {
                assert_eq!(at, next, "the error names the first undelivered revision");
                assert!(!reason.is_empty());
                break;
            }
            other => panic!("expected events then WatchLagged, got {other:?} at {next}"),
        }
    }
    assert!(
        next <= end,
        "a lagging watcher cannot have delivered everything"
    );
    assert!(
        unread.next_event().await.is_none(),
        "the error is the last item"
    );
}

pub async fn dropped_watch_ends_quietly(store: &dyn Store) {
    let watch = store.watch("d/", None).await.unwrap();
    drop(watch);
    for i in 0..10 {
        store.create(&format!("d/{i}"), v("x")).await.unwrap();
    }
    let mut fresh = store.watch("d/", None).await.unwrap();
    store.create("d/last", v("x")).await.unwrap();
    assert_eq!(next_event(&mut fresh).await.kv.key, "d/last");
}

/// The stand-in index of the routing cases: the value is what follows `node=`.
fn node_of(stored: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(stored).ok()?;
    text.strip_prefix("node=")
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn route(value: &str) -> Route {
    Route {
        field: IndexedField {
            name: "spec.nodeName",
            value_of: node_of,
        },
        value: value.to_owned(),
    }
}

fn has_node(kv: Option<&ferrokube_store::KeyValue>, node: &str) -> bool {
    kv.is_some_and(|kv| node_of(&kv.value).as_deref() == Some(node))
}

/// Whether `event`'s object is on `node` before or after the change.
fn concerns(event: &WatchEvent, node: &str) -> bool {
    let new = (event.kind == EventKind::Put).then_some(&event.kv);
    has_node(new, node) || has_node(event.prev.as_ref(), node)
}

/// Writes pods that are created unbound, bound, moved between nodes and deleted; returns the
/// revisions of the writes that concern node `n1`.
async fn move_pods(store: &dyn Store) -> Vec<Revision> {
    let a = store.create("rp/ns/a", v("node=")).await.unwrap();
    let a = store
        .update("rp/ns/a", v("node=n1"), a.revision)
        .await
        .unwrap();
    store.create("other/x", v("node=n1")).await.unwrap();
    let b = store.create("rp/ns/b", v("node=n2")).await.unwrap();
    let b = store
        .update("rp/ns/b", v("node=n1"), b.revision)
        .await
        .unwrap();
    let a2 = store
        .update("rp/ns/a", v("node=n2"), a.revision)
        .await
        .unwrap();
    store
        .update("rp/ns/a", v("node=n3"), a2.revision)
        .await
        .unwrap();
    let gone = store.delete("rp/ns/b", None).await.unwrap();
    vec![a.revision, b.revision, a2.revision, gone.revision]
}

/// A routed watch gets, in order, every event whose object has its value before or after the
/// change (a backend may send others too), whether it started now or at a past revision.
pub async fn routed_watch_gets_every_event_of_its_value(store: &dyn Store) {
    let base = store.current_revision().await.unwrap();
    let mut live = store
        .watch_routed("rp/", None, Some(&route("n1")))
        .await
        .unwrap();
    let wanted = move_pods(store).await;
    let mut from_log = store
        .watch_routed("rp/", Some(base.next()), Some(&route("n1")))
        .await
        .unwrap();
    for watch in [&mut live, &mut from_log] {
        let mut got = Vec::new();
        while got.len() < wanted.len() {
            let event = next_event(watch).await;
            assert!(event.kv.key.starts_with("rp/"), "{event:?}");
            if concerns(&event, "n1") {
                got.push(event.revision());
            }
        }
        assert_eq!(got, wanted);
    }

    // A routed watch left unread while its value's events overflow every buffer catches up.
    let start = store.current_revision().await.unwrap();
    let mut unread = store
        .watch_routed("rp/", None, Some(&route("n9")))
        .await
        .unwrap();
    let mut written = Vec::new();
    for i in 0..400 {
        let key = format!("rp/ns/many-{i}");
        written.push(store.create(&key, v("node=n9")).await.unwrap().revision);
    }
    let got: Vec<Revision> = take_events(&mut unread, written.len())
        .await
        .iter()
        .map(WatchEvent::revision)
        .collect();
    assert_eq!(got, written, "from {start:?}");
}

/// The embedded backends route: a routed watch hears nothing of other values or resources.
pub async fn routed_watch_hears_only_its_value(store: &dyn Store) {
    let mut watch = store
        .watch_routed("rp/", None, Some(&route("n1")))
        .await
        .unwrap();
    let mut everything = store.watch("rp/", None).await.unwrap();
    let wanted = move_pods(store).await;
    let got: Vec<Revision> = take_events(&mut watch, wanted.len())
        .await
        .iter()
        .map(WatchEvent::revision)
        .collect();
    assert_eq!(got, wanted);
    assert_quiet(&mut watch).await;
    // The unrouted watch of the same resource still hears every one of its seven writes.
    assert_eq!(take_events(&mut everything, 7).await.len(), 7);
    assert_quiet(&mut everything).await;
}
