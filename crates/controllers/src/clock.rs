//! Wall-clock time for controllers, given to them rather than read inline, so that a test can
//! pause it: the system clock in production, or one that follows tokio's clock (which
//! `tokio::time::pause()` stops and `advance` moves) from a fixed start.
//!
//! Example: a `TokioClock` started at 12:00:00 reads 12:10:00 after a paused test sleeps ten
//! minutes, which takes no real time; a Deployment's progress deadline measured with it fires
//! in that test as it would ten real minutes later.

use jiff::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Wall time that moves with tokio's clock: `start` plus the tokio time elapsed since the
/// clock was made.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: Timestamp,
    since: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `start` now and moves on with tokio's time.
    pub fn starting_at(start: Timestamp) -> Self {
        TokioClock {
            start,
            since: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.start
            .saturating_add(self.since.elapsed())
            .unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_paused_time() {
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(clock.now(), Timestamp::from_second(1_700_000_600).unwrap());
    }
}
