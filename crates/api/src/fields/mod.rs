//! Managed fields: which field manager owns which fields, kept on every write, and
//! server-side apply on top of that record.

pub mod apply;
pub mod fieldset;
pub mod last_applied;
pub mod managed;

pub use apply::{ApplyConflict, server_side_apply};
pub use fieldset::FieldSet;
pub use managed::{Actor, ManagedEntry, read_entries, record_update, write_entries};
