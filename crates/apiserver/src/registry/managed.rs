//! Who writes: the field manager of a request, and the managed-fields bookkeeping of its write.

use ferrokube_api::fields::{Actor, read_entries, record_update, write_entries};
use ferrokube_api::registry::ResourceInfo;
use serde_json::Value;

use crate::Inner;

/// The field manager of a request: `fieldManager`, else the User-Agent's product name (as
/// upstream derives it), else `unknown`.
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(manager) = field_manager {
        return manager.to_owned();
    }
    user_agent
        .and_then(|ua| ua.split('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

/// What a writer's managed-fields [`Actor`] borrows: the manager, the time and the kind's
/// schema, read once per request.
pub struct Writer<'a> {
    manager: &'a str,
    now: String,
    api_version: String,
    inner: &'a Inner,
    info: &'a ResourceInfo,
}

impl<'a> Writer<'a> {
    pub fn new(inner: &'a Inner, info: &'a ResourceInfo, manager: &'a str) -> Self {
        Writer {
            manager,
            now: crate::object::timestamp(jiff::Timestamp::now()),
            api_version: info.api_version(),
            inner,
            info,
        }
    }

    pub fn actor<'b>(&'b self, subresource: &'b str) -> Actor<'b> {
        Actor {
            manager: self.manager,
            subresource,
            api_version: &self.api_version,
            now: &self.now,
            schemas: &self.inner.schemas,
            root: self.inner.schemas.root_of(self.info),
        }
    }

    /// Records this writer's write of `new` over `old` (against `subresource`) in `new`'s
    /// managedFields.
    pub fn record(&self, subresource: &str, old: Option<&Value>, new: &mut Value) {
        let entries = old.map(read_entries).unwrap_or_default();
        let entries = record_update(entries, &self.actor(subresource), old, new);
        write_entries(new, &entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_names_table() {
        let cases = [
            (Some("mine"), Some("kubectl/v1.33.0 (linux/amd64)"), "mine"),
            (None, Some("kubectl/v1.33.0 (linux/amd64)"), "kubectl"),
            (None, Some("/v1"), "unknown"),
            (None, None, "unknown"),
        ];
        for (field_manager, user_agent, want) in cases {
            assert_eq!(manager_name(field_manager, user_agent), want);
        }
    }
}
