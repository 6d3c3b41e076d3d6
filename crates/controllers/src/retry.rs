//! Retry delays after a failed reconcile, per object, as upstream's workqueue rate limiter
//! gives them: 5 ms after the first failure, doubling with each failure in a row, at most
//! 1,000 s; a success forgets the count. A conflict from a cache that is a few milliseconds
//! behind is retried at once, and an API server that stays down is not hammered.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;

/// The first delay (upstream's `DefaultControllerRateLimiter` base).
const BASE: Duration = Duration::from_millis(5);
/// The longest delay (upstream's cap).
const MAX: Duration = Duration::from_secs(1000);

/// The delay after the `failures`-th failure in a row (1 for the first).
pub fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    BASE.saturating_mul(1 << doublings).min(MAX)
}

/// Failures in a row, per object (`namespace/name`).
#[derive(Default)]
pub struct Retries {
    failures: Mutex<HashMap<String, u32>>,
}

impl Retries {
    /// Counts a failed reconcile of `obj`; the delay before its retry.
    pub fn failed(&self, obj: &impl ResourceExt) -> Duration {
        let mut failures = self.failures.lock().expect("retries lock");
        let count = failures.entry(key(obj)).or_default();
        *count = count.saturating_add(1);
        delay(*count)
    }

    /// The error policy of a controller (`what`, e.g. `deployment`): counts the failure, says
    /// so, and requeues `obj` after its delay.
    pub fn retry(&self, what: &str, obj: &impl ResourceExt, error: &impl Display) -> Action {
        let delay = self.failed(obj);
        tracing::warn!(error = %error, retry_in = ?delay, "{what} reconcile failed");
        Action::requeue(delay)
    }

    /// Awaits a reconcile of `obj`; a success forgets its failures.
    pub async fn run<T, E>(
        &self,
        obj: &impl ResourceExt,
        reconcile: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let result = reconcile.await;
        if result.is_ok() {
            self.failures
                .lock()
                .expect("retries lock")
                .remove(&key(obj));
        }
        result
    }
}

fn key(obj: &impl ResourceExt) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn delays_double_from_5ms_to_at_most_1000s() {
        let cases = [
            (0, 5),
            (1, 5),
            (2, 10),
            (3, 20),
            (10, 2_560),
            (18, 655_360),
            (19, 1_000_000),
            (u32::MAX, 1_000_000),
        ];
        for (failures, ms) in cases {
            assert_eq!(
                delay(failures),
                Duration::from_millis(ms),
                "{failures} failures"
            );
        }
    }

    fn pod(name: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.namespace = Some("default".into());
        pod
    }

    #[tokio::test]
    async fn failures_count_per_object_until_a_success() {
        let retries = Retries::default();
        let (a, b) = (pod("a"), pod("b"));
        assert_eq!(retries.failed(&a), Duration::from_millis(5));
        assert_eq!(retries.failed(&a), Duration::from_millis(10));
        assert_eq!(retries.failed(&b), Duration::from_millis(5));
        let failed: Result<(), ()> = retries.run(&a, async { Err(()) }).await;
        assert!(failed.is_err());
        assert_eq!(retries.failed(&a), Duration::from_millis(20));
        let ok: Result<(), ()> = retries.run(&a, async { Ok(()) }).await;
        assert!(ok.is_ok());
        assert_eq!(retries.failed(&a), Duration::from_millis(5));
        assert_eq!(retries.failed(&b), Duration::from_millis(10));
    }
}
