//! The single writer thread: group commit of queued writes, compaction in small steps between
//! batches, and automatic compaction, all on the one connection allowed to write.
//!
//! A write is answered only after the COMMIT of its batch returned (WAL, `synchronous=FULL`),
//! so an acknowledged write is on disk. Events are published after the commit, in revision order.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::schema::{Begin, in_transaction, meta, row_at, set_meta};
use crate::compaction::{AutoCompactor, CompactionPolicy};
use crate::error::StoreError;
use crate::log::{LogRow, WriteOp, check_compaction, plan_write, write_result};
use crate::types::{Revision, WatchEvent, WriteResult};
use crate::watch::WatchHub;

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 512;
/// How long the writer waits for more writes before a commit when writes come concurrently.
/// Each COMMIT writes and fsyncs the pages it touched; with ~2 writes per commit the commits
/// took an eighth of the server's CPU in the 10,000-pod benchmark.
const COMMIT_DELAY: Duration = Duration::from_millis(1);
/// Revisions physically compacted per step between write batches.
const COMPACT_STEP: i64 = 2000;

/// A request to the writer thread.
pub(crate) enum WriterRequest {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<WriteResult, StoreError>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// Revisions the writer publishes for readers that do not need a snapshot.
#[derive(Default)]
pub(crate) struct Published {
    pub current: AtomicI64,
    pub compacted: AtomicI64,
}

/// The writer thread's state.
pub(crate) struct Writer {
    conn: Connection,
    hub: WatchHub,
    published: Arc<Published>,
    current: Revision,
    compacted: Revision,
    /// Physical compaction has removed what revisions `<= compact_progress` left behind.
    compact_progress: Revision,
    auto: Option<AutoCompactor>,
    /// Requests in the previous batch.
    last_batch: usize,
}

/// Whether to wait up to `COMMIT_DELAY` for more writes before committing: only when writes
/// come from several clients at once (this batch or the previous one had more than one), so a
/// lone client's write is never delayed.
///
/// | queued now | previous batch | wait |
/// |------------|----------------|------|
/// | 1          | 1              | no   |
/// | 1          | 3              | yes  |
/// | 4          | 1              | yes  |
/// | MAX_BATCH  | any            | no   |
fn gather_more(queued: usize, previous: usize) -> bool {
    queued < MAX_BATCH && (queued > 1 || previous > 1)
}

impl Writer {
    pub fn new(
        conn: Connection,
        hub: WatchHub,
        published: Arc<Published>,
        auto_compaction: Option<CompactionPolicy>,
    ) -> rusqlite::Result<Self> {
        let current = meta(&conn, "current")?;
        let compacted = meta(&conn, "compacted")?;
        let compact_progress = meta(&conn, "compact_progress")?;
        published.current.store(current.0, Ordering::Release);
        published.compacted.store(compacted.0, Ordering::Release);
        Ok(Writer {
            conn,
            hub,
            published,
            current,
            compacted,
            compact_progress,
            auto: auto_compaction.map(|policy| AutoCompactor::new(policy, Instant::now())),
            last_batch: 0,
        })
    }

    /// Serves requests until every sender is gone.
    pub fn run(mut self, requests: Receiver<WriterRequest>) {
        loop {
            let first = match requests.recv_timeout(self.idle_wait()) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let Some(first) = first {
                let mut batch = vec![first];
                batch.extend(requests.try_iter().take(MAX_BATCH - 1));
                if gather_more(batch.len(), self.last_batch) {
                    let deadline = Instant::now() + COMMIT_DELAY;
                    while batch.len() < MAX_BATCH {
                        let left = deadline.saturating_duration_since(Instant::now());
                        match requests.recv_timeout(left) {
                            Ok(request) => batch.push(request),
                            Err(_) => break,
                        }
                    }
                }
                self.last_batch = batch.len();
                self.serve(batch);
            }
            self.auto_compact();
            self.compact_step();
        }
    }

    /// How long to wait for a request before doing background work.
    fn idle_wait(&self) -> Duration {
        if self.compact_progress < self.compacted {
            return Duration::ZERO;
        }
        self.auto
            .as_ref()
            .map_or(Duration::from_secs(3600), |auto| {
                auto.until_due(Instant::now())
            })
    }

    fn serve(&mut self, batch: Vec<WriterRequest>) {
        let mut writes = Vec::with_capacity(batch.len());
        for request in batch {
            match request {
                WriterRequest::Write { op, reply } => writes.push((op, reply)),
                WriterRequest::Compact { revision, reply } => {
                    let _ = reply.send(self.start_compaction(revision));
                }
            }
        }
        if !writes.is_empty() {
            self.commit_writes(writes);
        }
    }

