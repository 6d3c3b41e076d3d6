//! End-to-end: `ferrokube server --hollow-nodes 2` runs kubelets with the simulated runtime;
//! the seed Deployment goes through the whole chain to Running pods, driven with kubectl.

mod support;

use support::observe::{Observed, observe_pods};
use support::{Backend, SEED, Server, ok, pods_jsonpath, rollout_succeeds, wait_for};

/// Waits for the seed's events and asserts the whole chain is there, in upstream's reasons.
fn chain_events(server: &Server) -> String {
    let events = wait_for(server, &["get", "events"], |o| o.contains("Started"));
    for reason in [
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "Scheduled",
        "Pulling",
        "Pulled",
        "Created",
        "Started",
    ] {
        assert!(events.contains(reason), "no {reason} in:\n{events}");
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hollow_kubelets_run_the_seed_deployment() {
    let server = Server::start_with(
        &Backend::sqlite().await,
        &["--disable-agent", "--hollow-nodes", "2"],
    );
    let nodes = wait_for(&server, &["get", "nodes"], |o| {
        o.lines().filter(|l| l.contains(" Ready ")).count() == 2
    });
    assert!(
        nodes.contains("hollow-node-0") && nodes.contains("hollow-node-1"),
        "{nodes}"
    );
    let version = ok(server.kubectl(
        None,
        &[
            "get",
            "node",
            "hollow-node-0",
            "-o",
            "jsonpath={.status.nodeInfo.kubeletVersion}",
        ],
    ));
    assert_eq!(version, "v1.33.0");
    wait_for(
        &server,
        &["get", "leases", "-n", "kube-node-lease", "-o", "name"],
        |o| o.lines().count() == 2,
    );

    // The chain: ScalingReplicaSet, SuccessfulCreate, Scheduled, Pulling, Pulled, Created,
    // Started, and a Running pod with an IP.
    ok(server.kubectl(None, &SEED));
    rollout_succeeds(&server, "nginx-deployment");
    let pod = ok(server.kubectl(
        None,
        &[
            "get",
            "pods",
            "-l",
            "app=nginx-deployment",
            "-o",
            "jsonpath={.items[0].status.phase} {.items[0].status.podIP} {.items[0].spec.nodeName}",
        ],
    ));
    let fields: Vec<&str> = pod.split_whitespace().collect();
    assert_eq!(fields[0], "Running", "{pod}");
    assert!(fields[1].starts_with("10.244."), "{pod}");
    assert!(fields[2].starts_with("hollow-node-"), "{pod}");
    let events = chain_events(&server);
    assert!(events.contains("Started container nginx"), "{events}");

    // Each component writes under its upstream name, taken from its User-Agent.
    let managers = |kind: &str| {
        let path =
            "jsonpath={range .items[0].metadata.managedFields[*]}{.manager}/{.subresource} {end}";
        ok(server.kubectl(
            None,
            &["get", kind, "-l", "app=nginx-deployment", "-o", path],
        ))
    };
    assert_eq!(
        managers("deployment"),
        "kubectl-create/ kube-controller-manager/status "
    );
    assert_eq!(
        managers("replicaset"),
        "kube-controller-manager/ kube-controller-manager/status "
    );
    assert_eq!(managers("pod"), "kube-controller-manager/ kubelet/status ");
    let reporters = ok(server.kubectl(
        None,
        &[
            "get",
            "events",
            "-o",
            "jsonpath={range .items[*]}{.reason}={.metadata.managedFields[0].manager} {end}",
        ],
    ));
    for expected in [
        "ScalingReplicaSet=kube-controller-manager",
        "SuccessfulCreate=kube-controller-manager",
        "Scheduled=kube-scheduler",
        "Started=kubelet",
    ] {
        assert!(reporters.contains(expected), "{expected}: {reporters}");
    }

    // A missing image: ErrImagePull (then ImagePullBackOff) and a Failed event.
    ok(server.kubectl(None, &["run", "broken", "--image=nginx:404"]));
    wait_for(
        &server,
        &[
            "get",
            "pod",
            "broken",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ],
        |o| o == "ErrImagePull" || o == "ImagePullBackOff",
    );
    let events = wait_for(
        &server,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=broken",
        ],
        |o| o.contains("Failed"),
    );
    assert!(
        events.contains("Failed to pull image \"nginx:404\""),
        "{events}"
    );

    // Deleting the Deployment: the kubelet stops the pods and removes them for good.
    ok(server.kubectl(None, &["delete", "deployment", "nginx-deployment"]));
    ok(server.kubectl(None, &["delete", "pod", "broken", "--timeout=60s"]));
    wait_for(&server, &["get", "pods", "-o", "name"], |o| o.is_empty());
}

/// An HTTP GET of `/` on `ip:80`, answered body and all.
fn http_get(ip: &str) -> String {
    http_get_path(ip, "/")
}

fn http_get_path(ip: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((ip, 80)).expect("connect to the pod");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// `kubectl logs -f` prints a request made after it started.
fn follow_streams(server: &Server, ip: &str) {
    use std::io::BufRead;
    let mut child = server.kubectl_spawn(None, &["logs", "-f", "deployment/nginx-deployment"]);
    let stdout = child.stdout.take().expect("kubectl's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // The first line already there means the stream is open.
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("kubectl logs -f printed the existing log");
    assert!(http_get_path(ip, "/streamed").contains("404 Not Found"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let streamed = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("GET /streamed") => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(streamed, "kubectl logs -f never printed the new request");
}

/// A server with its node agent (containerd started by ferrokube, images from the local
/// registry that hack/test.sh starts), once its node is Ready. Each test sharing this machine
/// gives its own pod CIDR and CNI network.
async fn node_server(flags: &[&str]) -> Server {
    require_registry();
    let server = Server::start_with(&Backend::sqlite().await, flags);
    wait_for(&server, &["get", "nodes"], |o| o.contains(" Ready "));
    server
}

/// Fails at once, naming the setup command, when the local image registry is not running.
fn require_registry() {
    let up = std::net::TcpStream::connect("127.0.0.1:5000").is_ok();
    assert!(
        up,
        "the image registry on 127.0.0.1:5000 is not running: run `hack/registry.sh start` \
         (hack/test.sh does) after `hack/setup.sh`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_runs_nginx_for_real() {
    let server = node_server(&[]).await;
    ok(server.kubectl(None, &SEED));
    rollout_succeeds(&server, "nginx-deployment");
    let ip = ok(server.kubectl(
        None,
        &[
            "get",
            "pods",
            "-l",
            "app=nginx-deployment",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ],
    ));
    assert!(ip.starts_with("10.42.0."), "pod IP {ip:?}");
    let page = http_get(&ip);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    chain_events(&server);

    // Logs: nginx's access-log line for that GET, through the API server and the kubelet.
    let logs = ok(server.kubectl(None, &["logs", "deployment/nginx-deployment"]));
    assert!(logs.contains("\"GET / HTTP/1.0\" 200"), "{logs}");
    let stamped = ok(server.kubectl(
        None,
        &[
            "logs",
            "deployment/nginx-deployment",
            "--timestamps",
            "--tail=1",
        ],
    ));
    assert_eq!(stamped.lines().count(), 1, "{stamped}");
    assert!(stamped.starts_with("20"), "{stamped}");
    assert!(stamped.contains("\"GET / HTTP/1.0\" 200"), "{stamped}");
    follow_streams(&server, &ip);

    let socket = server.data_dir.join("containerd/containerd.sock");
    let cri = ferrokube_kubelet::runtime::cri::Cri::connect(&socket, server.data_dir.join("pods"))
        .await
        .unwrap();
    let sandbox_of = |uid: String| {
        let cri = cri.clone();
        async move {
            ferrokube_kubelet::runtime::Runtime::pod_state(&cri, &uid)
                .await
                .unwrap()
        }
    };

    // Three replicas: three pods on three IPs, each serving the page.
    ok(server.kubectl(
        None,
        &["scale", "deployment/nginx-deployment", "--replicas=3"],
    ));
    rollout_succeeds(&server, "nginx-deployment");
    let ips = pods_jsonpath(&server, "app=nginx-deployment", ".status.podIP");
    let ips: std::collections::BTreeSet<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3, "{ips:?}");
    for ip in &ips {
        assert!(http_get(ip).contains("Welcome to nginx!"), "{ip}");
    }
    // A new image rolls out on real pods: at most 3 + 1 pods and at least 3 Ready at every
    // moment a watch sees (the default 25% surge and unavailability of 3 replicas).
    let observed = std::sync::Arc::new(std::sync::Mutex::new(Observed::default()));
    let watch = observe_pods(
        server.client(),
        "app=nginx-deployment",
        4,
        3,
        observed.clone(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    ok(server.kubectl(
        None,
        &[
            "set",
            "image",
            "deployment/nginx-deployment",
            "nginx=nginx:1.25",
        ],
    ));
    rollout_succeeds(&server, "nginx-deployment");
    wait_for(&server, &["get", "pods", "-o", "name"], |o| {
        o.lines().count() == 3
    });
    let images = pods_jsonpath(&server, "app=nginx-deployment", ".spec.containers[0].image");
    assert_eq!(images, ["nginx:1.25"; 3].join(" "));
    watch.abort();
    {
        let observed = observed.lock().unwrap();
        assert!(
            observed.violations.is_empty(),
            "rollout bounds broken: {:?}",
            observed.violations
        );
        assert_eq!(observed.created.len(), 6, "3 old pods, 3 new ones");
    }
    let ips = pods_jsonpath(&server, "app=nginx-deployment", ".status.podIP");
    for ip in ips.split_whitespace() {
        assert!(http_get(ip).contains("Welcome to nginx!"), "{ip}");
    }

    // Back to one: the two others' containers and sandboxes are stopped and removed.
    let before = pods_jsonpath(&server, "app=nginx-deployment", ".metadata.uid");
    ok(server.kubectl(
        None,
        &["scale", "deployment/nginx-deployment", "--replicas=1"],
    ));
    wait_for(&server, &["get", "pods", "-o", "name"], |o| {
        o.lines().count() == 1
    });
    let kept = pods_jsonpath(&server, "app=nginx-deployment", ".metadata.uid");
    for uid in before.split_whitespace().filter(|u| *u != kept) {
        assert!(
            sandbox_of(uid.to_owned()).await.is_none(),
            "pod {uid} still has a sandbox"
        );
    }

    // Deleting the Deployment stops and removes the last one too.
    ok(server.kubectl(None, &["delete", "deployment", "nginx-deployment"]));
    wait_for(&server, &["get", "pods", "-o", "name"], |o| o.is_empty());
    let left = sandbox_of(kept).await;
    assert!(left.is_none(), "the pod's sandbox is gone: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_containers_back_off_and_pulls_retry() {
    let server = node_server(&["--pod-cidr", "10.42.1.0/24", "--cni-network", "fk-crash"]).await;
    // A container exiting 1: restarted at once, then after 10 s; CrashLoopBackOff meanwhile.
    ok(server.kubectl(
        None,
        &[
            "run",
            "crasher",
            "--image=busybox",
            "--",
            "sh",
            "-c",
            "echo crashed; exit 1",
        ],
    ));
    let state = [
        "get",
        "pod",
        "crasher",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}",
    ];
    let seen = wait_for(&server, &state, |o| o.starts_with("1 CrashLoopBackOff 1"));
    assert_eq!(seen, "1 CrashLoopBackOff 1");
    let events = wait_for(&server, &["get", "events"], |o| o.contains("BackOff"));
    assert!(
        events.contains("Back-off restarting failed container crasher in pod crasher_default"),
        "{events}"
    );
    wait_for(&server, &state, |o| o.starts_with("2 "));
    // The run before the current one, as `kubectl logs --previous` reads it.
    let previous = ok(server.kubectl(None, &["logs", "crasher", "--previous"]));
    assert_eq!(previous, "crashed\n");

    // restartPolicy Never: one run, then the pod is Succeeded or Failed by its exit code.
    ok(server.kubectl(
        None,
        &[
            "run",
            "once",
            "--image=busybox",
            "--restart=Never",
            "--",
            "true",
        ],
    ));
    ok(server.kubectl(
        None,
        &[
            "run",
            "fails",
            "--image=busybox",
            "--restart=Never",
            "--",
            "false",
        ],
    ));
    wait_for(
        &server,
        &["get", "pod", "once", "-o", "jsonpath={.status.phase}"],
        |o| o == "Succeeded",
    );
    wait_for(
        &server,
        &["get", "pod", "fails", "-o", "jsonpath={.status.phase}"],
        |o| o == "Failed",
    );

    // A missing image: ErrImagePull, then ImagePullBackOff with a BackOff event.
    ok(server.kubectl(None, &["run", "missing", "--image=busybox:404"]));
    let reason = [
        "get",
        "pod",
        "missing",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
    ];
    wait_for(&server, &reason, |o| o == "ImagePullBackOff");
    let events = ok(server.kubectl(None, &["get", "events"]));
    assert!(
        events.contains("Back-off pulling image \"busybox:404\""),
        "{events}"
    );
    assert!(events.contains("Error: ErrImagePull"), "{events}");
    for pod in ["crasher", "once", "fails", "missing"] {
        ok(server.kubectl(None, &["delete", "pod", pod, "--timeout=60s"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_containers_survive_a_restart_and_orphans_are_removed() {
    let flags = ["--pod-cidr", "10.42.2.0/24", "--cni-network", "fk-restart"];
    let mut server = node_server(&flags).await;
    ok(server.kubectl(
        None,
        &["create", "deployment", "web", "--image=nginx", "--port=80"],
    ));
    rollout_succeeds(&server, "web");
    let identity = ".status.containerStatuses[0].containerID";
    let before = pods_jsonpath(&server, "app=web", identity);
    let ip = pods_jsonpath(&server, "app=web", ".status.podIP");
    assert!(before.starts_with("containerd://"), "{before}");

    // kill -9: containerd goes with ferrokube, the container does not; the restarted kubelet
    // adopts it (same container, no restart) instead of starting another.
    server.kill_and_restart();
    assert!(
        http_get(&ip).contains("Welcome to nginx!"),
        "served while ferrokube was down"
    );
    wait_for(&server, &["get", "nodes"], |o| o.contains(" Ready "));
    rollout_succeeds(&server, "web");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(pods_jsonpath(&server, "app=web", identity), before);
    assert_eq!(
        pods_jsonpath(
            &server,
            "app=web",
            ".status.containerStatuses[0].restartCount"
        ),
        "0"
    );
    assert!(http_get(&ip).contains("Welcome to nginx!"));

    // A pod deleted while ferrokube is down: the restarted kubelet removes its sandbox.
    ok(server.kubectl(
        None,
        &["run", "doomed", "--image=busybox", "--", "sleep", "3600"],
    ));
    wait_for(
        &server,
        &["get", "pod", "doomed", "-o", "jsonpath={.status.phase}"],
        |o| o == "Running",
    );
    let uid = ok(server.kubectl(
        None,
        &["get", "pod", "doomed", "-o", "jsonpath={.metadata.uid}"],
    ));
    server.kill();
    {
        let store =
            ferrokube_store::SqliteStore::open_path(server.data_dir.join("db/state.db")).unwrap();
        ferrokube_store::Store::delete(&store, "pods/default/doomed", None)
            .await
            .unwrap();
    }
    server.restart();
    // The agent starts containerd after the API server answers: connect once it is up.
    let socket = server.data_dir.join("containerd/containerd.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let cri = loop {
        let logs = server.data_dir.join("pods");
        match ferrokube_kubelet::runtime::cri::Cri::connect(&socket, logs).await {
            Ok(cri) => break cri,
            Err(err) => assert!(
                std::time::Instant::now() < deadline,
                "containerd never came back: {err}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    // containerd answers its socket before its CRI service is initialised: errors mean "ask
    // again", as the kubelet's own wait for the runtime does.
    loop {
        let state = ferrokube_kubelet::runtime::Runtime::pod_state(&cri, &uid).await;
        if matches!(state, Ok(None)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the orphaned sandbox was never removed: {state:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        http_get(&ip).contains("Welcome to nginx!"),
        "the live pod was left alone"
    );

    ok(server.kubectl(None, &["delete", "deployment", "web"]));
    wait_for(&server, &["get", "pods", "-o", "name"], |o| o.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_restart_unhealthy_containers_and_gate_readiness() {
    let server = node_server(&["--pod-cidr", "10.42.4.0/24", "--cni-network", "fk-probe"]).await;
    // Healthy for 3 seconds, then the exec liveness probe fails and the container restarts.
    let liveness = support::manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: liveness\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    args: [sh, -c, 'touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 3600']\n    livenessProbe:\n      exec: {command: [cat, /tmp/healthy]}\n      periodSeconds: 1\n      failureThreshold: 2\n",
    );
    // nginx answers 404 on /ready: never ready, so never available; the other one is.
    let readiness = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: unready\nspec:\n  selector:\n    matchLabels: {app: unready}\n  template:\n    metadata:\n      labels: {app: unready}\n    spec:\n      containers:\n      - name: nginx\n        image: nginx\n        readinessProbe:\n          httpGet: {path: /ready, port: 80}\n          periodSeconds: 1\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ready\nspec:\n  selector:\n    matchLabels: {app: ready}\n  template:\n    metadata:\n      labels: {app: ready}\n    spec:\n      containers:\n      - name: nginx\n        image: nginx\n        ports: [{name: http, containerPort: 80}]\n        startupProbe:\n          tcpSocket: {port: 80}\n          periodSeconds: 1\n        readinessProbe:\n          httpGet: {path: /, port: http}\n          periodSeconds: 1\n",
    );
    for file in [&liveness, &readiness] {
        ok(server.kubectl(None, &["create", "-f", file.path().to_str().unwrap()]));
    }
    let restarts = [
        "get",
        "pod",
        "liveness",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ];
    wait_for(&server, &restarts, |o| {
        o.parse::<u32>().is_ok_and(|n| n >= 1)
    });
    let events = wait_for(
        &server,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=liveness",
        ],
        |o| o.contains("Killing"),
    );
    assert!(
        events.contains(
            "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"
        ),
        "{events}"
    );
    assert!(
        events.contains("Container app failed liveness probe, will be restarted"),
        "{events}"
    );

    rollout_succeeds(&server, "ready");
    let ready = pods_jsonpath(&server, "app=ready", ".status.containerStatuses[0].ready");
    assert_eq!(ready, "true");
    let unready = [
        "get",
        "pods",
        "-l",
        "app=unready",
        "-o",
        "jsonpath={.items[0].status.phase} {.items[0].status.containerStatuses[0].ready}",
    ];
    wait_for(&server, &unready, |o| o == "Running false");
    let events = wait_for(&server, &["get", "events"], |o| {
        o.contains("Readiness probe failed")
    });
    assert!(
        events.contains("Readiness probe failed: HTTP probe failed with statuscode: 404"),
        "{events}"
    );
    // The failures aggregate into one Event whose series counts them, as upstream's recorder
    // does ("(x3 over 4s)" in kubectl describe), not one Event per failure.
    let unhealthy = [
        "get",
        "events",
        "--field-selector",
        "reason=Unhealthy",
        "-o",
        "jsonpath={range .items[*]}{.message}={.series.count};{end}",
    ];
    let readiness = |listed: &str| -> Vec<String> {
        listed
            .split(';')
            .filter_map(|e| {
                e.strip_prefix("Readiness probe failed: HTTP probe failed with statuscode: 404=")
            })
            .map(str::to_owned)
            .collect()
    };
    let listed = wait_for(&server, &unhealthy, |o| {
        readiness(o)
            .iter()
            .any(|c| c.parse::<u32>().is_ok_and(|c| c >= 2))
    });
    assert_eq!(
        readiness(&listed).len(),
        1,
        "one Unhealthy Event for the repeated failure: {listed}"
    );
    let described = ok(server.kubectl(None, &["describe", "pods", "-l", "app=unready"]));
    assert!(
        described
            .lines()
            .any(|l| l.contains("Unhealthy") && l.contains("(x")),
        "{described}"
    );
    let available = [
        "get",
        "deployment",
        "unready",
        "-o",
        "jsonpath={.status.replicas} {.status.availableReplicas} {.status.unavailableReplicas}",
    ];
    assert_eq!(ok(server.kubectl(None, &available)), "1  1");
    let condition = ok(server.kubectl(
        None,
        &[
            "get",
            "pods",
            "-l",
            "app=unready",
            "-o",
            "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].message}",
        ],
    ));
    assert_eq!(condition, "containers with unready status: [nginx]");

    ok(server.kubectl(None, &["delete", "pod", "liveness", "--timeout=60s"]));
    for deployment in ["ready", "unready"] {
        ok(server.kubectl(None, &["delete", "deployment", deployment]));
    }
    wait_for(&server, &["get", "pods", "-o", "name"], |o| o.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_limits_and_image_pull_policies() {
    let server = node_server(&["--pod-cidr", "10.42.5.0/24", "--cni-network", "fk-init"]).await;
    // The app container prints its own cgroup's limits (cgroup v1 paths, as on this machine's
    // kernel setup; v2 has memory.max and cpu.max instead).
    let pod = support::manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: init-demo\nspec:\n  terminationGracePeriodSeconds: 1\n  initContainers:\n  - name: prepare\n    image: busybox\n    command: [sh, -c, 'echo preparing; sleep 3']\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'if [ -f /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max; else cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us; fi; sleep 3600']\n    resources:\n      limits: {cpu: 500m, memory: 64Mi}\n",
    );
    ok(server.kubectl(None, &["create", "-f", pod.path().to_str().unwrap()]));
    wait_for(&server, &["get", "pod", "init-demo"], |o| {
        o.contains("Init:0/1")
    });
    let app_state = [
        "get",
        "pod",
        "init-demo",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
    ];
    assert_eq!(ok(server.kubectl(None, &app_state)), "PodInitializing");
    wait_for(
        &server,
        &["get", "pod", "init-demo", "-o", "jsonpath={.status.phase}"],
        |o| o == "Running",
    );
    let init = ok(server.kubectl(
        None,
        &[
            "get",
            "pod",
            "init-demo",
            "-o",
            "jsonpath={.status.initContainerStatuses[0].state.terminated.reason} {.status.initContainerStatuses[0].ready}",
        ],
    ));
    assert_eq!(init, "Completed true");
    let prepared = ok(server.kubectl(None, &["logs", "init-demo", "-c", "prepare"]));
    assert_eq!(prepared, "preparing\n");
    // 64 MiB and half a core (50 ms of every 100 ms).
    let limits = wait_for(&server, &["logs", "init-demo", "-c", "app"], |o| {
        o.lines().count() >= 2
    });
    let limits: Vec<&str> = limits.split_whitespace().collect();
    assert!(
        limits == ["67108864", "50000"] || limits == ["67108864", "50000", "100000"],
        "{limits:?}"
    );
    // The API server requested what the limits give.
    let requests = ok(server.kubectl(
        None,
        &[
            "get",
            "pod",
            "init-demo",
            "-o",
            "jsonpath={.spec.containers[0].resources.requests.memory} {.status.qosClass}",
        ],
    ));
    assert_eq!(requests, "64Mi Burstable");
    ok(server.kubectl(None, &["delete", "pod", "init-demo", "--timeout=60s"]));

    // A tagged image is IfNotPresent: pulled for the first pod, found for the second.
    for pod in ["first", "second"] {
        ok(server.kubectl(None, &["run", pod, "--image=nginx:1.25"]));
        wait_for(
            &server,
            &["get", "pod", pod, "-o", "jsonpath={.status.phase}"],
            |o| o == "Running",
        );
    }
    let events = |pod: &str| {
        let selector = format!("involvedObject.name={pod}");
        ok(server.kubectl(None, &["get", "events", "--field-selector", &selector]))
    };
    assert!(
        events("first").contains("Successfully pulled image \"nginx:1.25\""),
        "{}",
        events("first")
    );
    let second = events("second");
    assert!(
        second.contains("Container image \"nginx:1.25\" already present on machine")
            && !second.contains("Pulling"),
        "{second}"
    );
    // Never, with an image the node does not have: ErrImageNeverPull.
    ok(server.kubectl(
        None,
        &[
            "run",
            "never",
            "--image=busybox:1.0",
            "--image-pull-policy=Never",
        ],
    ));
    let reason = wait_for(
        &server,
        &[
            "get",
            "pod",
            "never",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ],
        |o| o == "ErrImageNeverPull",
    );
    assert_eq!(reason, "ErrImageNeverPull");
    for pod in ["first", "second", "never"] {
        ok(server.kubectl(None, &["delete", "pod", pod, "--timeout=60s"]));
    }
}

/// A pod whose name is longer than a hostname may be (63 characters) runs, with its name cut
/// to 63 as upstream's kubelet cuts it; before, `sethostname` refused it and the pod never
/// started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_with_a_70_character_name_runs_with_its_hostname_cut() {
    let server = node_server(&["--pod-cidr", "10.42.6.0/24", "--cni-network", "fk-names"]).await;
    let name = format!("long-{}", "n".repeat(65));
    assert_eq!(name.len(), 70);
    // A manifest, not `kubectl run`: that would use the name as a label value and a
    // container name too, which may not be longer than 63 (upstream refuses them as well).
    let pod = support::manifest(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'hostname; sleep 3600']\n"
    ));
    ok(server.kubectl(None, &["create", "-f", pod.path().to_str().unwrap()]));
    wait_for(
        &server,
        &["get", "pod", &name, "-o", "jsonpath={.status.phase}"],
        |o| o == "Running",
    );
    let hostname = wait_for(&server, &["logs", &name], |o| !o.is_empty());
    assert_eq!(hostname.trim(), &name[..63]);
    ok(server.kubectl(None, &["delete", "pod", &name, "--timeout=60s"]));
}

/// Waits for the pod's phase to be Running.
fn wait_running(server: &Server, pod: &str) {
    let phase = ["get", "pod", pod, "-o", "jsonpath={.status.phase}"];
    wait_for(server, &phase, |o| o == "Running");
}

/// The events of one object, as `kubectl get events` prints them.
fn events_of(server: &Server, name: &str) -> String {
    let selector = format!("involvedObject.name={name}");
    ok(server.kubectl(None, &["get", "events", "--field-selector", &selector]))
}

/// Environment from ConfigMaps, Secrets, the pod's fields and its resources, with `$(VAR)`
/// expansion; a missing ConfigMap holds the container in CreateContainerConfigError with
/// upstream's message and event until it is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_get_their_environment_and_wait_for_missing_sources() {
    let server = node_server(&["--pod-cidr", "10.42.7.0/24", "--cni-network", "fk-env"]).await;
    ok(server.kubectl(
        None,
        &[
            "create",
            "configmap",
            "app-config",
            "--from-literal=mode=fast",
            "--from-literal=level=3",
        ],
    ));
    ok(server.kubectl(
        None,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
        ],
    ));
    let pod = support::manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: env-demo\n  labels: {app: env-demo}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'echo \"CFG_mode=$CFG_mode CFG_level=$CFG_level PW=$PW MODE=$MODE MEM=$MEM CPU=$CPU NODE_CPU=$NODE_CPU POD=$POD NS=$NS APP=$APP GREETING=$GREETING\"; echo \"$(ARG)\"; sleep 3600']\n    envFrom:\n    - configMapRef: {name: app-config}\n      prefix: CFG_\n    - secretRef: {name: absent, optional: true}\n    env:\n    - {name: PW, valueFrom: {secretKeyRef: {name: creds, key: password}}}\n    - {name: MODE, valueFrom: {configMapKeyRef: {name: app-config, key: mode}}}\n    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n    - {name: CPU, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}\n    - {name: NODE_CPU, valueFrom: {resourceFieldRef: {containerName: app, resource: limits.cpu}}}\n    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}\n    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n    - {name: GREETING, value: 'mode $(MODE) in $(NS)'}\n    - {name: ARG, value: 'arg-$(POD)'}\n    resources:\n      limits: {memory: 64Mi}\n      requests: {cpu: 250m, memory: 64Mi}\n",
    );
    ok(server.kubectl(None, &["create", "-f", pod.path().to_str().unwrap()]));
    wait_running(&server, "env-demo");
    let logs = wait_for(&server, &["logs", "env-demo"], |o| o.lines().count() >= 2);
    let cpus = std::thread::available_parallelism().unwrap().get();
    let want = format!(
        "CFG_mode=fast CFG_level=3 PW=s3cr3t MODE=fast MEM=64 CPU=250 NODE_CPU={cpus} POD=env-demo NS=default APP=env-demo GREETING=mode fast in default\narg-env-demo\n"
    );
    assert_eq!(logs, want);

    // A ConfigMap that is not there yet.
    let waiting = support::manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: env-wait\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'echo \"LATER=$LATER\"; sleep 3600']\n    env:\n    - {name: LATER, valueFrom: {configMapKeyRef: {name: later, key: value}}}\n",
    );
    ok(server.kubectl(None, &["create", "-f", waiting.path().to_str().unwrap()]));
    let state = [
        "get",
        "pod",
        "env-wait",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}",
    ];
    let waiting_state = wait_for(&server, &state, |o| {
        o.starts_with("CreateContainerConfigError")
    });
    assert_eq!(
        waiting_state,
        "CreateContainerConfigError: configmap \"later\" not found"
    );
    let listed = ok(server.kubectl(None, &["get", "pod", "env-wait"]));
    assert!(listed.contains("CreateContainerConfigError"), "{listed}");
    let events = events_of(&server, "env-wait");
    assert!(
        events.contains("Error: configmap \"later\" not found"),
        "{events}"
    );
    ok(server.kubectl(
        None,
        &[
            "create",
            "configmap",
            "later",
            "--from-literal=value=arrived",
        ],
    ));
    wait_running(&server, "env-wait");
    let logs = wait_for(&server, &["logs", "env-wait"], |o| !o.is_empty());
    assert_eq!(logs, "LATER=arrived\n");
    for pod in ["env-demo", "env-wait"] {
        ok(server.kubectl(None, &["delete", "pod", pod, "--timeout=60s"]));
    }
}

/// Every volume type a pod can be given without storage: a configMap (items, a subPath), a
/// secret (mode 0400), downward API labels and annotations, a projected volume, an emptyDir
/// shared by two containers, a memory-backed emptyDir and a hostPath; an edit of the
/// ConfigMap reaches the running pod; a volume that cannot be set up holds the pod in
/// ContainerCreating with FailedMount; the pod's volumes go with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_mount_their_volumes_and_see_config_map_edits() {
    let server = node_server(&["--pod-cidr", "10.42.8.0/24", "--cni-network", "fk-vols"]).await;
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("marker"), "from-node").unwrap();
    ok(server.kubectl(
        None,
        &[
            "create",
            "configmap",
            "app-config",
            "--from-literal=mode=fast",
            "--from-literal=app.conf=a=1",
        ],
    ));
    ok(server.kubectl(
        None,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
        ],
    ));
    let report = "sleep 2; echo conf=$(cat /cfg/conf/app.conf) sub=$(cat /etc/app.conf) secret=$(cat /sec/password) secmode=$(stat -L -c %a /sec/password) labels=$(cat /info/labels | tr '\\\\n' ,) annotations=$(cat /info/annotations) proj=$(ls /proj | tr '\\\\n' ,) shared=$(cat /shared/greeting) host=$(cat /host/marker) memfs=$(grep ' /mem ' /proc/mounts | cut -d' ' -f3,4 | tr , ' ') ro=$(touch /cfg/x 2>&1 | grep -c Read-only) sharedro=$(touch /shared/x 2>&1 | grep -c Read-only); echo from-pod > /host/written; while true; do echo mode=$(cat /whole/mode); sleep 2; done";
    let pod = support::manifest(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vol-demo\n  labels: {{app: vol-demo, tier: web}}\n  annotations: {{note: hello}}\nspec:\n  terminationGracePeriodSeconds: 1\n  volumes:\n  - name: cfg\n    configMap:\n      name: app-config\n      items: [{{key: app.conf, path: conf/app.conf}}]\n  - name: whole\n    configMap: {{name: app-config}}\n  - name: sec\n    secret: {{secretName: creds, defaultMode: 0400}}\n  - name: info\n    downwardAPI:\n      items:\n      - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}\n      - {{path: annotations, fieldRef: {{fieldPath: metadata.annotations}}}}\n  - name: proj\n    projected:\n      sources:\n      - configMap: {{name: app-config, items: [{{key: mode, path: mode}}]}}\n      - secret: {{name: creds}}\n      - downwardAPI: {{items: [{{path: podname, fieldRef: {{fieldPath: metadata.name}}}}]}}\n  - name: shared\n    emptyDir: {{}}\n  - name: mem\n    emptyDir: {{medium: Memory, sizeLimit: 16Mi}}\n  - name: host\n    hostPath: {{path: {host}, type: Directory}}\n  containers:\n  - name: writer\n    image: busybox\n    command: [sh, -c, 'echo hello > /shared/greeting; sleep 3600']\n    volumeMounts: [{{name: shared, mountPath: /shared}}]\n  - name: reader\n    image: busybox\n    command: [sh, -c, \"{report}\"]\n    volumeMounts:\n    - {{name: cfg, mountPath: /cfg}}\n    - {{name: cfg, mountPath: /etc/app.conf, subPath: conf/app.conf}}\n    - {{name: whole, mountPath: /whole}}\n    - {{name: sec, mountPath: /sec}}\n    - {{name: info, mountPath: /info}}\n    - {{name: proj, mountPath: /proj}}\n    - {{name: shared, mountPath: /shared, readOnly: true}}\n    - {{name: mem, mountPath: /mem}}\n    - {{name: host, mountPath: /host}}\n",
        host = host.path().display()
    ));
    ok(server.kubectl(None, &["create", "-f", pod.path().to_str().unwrap()]));
    wait_running(&server, "vol-demo");
    let logs = wait_for(&server, &["logs", "vol-demo", "-c", "reader"], |o| {
        o.lines().count() >= 2
    });
    let first = logs.lines().next().unwrap();
    assert_eq!(
        first,
        "conf=a=1 sub=a=1 secret=s3cr3t secmode=400 labels=app=\"vol-demo\",tier=\"web\" annotations=note=\"hello\" proj=mode,password,podname, shared=hello host=from-node memfs=tmpfs rw nosuid nodev relatime size=16384k ro=1 sharedro=1",
        "{logs}"
    );
    assert!(logs.contains("mode=fast"), "{logs}");
    let written = std::fs::read_to_string(host.path().join("written")).unwrap();
    assert_eq!(written, "from-pod\n");
    let data_dir = server.data_dir.join("kubelet/pods");
    let uid = ok(server.kubectl(
        None,
        &["get", "pod", "vol-demo", "-o", "jsonpath={.metadata.uid}"],
    ));
    let cm_dir = data_dir
        .join(&uid)
        .join("volumes/kubernetes.io~configmap/whole");
    let link = std::fs::read_link(cm_dir.join("..data")).unwrap();
    assert!(link.to_string_lossy().starts_with("..20"), "{link:?}");

    // An edit of the ConfigMap reaches the running pod (upstream: within about a minute).
    ok(server.kubectl(
        None,
        &[
            "patch",
            "configmap",
            "app-config",
            "-p",
            "{\"data\":{\"mode\":\"slow\"}}",
        ],
    ));
    let began = std::time::Instant::now();
    loop {
        let logs = ok(server.kubectl(None, &["logs", "vol-demo", "-c", "reader", "--tail=1"]));
        if logs.contains("mode=slow") {
            break;
        }
        assert!(
            began.elapsed() < std::time::Duration::from_secs(90),
            "no update after 90 s: {logs}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    println!(
        "the ConfigMap edit reached the pod after {:?}",
        began.elapsed()
    );

    ok(server.kubectl(None, &["delete", "pod", "vol-demo", "--timeout=60s"]));
    let gone = std::time::Instant::now();
    while data_dir.join(&uid).exists() {
        assert!(
            gone.elapsed() < std::time::Duration::from_secs(30),
            "the pod's volumes stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        host.path().join("marker").exists(),
        "a hostPath is the node's"
    );

    // A volume whose ConfigMap is missing: ContainerCreating with FailedMount, then it runs.
    let blocked = support::manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mount-wait\nspec:\n  terminationGracePeriodSeconds: 1\n  volumes:\n  - name: cfg\n    configMap: {name: absent}\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'cat /cfg/key; echo; sleep 3600']\n    volumeMounts: [{name: cfg, mountPath: /cfg}]\n",
    );
    ok(server.kubectl(None, &["create", "-f", blocked.path().to_str().unwrap()]));
    let events = wait_for(
        &server,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=mount-wait",
        ],
        |o| o.contains("FailedMount"),
    );
    assert!(
        events.contains(
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"absent\" not found"
        ),
        "{events}"
    );
    let listed = wait_for(&server, &["get", "pod", "mount-wait"], |o| {
        o.contains("ContainerCreating")
    });
    assert!(listed.contains("0/1"), "{listed}");
    ok(server.kubectl(
        None,
        &[
            "create",
            "configmap",
            "absent",
            "--from-literal=key=present",
        ],
    ));
    wait_running(&server, "mount-wait");
    let logs = wait_for(&server, &["logs", "mount-wait"], |o| !o.is_empty());
    assert_eq!(logs, "present\n");
    ok(server.kubectl(None, &["delete", "pod", "mount-wait", "--timeout=60s"]));
}

