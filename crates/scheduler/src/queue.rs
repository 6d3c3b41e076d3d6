//! The scheduling queue: pods wait in `active` (highest priority first, then oldest), in
//! backoff after a failed attempt (1 s, doubling to 10 s), or as unschedulable until a cluster
//! change could make them fit (or 5 minutes pass), as upstream's PriorityQueue. Its times are
//! tokio's clock, so that tests under `tokio::time::pause()` move them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::core::v1::Pod;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are tried again after this long even without a cluster change.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    /// Popped and being scheduled; `cycle` is the move cycle it was popped in.
    InFlight {
        cycle: u64,
    },
}

struct Entry {
    pod: Arc<Pod>,
    attempts: u32,
    place: Place,
    seq: u64,
    priority: i32,
}

#[derive(Default)]
pub struct Queue {
    entries: HashMap<String, Entry>,
    /// (−priority, sequence, key): the order pods leave `active`.
    active: BTreeSet<(i64, u64, String)>,
    /// (due, key) of pods in backoff.
    backoff: BTreeSet<(Instant, String)>,
    /// (since, key) of unschedulable pods.
    unschedulable: BTreeSet<(Instant, String)>,
    next_seq: u64,
    /// Bumped by every cluster change that may make unschedulable pods fit.
    move_cycle: u64,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// The backoff after `attempts` failed attempts.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (INITIAL_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

impl Queue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Moves a pod to `place`, keeping the indexes in step.
    fn set_place(&mut self, key: &str, place: Place) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        let order = (-i64::from(e.priority), e.seq, key.to_owned());
        match e.place {
            Place::Active => {
                self.active.remove(&order);
            }
            Place::Backoff(until) => {
                self.backoff.remove(&(until, key.to_owned()));
            }
            Place::Unschedulable(since) => {
                self.unschedulable.remove(&(since, key.to_owned()));
            }
            Place::InFlight { .. } => {}
        }
        e.place = place;
        match place {
            Place::Active => {
                self.active.insert(order);
            }
            Place::Backoff(until) => {
                self.backoff.insert((until, key.to_owned()));
            }
            Place::Unschedulable(since) => {
                self.unschedulable.insert((since, key.to_owned()));
            }
            Place::InFlight { .. } => {}
        }
    }

    fn activate(&mut self, key: &str) {
        self.set_place(key, Place::Active);
    }

    /// A new or changed pending pod. An unschedulable pod whose spec or labels changed is
    /// tried again (a status change, such as the scheduler's own condition, is not enough).
    pub fn add_or_update(&mut self, key: &str, pod: Arc<Pod>) {
        if let Some(e) = self.entries.get_mut(key) {
            let changed = e.pod.spec != pod.spec || e.pod.metadata.labels != pod.metadata.labels;
            e.pod = pod;
            if changed && matches!(e.place, Place::Unschedulable(_)) {
                self.activate(key);
            }
            return;
        }
        self.next_seq += 1;
        let entry = Entry {
            priority: priority(&pod),
            pod,
            attempts: 0,
            place: Place::InFlight { cycle: 0 },
            seq: self.next_seq,
        };
        self.entries.insert(key.to_owned(), entry);
        self.activate(key);
    }

    /// A pod that is gone or no longer pending.
    pub fn remove(&mut self, key: &str) {
        self.set_place(key, Place::InFlight { cycle: 0 });
        self.entries.remove(key);
    }

    /// The next pod to schedule, after moving pods whose wait is over into `active`.
    pub fn pop(&mut self, now: Instant) -> Option<(String, Arc<Pod>)> {
        self.flush(now);
        let (_, _, key) = self.active.first()?.clone();
        let cycle = self.move_cycle;
        self.set_place(&key, Place::InFlight { cycle });
        let pod = self.entries.get(&key)?.pod.clone();
        Some((key, pod))
    }

    fn flush(&mut self, now: Instant) {
        while let Some((until, key)) = self.backoff.first().cloned()
            && until <= now
        {
            self.activate(&key);
        }
        while let Some((since, key)) = self.unschedulable.first().cloned()
            && now.duration_since(since) >= MAX_UNSCHEDULABLE
        {
            self.activate(&key);
        }
    }

    /// When the next waiting pod is due.
    pub fn next_due(&self) -> Option<Instant> {
        let backoff = self.backoff.first().map(|(until, _)| *until);
        let unschedulable = self
            .unschedulable
            .first()
            .map(|(since, _)| *since + MAX_UNSCHEDULABLE);
        backoff.into_iter().chain(unschedulable).min()
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// The scheduled pod is done with (bound, or its binding is under way).
    pub fn done(&mut self, key: &str) {
        self.remove(key);
    }

    /// The pod fits nowhere: it waits for a cluster change, or goes to backoff at once if a
    /// change came while it was being scheduled.
    pub fn unschedulable(&mut self, key: &str, now: Instant) {
        let move_cycle = self.move_cycle;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        let place = match e.place {
            Place::InFlight { cycle } if cycle < move_cycle => {
                Place::Backoff(now + backoff(e.attempts))
            }
            _ => Place::Unschedulable(now),
        };
        self.set_place(key, place);
    }

    /// A pod whose binding failed (it had left the queue): back in, after a backoff.
    pub fn retry_pod(&mut self, key: &str, pod: Arc<Pod>, now: Instant) {
        self.add_or_update(key, pod);
        let cycle = self.move_cycle;
        self.set_place(key, Place::InFlight { cycle });
        self.retry(key, now);
    }

    /// Scheduling or binding failed for another reason: try again after the backoff.
    pub fn retry(&mut self, key: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        let until = now + backoff(e.attempts);
        self.set_place(key, Place::Backoff(until));
    }

    /// A cluster change (a node added or changed, a pod removed): unschedulable pods go to
    /// backoff, or to `active` if their backoff is over.
    pub fn move_all(&mut self, now: Instant) {
        self.move_cycle += 1;
        let waiting: Vec<(Instant, String)> = std::mem::take(&mut self.unschedulable)
            .into_iter()
            .collect();
        for (since, key) in waiting {
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            // Already out of the index: mark it in flight so set_place has nothing to undo.
            e.place = Place::InFlight { cycle: 0 };
            let until = since + backoff(e.attempts);
            if until <= now {
                self.activate(&key);
            } else {
                self.set_place(&key, Place::Backoff(until));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"priority": priority, "containers": []}}))
                .unwrap(),
        )
    }

    fn name(popped: Option<(String, Arc<Pod>)>) -> Option<String> {
        popped.map(|(k, _)| k)
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let got: Vec<u64> = (1..=6).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn higher_priority_then_older_first() {
        let mut q = Queue::default();
        let now = Instant::now();
        q.add_or_update("a", pod("a", 0));
        q.add_or_update("b", pod("b", 10));
        q.add_or_update("c", pod("c", 0));
        let order: Vec<_> = (0..3).filter_map(|_| name(q.pop(now))).collect();
        assert_eq!(order, vec!["b", "a", "c"]);
        assert_eq!(q.pop(now), None);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_cluster_change() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.add_or_update("a", pod("a", 0));
        q.pop(t0);
        q.unschedulable("a", t0);
        assert_eq!(name(q.pop(t0 + Duration::from_secs(30))), None);
        // A change before the backoff is over: backoff, then active.
        q.move_all(t0 + Duration::from_millis(500));
        assert_eq!(name(q.pop(t0 + Duration::from_millis(900))), None);
        assert_eq!(name(q.pop(t0 + Duration::from_secs(1))), Some("a".into()));
        // After five minutes without a change it is tried anyway.
        q.unschedulable("a", t0);
        assert_eq!(name(q.pop(t0 + MAX_UNSCHEDULABLE)), Some("a".into()));
    }

    #[test]
    fn a_change_during_the_attempt_sends_the_pod_to_backoff() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.add_or_update("a", pod("a", 0));
        q.pop(t0);
        q.move_all(t0);
        q.unschedulable("a", t0);
        assert_eq!(name(q.pop(t0 + Duration::from_secs(1))), Some("a".into()));
    }

    #[test]
    fn a_failed_binding_comes_back_after_its_backoff() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.retry_pod("a", pod("a", 0), t0);
        assert_eq!(name(q.pop(t0)), None);
        assert_eq!(name(q.pop(t0 + Duration::from_secs(1))), Some("a".into()));
    }

    #[test]
    fn errors_retry_after_backoff_and_updates_revive() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.add_or_update("a", pod("a", 0));
        q.pop(t0);
        q.retry("a", t0);
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(name(q.pop(t0 + Duration::from_secs(1))), Some("a".into()));
        q.unschedulable("a", t0);
        // A status change alone does not revive it; a spec change does.
        let mut with_status = (*pod("a", 0)).clone();
        with_status.status = Some(Default::default());
        q.add_or_update("a", Arc::new(with_status));
        assert_eq!(name(q.pop(t0)), None);
        q.add_or_update("a", pod("a", 5));
        assert_eq!(name(q.pop(t0)), Some("a".into()));
        q.done("a");
        assert!(q.is_empty());
    }
}