    /// Applies a batch in one transaction; answers each write after the COMMIT.
    fn commit_writes(
        &mut self,
        writes: Vec<(WriteOp, oneshot::Sender<Result<WriteResult, StoreError>>)>,
    ) {
        let outcomes = match self.apply_batch(&writes) {
            Ok(outcomes) => outcomes,
            Err(err) => {
                tracing::error!(error = %err, "store batch failed; nothing in it was committed");
                let err = StoreError::from(err);
                writes.iter().map(|_| Err(err.clone())).collect()
            }
        };
        self.published
            .current
            .store(self.current.0, Ordering::Release);
        for ((_, reply), outcome) in writes.into_iter().zip(outcomes) {
            let answer = outcome.map(|(result, event)| {
                self.hub.publish(event);
                result
            });
            let _ = reply.send(answer);
        }
    }

    fn apply_batch(
        &mut self,
        writes: &[(WriteOp, oneshot::Sender<Result<WriteResult, StoreError>>)],
    ) -> rusqlite::Result<Vec<Result<(WriteResult, WatchEvent), StoreError>>> {
        let (outcomes, current) = in_transaction(&self.conn, Begin::Immediate, |tx| {
            let mut outcomes = Vec::with_capacity(writes.len());
            let mut current = self.current;
            for (op, _) in writes {
                let latest = row_at(tx, op.key(), current)?;
                let outcome = match plan_write(op, latest.as_ref(), current.next()) {
                    Ok(row) => {
                        insert_row(tx, &row)?;
                        current = row.revision;
                        Ok((
                            write_result(&row, latest.as_ref()),
                            row.to_event(latest.as_ref()),
                        ))
                    }
                    Err(err) => Err(err),
                };
                outcomes.push(outcome);
            }
            set_meta(tx, "current", current)?;
            Ok::<_, rusqlite::Error>((outcomes, current))
        })?;
        self.current = current;
        Ok(outcomes)
    }

    /// Sets the compacted revision now; rows are removed by later `compact_step`s.
    fn start_compaction(&mut self, revision: Revision) -> Result<(), StoreError> {
        check_compaction(revision, self.current, self.compacted)?;
        set_meta(&self.conn, "compacted", revision)?;
        self.compacted = revision;
        self.published
            .compacted
            .store(revision.0, Ordering::Release);
        Ok(())
    }

    fn auto_compact(&mut self) {
        let now = Instant::now();
        let target = match self.auto.as_mut() {
            Some(auto) => auto.poll(now, self.current, self.compacted),
            None => return,
        };
        if let Some(target) = target {
            match self.start_compaction(target) {
                Ok(()) => tracing::info!(revision = target.0, "compacting store history"),
                Err(err) => {
                    tracing::warn!(revision = target.0, error = %err, "automatic compaction failed")
                }
            }
        }
    }

    /// Removes, for successors in the next step of revisions, the rows they superseded, and
    /// the tombstones themselves: what no read at or above `compacted` can see.
    fn compact_step(&mut self) {
        if self.compact_progress >= self.compacted {
            return;
        }
        let low = self.compact_progress;
        let high = Revision((low.0 + COMPACT_STEP).min(self.compacted.0));
        match remove_superseded(&self.conn, low, high) {
            Ok(()) => self.compact_progress = high,
            Err(err) => {
                tracing::error!(error = %err, from = low.0, to = high.0, "compaction step failed")
            }
        }
    }
}

fn insert_row(conn: &Connection, row: &LogRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO log(id, name, deleted, create_revision, prev_revision, version, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.revision.0,
        row.key.as_bytes(),
        row.deleted,
        row.create_revision.0,
        row.prev_revision.0,
        row.version,
        row.value,
    ])?;
    Ok(())
}

fn remove_superseded(conn: &Connection, low: Revision, high: Revision) -> rusqlite::Result<()> {
    in_transaction(conn, Begin::Immediate, |tx| {
        tx.execute(
            "DELETE FROM log WHERE id IN
           (SELECT prev_revision FROM log WHERE id > ?1 AND id <= ?2 AND prev_revision > 0)",
            params![low.0, high.0],
        )?;
        tx.execute(
            "DELETE FROM log WHERE id > ?1 AND id <= ?2 AND deleted = 1",
            params![low.0, high.0],
        )?;
        set_meta(tx, "compact_progress", high)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_more_writes_only_when_they_come_concurrently() {
        let cases = [
            (1, 0, false),
            (1, 1, false),
            (1, 3, true),
            (4, 1, true),
            (MAX_BATCH, 1, false),
            (MAX_BATCH, MAX_BATCH, false),
        ];
        for (queued, previous, want) in cases {
            assert_eq!(
                gather_more(queued, previous),
                want,
                "{queued} queued after a batch of {previous}"
            );
        }
    }
}