/// `minReadySeconds` with the real kubelet: the pod's Ready condition carries the time it
/// became ready (not the pod's start), so the Deployment counts it available only 10 s after
/// that. The readiness probe passes 5 s in: with the start time stamped on every condition,
/// as before, the pod was available 5 s after it was Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_ready_seconds_counts_from_when_the_pod_became_ready() {
    let server = node_server(&[
        "--pod-cidr",
        "10.42.10.0/24",
        "--cni-network",
        "fk-minready",
    ])
    .await;
    let deployment = support::manifest(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow-ready\nspec:\n  replicas: 1\n  minReadySeconds: 10\n  selector:\n    matchLabels: {app: slow-ready}\n  template:\n    metadata:\n      labels: {app: slow-ready}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: app\n        image: busybox\n        command: [sleep, '3600']\n        readinessProbe:\n          exec: {command: ['true']}\n          initialDelaySeconds: 5\n          periodSeconds: 1\n",
    );
    ok(server.kubectl(None, &["create", "-f", deployment.path().to_str().unwrap()]));
    let ready = "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].status}";
    let pods = ["get", "pods", "-l", "app=slow-ready", "-o", ready];
    wait_for(&server, &pods, |o| o == "True");
    let became_ready = std::time::Instant::now();
    let transition = "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].lastTransitionTime} {.items[0].status.startTime}";
    let times = ok(server.kubectl(
        None,
        &["get", "pods", "-l", "app=slow-ready", "-o", transition],
    ));
    let (ready_at, started_at) = times.split_once(' ').unwrap();
    let ready_at: jiff::Timestamp = ready_at.parse().unwrap();
    let started_at: jiff::Timestamp = started_at.parse().unwrap();
    let probe_delay = ready_at.duration_since(started_at).as_secs();
    assert!(
        probe_delay >= 5,
        "Ready at {ready_at}, started at {started_at}"
    );
    let available = [
        "get",
        "deployment",
        "slow-ready",
        "-o",
        "jsonpath={.status.availableReplicas}",
    ];
    loop {
        let count = ok(server.kubectl(None, &available));
        if count == "1" {
            break;
        }
        assert!(
            became_ready.elapsed() < std::time::Duration::from_secs(30),
            "never available"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let waited = became_ready.elapsed();
    println!("available {waited:?} after Ready (probe passed {probe_delay} s after the start)");
    assert!(
        waited >= std::time::Duration::from_secs(9),
        "available {waited:?} after Ready"
    );
    ok(server.kubectl(None, &["delete", "deployment", "slow-ready"]));
}

/// The claims of a JWT, decoded (not verified: TokenReview does that).
fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A TokenReview of `token`, as kubectl creates it: its status.
fn review(server: &Server, token: &str) -> serde_json::Value {
    let request = support::manifest(&format!(
        "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n"
    ));
    let path = request.path().to_str().unwrap();
    let answer = ok(server.kubectl(None, &["create", "-f", path, "-o", "json"]));
    serde_json::from_str::<serde_json::Value>(&answer).unwrap()["status"].clone()
}

/// Service accounts as upstream gives them to pods: a new namespace gets its `default`
/// ServiceAccount and the `kube-root-ca.crt` ConfigMap holding the cluster CA; a pod gets a
/// token bound to it at /var/run/secrets/kubernetes.io/serviceaccount, which TokenReview
/// accepts while the pod exists; `kubectl create token` issues one; a missing service account
/// refuses the pod; `automountServiceAccountToken: false` leaves the volume out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_service_account_tokens_that_token_review_accepts() {
    let server = node_server(&["--pod-cidr", "10.42.11.0/24", "--cni-network", "fk-sa"]).await;
    ok(server.kubectl(None, &["create", "namespace", "team"]));
    wait_for(
        &server,
        &["get", "serviceaccount", "-n", "team", "-o", "name"],
        |o| o.trim() == "serviceaccount/default",
    );
    let ca = wait_for(
        &server,
        &[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "team",
            "--ignore-not-found",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
        |o| !o.is_empty(),
    );
    let on_disk = std::fs::read_to_string(server.data_dir.join("tls/server-ca.crt")).unwrap();
    assert_eq!(ca, on_disk);

    let pod = support::manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sa-demo\n  namespace: team\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'd=/var/run/secrets/kubernetes.io/serviceaccount; cat $d/namespace; echo; head -1 $d/ca.crt; cat $d/token; echo; sleep 3600']\n",
    );
    ok(server.kubectl(None, &["create", "-f", pod.path().to_str().unwrap()]));
    let volume = ok(server.kubectl(None, &["get", "pod", "sa-demo", "-n", "team", "-o", "jsonpath={.spec.serviceAccountName} {.spec.volumes[0].name} {.spec.containers[0].volumeMounts[0].mountPath}"]));
    assert!(volume.starts_with("default kube-api-access-"), "{volume}");
    assert!(
        volume.ends_with(" /var/run/secrets/kubernetes.io/serviceaccount"),
        "{volume}"
    );
    let phase = [
        "get",
        "pod",
        "sa-demo",
        "-n",
        "team",
        "-o",
        "jsonpath={.status.phase}",
    ];
    wait_for(&server, &phase, |o| o == "Running");
    let logs = wait_for(&server, &["logs", "sa-demo", "-n", "team"], |o| {
        o.lines().count() >= 3
    });
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines[..2], ["team", "-----BEGIN CERTIFICATE-----"]);
    let token = lines[2];
    let claims = jwt_claims(token);
    assert_eq!(claims["sub"], "system:serviceaccount:team:default");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "sa-demo");
    assert_eq!(
        claims["iss"],
        "https://kubernetes.default.svc.cluster.local"
    );
    let status = review(&server, token);
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(
        status["user"]["username"],
        "system:serviceaccount:team:default"
    );
    assert_eq!(
        status["user"]["extra"]["authentication.kubernetes.io/pod-name"][0],
        "sa-demo"
    );

    // `kubectl create token` (a protobuf TokenRequest) issues one for the audience asked.
    let issued = ok(server.kubectl(
        None,
        &[
            "create",
            "token",
            "default",
            "-n",
            "team",
            "--audience",
            "vault",
            "--duration",
            "15m",
        ],
    ));
    let issued_claims = jwt_claims(issued.trim());
    assert_eq!(issued_claims["aud"][0], "vault");
    let lifetime = issued_claims["exp"].as_i64().unwrap() - issued_claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 900);
    let refused = support::fails(server.kubectl(
        None,
        &[
            "create",
            "token",
            "default",
            "-n",
            "team",
            "--duration",
            "1m",
        ],
    ));
    assert!(refused.contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"), "{refused}");

    // A missing service account refuses the pod, as upstream's admission does.
    let ghost = support::fails(server.kubectl(
        None,
        &[
            "run",
            "ghost",
            "-n",
            "team",
            "--image=busybox",
            "--overrides",
            "{\"spec\":{\"serviceAccountName\":\"ghost\"}}",
        ],
    ));
    assert!(
        ghost.contains("pods \"ghost\" is forbidden: error looking up service account team/ghost: serviceaccount \"ghost\" not found"),
        "{ghost}"
    );
    // automountServiceAccountToken: false: no token volume.
    ok(server.kubectl(
        None,
        &[
            "run",
            "quiet",
            "-n",
            "team",
            "--image=busybox",
            "--overrides",
            "{\"spec\":{\"automountServiceAccountToken\":false}}",
            "--",
            "sleep",
            "3600",
        ],
    ));
    let volumes = ok(server.kubectl(
        None,
        &[
            "get",
            "pod",
            "quiet",
            "-n",
            "team",
            "-o",
            "jsonpath={.spec.volumes}",
        ],
    ));
    assert_eq!(volumes, "");

    // Once the pod is gone, its token is no longer valid.
    ok(server.kubectl(
        None,
        &["delete", "pod", "sa-demo", "-n", "team", "--timeout=60s"],
    ));
    let status = review(&server, token);
    assert_ne!(status["authenticated"], true, "{status}");
    assert_eq!(status["error"], "pod \"sa-demo\" not found", "{status}");
    ok(server.kubectl(None, &["delete", "namespace", "team", "--timeout=60s"]));
}

