//! Live heap bytes per component (API server, controllers, scheduler, hollow nodes), counted by
//! the global allocator when `FERROKUBE_HEAP_STATS=1`, and shown on `/metrics` as
//! `ferrokube_heap_live_bytes{component="…"}` with SQLite's own heap beside them
//! (`component="sqlite"`): the heap breakdown of docs/BENCHMARKS.md.
//!
//! Each component runs on threads of its own; a thread says which component it serves, and an
//! allocation counts for the component of the thread that makes it, its free for the one that
//! frees it. Memory handed between components (rare: they talk over HTTP) is counted where it
//! was freed, so a component's figure can be off by what it received that way.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// What a thread's allocations count for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The API server, and anything else on the main runtime.
    ApiServer = 0,
    Controllers = 1,
    Scheduler = 2,
    HollowNodes = 3,
}

const COMPONENTS: [(Component, &str); 4] = [
    (Component::ApiServer, "apiserver"),
    (Component::Controllers, "controllers"),
    (Component::Scheduler, "scheduler"),
    (Component::HollowNodes, "hollow-nodes"),
];

thread_local! {
    /// Const-initialised and without a destructor, so the allocator may read it at any time.
    static COMPONENT: Cell<u8> = const { Cell::new(0) };
}

/// One counter per component, each on a cache line of its own.
#[repr(align(64))]
struct Counter(AtomicIsize);

static LIVE: [Counter; 4] = [
    Counter(AtomicIsize::new(0)),
    Counter(AtomicIsize::new(0)),
    Counter(AtomicIsize::new(0)),
    Counter(AtomicIsize::new(0)),
];

static COUNTING: AtomicBool = AtomicBool::new(false);

/// Starts counting if the environment asks for it; call first thing in `main`, so that little
/// is freed that was allocated before.
pub fn enable_from_env() {
    if std::env::var_os("FERROKUBE_HEAP_STATS").is_some_and(|v| v == "1") {
        COUNTING.store(true, Ordering::Relaxed);
    }
}

/// Counts this thread's allocations for `component` from now on.
pub fn set_component(component: Component) {
    COMPONENT.with(|c| c.set(component as u8));
}

/// `/metrics` lines with the live bytes of each component (none when not counting).
pub fn metrics() -> String {
    if !COUNTING.load(Ordering::Relaxed) {
        return String::new();
    }
    let mut out = String::from(
        "# HELP ferrokube_heap_live_bytes Heap bytes allocated and not yet freed, by the component of the allocating thread (FERROKUBE_HEAP_STATS=1).\n\
         # TYPE ferrokube_heap_live_bytes gauge\n",
    );
    for (component, name) in COMPONENTS {
        let live = LIVE[component as usize].0.load(Ordering::Relaxed);
        out.push_str(&format!(
            "ferrokube_heap_live_bytes{{component=\"{name}\"}} {live}\n"
        ));
    }
    // SQLite allocates with its own malloc, past the counter: its page caches, reported apart.
    out.push_str(&format!(
        "ferrokube_heap_live_bytes{{component=\"sqlite\"}} {}\n",
        ferrokube_store::sqlite_memory_used()
    ));
    out
}

fn count(size: usize, sign: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        let component = COMPONENT.with(Cell::get) as usize;
        // Sizes fit an isize: no allocation is larger than isize::MAX bytes.
        LIVE[component % LIVE.len()]
            .0
            .fetch_add(sign * size as isize, Ordering::Relaxed);
    }
}

/// mimalloc, counting as above.
pub struct Counted(pub mimalloc::MiMalloc);

// SAFETY: every call is passed to mimalloc unchanged; counting touches only atomics and a
// const thread-local, and never allocates.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size, 1);
        count(layout.size(), -1);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}
