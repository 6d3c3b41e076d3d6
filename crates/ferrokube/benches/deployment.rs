//! Controller benchmark: `kubectl create deployment --replicas=1000` against `ferrokube server`
//! (SQLite) with the test suite's fake kubelet marking each pod Running and Ready. Measures the
//! time until 1,000 pods exist, until the Deployment is Available, and until all 1,000 are
//! available, with upstream's default client limits (20 QPS, burst 30, per controller) and
//! without. Prints a table and writes it into `docs/BENCHMARKS.md`.
//! Run: `cargo bench -p ferrokube --bench deployment`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ferrokube_testing::fake_kubelet;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use support::{Backend, Server, ok};
use tokio::sync::oneshot;

const REPLICAS: usize = 1000;
const GIVE_UP: Duration = Duration::from_secs(600);

/// When each milestone was reached, counted from the `kubectl create` call.
struct Milestones {
    pods_exist: Duration,
    available_condition: Duration,
    all_available: Duration,
}

/// Resolves once `n` distinct pods have been seen.
fn count_pods(client: kube::Client, n: usize) -> oneshot::Receiver<Instant> {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let mut stream = std::pin::pin!(
            watcher(pods, watcher::Config::default())
                .default_backoff()
                .applied_objects()
        );
        let mut seen = HashSet::new();
        while let Some(event) = stream.next().await {
            let Ok(pod) = event else { continue };
            seen.insert(pod.metadata.name.unwrap_or_default());
            if seen.len() == n {
                let _ = tx.send(Instant::now());
                return;
            }
        }
    });
    rx
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

async fn run_once(flags: &[&str]) -> Milestones {
    let server = Server::start_with(&Backend::sqlite().await, flags);
    let client = server.client();
    let kubelet = fake_kubelet::start(client.clone());
    let pods_exist = count_pods(client.clone(), REPLICAS);
    let started = Instant::now();
    let replicas = format!("--replicas={REPLICAS}");
    ok(server.kubectl(
        None,
        &["create", "deployment", "bench", "--image=nginx", &replicas],
    ));
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let mut available_at = None;
    let all_available = loop {
        assert!(started.elapsed() < GIVE_UP, "no rollout after {GIVE_UP:?}");
        if let Ok(d) = deployments.get("bench").await {
            if available_at.is_none() && available_condition(&d) {
                available_at = Some(started.elapsed());
            }
            if available_replicas(&d) == REPLICAS {
                break started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pods_exist = pods_exist.await.expect("pod counter") - started;
    kubelet.abort();
    Milestones {
        pods_exist,
        available_condition: available_at.unwrap_or(all_available),
        all_available,
    }
}

fn row(label: &str, m: &Milestones) -> String {
    let per_sec = |d: Duration| REPLICAS as f64 / d.as_secs_f64();
    format!(
        "| {label} | {:.1} s ({:.0} pods/s) | {:.1} s | {:.1} s ({:.0} pods/s) |\n",
        m.pods_exist.as_secs_f64(),
        per_sec(m.pods_exist),
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
    let limited = run_once(&[
        "--disable-agent",
        "--kube-api-qps",
        "20",
        "--kube-api-burst",
        "30",
    ])
    .await;
    let unlimited = run_once(&["--disable-agent", "--kube-api-qps", "0"]).await;
    let mut section = format!(
        "## Controllers: `kubectl create deployment --replicas={REPLICAS}`\n\n\
         `cargo bench -p ferrokube --bench deployment`: one `ferrokube server` (SQLite) per row, \
         a fake kubelet marking every pod Running and Ready as soon as it appears (one status \
         patch per pod, in parallel). Times from the `kubectl create` call.\n\n\
         | controllers' client limit | {REPLICAS} pods exist | Available condition | all {REPLICAS} available |\n\
         | --- | --- | --- | --- |\n"
    );
    section += &row("20 QPS, burst 30 (upstream default)", &limited);
    section += &row("none (`--kube-api-qps 0`)", &unlimited);
    section += "\nWith the limit, the ReplicaSet controller's 1,000 creations (one token each of \
                its own client's bucket, as upstream) set the pace: 20 pods/s; its Events cost \
                only 25 tokens, the spam filter's burst per object. Without it, the API server \
                and SQLite do.\n\n";
    print!("{section}");
    let path = ferrokube_testing::write_benchmark_section("controllers-bench", &section);
    println!("written to {}", path.display());
}
