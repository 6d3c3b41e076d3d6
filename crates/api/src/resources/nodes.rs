//! core/v1 Nodes: the STATUS ROLES AGE VERSION table (wide: addresses, OS, kernel, runtime).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use crate::quantity::decoded_quantity_error;
use crate::strategy::{Typed, name_and_age};
use crate::table::Column;
use crate::validation::NameRule;

pub fn strategy() -> Typed<Node> {
    Typed {
        decode_check,
        columns: &COLUMNS,
        cells,
        fields,
        has_status: true,
        keeps_status_on_create: true,
        ..Typed::plain(NameRule::Subdomain)
    }
}

/// Node capacity and allocatable quantities, which upstream parses while decoding.
fn decode_check(node: &Node) -> Result<(), String> {
    let status = node.status.as_ref();
    let maps = [
        status.and_then(|s| s.capacity.as_ref()),
        status.and_then(|s| s.allocatable.as_ref()),
    ];
    let error = maps
        .into_iter()
        .flatten()
        .flat_map(|m| m.values())
        .find_map(|q| decoded_quantity_error(&q.0));
    error.map_or(Ok(()), |e| Err(e.to_owned()))
}

const COLUMNS: [Column; 10] = [
    Column::NAME,
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    Column::AGE,
    Column::new("Version", "string", "Kubelet Version reported by the node."),
    Column::wide(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node",
    ),
    Column::wide(
        "External-IP",
        "string",
        "List of addresses reachable to the node",
    ),
    Column::wide(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    Column::wide(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    Column::wide(
        "Container-Runtime",
        "string",
        "Container Runtime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

/// `Ready`, `NotReady` or `Unknown`, then `SchedulingDisabled` when cordoned.
pub fn node_status(node: &Node) -> String {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let mut status = match ready {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn roles(node: &Node) -> String {
    let mut roles: Vec<&str> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort_unstable();
    if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.join(",")
    }
}

fn address(node: &Node, kind: &str) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == kind))
        .map_or_else(|| "<none>".to_owned(), |a| a.address.clone())
}

fn cells(node: &Node, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&node.metadata, now);
    let info = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.clone())
        .unwrap_or_default();
    vec![
        name,
        json!(node_status(node)),
        json!(roles(node)),
        age,
        json!(info.kubelet_version),
        json!(address(node, "InternalIP")),
        json!(address(node, "ExternalIP")),
        json!(info.os_image),
        json!(info.kernel_version),
        json!(info.container_runtime_version),
    ]
}

fn fields(node: &Value) -> Vec<(&'static str, String)> {
    let unschedulable = node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    vec![("spec.unschedulable", unschedulable.to_string())]
}
