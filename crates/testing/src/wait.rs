//! Waiting for the cluster to reach a state, in tokio time: under `tokio::time::pause()` a
//! wait costs no real time (the clock jumps while every task is idle), and its bound is a
//! bound on the virtual time the behaviour may take.
//!
//! Example: `eventually("3 pods", 10 s, probe)` asks `probe` every 20 ms of tokio time; it
//! returns the first `Ok`, or panics after 10 s with the last `Err`, which says what was
//! seen instead.

use std::future::Future;
use std::time::Duration;

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` until it answers `Ok`, for at most `within` of tokio time; panics naming
/// `what` and the probe's last answer.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match probe().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {within:?} (tokio time); last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_once_the_probe_succeeds() {
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let got = eventually("a third call", Duration::from_secs(1), || {
            calls += 1;
            let n = calls;
            async move {
                if n == 3 {
                    Ok(n)
                } else {
                    Err(format!("call {n}"))
                }
            }
        })
        .await;
        assert_eq!(got, 3);
        assert_eq!(start.elapsed(), 2 * POLL);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "never: not within 1s (tokio time); last seen: nothing")]
    async fn panics_with_the_last_answer() {
        eventually("never", Duration::from_secs(1), || async {
            Err::<(), _>("nothing".to_owned())
        })
        .await;
    }
}
