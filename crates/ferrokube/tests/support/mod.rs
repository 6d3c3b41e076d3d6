//! Test support for end-to-end tests: start `ferrokube server` on a free port with a temporary
//! data dir (optionally on a real etcd), and run the real kubectl against it.

#![allow(dead_code)]

pub mod observe;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ferrokube_testing::{EtcdServer, SETUP_HINT};

/// The seed command of the chain: `kubectl create deployment nginx-deployment …`.
pub const SEED: [&str; 6] = [
    "create",
    "deployment",
    "nginx-deployment",
    "--image=nginx",
    "--port=80",
    "--replicas=1",
];

/// Which datastore a test server uses.
pub enum Backend {
    Sqlite,
    Etcd(EtcdServer),
}

impl Backend {
    pub async fn sqlite() -> Backend {
        Backend::Sqlite
    }

    pub async fn etcd() -> Backend {
        Backend::Etcd(EtcdServer::start().await)
    }

    fn args(&self) -> Vec<String> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Etcd(etcd) => vec!["--datastore-endpoint".into(), etcd.endpoint.clone()],
        }
    }
}

/// A running `ferrokube server`.
pub struct Server {
    child: Child,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub address: String,
    _temp: Option<tempfile::TempDir>,
    extra: Vec<String>,
}

impl Server {
    /// Starts a server with its own temporary data dir.
    /// Starts a server without the node agent (no containers run).
    pub fn start(backend: &Backend) -> Server {
        Server::start_with(backend, &["--disable-agent"])
    }

    /// Starts a server with its own temporary data dir and extra flags.
    pub fn start_with(backend: &Backend, flags: &[&str]) -> Server {
        Server::start_with_prepared(backend, flags, |_| {})
    }

