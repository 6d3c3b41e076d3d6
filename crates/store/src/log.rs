//! The revision log shared by the memory and SQLite backends: one row per write, and the pure
//! rules that turn a write request plus a key's latest row into the next row.
//!
//! Worked example for key `a`:
//!
//! | revision | op          | prev_revision | create_revision | version | deleted |
//! |----------|-------------|---------------|-----------------|---------|---------|
//! | 3        | create a    | 0             | 3               | 1       | no      |
//! | 7        | update a@3  | 3             | 3               | 2       | no      |
//! | 9        | delete a    | 7             | 0               | 0       | yes     |
//! | 12       | create a    | 9             | 12              | 1       | no      |
//!
//! Each row names its predecessor in `prev_revision`; the pair (key, prev_revision) is unique,
//! so two writers racing from the same predecessor cannot both commit (kine's compare-and-swap).

use crate::error::StoreError;
use crate::types::{EventKind, KeyValue, Revision, WatchEvent, WriteResult};

/// One committed write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogRow {
    pub revision: Revision,
    pub key: String,
    pub deleted: bool,
    pub create_revision: Revision,
    pub prev_revision: Revision,
    pub version: i64,
    pub value: Vec<u8>,
}

impl LogRow {
    /// The key's state after this row, or `None` for a tombstone.
    pub fn to_kv(&self) -> Option<KeyValue> {
        (!self.deleted).then(|| KeyValue {
            key: self.key.clone(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.revision,
            version: self.version,
        })
    }

    /// The watch event for this row, given the row it replaced.
    pub fn to_event(&self, prev: Option<&LogRow>) -> WatchEvent {
        let prev = prev.and_then(LogRow::to_kv);
        match self.to_kv() {
            Some(kv) => WatchEvent {
                kind: EventKind::Put,
                kv,
                prev,
            },
            None => WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: self.key.clone(),
                    value: Vec::new(),
                    create_revision: Revision::ZERO,
                    mod_revision: self.revision,
                    version: 0,
                },
                prev,
            },
        }
    }
}

/// A write request, as the backends receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

