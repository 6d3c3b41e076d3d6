//! The `ferrokube` binary: parses configuration, starts tracing, and runs the chosen component.

mod agent;
mod controller_manager;
mod heap;
mod scheduler;
mod server;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's allocator: the API server allocates and frees a JSON tree per
/// request and per watch event, and glibc's malloc/free were a fifth of its CPU time. Counted
/// per component when `FERROKUBE_HEAP_STATS=1` (see `heap`).
#[global_allocator]
static ALLOCATOR: heap::Counted = heap::Counted(mimalloc::MiMalloc);

/// mimalloc's `purge_delay` option: index 15 of `mi_option_e` in mimalloc 2 and 3 alike.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's `arena_eager_commit` option: index 4 of `mi_option_e` in mimalloc 2 and 3 alike.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// How long freed memory stays committed before mimalloc returns it to the OS. With the
/// default, 10 ms, the server returned memory and faulted it back in (the kernel zeroing each
/// 2 MiB page again) all through the 10,000-pod benchmark: ~5% of its CPU.
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Sets mimalloc's options before anything is allocated: a constructor the loader runs before
/// `main` (and before Rust's runtime allocates), since mimalloc reads `arena_eager_commit`
/// when it reserves its first arena, at the first allocation.
#[used]
#[unsafe(link_section = ".init_array")]
static SET_ALLOCATOR_OPTIONS: extern "C" fn() = set_allocator_options;

extern "C" fn set_allocator_options() {
    // SAFETY: sets plain integer options; mimalloc reads options atomically at any time.
    // Arenas are committed on demand, not eagerly (mimalloc's default on Linux, which
    // overcommits): eagerly committed arena memory stayed resident once freed, ~50 MiB idle and
    // ~50 MiB more with 10,000 hollow pods, at no measured cost in CPU.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

/// A Kubernetes-compatible container orchestrator.
#[derive(Parser, Debug)]
#[command(name = "ferrokube", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the control plane with its datastore.
    Server(server::ServerConfig),
    /// Runs the controllers against an API server.
    ControllerManager(controller_manager::ControllerManagerConfig),
    /// Runs the scheduler against an API server.
    Scheduler(scheduler::SchedulerConfig),
    /// Runs the node agent (kubelet and containerd) against an API server.
    Agent(agent::AgentConfig),
    /// Panics on purpose, so that `hack/check-binary.sh` can see what a panic of the shipped
    /// binary prints (its location, and with `RUST_BACKTRACE=1` a backtrace with file and
    /// line). Hidden from `--help`.
    #[command(hide = true)]
    Panic,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    heap::enable_from_env();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    raise_open_file_limit();
    let cli = Cli::parse();
    let shutdown = shutdown_signal()?;
    match cli.command {
        Command::Server(config) => server::run(config, shutdown).await,
        Command::ControllerManager(config) => controller_manager::run(config, shutdown).await,
        Command::Scheduler(config) => scheduler::run(config, shutdown).await,
        Command::Agent(config) => agent::run_alone(config, shutdown).await,
        Command::Panic => panic_on_purpose(),
    }
}

/// The panic of `ferrokube panic`: a frame of its own (never inlined), so that a backtrace
/// shows a function of this crate with its file and line.
#[inline(never)]
fn panic_on_purpose() -> ! {
    panic!("panicking on purpose (`ferrokube panic`)");
}

/// Raises the soft limit of open files to the hard limit, as Go's runtime does for upstream's
/// binaries: the common soft limit of 1,024 would let about a thousand idle connections make
/// the API server refuse every new one.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct passed to them.
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        soft < limit.rlim_max && libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
    };
    if raised {
        tracing::info!(
            open_files = limit.rlim_cur,
            "raised the soft limit of open files to the hard limit"
        );
    }
}

/// A future that resolves on SIGINT or SIGTERM; the handlers are installed before it returns,
/// so a signal that arrives during start-up is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + Sync + 'static>
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
    })
}
