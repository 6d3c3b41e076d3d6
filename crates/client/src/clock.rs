//! The wall clock that components stamp times with and compare times against, injected so
//! that a test can run it on tokio's paused clock.
//!
//! Example: a ReplicaSet with `minReadySeconds: 30` counts a pod Ready since 12:00:00 as
//! available once `clock.now()` reads 12:00:30; under `SystemClock` that takes 30 s, under a
//! clock that follows paused tokio time it takes the 30 s the test lets pass.

use std::sync::Arc;

use jiff::Timestamp;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// A clock shared by the tasks of a component.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock: what every component uses outside tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// `t` as Kubernetes writes a `Time` (RFC 3339, whole seconds, UTC): `2026-12-02T17:59:20Z`;
/// k8s-openapi's `Time` encodes it, the one formatter the API server uses too.
pub fn rfc3339(t: Timestamp) -> String {
    match serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t)) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// The system's wall clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_whole_seconds_utc() {
        let t: Timestamp = "2026-12-02T17:59:20.734Z".parse().unwrap();
        assert_eq!(rfc3339(t), "2026-12-02T17:59:20Z");
    }

    #[test]
    fn the_system_clock_reads_the_wall_clock() {
        let before = Timestamp::now();
        let read = system().now();
        let after = Timestamp::now();
        assert!(
            before <= read && read <= after,
            "{before} <= {read} <= {after}"
        );
    }
}