    /// `start_with`, with the command adjusted first (an environment variable for the child).
    pub fn start_with_prepared(
        backend: &Backend,
        flags: &[&str],
        prepare: impl FnOnce(&mut Command),
    ) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let mut args = backend.args();
        args.extend(flags.iter().map(|f| f.to_string()));
        // Servers with their node agent share this machine: each kubelet on a port of its own.
        if !flags.contains(&"--disable-agent") && !flags.contains(&"--kubelet-port") {
            args.extend(["--kubelet-port".to_owned(), "0".to_owned()]);
        }
        let mut server = Server::start_prepared(temp.path(), args, 0, prepare);
        server._temp = Some(temp);
        server
    }

    /// Starts a server on `data_dir` with extra flags.
    pub fn start_in(data_dir: &Path, extra: Vec<String>, port: u16) -> Server {
        Server::start_prepared(data_dir, extra, port, |_| {})
    }

    /// `start_in`, with the command adjusted first (a resource limit for the child).
    pub fn start_prepared(
        data_dir: &Path,
        extra: Vec<String>,
        port: u16,
        prepare: impl FnOnce(&mut Command),
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrokube"));
        prepare(&mut command);
        let mut child = command
            .args(["server", "--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .args(&extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferrokube server");
        let (tx, rx) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            stdout
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
        std::thread::spawn(move || {
            stderr
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx2.send(l)))
        });
        let mut kubeconfig = None;
        let mut address = None;
        while kubeconfig.is_none() || address.is_none() {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
                        kubeconfig = Some(PathBuf::from(path));
                    }
                    if line.contains("API server listening")
                        && let Some(addr) = line.split("address=").nth(1)
                    {
                        address = Some(addr.split_whitespace().next().unwrap_or("").to_owned());
                    }
                }
                Err(err) => {
                    let _ = child.kill();
                    panic!("ferrokube server did not start: {err}");
                }
            }
        }
        // Keep draining the output so the server never blocks on a full pipe (printed with
        // FERROKUBE_TEST_LOG=1 and --nocapture).
        std::thread::spawn(move || {
            while let Ok(l) = rx.recv() {
                if std::env::var_os("FERROKUBE_TEST_LOG").is_some() {
                    eprintln!("server: {l}");
                }
            }
        });
        Server {
            child,
            data_dir: data_dir.to_owned(),
            kubeconfig: kubeconfig.unwrap(),
            address: address.unwrap(),
            _temp: None,
            extra,
        }
    }

    /// An API client of this server (no rate limit).
    pub fn client(&self) -> kube::Client {
        let url = format!("http://{}", self.address)
            .parse()
            .expect("server URL");
        kube::Client::try_from(kube::Config::new(url)).expect("client")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the server and starts it again on the same data dir, datastore and port.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// SIGKILLs the server (`restart` starts it again).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits up to `limit` for the server to exit; `None` if it did not
    /// (it is then killed).
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    /// Starts a killed server again on the same data dir, datastore and port.
    pub fn restart(&mut self) {
        let port = self
            .address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let restarted = Server::start_in(&self.data_dir.clone(), self.extra.clone(), port);

        let old = std::mem::replace(self, restarted);
        self._temp = old.into_temp();
    }

    fn into_temp(mut self) -> Option<tempfile::TempDir> {
        self._temp.take()
    }

    /// Runs kubectl (the default dispatcher, or `kubectl.1.NN` for `Some("1.NN")`).
    pub fn kubectl(&self, version: Option<&str>, args: &[&str]) -> Output {
        kubectl_command(version)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Starts a long-running kubectl (e.g. `get -w`) with piped output.
    pub fn kubectl_spawn(&self, version: Option<&str>, args: &[&str]) -> Child {
        kubectl_command(version)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Real containers outlive ferrokube (their shims are not its children): a server with
        // its node agent that is still running stops them through the kubelet first, so that
        // even a failed test leaves no container behind.
        let agent = !self.extra.iter().any(|a| a == "--disable-agent");
        if agent && matches!(self.child.try_wait(), Ok(None)) {
            let everything = ["deployments,replicasets,pods", "--all", "--all-namespaces"];
            let mut args = vec!["delete"];
            args.extend(everything);
            args.push("--timeout=60s");
            let _ = self.kubectl(None, &args);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory with `kubectl.1.NN` beside the real kubectl binary.
fn kubectl_dir() -> PathBuf {
    let path = which("kubectl").unwrap_or_else(|| panic!("kubectl is not on PATH; {SETUP_HINT}"));
    std::fs::canonicalize(path)
        .unwrap()
        .parent()
        .unwrap()
        .to_owned()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

pub fn kubectl_command(version: Option<&str>) -> Command {
    match version {
        None => Command::new("kubectl"),
        Some(v) => {
            let path = kubectl_dir().join(format!("kubectl.{v}"));
            assert!(path.is_file(), "{} is missing", path.display());
            Command::new(path)
        }
    }
}

/// stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts kubectl succeeded and returns its stdout.
pub fn ok(output: Output) -> String {
    let (out, err) = text(&output);
    assert!(
        output.status.success(),
        "kubectl failed ({}):\nstdout: {out}\nstderr: {err}",
        output.status
    );
    out
}

/// Asserts kubectl failed with exit code 1 and returns its stderr.
pub fn fails(output: Output) -> String {
    let (out, err) = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "kubectl should fail:\nstdout: {out}\nstderr: {err}"
    );
    err
}

/// Writes a manifest to a temporary file.
pub fn manifest(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

/// Runs kubectl until `check` accepts its output; panics with the last output after 60 s.
pub fn wait_for(server: &Server, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = ok(server.kubectl(None, args));
        if check(&out) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for kubectl {args:?}; last output:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `kubectl rollout status` for a Deployment and asserts it reports success.
pub fn rollout_succeeds(server: &Server, deployment: &str) {
    let target = format!("deployment/{deployment}");
    let status = ok(server.kubectl(None, &["rollout", "status", &target, "--timeout=90s"]));
    let done = format!("deployment \"{deployment}\" successfully rolled out\n");
    assert!(status.ends_with(&done), "{status}");
}

/// `kubectl get pods -l SELECTOR -o jsonpath={.items[*]PATH}`: one value per pod.
pub fn pods_jsonpath(server: &Server, selector: &str, path: &str) -> String {
    let jsonpath = format!("jsonpath={{.items[*]{path}}}");
    ok(server.kubectl(None, &["get", "pods", "-l", selector, "-o", &jsonpath]))
}

/// `VmRSS` and `VmHWM` of `pid`, in bytes.
pub fn resident_and_peak(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in {status}"))
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `ferrokube_heap_live_bytes` figures in a `/metrics` text, by component, in its order.
pub fn heap_figures(metrics: &str) -> Vec<(String, i64)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("ferrokube_heap_live_bytes{component=\""))
        .filter_map(|rest| {
            let (component, value) = rest.split_once("\"} ")?;
            Some((component.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Waits (up to 60 s) until at least `n` nodes are Ready.
pub async fn nodes_ready(client: &kube::Client, n: usize) {
    use k8s_openapi::api::core::v1::Node;
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let ready = |node: &Node| {
        node.status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Ready" && c.status == "True")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let count = match nodes.list(&Default::default()).await {
            Ok(list) => list.items.iter().filter(|n| ready(n)).count(),
            Err(_) => 0,
        };
        if count >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {count} of {n} nodes Ready after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
