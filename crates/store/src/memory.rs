//! The in-memory backend: the same revision log as SQLite, held in maps behind one mutex.
//! For unit tests of other crates; nothing survives the process.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::Store;
use crate::error::StoreError;
use crate::log::{LogRow, WriteOp, check_compaction, plan_write, read_revision, write_result};
use crate::route::Route;
use crate::types::{
    GetResult, KeyValue, RangeOptions, RangeResult, Revision, WriteResult, check_write_size,
    has_prefix,
};
use crate::watch::{History, HistoryPage, WatchHub, WatchStream};

/// An in-memory [`Store`]; cheap to clone, clones share the data.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Lock order: `state` is the only lock; `hub.publish` never waits.
    state: Mutex<State>,
    hub: WatchHub,
}

#[derive(Default)]
struct State {
    current: Revision,
    compacted: Revision,
    /// Every retained row by revision.
    log: BTreeMap<Revision, LogRow>,
    /// Each key's retained revisions, oldest first.
    keys: BTreeMap<String, Vec<Revision>>,
}

impl State {
    fn check_read(&self, revision: Option<Revision>) -> Result<Revision, StoreError> {
        read_revision(revision, self.current, self.compacted)
    }

    /// The key's latest row at or below `at`, tombstones included.
    fn row_at(&self, revisions: &[Revision], at: Revision) -> Option<&LogRow> {
        let idx = revisions.partition_point(|rev| *rev <= at);
        idx.checked_sub(1).map(|i| &self.log[&revisions[i]])
    }

    fn live_at(&self, key: &str, at: Revision) -> Option<KeyValue> {
        self.keys
            .get(key)
            .and_then(|revs| self.row_at(revs, at))
            .and_then(LogRow::to_kv)
    }

    fn latest(&self, key: &str) -> Option<&LogRow> {
        self.keys
            .get(key)
            .and_then(|revs| revs.last())
            .map(|rev| &self.log[rev])
    }

    /// Live keys under `prefix` at `at`, from `start` on, in key order.
    fn live_under<'a>(
        &'a self,
        prefix: &'a str,
        start: &'a str,
        at: Revision,
    ) -> impl Iterator<Item = KeyValue> + 'a {
        self.keys
            .range::<str, _>((Bound::Included(start.max(prefix)), Bound::Unbounded))
            .take_while(move |(key, _)| has_prefix(key, prefix))
            .filter_map(move |(_, revs)| self.row_at(revs, at).and_then(LogRow::to_kv))
    }

    fn apply(&mut self, op: &WriteOp) -> Result<(LogRow, WriteResult, Option<LogRow>), StoreError> {
        let latest = self.latest(op.key()).cloned();
        let row = plan_write(op, latest.as_ref(), self.current.next())?;
        let result = write_result(&row, latest.as_ref());
        self.current = row.revision;
        self.log.insert(row.revision, row.clone());
        self.keys
            .entry(row.key.clone())
            .or_default()
            .push(row.revision);
        Ok((row, result, latest))
    }

    /// Removes rows superseded at or below `target` and tombstones at or below it.
    fn compact(&mut self, target: Revision) {
        let mut removed = Vec::new();
        self.keys.retain(|_, revs| {
            let keep_from = revs.partition_point(|rev| *rev <= target).saturating_sub(1);
            removed.extend(revs.drain(..keep_from));
            if let Some(first) = revs.first().copied()
                && first <= target
                && self.log[&first].deleted
            {
                removed.push(revs.remove(0));
            }
            !revs.is_empty()
        });
        for rev in removed {
            self.log.remove(&rev);
        }
        self.compacted = target;
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                hub: WatchHub::new(),
            }),
        }
    }

    /// An empty store whose watches keep at most `window_bytes` of recent events alive.
    #[cfg(test)]
    pub(crate) fn with_watch_window(window_bytes: usize) -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                hub: WatchHub::with_window(window_bytes),
            }),
        }
    }

    fn write(&self, op: WriteOp) -> Result<WriteResult, StoreError> {
        let mut state = self.inner.state.lock().expect("memory store lock");
        let (row, result, latest) = state.apply(&op)?;
        // Published under the lock, so events reach the hub in revision order.
        self.inner.hub.publish(row.to_event(latest.as_ref()));
        Ok(result)
    }
}

#[async_trait]
impl History for Inner {
    async fn read_history(
        self: Arc<Self>,
        prefix: &str,
        from: Revision,
        max_revisions: i64,
    ) -> Result<HistoryPage, StoreError> {
        let state = self.state.lock().expect("memory store lock");
        if from <= state.compacted {
            return Err(StoreError::Compacted {
                requested: from,
                compacted: state.compacted,
            });
        }
        let through = Revision((from.0 + max_revisions - 1).min(state.current.0));
        let events = state
            .log
            .range(from..)
            .take_while(|(rev, _)| **rev <= through)
            .filter(|(_, row)| has_prefix(&row.key, prefix))
            .map(|(_, row)| {
                let prev = (row.prev_revision > Revision::ZERO)
                    .then(|| state.log.get(&row.prev_revision))
                    .flatten();
                row.to_event(prev)
            })
            .collect();
        Ok(HistoryPage {
            events,
            through,
            current: state.current,
        })
    }

    async fn revisions(self: Arc<Self>) -> Result<(Revision, Revision), StoreError> {
        let state = self.state.lock().expect("memory store lock");
        Ok((state.current, state.compacted))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult, StoreError> {
        let state = self.inner.state.lock().expect("memory store lock");
        let at = state.check_read(revision)?;
        Ok(GetResult {
            kv: state.live_at(key, at),
            revision: at,
        })
    }

    async fn range(&self, prefix: &str, options: RangeOptions) -> Result<RangeResult, StoreError> {
        let state = self.inner.state.lock().expect("memory store lock");
        let at = state.check_read(options.revision)?;
        let start = options.start_key.as_deref().unwrap_or(prefix);
        let limit = options
            .limit
            .filter(|l| *l > 0)
            .map_or(usize::MAX, |l| l as usize);
        let mut items: Vec<KeyValue> = state
            .live_under(prefix, start, at)
            .take(limit.saturating_add(1))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(RangeResult {
            items,
            more,
            revision: at,
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<WriteResult, StoreError> {
        check_write_size(key, &value)?;
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<WriteResult, StoreError> {
        check_write_size(key, &value)?;
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<WriteResult, StoreError> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
    }

    async fn watch_routed(
        &self,
        prefix: &str,
        start: Option<Revision>,
        route: Option<&Route>,
    ) -> Result<WatchStream, StoreError> {
        self.inner
            .hub
            .watch(self.inner.clone(), prefix, start, route)
            .await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.inner.state.lock().expect("memory store lock");
        check_compaction(revision, state.current, state.compacted)?;
        state.compact(revision);
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.inner.state.lock().expect("memory store lock").current)
    }

    async fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        let state = self.inner.state.lock().expect("memory store lock");
        Ok(state.live_under(prefix, prefix, state.current).count() as u64)
    }
}
