//! Automatic compaction for the embedded backends: keep a time window of history (default the
//! last 5 minutes of revisions, never fewer than 1,000 revisions) and forget the rest.
//!
//! Worked example with the defaults: samples `(t=0s, rev 100)`, `(t=60s, rev 5000)`,
//! `(t=400s, rev 9000)` at `now = 400s` and current revision 9000: the newest sample at least
//! 5 minutes old is rev 5000 (taken at 60s), 9000 - 1000 = 8000 does not lower it, so the
//! store compacts to 5000.

use std::collections::VecDeque;
use std::time::Duration;

use std::time::Instant;

use crate::types::Revision;

/// How much history an embedded store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Keep every revision written within this long.
    pub window: Duration,
    /// Never keep fewer than this many revisions.
    pub min_retained: i64,
    /// How often to sample the revision and compact.
    pub interval: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            window: Duration::from_secs(5 * 60),
            min_retained: 1000,
            interval: Duration::from_secs(30),
        }
    }
}

/// The revision to compact to, if any, given when each revision was current.
///
/// `samples` are `(when, revision current then)` in time order.
pub(crate) fn plan_compaction(
    samples: &VecDeque<(Instant, Revision)>,
    now: Instant,
    policy: &CompactionPolicy,
    current: Revision,
    compacted: Revision,
) -> Option<Revision> {
    let old_enough = samples
        .iter()
        .rev()
        .find(|(when, _)| now.saturating_duration_since(*when) >= policy.window)?
        .1;
    let target = Revision(old_enough.0.min(current.0 - policy.min_retained));
    (target > compacted).then_some(target)
}

/// Decides, turn by turn of a backend's writer loop, when to compact and to which revision.
pub(crate) struct AutoCompactor {
    policy: CompactionPolicy,
    samples: VecDeque<(Instant, Revision)>,
    next_sample: Instant,
}

impl AutoCompactor {
    pub fn new(policy: CompactionPolicy, now: Instant) -> Self {
        AutoCompactor {
            policy,
            samples: VecDeque::new(),
            next_sample: now,
        }
    }

    /// How long the writer may sleep before the next sample is due.
    pub fn until_due(&self, now: Instant) -> Duration {
        self.next_sample.saturating_duration_since(now)
    }

    /// Takes a sample if one is due and returns the revision to compact to, if any.
    pub fn poll(
        &mut self,
        now: Instant,
        current: Revision,
        compacted: Revision,
    ) -> Option<Revision> {
        if now < self.next_sample {
            return None;
        }
        self.next_sample = now + self.policy.interval;
        self.samples.push_back((now, current));
        let target = plan_compaction(&self.samples, now, &self.policy, current, compacted);
        prune_samples(&mut self.samples, now, self.policy.window);
        target
    }
}

/// Drops samples older than the newest one that is already old enough to be a target.
fn prune_samples(samples: &mut VecDeque<(Instant, Revision)>, now: Instant, window: Duration) {
    while samples.len() > 1 && now.saturating_duration_since(samples[1].0) >= window {
        samples.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64, rev: i64) -> (Instant, Revision) {
        (base + Duration::from_secs(secs), Revision(rev))
    }

    #[test]
    fn plan_compaction_table() {
        let base = Instant::now();
        let policy = CompactionPolicy::default();
        /// (case, samples as (secs, revision), now in secs, current, compacted, want)
        type Case = (&'static str, Vec<(u64, i64)>, u64, i64, i64, Option<i64>);
        let cases: Vec<Case> = vec![
            ("nothing old enough", vec![(0, 100)], 200, 5000, 0, None),
            (
                "worked example",
                vec![(0, 100), (60, 5000), (400, 9000)],
                400,
                9000,
                0,
                Some(5000),
            ),
            (
                "min retained caps target",
                vec![(0, 4500)],
                300,
                5000,
                0,
                Some(4000),
            ),
            ("small store keeps all", vec![(0, 500)], 300, 900, 0, None),
            ("already compacted", vec![(0, 5000)], 300, 9000, 5000, None),
            (
                "newest old sample wins",
                vec![(0, 10), (10, 20), (20, 30)],
                320,
                9000,
                0,
                Some(30),
            ),
        ];
        for (name, samples, now, current, compacted, want) in cases {
            let samples = samples.into_iter().map(|(s, r)| at(base, s, r)).collect();
            let got = plan_compaction(
                &samples,
                base + Duration::from_secs(now),
                &policy,
                Revision(current),
                Revision(compacted),
            );
            assert_eq!(got, want.map(Revision), "{name}");
        }
    }

    #[test]
    fn auto_compactor_samples_on_interval() {
        let base = Instant::now();
        let policy = CompactionPolicy {
            window: Duration::from_secs(60),
            min_retained: 10,
            interval: Duration::from_secs(30),
        };
        let mut auto = AutoCompactor::new(policy, base);
        let secs = |s| base + Duration::from_secs(s);
        assert_eq!(auto.poll(secs(0), Revision(100), Revision::ZERO), None);
        assert_eq!(auto.until_due(secs(10)), Duration::from_secs(20));
        assert_eq!(
            auto.poll(secs(10), Revision(150), Revision::ZERO),
            None,
            "not due yet"
        );
        assert_eq!(auto.poll(secs(30), Revision(200), Revision::ZERO), None);
        assert_eq!(
            auto.poll(secs(60), Revision(300), Revision::ZERO),
            Some(Revision(100))
        );
        assert_eq!(
            auto.poll(secs(90), Revision(400), Revision(100)),
            Some(Revision(200))
        );
    }

    #[test]
    fn prune_keeps_newest_old_sample() {
        let base = Instant::now();
        let mut samples: VecDeque<_> = [at(base, 0, 1), at(base, 10, 2), at(base, 400, 3)].into();
        prune_samples(
            &mut samples,
            base + Duration::from_secs(320),
            Duration::from_secs(300),
        );
        assert_eq!(
            samples.iter().map(|s| s.1.0).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }
}
