//! The store route a watch can take: pods selected by `spec.nodeName`, indexed as upstream's
//! cacher indexes them, so that a kubelet's watch is not woken by the other nodes' pods.

use ferrokube_api::registry::ResourceInfo;
use ferrokube_store::{IndexedField, Route};
use serde::Deserialize;

use crate::registry::Filter;

/// Pods by the node they are bound to.
const POD_NODE_NAME: IndexedField = IndexedField {
    name: "spec.nodeName",
    value_of: pod_node_name,
};

/// A stored pod's `spec.nodeName`, if bound.
fn pod_node_name(stored: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Pod {
        #[serde(default)]
        spec: Spec,
    }
    #[derive(Deserialize, Default)]
    struct Spec {
        #[serde(default, rename = "nodeName")]
        node_name: Option<String>,
    }
    let pod: Pod = serde_json::from_slice(stored).ok()?;
    pod.spec.node_name.filter(|name| !name.is_empty())
}

/// The route for a watch of `info` under `filter`: one when the resource has an indexed field
/// and the field selector requires a non-empty value of it.
pub fn route_for(info: &ResourceInfo, filter: &Filter) -> Option<Route> {
    if (info.group, info.plural) != ("", "pods") {
        return None;
    }
    filter
        .fields
        .0
        .iter()
        .find(|(field, equal, value)| field == POD_NODE_NAME.name && *equal && !value.is_empty())
        .map(|(_, _, value)| Route {
            field: POD_NODE_NAME,
            value: value.clone(),
        })
}

#[cfg(test)]
mod tests {
    use ferrokube_api::registry::Registry;
    use ferrokube_api::selector::{Selector, parse_field_selector};

    use super::*;

    #[test]
    fn route_for_table() {
        let registry = Registry::builtin();
        let pods = registry.find("", "v1", "pods").unwrap();
        let events = registry.find("", "v1", "events").unwrap();
        let cases = [
            (pods, "spec.nodeName=node-1", Some("node-1")),
            (
                pods,
                "status.phase=Running,spec.nodeName=node-1",
                Some("node-1"),
            ),
            // Unscheduled pods, other nodes' pods and no selector: every pod event.
            (pods, "spec.nodeName=", None),
            (pods, "spec.nodeName!=node-1", None),
            (pods, "status.phase=Running", None),
            (pods, "", None),
            (events, "metadata.name=node-1", None),
        ];
        for (info, selector, want) in cases {
            let filter = Filter::new(Selector::default(), parse_field_selector(selector).unwrap());
            let route = route_for(info, &filter);
            assert_eq!(route.as_ref().map(|r| r.value.as_str()), want, "{selector}");
            assert!(route.is_none_or(|r| r.field.name == "spec.nodeName"));
        }
    }

    #[test]
    fn pod_node_name_table() {
        let cases = [
            (r#"{"spec":{"nodeName":"node-1"}}"#, Some("node-1")),
            (r#"{"spec":{"nodeName":""}}"#, None),
            (r#"{"spec":{}}"#, None),
            (r#"{"metadata":{"name":"p"}}"#, None),
            // A label or a nodeSelector key named nodeName is not the pod's node.
            (
                r#"{"metadata":{"labels":{"nodeName":"fake"}},"spec":{"nodeSelector":{"nodeName":"x"},"nodeName":"node-2"}}"#,
                Some("node-2"),
            ),
            (
                r#"{"metadata":{"labels":{"nodeName":"fake"}},"spec":{"containers":[]}}"#,
                None,
            ),
            ("not json", None),
        ];
        for (stored, want) in cases {
            assert_eq!(
                pod_node_name(stored.as_bytes()).as_deref(),
                want,
                "{stored}"
            );
        }
    }
}
