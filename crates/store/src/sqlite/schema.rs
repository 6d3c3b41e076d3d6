//! The SQLite file: connection settings that make a commit durable, and the revision log schema.
//!
//! `log` holds one row per write (the revision is the row id). The unique index over
//! `(name, prev_revision)` is the compare-and-swap: each row has at most one successor.
//! `meta` holds the `current` and `compacted` revisions and how far physical compaction got.

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::log::LogRow;
use crate::types::Revision;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    name BLOB NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_name_prev ON log(name, prev_revision);
CREATE INDEX IF NOT EXISTS log_name_id ON log(name, id);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(name, value) VALUES ('current', 0), ('compacted', 0), ('compact_progress', 0);
";

/// The columns `row_from` reads, in order, for table alias `l`.
pub(crate) const ROW_COLUMNS: &str =
    "l.id, l.name, l.deleted, l.create_revision, l.prev_revision, l.version, l.value";

/// Opens (creating if needed) the store file for the single writer.
pub(crate) fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens a read-only connection to an existing store file.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "cache_size", -4_000)?;
    plan_once(&conn)?;
    Ok(conn)
}

/// Keeps each cached statement's query plan. Without this, SQLite marks a statement for
/// re-preparing whenever a parameter it could plan around (`l.id <= ?2`) gets a new value, so
/// every `row_at` was parsed and planned again: a sixth of the store's CPU under load.
fn plan_once(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// How a transaction begins: readers take a snapshot at their first read, the writer takes the
/// write lock at once.
#[derive(Clone, Copy)]
pub(crate) enum Begin {
    Deferred,
    Immediate,
}

/// Runs `body` in one transaction, committed if it succeeds and rolled back otherwise. The
/// BEGIN and COMMIT statements are cached: rusqlite's `transaction()` parses them at every
/// call.
pub(crate) fn in_transaction<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    begin: Begin,
    body: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    let sql = match begin {
        Begin::Deferred => "BEGIN",
        Begin::Immediate => "BEGIN IMMEDIATE",
    };
    conn.prepare_cached(sql)?.execute([])?;
    match body(conn) {
        Ok(out) => {
            if let Err(err) = conn.prepare_cached("COMMIT")?.execute([]) {
                rollback(conn);
                return Err(err.into());
            }
            Ok(out)
        }
        Err(err) => {
            rollback(conn);
            Err(err)
        }
    }
}

/// Ends a failed transaction; an error here leaves the connection out of autocommit, which
/// callers check before reusing it.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(err) = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut s| s.execute([]))
    {
        tracing::error!(error = %err, "rollback failed");
    }
}

/// WAL with `synchronous=FULL`: a commit returns only once the WAL is fsynced.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, want wal"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // 8 MB: at every commit SQLite walks the page cache's hash table to drop pages past the
    // end of the file, and with 64 MB that walk was a twentieth of the server's CPU under load.
    conn.pragma_update(None, "cache_size", -8_000)?;
    plan_once(conn)
}

/// Reads one `meta` value.
pub(crate) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<Revision> {
    // Cached: every read snapshot asks twice, and parsing the SQL each time was a tenth of
    // the store's CPU under load.
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .map(Revision)
}

/// Writes one `meta` value.
pub(crate) fn set_meta(conn: &Connection, name: &str, value: Revision) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE meta SET value = ?2 WHERE name = ?1")?
        .execute(params![name, value.0])?;
    Ok(())
}

/// Decodes a row selected with `ROW_COLUMNS`, starting at column `at`.
pub(crate) fn row_from(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<LogRow> {
    let name: Vec<u8> = row.get(at + 1)?;
    Ok(LogRow {
        revision: Revision(row.get(at)?),
        key: String::from_utf8(name)
            .map_err(|e| rusqlite::Error::Utf8Error(at + 1, e.utf8_error()))?,
        deleted: row.get(at + 2)?,
        create_revision: Revision(row.get(at + 3)?),
        prev_revision: Revision(row.get(at + 4)?),
        version: row.get(at + 5)?,
        value: row.get(at + 6)?,
    })
}

/// Like `row_from`, for a LEFT JOIN side that may be all NULL.
pub(crate) fn optional_row_from(
    row: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<Option<LogRow>> {
    let id: Option<i64> = row.get(at)?;
    id.map(|_| row_from(row, at)).transpose()
}

/// The key's latest row at or below `at`, tombstones included.
pub(crate) fn row_at(
    conn: &Connection,
    key: &str,
    at: Revision,
) -> rusqlite::Result<Option<LogRow>> {
    conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM log l WHERE l.name = ?1 AND l.id <= ?2 ORDER BY l.id DESC LIMIT 1"
    ))?
    .query_row(params![key.as_bytes(), at.0], |row| row_from(row, 0))
    .optional()
}
