//! Test support for the other crates, a dev-dependency only: an API server in the test's own
//! process over the memory store with `kube` clients on it (no socket), a fake kubelet, a wall
//! clock that follows tokio's paused time, waits in tokio time, a real etcd on free ports, and
//! the benchmarks' report helpers.

pub mod clock;
pub mod etcd;
pub mod fake_kubelet;
pub mod in_process;
pub mod report;
pub mod wait;

pub use clock::TokioClock;
pub use etcd::{EtcdServer, SETUP_HINT};
pub use in_process::{Answer, Exchange, Hook, InProcess, RequestHead};
pub use report::{percentile, write_benchmark_section};
pub use wait::eventually;
