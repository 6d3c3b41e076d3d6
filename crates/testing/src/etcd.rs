//! A real etcd server (Debian package `etcd-server`) on free loopback ports with
//! a temporary data directory, stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrokube_store::{EtcdStore, EtcdStoreOptions, Store, StoreError};

/// The command that installs what the tests need.
pub const SETUP_HINT: &str =
    "run `hack/setup.sh` (it installs etcd-server and the other test dependencies)";

/// A running etcd for one test.
pub struct EtcdServer {
    child: Child,
    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    _data: tempfile::TempDir,
}

impl EtcdServer {
    /// Starts etcd and waits until it answers; panics with the setup command if it cannot.
    pub async fn start() -> EtcdServer {
        let binary = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
        let data = tempfile::tempdir().expect("temporary directory for etcd");
        let client_port = free_port();
        let peer_port = free_port();
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let child = Command::new(&binary)
            .arg("--name=test")
            .arg(format!("--data-dir={}", data.path().display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start `{binary}` ({err}): {SETUP_HINT}"));
        let server = EtcdServer {
            child,
            endpoint,
            _data: data,
        };
        server.wait_ready().await;
        server
    }

    /// A store on this server under `prefix`.
    pub async fn store(&self, prefix: &str) -> EtcdStore {
        let options = EtcdStoreOptions {
            prefix: prefix.to_owned(),
            ..EtcdStoreOptions::new(vec![self.endpoint.clone()])
        };
        EtcdStore::connect(options)
            .await
            .expect("connect to test etcd")
    }

    /// Freezes etcd (SIGSTOP): it keeps its connections but answers nothing, as a hung server.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Kills etcd (SIGKILL): its connections break.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Thaws a paused etcd (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} etcd");
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last: Option<StoreError> = None;
        while Instant::now() < deadline {
            let options = EtcdStoreOptions::new(vec![self.endpoint.clone()]);
            match EtcdStore::connect(options).await {
                Ok(store) => match store.current_revision().await {
                    Ok(_) => return,
                    Err(err) => last = Some(err),
                },
                Err(err) => last = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "etcd at {} did not become ready in 30 s (last error: {last:?}); {SETUP_HINT}",
            self.endpoint
        );
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}
