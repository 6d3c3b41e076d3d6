//! Pacing for passes whose cost grows with the cluster (a garbage collection pass over every
//! object, a ReplicaSet sync over its 10,000 pods): after a pass that took `t`, the next one
//! waits long enough that such passes take at most a set share of one core, however fast the
//! changes that trigger them come.
//!
//! Example, share 1/10: a sync that scans 10,000 pods in 8 ms is followed by a pause of 72 ms,
//! so a stream of pod changes triggers ~12 syncs a second instead of one after another; a
//! sync of 3 pods (30 µs) waits 270 µs, which no one notices. Times are tokio's clock: under
//! `tokio::time::pause()` a pass takes no time and is never paced.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The pause after a pass that took `pass`, so that passes take at most 1/`share_inverse` of a
/// core, and never shorter than `floor`.
///
/// | pass   | share | floor  | pause  |
/// |--------|-------|--------|--------|
/// | 2 ms   | 1/20  | 250 ms | 250 ms |
/// | 100 ms | 1/20  | 250 ms | 1.9 s  |
/// | 8 ms   | 1/10  | 0      | 72 ms  |
pub fn pause_after(pass: Duration, share_inverse: u32, floor: Duration) -> Duration {
    floor.max(pass * share_inverse.saturating_sub(1))
}

/// Awaits `call`, adding the time it took to `awaited`. A pass's API calls are waiting, not
/// work: the pass's duration minus `awaited` is what its pause is made from, so a pass that
/// deletes 1,000 objects one call at a time is not followed by a pause of minutes.
pub async fn timed<T>(awaited: &mut Duration, call: impl Future<Output = T>) -> T {
    let began = Instant::now();
    let out = call.await;
    *awaited += began.elapsed();
    out
}

/// The last pass per key (e.g. `namespace/name` of a ReplicaSet), for a reconciler whose
/// reconciles of one object must not run back to back.
pub struct Pacer {
    share_inverse: u32,
    /// When each key may run its next pass. Lock order: the only lock; never held across an
    /// await.
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// A pacer that keeps each key's passes to 1/`share_inverse` of a core.
    pub fn new(share_inverse: u32) -> Self {
        Pacer {
            share_inverse,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` must still wait before its next pass at `now`, if at all.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let next = self.next.lock().expect("pacer lock");
        next.get(key)
            .map(|at| at.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }

    /// Records a pass of `key` that ended at `ended` and took `took`; forgets the keys whose
    /// pause is over, so deleted objects leave nothing behind.
    pub fn record(&self, key: &str, ended: Instant, took: Duration) {
        let mut next = self.next.lock().expect("pacer lock");
        next.retain(|_, at| *at > ended);
        next.insert(
            key.to_owned(),
            ended + pause_after(took, self.share_inverse, Duration::ZERO),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_after_table() {
        let ms = Duration::from_millis;
        let cases = [
            (ms(2), 20, ms(250), ms(250)),
            (ms(100), 20, ms(250), ms(1900)),
            (ms(8), 10, Duration::ZERO, ms(72)),
            (ms(8), 1, Duration::ZERO, Duration::ZERO),
        ];
        for (pass, share_inverse, floor, want) in cases {
            assert_eq!(
                pause_after(pass, share_inverse, floor),
                want,
                "pass {pass:?}, share 1/{share_inverse}, floor {floor:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timed_adds_the_time_a_call_awaited() {
        let mut awaited = Duration::from_millis(5);
        let out = timed(&mut awaited, async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            7
        })
        .await;
        assert_eq!(out, 7);
        assert_eq!(awaited, Duration::from_millis(45));
    }

    #[test]
    fn a_key_waits_out_its_pause_and_others_do_not() {
        let pacer = Pacer::new(10);
        let start = Instant::now();
        assert_eq!(pacer.wait("ns/web", start), None, "never ran");
        pacer.record("ns/web", start, Duration::from_millis(8));
        assert_eq!(
            pacer.wait("ns/web", start + Duration::from_millis(2)),
            Some(Duration::from_millis(70))
        );
        assert_eq!(pacer.wait("ns/other", start), None);
        assert_eq!(
            pacer.wait("ns/web", start + Duration::from_millis(72)),
            None
        );
        pacer.record("ns/other", start + Duration::from_secs(1), Duration::ZERO);
        assert!(
            pacer.next.lock().unwrap().get("ns/web").is_none(),
            "a key whose pause is over is forgotten"
        );
    }
}