/// A pod's claim of the default StorageClass: the claim waits for its first consumer, the
/// scheduler names the node, the local-path provisioner makes a directory there, the data
/// outlives the pod and reaches the next one, and deleting the claim deletes the volume and
/// its directory (once no pod uses the claim). A pod whose claim is missing stays Pending with
/// upstream's text; a volume
/// made by hand with `Retain` is released, not deleted, when its claim goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_get_local_path_volumes_that_outlive_their_pods() {
    let server = node_server(&["--pod-cidr", "10.42.13.0/24", "--cni-network", "fk-pv"]).await;
    let classes = ok(server.kubectl(None, &["get", "storageclass"]));
    let line = classes.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &cells[..6],
        [
            "local-path",
            "(default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            "false"
        ],
        "{classes}"
    );
    let pod_with_claim = |name: &str, claim: &str, script: &str| {
        support::manifest(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}}}\n  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, '{script}']\n    volumeMounts: [{{name: data, mountPath: /data}}]\n"
        ))
    };
    let lonely = pod_with_claim("lonely", "missing", "sleep 3600");
    ok(server.kubectl(None, &["create", "-f", lonely.path().to_str().unwrap()]));
    wait_for(
        &server,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=lonely",
        ],
        |o| {
            o.contains("FailedScheduling")
            && o.contains("0/1 nodes are available: persistentvolumeclaim \"missing\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
        },
    );
    let claim = support::manifest(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    ok(server.kubectl(None, &["create", "-f", claim.path().to_str().unwrap()]));
    let class = [
        "get",
        "pvc",
        "data",
        "-o",
        "jsonpath={.spec.storageClassName} {.status.phase}",
    ];
    assert_eq!(ok(server.kubectl(None, &class)), "local-path Pending");
    wait_for(
        &server,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=data",
        ],
        |o| {
            o.contains("WaitForFirstConsumer")
                && o.contains("waiting for first consumer to be created before binding")
        },
    );
    let writer = pod_with_claim("writer", "data", "echo persisted > /data/file; sleep 3600");
    ok(server.kubectl(None, &["create", "-f", writer.path().to_str().unwrap()]));
    wait_running(&server, "writer");
    let bound = ok(server.kubectl(None, &["get", "pvc", "data"]));
    let row: Vec<&str> = bound
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let uid = ok(server.kubectl(
        None,
        &["get", "pvc", "data", "-o", "jsonpath={.metadata.uid}"],
    ));
    let volume = format!("pvc-{uid}");
    assert_eq!(
        &row[..6],
        ["data", "Bound", volume.as_str(), "1Gi", "RWO", "local-path"],
        "{bound}"
    );
    let pv = ok(server.kubectl(None, &["get", "pv", &volume, "-o",
        "jsonpath={.spec.hostPath.path} {.status.phase} {.spec.persistentVolumeReclaimPolicy} {.spec.claimRef.name}"]));
    let dir = std::path::absolute(server.data_dir.join("storage"))
        .unwrap()
        .join(format!("{volume}_default_data"));
    assert_eq!(pv, format!("{} Bound Delete data", dir.display()));
    let written = || std::fs::read_to_string(dir.join("file")).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while written().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(written(), "persisted\n");
    let events = events_of(&server, "data");
    assert!(
        events.contains("ProvisioningSucceeded") && events.contains(&volume),
        "{events}"
    );
    ok(server.kubectl(None, &["delete", "pod", "writer", "--timeout=60s"]));
    let reader = pod_with_claim("reader", "data", "cat /data/file; sleep 3600");
    ok(server.kubectl(None, &["create", "-f", reader.path().to_str().unwrap()]));
    wait_running(&server, "reader");
    wait_for(&server, &["logs", "reader"], |o| o.trim() == "persisted");
    // A claim in use is protected: deleting it waits for its pod.
    ok(server.kubectl(None, &["delete", "pvc", "data", "--wait=false"]));
    wait_for(&server, &["get", "pvc", "data"], |o| {
        o.contains("Terminating")
    });
    assert!(dir.join("file").exists());
    ok(server.kubectl(None, &["delete", "pod", "reader", "--timeout=60s"]));
    wait_for(&server, &["get", "pvc", "-o", "name"], |o| {
        !o.contains("data")
    });
    wait_for(&server, &["get", "pv", "-o", "name"], |o| {
        !o.contains(&volume)
    });
    assert!(!dir.exists(), "{} is still there", dir.display());

    // A volume made by hand, kept (Retain) when its claim goes.
    let kept = tempfile::tempdir().unwrap();
    let manual = support::manifest(&format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: manual\nspec:\n  capacity: {{storage: 2Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  hostPath: {{path: {}}}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: handmade\nspec:\n  storageClassName: \"\"\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n",
        kept.path().display()
    ));
    ok(server.kubectl(None, &["create", "-f", manual.path().to_str().unwrap()]));
    let phases = [
        "get",
        "pv",
        "manual",
        "-o",
        "jsonpath={.status.phase} {.spec.persistentVolumeReclaimPolicy} {.spec.claimRef.name}",
    ];
    wait_for(&server, &phases, |o| o == "Bound Retain handmade");
    wait_for(
        &server,
        &[
            "get",
            "pvc",
            "handmade",
            "-o",
            "jsonpath={.status.phase} {.spec.volumeName} {.status.capacity.storage}",
        ],
        |o| o == "Bound manual 2Gi",
    );
    ok(server.kubectl(None, &["delete", "pvc", "handmade", "--timeout=60s"]));
    wait_for(&server, &phases, |o| o.starts_with("Released Retain"));
    assert!(kept.path().exists());
    ok(server.kubectl(None, &["delete", "pod", "lonely", "--timeout=60s"]));
}
