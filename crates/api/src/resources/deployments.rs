//! apps/v1 Deployments: upstream's defaults (RollingUpdate 25%/25%, revisionHistoryLimit 10,
//! progressDeadlineSeconds 600), validation, and the READY UP-TO-DATE AVAILABLE table.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use crate::field::{FieldError, FieldPath};
use crate::resources::podspec::{check_template_quantities, default_pod_spec};
use crate::resources::workload::{null_template_timestamp, validate_workload, wide_cells};
use crate::strategy::{Generation, Typed, name_and_age};
use crate::table::Column;
use crate::validation::{NameRule, non_negative};

pub fn strategy() -> Typed<Deployment> {
    Typed {
        default,
        finish_json: null_template_timestamp,
        validate,
        decode_check: |d: &Deployment| {
            d.spec
                .as_ref()
                .map_or(Ok(()), |s| check_template_quantities(&s.template))
        },
        columns: &COLUMNS,
        cells,
        generation: Generation::SpecAndAnnotations,
        has_status: true,
        status_writes_annotations: true,
        ..Typed::plain(NameRule::Subdomain)
    }
}

const COLUMNS: [Column; 8] = [
    Column::NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    Column::new(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
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
    Column::wide(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    ),
];

fn default(deployment: &mut Deployment) {
    let spec = deployment.spec.get_or_insert_with(DeploymentSpec::default);
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    let kind = strategy
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_owned());
    if kind == "RollingUpdate" {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        rolling
            .max_surge
            .get_or_insert_with(|| IntOrString::String("25%".to_owned()));
        rolling
            .max_unavailable
            .get_or_insert_with(|| IntOrString::String("25%".to_owned()));
    }
    if let Some(pod) = spec.template.spec.as_mut() {
        default_pod_spec(pod);
    }
}

fn validate(deployment: &Deployment) -> Vec<FieldError> {
    let Some(spec) = &deployment.spec else {
        return vec![FieldError::required(FieldPath::new("spec"), "")];
    };
    let path = FieldPath::new("spec");
    let mut errors = validate_workload(
        spec.replicas,
        Some(&spec.selector),
        Some(&spec.template),
        "deployment",
    );
    errors.extend(non_negative(
        path.child("revisionHistoryLimit"),
        spec.revision_history_limit,
    ));
    errors.extend(non_negative(
        path.child("minReadySeconds"),
        spec.min_ready_seconds,
    ));

    if let Some(strategy) = &spec.strategy {
        errors.extend(validate_strategy(strategy, &path.child("strategy")));
    }
    errors
}

fn validate_strategy(strategy: &DeploymentStrategy, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match strategy.type_.as_deref() {
        Some("Recreate") if strategy.rolling_update.is_some() => {
            errors.push(FieldError::forbidden(
                path.child("rollingUpdate"),
                "may not be specified when strategy `type` is 'Recreate'",
            ));
        }
        Some("Recreate" | "RollingUpdate") | None => {}
        Some(other) => errors.push(FieldError::not_supported(
            path.child("type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    if let Some(rolling) = &strategy.rolling_update {
        let zero = |v: &Option<IntOrString>| match v {
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s == "0%" || s == "0",
            _ => false,
        };
        if zero(&rolling.max_surge) && zero(&rolling.max_unavailable) {
            errors.push(FieldError::invalid(
                path.child("rollingUpdate").child("maxUnavailable"),
                int_or_string(rolling.max_unavailable.as_ref()),
                "may not be 0 when `maxSurge` is 0",
            ));
        }
    }
    errors
}

fn int_or_string(v: Option<&IntOrString>) -> Value {
    match v {
        Some(IntOrString::Int(i)) => json!(i),
        Some(IntOrString::String(s)) => json!(s),
        None => Value::Null,
    }
}

fn cells(deployment: &Deployment, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&deployment.metadata, now);
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let status = deployment.status.clone().unwrap_or_default();
    let [containers, images, selector] = wide_cells(
        deployment.spec.as_ref().map(|s| &s.template),
        deployment.spec.as_ref().map(|s| &s.selector),
    );
    vec![
        name,
        json!(format!("{}/{desired}", status.ready_replicas.unwrap_or(0))),
        json!(status.updated_replicas.unwrap_or(0)),
        json!(status.available_replicas.unwrap_or(0)),
        age,
        containers,
        images,
        selector,
    ]
}
