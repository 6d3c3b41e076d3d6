//! Watch routing: which of the watch hub's channels a watch listens on and an event goes to, so
//! that a write wakes only the watches of its resource and, for an indexed field such as a
//! pod's `spec.nodeName`, only the watches selecting its value (upstream's cacher calls these
//! indexed triggers).
//!
//! Worked example: a kubelet's watch of `pods/` with `spec.nodeName=node-7` listens on
//! `Indexed { resource: "pods/", field: "spec.nodeName", value: "node-7" }`. Binding a pod to
//! node-7 is published on `All`, `Resource("pods/")` and that channel; an Event's write only on
//! `All` and `Resource("events/")`.

use crate::types::{EventKind, WatchEvent};

/// A field of one resource whose value can route that resource's events.
#[derive(Clone, Copy, Debug)]
pub struct IndexedField {
    /// Its name, as field selectors spell it (`spec.nodeName`).
    pub name: &'static str,
    /// Its value in a stored object; `None` when absent or empty.
    pub value_of: fn(&[u8]) -> Option<String>,
}

/// What a watch wants: only the events whose object has `field` = `value` before or after the
/// change. A backend may leave the other events out; the caller still filters what it gets.
#[derive(Clone, Debug)]
pub struct Route {
    pub field: IndexedField,
    pub value: String,
}

impl Route {
    /// Whether `event`'s object has the route's value before or after the change.
    pub(crate) fn concerns(&self, event: &WatchEvent) -> bool {
        objects(event)
            .any(|stored| (self.field.value_of)(stored).is_some_and(|value| value == self.value))
    }
}

/// The stored object after (unless deleted) and before (if it existed) an event.
fn objects(event: &WatchEvent) -> impl Iterator<Item = &[u8]> {
    let new = (event.kind == EventKind::Put).then_some(&event.kv);
    new.into_iter()
        .chain(event.prev.as_ref())
        .map(|kv| kv.value.as_slice())
}

/// The resource part of a key or prefix, up to and including its first `/`
/// (`"pods/default/web"` → `"pods/"`); `None` when there is none (`""` watches everything).
pub(crate) fn resource_of(key: &str) -> Option<&str> {
    key.find('/').map(|i| &key[..=i])
}

/// One of the hub's channels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ChannelKey {
    /// Every event.
    All,
    /// Every event of one resource.
    Resource(String),
    /// The events of one resource whose object has `field` = `value` before or after.
    Indexed {
        resource: String,
        field: &'static str,
        value: String,
    },
}

/// The channel a watch of `prefix` listens on.
pub(crate) fn channel_for(prefix: &str, route: Option<&Route>) -> ChannelKey {
    match (resource_of(prefix), route) {
        (None, _) => ChannelKey::All,
        (Some(resource), None) => ChannelKey::Resource(resource.to_owned()),
        (Some(resource), Some(route)) => ChannelKey::Indexed {
            resource: resource.to_owned(),
            field: route.field.name,
            value: route.value.clone(),
        },
    }
}

/// The channels `event` goes to, given the fields indexed for its resource.
pub(crate) fn channels_of(event: &WatchEvent, indexed: &[IndexedField]) -> Vec<ChannelKey> {
    let mut keys = vec![ChannelKey::All];
    let Some(resource) = resource_of(&event.kv.key) else {
        return keys;
    };
    keys.push(ChannelKey::Resource(resource.to_owned()));
    for field in indexed {
        for stored in objects(event) {
            if let Some(value) = (field.value_of)(stored) {
                let key = ChannelKey::Indexed {
                    resource: resource.to_owned(),
                    field: field.name,
                    value,
                };
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{KeyValue, Revision};

    /// A stand-in index: the value is the stored bytes after `node=`.
    fn node_of(stored: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(stored).ok()?;
        text.strip_prefix("node=")
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    const NODE: IndexedField = IndexedField {
        name: "spec.nodeName",
        value_of: node_of,
    };

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: value.as_bytes().to_vec(),
            create_revision: Revision(1),
            mod_revision: Revision(2),
            version: 1,
        }
    }

    fn indexed(value: &str) -> ChannelKey {
        ChannelKey::Indexed {
            resource: "pods/".to_owned(),
            field: "spec.nodeName",
            value: value.to_owned(),
        }
    }

    #[test]
    fn channel_for_table() {
        let route = Route {
            field: NODE,
            value: "n1".to_owned(),
        };
        let cases = [
            ("", None, ChannelKey::All),
            ("pods", None, ChannelKey::All),
            ("pods/", None, ChannelKey::Resource("pods/".to_owned())),
            (
                "pods/default/",
                None,
                ChannelKey::Resource("pods/".to_owned()),
            ),
            ("pods/", Some(&route), indexed("n1")),
            ("", Some(&route), ChannelKey::All),
        ];
        for (prefix, route, want) in cases {
            assert_eq!(channel_for(prefix, route), want, "{prefix:?} {route:?}");
        }
    }

    #[test]
    fn channels_of_table() {
        let pods = ChannelKey::Resource("pods/".to_owned());
        let put = |prev: Option<&str>, new: &str| WatchEvent {
            kind: EventKind::Put,
            kv: kv("pods/default/web", new),
            prev: prev.map(|p| kv("pods/default/web", p)),
        };
        let delete = |prev: &str| WatchEvent {
            kind: EventKind::Delete,
            kv: kv("pods/default/web", ""),
            prev: Some(kv("pods/default/web", prev)),
        };
        let cases = [
            // Created unbound, then bound, moved, unchanged, deleted.
            (put(None, "node="), vec![ChannelKey::All, pods.clone()]),
            (
                put(Some("node="), "node=n1"),
                vec![ChannelKey::All, pods.clone(), indexed("n1")],
            ),
            (
                put(Some("node=n1"), "node=n2"),
                vec![ChannelKey::All, pods.clone(), indexed("n2"), indexed("n1")],
            ),
            (
                put(Some("node=n1"), "node=n1"),
                vec![ChannelKey::All, pods.clone(), indexed("n1")],
            ),
            (
                delete("node=n1"),
                vec![ChannelKey::All, pods.clone(), indexed("n1")],
            ),
        ];
        for (event, want) in cases {
            assert_eq!(channels_of(&event, &[NODE]), want, "{event:?}");
        }
        // Without an index in use, only the resource's channel; a key without `/`, only `All`.
        assert_eq!(
            channels_of(&put(None, "node=n1"), &[]),
            vec![ChannelKey::All, pods]
        );
        let odd = WatchEvent {
            kind: EventKind::Put,
            kv: kv("compact_marker", "x"),
            prev: None,
        };
        assert_eq!(channels_of(&odd, &[NODE]), vec![ChannelKey::All]);
    }
}
