//! A wall clock that follows tokio's clock: under `tokio::time::pause()` its "now" moves
//! exactly as far as the test lets time pass (or auto-advances it), no more.
//!
//! Example: made at 12:00:00, after `tokio::time::advance(30 s)` it reads 12:00:30, however
//! long the test really took.

use std::sync::Arc;

use ferrokube_client::clock::{Clock, SharedClock};
use jiff::Timestamp;

/// The wall time at its creation plus the tokio time elapsed since.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    wall: Timestamp,
    started: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading the system's wall clock now, advancing with tokio's clock.
    pub fn new() -> TokioClock {
        TokioClock {
            wall: Timestamp::now(),
            started: tokio::time::Instant::now(),
        }
    }

    /// The clock, to hand to the components of one test.
    pub fn shared() -> SharedClock {
        Arc::new(TokioClock::new())
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.wall
            .checked_add(self.started.elapsed())
            .expect("a test's clock stays within jiff's range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn moves_with_paused_time_only() {
        let clock = TokioClock::new();
        let start = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.now(), start, "real time passing does not move it");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(clock.now().duration_since(start).as_secs(), 30);
    }
}
