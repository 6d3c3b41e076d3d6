//! core/v1 Namespaces: the `kubernetes` finalizer, phase Active, the
//! `kubernetes.io/metadata.name` label, and the STATUS table.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use serde_json::{Value, json};

use crate::strategy::{Typed, name_and_age};
use crate::table::Column;
use crate::validation::NameRule;

pub fn strategy() -> Typed<Namespace> {
    Typed {
        default,
        columns: &COLUMNS,
        cells,
        fields,
        has_status: true,
        ..Typed::plain(NameRule::Label)
    }
}

const COLUMNS: [Column; 3] = [
    Column::NAME,
    Column::new("Status", "string", "The status of the namespace"),
    Column::AGE,
];

fn default(ns: &mut Namespace) {
    let name = ns.metadata.name.clone().unwrap_or_default();
    if !name.is_empty() {
        ns.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("kubernetes.io/metadata.name".to_owned(), name);
    }
    let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
    spec.finalizers
        .get_or_insert_with(|| vec!["kubernetes".to_owned()]);
    ns.status
        .get_or_insert_with(NamespaceStatus::default)
        .phase
        .get_or_insert_with(|| "Active".to_owned());
}

fn cells(ns: &Namespace, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&ns.metadata, now);
    let phase = ns
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    vec![name, json!(phase), age]
}

fn fields(ns: &Value) -> Vec<(&'static str, String)> {
    vec![("status.phase", crate::meta::text_at(ns, "/status/phase"))]
}
