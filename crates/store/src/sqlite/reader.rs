//! Reads from the SQLite file: each read runs in one snapshot (a read transaction) on a pooled
//! read-only connection, so the items and the revision it reports always agree.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use super::schema::{
    Begin, ROW_COLUMNS, in_transaction, meta, open_reader, optional_row_from, row_at, row_from,
};
use crate::error::StoreError;
use crate::log::{LogRow, read_revision};
use crate::types::{KeyValue, RangeResult, Revision, prefix_end};
use crate::watch::HistoryPage;

/// The condition for live rows in the key range `?1` (start) to `?2` (end, or NULL for none)
/// as of revision `?3`: each key's newest row at or below `?3`, unless it is a tombstone.
/// SQLite scans `log_name_id` in key order, so a `LIMIT` stops the scan early.
fn latest_at(end: &Option<Vec<u8>>) -> String {
    format!(
        "l.name >= ?1 AND {} AND l.id <= ?3 AND l.deleted = 0
         AND NOT EXISTS (SELECT 1 FROM log n WHERE n.name = l.name AND n.id > l.id AND n.id <= ?3)",
        upper_bound("l.name", end)
    )
}

/// Read-only connections, reused across reads.
pub(crate) struct ReadPool {
    path: PathBuf,
    /// Lock order: held only to push or pop a connection, never across a query.
    idle: Mutex<Vec<Connection>>,
}

/// The revisions a snapshot sees.
struct Snapshot {
    current: Revision,
    compacted: Revision,
}

impl ReadPool {
    pub fn new(path: PathBuf) -> Self {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` in one read transaction on a pooled connection.
    fn with_snapshot<T>(
        &self,
        read: impl FnOnce(&Connection, &Snapshot) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().expect("read pool lock").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = in_transaction(&conn, Begin::Deferred, |conn| {
            let snapshot = Snapshot {
                current: meta(conn, "current")?,
                compacted: meta(conn, "compacted")?,
            };
            read(conn, &snapshot)
        });
        // A connection left inside a transaction would serve an old snapshot: drop it.
        if conn.is_autocommit() {
            self.idle.lock().expect("read pool lock").push(conn);
        }
        result
    }

    pub fn get(
        &self,
        key: &str,
        revision: Option<Revision>,
    ) -> Result<(Option<KeyValue>, Revision), StoreError> {
        self.with_snapshot(|conn, snap| {
            let at = snap.check(revision)?;
            let row = row_at(conn, key, at)?;
            Ok((row.as_ref().and_then(LogRow::to_kv), at))
        })
    }

    pub fn range(
        &self,
        prefix: &str,
        start_key: Option<&str>,
        limit: Option<u64>,
        revision: Option<Revision>,
    ) -> Result<RangeResult, StoreError> {
        self.with_snapshot(|conn, snap| {
            let at = snap.check(revision)?;
            let start = start_key.filter(|s| *s > prefix).unwrap_or(prefix);
            let end = prefix_end(prefix.as_bytes());
            let limit = limit.filter(|l| *l > 0).map_or(-1, |l| l as i64);
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM log l WHERE {} ORDER BY l.name LIMIT ?4",
                latest_at(&end)
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let fetch = if limit < 0 { -1 } else { limit + 1 };
            let rows = stmt.query_map(params![start.as_bytes(), end, at.0, fetch], |row| {
                row_from(row, 0)
            })?;
            let mut items = rows
                .map(|row| row.map(|r| r.to_kv().expect("live rows only")))
                .collect::<Result<Vec<_>, _>>()?;
            let more = limit >= 0 && items.len() as i64 > limit;
            if more {
                items.truncate(limit as usize);
            }
            Ok(RangeResult {
                items,
                more,
                revision: at,
            })
        })
    }

    pub fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        self.with_snapshot(|conn, snap| {
            let end = prefix_end(prefix.as_bytes());
            let sql = format!("SELECT COUNT(*) FROM log l WHERE {}", latest_at(&end));
            let count: i64 = conn
                .prepare_cached(&sql)?
                .query_row(params![prefix.as_bytes(), end, snap.current.0], |row| {
                    row.get(0)
                })?;
            Ok(count as u64)
        })
    }

    pub fn history(
        &self,
        prefix: &str,
        from: Revision,
        max_revisions: i64,
    ) -> Result<HistoryPage, StoreError> {
        self.with_snapshot(|conn, snap| {
            if from <= snap.compacted {
                return Err(StoreError::Compacted { requested: from, compacted: snap.compacted });
            }
            let through = Revision((from.0 + max_revisions - 1).min(snap.current.0));
            let end = prefix_end(prefix.as_bytes());
            let prev_columns = ROW_COLUMNS.replace("l.", "p.");
            let sql = format!(
                "SELECT {ROW_COLUMNS}, {prev_columns} FROM log l LEFT JOIN log p ON p.id = l.prev_revision
                 WHERE l.id >= ?1 AND l.id <= ?2 AND l.name >= ?3 AND {upper}
                 ORDER BY l.id",
                upper = upper_bound("l.name", &end).replace("?2", "?4"),
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![from.0, through.0, prefix.as_bytes(), end], |row| {
                Ok((row_from(row, 0)?, optional_row_from(row, 7)?))
            })?;
            let events = rows
                .map(|row| row.map(|(row, prev)| row.to_event(prev.as_ref())))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(HistoryPage { events, through, current: snap.current })
        })
    }

    pub fn revisions(&self) -> Result<(Revision, Revision), StoreError> {
        self.with_snapshot(|_, snap| Ok((snap.current, snap.compacted)))
    }
}

/// The SQL for a key's upper bound `?2`; separate texts so that SQLite can use the index.
fn upper_bound(column: &str, end: &Option<Vec<u8>>) -> String {
    match end {
        Some(_) => format!("{column} < ?2"),
        None => "?2 IS NULL".to_owned(),
    }
}

impl Snapshot {
    /// The revision to read at, or why it cannot be read.
    fn check(&self, revision: Option<Revision>) -> Result<Revision, StoreError> {
        read_revision(revision, self.current, self.compacted)
    }
}
