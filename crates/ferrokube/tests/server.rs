//! `ferrokube server` as a user starts it: it opens the datastore named by its flags, creates
//! the system namespaces, stays up, and exits cleanly on SIGTERM; a bad endpoint is refused
//! with a clear message.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ferrokube_store::{RangeOptions, SqliteStore, Store};
use ferrokube_testing::EtcdServer;

/// Starts the server and waits for its "datastore ready" log line, which it returns.
fn start_server(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .args(["server", "--disable-agent"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrokube server");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("datastore ready") => return (child, line),
            Ok(_) => continue,
            Err(err) => {
                let _ = child.kill();
                panic!("server did not report a ready datastore: {err}");
            }
        }
    }
}

fn stop(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "server exits cleanly on SIGTERM: {status}"
    );
}

#[tokio::test]
async fn server_keeps_its_sqlite_store_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db/state.db");
    {
        let store = SqliteStore::open_path(&db).unwrap();
        store
            .create("namespaces/default", b"{}".to_vec())
            .await
            .unwrap();
    }
    let (child, ready) = start_server(&["--port", "0", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(
        ready.contains("state.db") && ready.contains("revision=1"),
        "{ready}"
    );
    stop(child);
    let store = SqliteStore::open_path(&db).unwrap();
    let keys = all_keys(&store).await;
    assert_eq!(
        keys, SYSTEM_NAMESPACE_KEYS,
        "the server added the system namespaces"
    );
    let kept = store
        .get("namespaces/default", None)
        .await
        .unwrap()
        .kv
        .unwrap();
    assert_eq!(kept.value, b"{}", "an existing namespace is left alone");
}

/// Every key in a store, in order.
async fn all_keys(store: &impl Store) -> Vec<String> {
    let items = store
        .range("", RangeOptions::default())
        .await
        .unwrap()
        .items;
    // Not the root CA's ConfigMaps: whether the publisher wrote them before the stop is a race.
    let keys = items.into_iter().map(|kv| kv.key);
    keys.filter(|k| !k.ends_with("/kube-root-ca.crt")).collect()
}

/// What a new server's bootstrap writes: the system namespaces, their `default` service
/// accounts, and the default StorageClass.
const SYSTEM_NAMESPACE_KEYS: [&str; 9] = [
    "namespaces/default",
    "namespaces/kube-node-lease",
    "namespaces/kube-public",
    "namespaces/kube-system",
    "serviceaccounts/default/default",
    "serviceaccounts/kube-node-lease/default",
    "serviceaccounts/kube-public/default",
    "serviceaccounts/kube-system/default",
    "storage.k8s.io/storageclasses/local-path",
];

#[tokio::test]
async fn server_uses_etcd_when_given_an_endpoint() {
    let etcd = EtcdServer::start().await;
    let store = etcd.store("/custom/").await;
    store
        .create("namespaces/default", b"{}".to_vec())
        .await
        .unwrap();
    let revision = store.current_revision().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (child, ready) = start_server(&[
        "--port",
        "0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--datastore-endpoint",
        &etcd.endpoint,
        "--etcd-prefix",
        "/custom/",
    ]);
    assert!(ready.contains(&etcd.endpoint), "{ready}");
    assert!(
        ready.contains(&format!("revision={}", revision.0)),
        "{ready}"
    );
    stop(child);
    assert!(
        !dir.path().join("db").exists(),
        "no SQLite file when etcd is the datastore"
    );
    let keys = all_keys(&store).await;
    assert_eq!(
        keys, SYSTEM_NAMESPACE_KEYS,
        "the server kept its state in etcd under the prefix"
    );
}

#[test]
fn bad_endpoint_is_refused_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .args(["server", "--datastore-endpoint", "postgres://db"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid datastore endpoint \"postgres://db\""),
        "{stderr}"
    );
    assert!(stderr.contains("sqlite://PATH"), "{stderr}");
}
