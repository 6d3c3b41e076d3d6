//! apps/v1 ReplicaSets: replicas default 1, workload validation, DESIRED CURRENT READY table.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use serde_json::{Value, json};

use crate::field::{FieldError, FieldPath};
use crate::resources::podspec::{check_template_quantities, default_pod_spec};
use crate::resources::workload::{null_template_timestamp, validate_workload, wide_cells};
use crate::strategy::{Generation, Typed, name_and_age};
use crate::table::Column;
use crate::validation::NameRule;

pub fn strategy() -> Typed<ReplicaSet> {
    Typed {
        default,
        finish_json: null_template_timestamp,
        validate,
        decode_check: |rs: &ReplicaSet| {
            let template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
            template.map_or(Ok(()), check_template_quantities)
        },
        columns: &COLUMNS,
        cells,
        generation: Generation::Spec,
        has_status: true,
        status_writes_annotations: true,
        ..Typed::plain(NameRule::Subdomain)
    }
}

const COLUMNS: [Column; 8] = [
    Column::NAME,
    Column::new(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    Column::new(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    Column::new(
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
    Column::AGE,
    Column::wide(
        "Containers",
        "string",
        "Names of each container in the template.",
    ),
    Column::wide(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    Column::wide("Selector", "string", "Label selector for pods."),
];

fn default(rs: &mut ReplicaSet) {
    let spec = rs.spec.get_or_insert_with(ReplicaSetSpec::default);
    spec.replicas.get_or_insert(1);
    if let Some(pod) = spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
        default_pod_spec(pod);
    }
    // `status.replicas` is not omitempty upstream: a new ReplicaSet reads `status: {replicas: 0}`.
    rs.status.get_or_insert_with(Default::default);
}

fn validate(rs: &ReplicaSet) -> Vec<FieldError> {
    match &rs.spec {
        Some(spec) => validate_workload(
            spec.replicas,
            Some(&spec.selector),
            spec.template.as_ref(),
            "replicaset",
        ),
        None => vec![FieldError::required(FieldPath::new("spec"), "")],
    }
}

fn cells(rs: &ReplicaSet, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&rs.metadata, now);
    let status = rs.status.clone().unwrap_or_default();
    let [containers, images, selector] = wide_cells(
        rs.spec.as_ref().and_then(|s| s.template.as_ref()),
        rs.spec.as_ref().map(|s| &s.selector),
    );
    vec![
        name,
        json!(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)),
        json!(status.replicas),
        json!(status.ready_replicas.unwrap_or(0)),
        age,
        containers,
        images,
        selector,
    ]
}
