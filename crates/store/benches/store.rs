//! Store benchmark, side by side in one run on the same disk: the SQLite backend and a real etcd
//! (through the etcd backend), both at full durability (fsync before acknowledging).
//!
//! Measures puts/s with p50/p99 latency for 1 and 64 concurrent writers, range reads/s, and
//! watch delivery latency; prints a table with sqlite/etcd ratios and writes it into
//! `docs/BENCHMARKS.md`. Run: `cargo bench -p ferrokube-store --bench store`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokube_store::{RangeOptions, SqliteStore, SqliteStoreOptions, Store};
use ferrokube_testing::{EtcdServer, percentile, write_benchmark_section};

const PUT_PHASE: Duration = Duration::from_secs(4);
const RANGE_PHASE: Duration = Duration::from_secs(3);
const RANGE_READERS: usize = 8;
const RANGE_KEYS: usize = 100;
const WATCH_EVENTS: usize = 500;
const VALUE_BYTES: usize = 1024;

/// One backend's figures.
struct Figures {
    puts_1: Throughput,
    puts_64: Throughput,
    ranges_per_sec: f64,
    watch_p50: Duration,
    watch_p99: Duration,
}

struct Throughput {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn puts(store: Arc<dyn Store>, writers: usize, tag: &str) -> Throughput {
    let start = Instant::now();
    let deadline = start + PUT_PHASE;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let value = vec![b'v'; VALUE_BYTES];
                let mut i = 0;
                while Instant::now() < deadline {
                    let began = Instant::now();
                    store
                        .create(&format!("bench/{tag}/{w}/{i}"), value.clone())
                        .await
                        .expect("put");
                    latencies.push(began.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    Throughput {
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    }
}

async fn ranges(store: Arc<dyn Store>) -> f64 {
    for i in 0..RANGE_KEYS {
        store
            .create(&format!("range/{i:04}"), vec![b'r'; VALUE_BYTES])
            .await
            .unwrap();
    }
    let start = Instant::now();
    let deadline = start + RANGE_PHASE;
    let tasks: Vec<_> = (0..RANGE_READERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let page = store
                        .range("range/", RangeOptions::default())
                        .await
                        .unwrap();
                    assert_eq!(page.items.len(), RANGE_KEYS);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Time from starting a write to a watcher receiving its event.
async fn watch_latency(store: Arc<dyn Store>) -> (Duration, Duration) {
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut watch = store.watch("watchlat/", None).await.unwrap();
    let receiver = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(WATCH_EVENTS);
            while latencies.len() < WATCH_EVENTS {
                let event = watch
                    .next_event()
                    .await
                    .expect("watch open")
                    .expect("event");
                let began = sent.lock().unwrap()[&event.kv.key];
                latencies.push(began.elapsed());
            }
            latencies
        })
    };
    for i in 0..WATCH_EVENTS {
        let key = format!("watchlat/{i}");
        sent.lock().unwrap().insert(key.clone(), Instant::now());
        store.create(&key, vec![b'w'; VALUE_BYTES]).await.unwrap();
    }
    let mut latencies = receiver.await.unwrap();
    latencies.sort();
    (percentile(&latencies, 0.50), percentile(&latencies, 0.99))
}

async fn measure(store: Arc<dyn Store>) -> Figures {
    let puts_1 = puts(store.clone(), 1, "w1").await;
    let puts_64 = puts(store.clone(), 64, "w64").await;
    let ranges_per_sec = ranges(store.clone()).await;
    let (watch_p50, watch_p99) = watch_latency(store).await;
    Figures {
        puts_1,
        puts_64,
        ranges_per_sec,
        watch_p50,
        watch_p99,
    }
}

/// One table row comparing a rate (higher is better) side by side.
fn rate_row(name: &str, sqlite: f64, etcd: f64) -> String {
    format!(
        "| {name} | {sqlite:.0} | {etcd:.0} | {:.2}× |\n",
        sqlite / etcd
    )
}

/// One table row comparing a latency (lower is better) side by side.
fn latency_row(name: &str, sqlite: Duration, etcd: Duration) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "| {name} | {:.2} ms | {:.2} ms | {:.2}× |\n",
        ms(sqlite),
        ms(etcd),
        sqlite.as_secs_f64() / etcd.as_secs_f64()
    )
}

fn table(sqlite: &Figures, etcd: &Figures) -> String {
    let mut out =
        String::from("| measure | sqlite | etcd | sqlite / etcd |\n|---|---:|---:|---:|\n");
    for (writers, s, e) in [
        (1, &sqlite.puts_1, &etcd.puts_1),
        (64, &sqlite.puts_64, &etcd.puts_64),
    ] {
        let noun = if writers == 1 { "writer" } else { "writers" };
        out += &rate_row(&format!("puts/s, {writers} {noun}"), s.per_sec, e.per_sec);
        out += &latency_row(&format!("put p50, {writers} {noun}"), s.p50, e.p50);
        out += &latency_row(&format!("put p99, {writers} {noun}"), s.p99, e.p99);
    }
    out += &rate_row(
        &format!("range reads/s ({RANGE_KEYS} keys × 1 KiB, {RANGE_READERS} readers)"),
        sqlite.ranges_per_sec,
        etcd.ranges_per_sec,
    );
    out += &latency_row("watch delivery p50", sqlite.watch_p50, etcd.watch_p50);
    out += &latency_row("watch delivery p99", sqlite.watch_p99, etcd.watch_p99);
    out
}

fn etcd_version() -> String {
    std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "etcd (version unknown)".to_owned())
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and runs benches without `--bench`: only measure under
    // `cargo bench`, and stay silent otherwise.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let sqlite_options = SqliteStoreOptions {
        path: dir.path().join("state.db"),
        auto_compaction: None,
    };
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(sqlite_options).unwrap());
    let server = EtcdServer::start().await;
    let etcd: Arc<dyn Store> = Arc::new(server.store("/registry/").await);

    eprintln!("measuring sqlite…");
    let sqlite_figures = measure(sqlite).await;
    eprintln!("measuring etcd…");
    let etcd_figures = measure(etcd).await;

    let table = table(&sqlite_figures, &etcd_figures);
    let section = format!(
        "## Store: SQLite backend vs real etcd\n\n\
         Command: `cargo bench -p ferrokube-store --bench store` (run {date}, {cores} cores, {etcd}).\n\
         Both stores in the same temporary directory's filesystem, both acknowledging a write only after fsync\n\
         (SQLite WAL with `synchronous=FULL` and group commit; etcd's raft WAL). Values are {VALUE_BYTES} bytes;\n\
         each put phase runs {put}s; watch latency is from starting a write to the watcher receiving it ({WATCH_EVENTS} writes).\n\n\
         {table}\n",
        date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default(),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        etcd = etcd_version(),
        put = PUT_PHASE.as_secs(),
    );
    println!("{table}");
    let path = write_benchmark_section("store-bench", &section);
    println!(
        "wrote {} in {:.1}s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
