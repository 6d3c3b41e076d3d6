//! Controller benchmark: `kubectl create deployment --replicas=N` (500 and 1,000) against
//! `ferrokube server` (SQLite) with 10 hollow nodes (kubelets whose containers start at once).
//! Measures the time until the pods exist, until they are all bound, until the Deployment is
//! Available and until all are available, with the server's default flags (no client-side
//! limit) and, for comparison, with upstream's controller-manager limits (20 QPS, burst 30, per
//! controller). Prints a table and writes it into `docs/BENCHMARKS.md`.
//! Run: `cargo bench -p ferrokube --bench deployment`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use support::{Backend, Server, nodes_ready, ok};
use tokio::sync::oneshot;

/// Hollow nodes: 10 of 110 pods each hold 1,000 pods.
const NODES: &str = "10";
const GIVE_UP: Duration = Duration::from_secs(600);

/// When each milestone was reached, counted from the `kubectl create` call.
struct Milestones {
    replicas: usize,
    pods_exist: Duration,
    pods_bound: Duration,
    available_condition: Duration,
    all_available: Duration,
}

/// Resolves once `n` distinct pods have been seen, and once `n` have been seen bound.
fn count_pods(
    client: kube::Client,
    n: usize,
) -> (oneshot::Receiver<Instant>, oneshot::Receiver<Instant>) {
    let (tx, rx) = oneshot::channel();
    let (bound_tx, bound_rx) = oneshot::channel();
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let mut stream = std::pin::pin!(
            watcher(pods, watcher::Config::default())
                .default_backoff()
                .applied_objects()
        );
        let (mut seen, mut bound) = (HashSet::new(), HashSet::new());
        let (mut tx, mut bound_tx) = (Some(tx), Some(bound_tx));
        while let Some(event) = stream.next().await {
            let Ok(pod) = event else { continue };
            let name = pod.metadata.name.clone().unwrap_or_default();
            if pod.spec.as_ref().is_some_and(|s| s.node_name.is_some()) {
                bound.insert(name.clone());
            }
            seen.insert(name);
            if seen.len() == n
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Instant::now());
            }
            if bound.len() == n
                && let Some(tx) = bound_tx.take()
            {
                let _ = tx.send(Instant::now());
                return;
            }
        }
    });
    (rx, bound_rx)
}

fn available_condition(d: &Deployment) -> bool {
    d.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Available" && c.status == "True")
}

fn available_replicas(d: &Deployment) -> usize {
    d.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0) as usize
}

async fn run_once(replicas: usize, limits: &[&str]) -> Milestones {
    let mut flags = vec!["--disable-agent", "--hollow-nodes", NODES];
    flags.extend(limits);
    let server = Server::start_with(&Backend::sqlite().await, &flags);
    let client = server.client();
    nodes_ready(&client, NODES.parse().unwrap()).await;
    let (pods_exist, pods_bound) = count_pods(client.clone(), replicas);
    let started = Instant::now();
    let replicas_flag = format!("--replicas={replicas}");
    ok(server.kubectl(
        None,
        &[
            "create",
            "deployment",
            "bench",
            "--image=nginx",
            &replicas_flag,
        ],
    ));
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let mut available_at = None;
    let all_available = loop {
        assert!(started.elapsed() < GIVE_UP, "no rollout after {GIVE_UP:?}");
        if let Ok(d) = deployments.get("bench").await {
            if available_at.is_none() && available_condition(&d) {
                available_at = Some(started.elapsed());
            }
            if available_replicas(&d) == replicas {
                break started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pods_exist = pods_exist.await.expect("pod counter") - started;
    let pods_bound = pods_bound.await.expect("pod counter") - started;
    Milestones {
        replicas,
        pods_exist,
        pods_bound,
        available_condition: available_at.unwrap_or(all_available),
        all_available,
    }
}

fn row(label: &str, m: &Milestones) -> String {
    let per_sec = |d: Duration| m.replicas as f64 / d.as_secs_f64();
    format!(
        "| {} | {label} | {:.1} s ({:.0} pods/s) | {:.1} s ({:.0} pods/s) | {:.1} s | {:.1} s ({:.0} pods/s) |\n",
        m.replicas,
        m.pods_exist.as_secs_f64(),
        per_sec(m.pods_exist),
        m.pods_bound.as_secs_f64(),
        per_sec(m.pods_bound),
        m.available_condition.as_secs_f64(),
        m.all_available.as_secs_f64(),
        per_sec(m.all_available),
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo test --all-targets` builds and runs benches without `--bench`: only measure under
    // `cargo bench`, and stay silent otherwise.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let upstream = ["--kube-api-qps", "20", "--kube-api-burst", "30"];
    let rows = [
        row("defaults (no client-side limit)", &run_once(500, &[]).await),
        row(
            "defaults (no client-side limit)",
            &run_once(1000, &[]).await,
        ),
        row(
            "`--kube-api-qps 20 --kube-api-burst 30` (upstream's)",
            &run_once(500, &upstream).await,
        ),
    ];
    let mut section = format!(
        "## Controllers: `kubectl create deployment --replicas=N`\n\n\
         `cargo bench -p ferrokube --bench deployment`: one `ferrokube server` (SQLite) per row \
         with {NODES} hollow nodes (`--hollow-nodes {NODES}`: kubelets whose containers start at \
         once), then `kubectl create deployment bench --image=nginx --replicas=N`. Times from \
         the `kubectl create` call, as a watch and the Deployment's status show them.\n\n\
         | N | controllers' client limit | all pods exist | all bound | Available condition | all available |\n\
         | --- | --- | --- | --- | --- | --- |\n"
    );
    section += &rows.concat();
    section += "\nBy default the controllers (and the scheduler) have no client-side limit: \
                inside `ferrokube server` they reach a listener of their own, and upstream \
                protects its API server with priority and fairness, not with its clients' \
                limits. With upstream's controller-manager limit the ReplicaSet controller's \
                creations (one token each of its own client's bucket) set the pace: 20 pods/s. \
                Without it, the ReplicaSet controller's slow-start batches and the API server \
                with SQLite do.\n\n";
    print!("{section}");
    let path = ferrokube_testing::write_benchmark_section("controllers-bench", &section);
    println!("written to {}", path.display());
}
