//! Crash safety of the SQLite backend: a child process writes in a loop and prints each
//! acknowledged revision; it is killed with SIGKILL; every acknowledged write must be there.
//!
//! The child is this same test binary, run with `FERROKUBE_CRASH_DB` set and filtered to
//! `crash_child`, so no extra binary is built.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokube_store::{Revision, SqliteStore, Store};

const ROUNDS: usize = 3;
const WRITERS: usize = 16;
const ACKS_BEFORE_KILL: usize = 1500;

/// Not a test on its own: the child half of `acknowledged_writes_survive_sigkill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of acknowledged_writes_survive_sigkill"]
async fn crash_child() {
    let db =
        std::env::var("FERROKUBE_CRASH_DB").expect("run by acknowledged_writes_survive_sigkill");
    let round = std::env::var("FERROKUBE_CRASH_ROUND").unwrap();
    let store = Arc::new(SqliteStore::open_path(&db).unwrap());
    let writers = (0..WRITERS).map(|w| {
        let store = store.clone();
        let round = round.clone();
        tokio::spawn(async move {
            let counter = format!("counter/{w}");
            let mut expected = store
                .get(&counter, None)
                .await
                .unwrap()
                .kv
                .map(|kv| kv.mod_revision);
            for i in 0.. {
                let key = format!("crash/{round}/{w}/{i}");
                let created = store.create(&key, key.clone().into_bytes()).await.unwrap();
                println!("ACK create {key} {}", created.revision.0);
                let value = format!("{round}/{i}").into_bytes();
                let updated = match expected {
                    Some(rev) => store.update(&counter, value, rev).await.unwrap(),
                    None => store.create(&counter, value).await.unwrap(),
                };
                println!("ACK counter {counter} {round}/{i} {}", updated.revision.0);
                expected = Some(updated.revision);
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
}

/// What the child acknowledged.
#[derive(Default)]
struct Acked {
    created: Vec<(String, Revision)>,
    /// The last acknowledged value and revision of each counter key.
    counters: std::collections::HashMap<String, (String, Revision)>,
}

fn run_child_until_killed(db: &Path, round: usize, acked: &mut Acked) -> usize {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERROKUBE_CRASH_DB", db)
        .env("FERROKUBE_CRASH_ROUND", round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crash child");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = stdout.lines();
    let mut seen = 0;
    while seen < ACKS_BEFORE_KILL && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        seen += record(&line, acked);
    }
    child.kill().expect("SIGKILL the child");
    // Lines the child printed before it died were acknowledged too.
    for line in lines.map_while(Result::ok) {
        seen += record(&line, acked);
    }
    child.wait().unwrap();
    seen
}

fn record(line: &str, acked: &mut Acked) -> usize {
    let parts: Vec<_> = line.split_whitespace().collect();
    match parts.as_slice() {
        ["ACK", "create", key, rev] => acked
            .created
            .push((key.to_string(), Revision(rev.parse().unwrap()))),
        ["ACK", "counter", key, value, rev] => {
            acked.counters.insert(
                key.to_string(),
                (value.to_string(), Revision(rev.parse().unwrap())),
            );
        }
        _ => return 0,
    }
    1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut acked = Acked::default();
    for round in 0..ROUNDS {
        let seen = run_child_until_killed(&db, round, &mut acked);
        assert!(
            seen >= ACKS_BEFORE_KILL,
            "round {round}: the child acknowledged only {seen} writes"
        );

        let store = SqliteStore::open_path(&db).unwrap();
        let mut lost = Vec::new();
        for (key, revision) in &acked.created {
            match store.get(key, None).await.unwrap().kv {
                Some(kv) if kv.create_revision == *revision && kv.value == key.as_bytes() => {}
                other => lost.push(format!("{key}@{revision}: {other:?}")),
            }
        }
        for (key, (value, revision)) in &acked.counters {
            let kv = store
                .get(key, None)
                .await
                .unwrap()
                .kv
                .expect("counter key exists");
            // The child may have committed one more update whose acknowledgement it never printed.
            let ok = kv.mod_revision == *revision && kv.value == value.as_bytes()
                || kv.mod_revision > *revision;
            if !ok {
                lost.push(format!(
                    "{key}: acknowledged {value}@{revision}, found {:?}@{}",
                    String::from_utf8_lossy(&kv.value),
                    kv.mod_revision
                ));
            }
        }
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged writes lost: {:?}",
            lost.len(),
            &lost[..lost.len().min(10)]
        );
        let current = store.current_revision().await.unwrap();
        let newest = acked.created.iter().map(|(_, r)| *r).max().unwrap();
        assert!(current >= newest);
        println!(
            "round {round}: {} creates and {} counters acknowledged, none lost (revision {current})",
            acked.created.len(),
            acked.counters.len()
        );
    }
}