impl WriteOp {
    pub fn key(&self) -> &str {
        match self {
            WriteOp::Create { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// Decides the row a write appends at `revision`, given the key's latest row (live or tombstone).
pub(crate) fn plan_write(
    op: &WriteOp,
    latest: Option<&LogRow>,
    revision: Revision,
) -> Result<LogRow, StoreError> {
    let live = latest.filter(|row| !row.deleted);
    let prev_revision = latest.map_or(Revision::ZERO, |row| row.revision);
    match (op, live) {
        (WriteOp::Create { key, .. }, Some(_)) => {
            Err(StoreError::AlreadyExists { key: key.clone() })
        }
        (WriteOp::Create { key, value }, None) => Ok(LogRow {
            revision,
            key: key.clone(),
            deleted: false,
            create_revision: revision,
            prev_revision,
            version: 1,
            value: value.clone(),
        }),
        (WriteOp::Update { key, .. } | WriteOp::Delete { key, .. }, None) => {
            Err(StoreError::NotFound { key: key.clone() })
        }
        (
            WriteOp::Update {
                key,
                value,
                expected,
            },
            Some(current),
        ) => {
            check_expected(Some(*expected), current)?;
            Ok(LogRow {
                revision,
                key: key.clone(),
                deleted: false,
                create_revision: current.create_revision,
                prev_revision,
                version: current.version + 1,
                value: value.clone(),
            })
        }
        (WriteOp::Delete { key, expected }, Some(current)) => {
            check_expected(*expected, current)?;
            Ok(LogRow {
                revision,
                key: key.clone(),
                deleted: true,
                create_revision: Revision::ZERO,
                prev_revision,
                version: 0,
                value: Vec::new(),
            })
        }
    }
}

fn check_expected(expected: Option<Revision>, current: &LogRow) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current.revision => Err(StoreError::Conflict {
            expected,
            current: Box::new(current.to_kv().expect("a live row has a value")),
        }),
        _ => Ok(()),
    }
}

/// The revision a read at `requested` (or now) is served at, or why it cannot be.
pub(crate) fn read_revision(
    requested: Option<Revision>,
    current: Revision,
    compacted: Revision,
) -> Result<Revision, StoreError> {
    let at = requested.unwrap_or(current);
    if at > current {
        return Err(StoreError::FutureRevision {
            requested: at,
            current,
        });
    }
    if at < compacted {
        return Err(StoreError::Compacted {
            requested: at,
            compacted,
        });
    }
    Ok(at)
}

/// Whether the history may be compacted to `requested`, as etcd answers `Compact`.
pub(crate) fn check_compaction(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<(), StoreError> {
    if requested <= compacted {
        return Err(StoreError::Compacted {
            requested,
            compacted,
        });
    }
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    Ok(())
}

/// What the caller of a write is told once `row` is committed.
pub(crate) fn write_result(row: &LogRow, latest: Option<&LogRow>) -> WriteResult {
    WriteResult {
        revision: row.revision,
        prev: latest.and_then(LogRow::to_kv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(revision: i64, deleted: bool, version: i64) -> LogRow {
        LogRow {
            revision: Revision(revision),
            key: "a".into(),
            deleted,
            create_revision: Revision(if deleted { 0 } else { 3 }),
            prev_revision: Revision::ZERO,
            version,
            value: if deleted { vec![] } else { b"old".to_vec() },
        }
    }

    fn create() -> WriteOp {
        WriteOp::Create {
            key: "a".into(),
            value: b"new".to_vec(),
        }
    }

    fn update(expected: i64) -> WriteOp {
        WriteOp::Update {
            key: "a".into(),
            value: b"new".to_vec(),
            expected: Revision(expected),
        }
    }

    fn delete(expected: Option<i64>) -> WriteOp {
        WriteOp::Delete {
            key: "a".into(),
            expected: expected.map(Revision),
        }
    }

    /// (case, op, latest row, expected outcome: Ok((create_rev, prev_rev, version, deleted)) or error name)
    #[test]
    fn plan_write_table() {
        let live = row(7, false, 2);
        let tomb = row(9, true, 0);
        type Want = Result<(i64, i64, i64, bool), &'static str>;
        let cases: Vec<(&str, WriteOp, Option<&LogRow>, Want)> = vec![
            ("create new key", create(), None, Ok((10, 0, 1, false))),
            (
                "create over live",
                create(),
                Some(&live),
                Err("AlreadyExists"),
            ),
            (
                "create after delete",
                create(),
                Some(&tomb),
                Ok((10, 9, 1, false)),
            ),
            (
                "update matching",
                update(7),
                Some(&live),
                Ok((3, 7, 3, false)),
            ),
            ("update stale", update(5), Some(&live), Err("Conflict")),
            ("update absent", update(7), None, Err("NotFound")),
            ("update deleted", update(9), Some(&tomb), Err("NotFound")),
            (
                "delete matching",
                delete(Some(7)),
                Some(&live),
                Ok((0, 7, 0, true)),
            ),
            (
                "delete unconditional",
                delete(None),
                Some(&live),
                Ok((0, 7, 0, true)),
            ),
            (
                "delete stale",
                delete(Some(6)),
                Some(&live),
                Err("Conflict"),
            ),
            ("delete absent", delete(None), None, Err("NotFound")),
            ("delete deleted", delete(None), Some(&tomb), Err("NotFound")),
        ];
        for (name, op, latest, want) in cases {
            let got = plan_write(&op, latest, Revision(10))
                .map(|r| (r.create_revision.0, r.prev_revision.0, r.version, r.deleted));
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
                (Err(err), Err(want)) => {
                    assert!(format!("{err:?}").starts_with(want), "{name}: {err:?}")
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn read_and_compaction_bounds() {
        let (current, compacted) = (Revision(10), Revision(4));
        assert_eq!(read_revision(None, current, compacted), Ok(current));
        assert_eq!(
            read_revision(Some(Revision(4)), current, compacted),
            Ok(Revision(4))
        );
        assert!(matches!(
            read_revision(Some(Revision(3)), current, compacted),
            Err(StoreError::Compacted { .. })
        ));
        assert!(matches!(
            read_revision(Some(Revision(11)), current, compacted),
            Err(StoreError::FutureRevision { .. })
        ));
        assert_eq!(check_compaction(Revision(10), current, compacted), Ok(()));
        assert!(matches!(
            check_compaction(Revision(4), current, compacted),
            Err(StoreError::Compacted { .. })
        ));
        assert!(matches!(
            check_compaction(Revision(11), current, compacted),
            Err(StoreError::FutureRevision { .. })
        ));
    }

    #[test]
    fn conflict_carries_current_value() {
        let live = row(7, false, 2);
        let err = plan_write(&update(5), Some(&live), Revision(10)).unwrap_err();
        let StoreError::Conflict { expected, current } = err else {
            panic!("want conflict, got {err:?}");
        };
        assert_eq!(expected, Revision(5));
        assert_eq!(current.mod_revision, Revision(7));
        assert_eq!(current.value, b"old");
    }

    #[test]
    fn delete_event_carries_previous_value() {
        let live = row(7, false, 2);
        let tomb = LogRow {
            prev_revision: Revision(7),
            ..row(9, true, 0)
        };
        let event = tomb.to_event(Some(&live));
        assert_eq!(event.kind, EventKind::Delete);
        assert_eq!(event.revision(), Revision(9));
        assert_eq!(event.prev.unwrap().value, b"old");
    }
}
