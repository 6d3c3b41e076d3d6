//! The `binding` subresource of pods (the scheduler's assignment) and the `scale`
//! subresource of workloads (autoscaling/v1 Scale).

use axum::response::Response;
use ferrokube_api::resources::workload_selector;
use ferrokube_api::validation::non_negative;
use ferrokube_api::{ApiError, FieldError, FieldPath, GroupResource, meta};
use serde_json::{Value, json};

use super::Call;
use crate::registry::{Managed, Target, UpdateOptions};

use crate::response::json;

/// Sets `spec.nodeName` and the PodScheduled condition of an unassigned pod.
///
/// Example: a Binding `{target: {kind: Node, name: n1}}` for pod `web` with no node gives
/// `spec.nodeName: n1`; a second Binding gets 409 "pod web is already assigned to node \"n1\"".
pub fn plan_binding(pod: &Value, binding: &Value, name: &str, now: &str) -> Result<Value, String> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(current) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(format!(
            "pod {name} is already assigned to node {current:?}"
        ));
    }
    if meta::get_str(pod, "deletionTimestamp").is_some() {
        return Err(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        ));
    }
    let mut bound = pod.clone();
    bound["spec"]["nodeName"] = json!(node);
    for (key, value) in meta::string_map(binding.pointer("/metadata/annotations")) {
        meta::metadata_mut(&mut bound)
            .entry("annotations")
            .or_insert_with(|| json!({}))[key] = json!(value);
    }
    let status = bound
        .as_object_mut()
        .expect("pods are objects")
        .entry("status")
        .or_insert_with(|| json!({}));
    let conditions = status
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    if let Some(Value::Array(conditions)) = conditions {
        conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
    }
    Ok(bound)
}

pub async fn bind(call: Call<'_>) -> Result<Response, ApiError> {
    let binding: Value = serde_json::from_slice(&call.body).map_err(|e| {
        ApiError::bad_request(format!(
            "Binding in version \"v1\" cannot be handled as a Binding: {e}"
        ))
    })?;
    let target = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if target.is_empty() {
        let errors = [FieldError::required(
            FieldPath::new("target").child("name"),
            "",
        )];
        return Err(ApiError::invalid("Binding", "", call.name(), &errors));
    }
    let dry_run = call.query.dry_run()?;
    let now = crate::object::timestamp(jiff::Timestamp::now());
    call.storage()
        .guaranteed_update(call.key_namespace(), call.name(), dry_run, |pod| {
            plan_binding(&pod.object, &binding, call.name(), &now).map_err(|why| {
                ApiError::conflict_because(
                    &GroupResource::new("", "pods/binding"),
                    call.name(),
                    &why,
                )
            })
        })
        .await?;
    Ok(json(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// The Scale of a workload object.
pub fn scale_of(obj: &Value) -> Value {
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.get("metadata").and_then(|m| m.get(field)) {
            metadata[field] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": workload_selector(obj),
        },
    })
}

pub async fn get_scale(call: Call<'_>) -> Result<Response, ApiError> {
    let stored = call
        .storage()
        .get(call.key_namespace(), call.name())
        .await?;
    Ok(json(200, &scale_of(&stored.object)))
}

/// The object with the replicas a Scale asks for; the Scale's resourceVersion, if any, becomes
/// the update's precondition.
pub fn scaled(name: &str, obj: &Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(error) = non_negative(FieldPath::new("spec").child("replicas"), Some(replicas)) {
        return Err(ApiError::invalid("Scale", "autoscaling", name, &[error]));
    }
    let mut new = obj.clone();
    new["spec"]["replicas"] = json!(replicas);
    let precondition = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty());
    meta::set(
        &mut new,
        "resourceVersion",
        precondition.map(|rv| json!(rv)),
    );
    Ok(new)
}

pub async fn put_scale(call: Call<'_>) -> Result<Response, ApiError> {
    let scale: Value = serde_json::from_slice(&call.body).map_err(|e| {
        ApiError::bad_request(format!(
            "Scale in version \"v1\" cannot be handled as a Scale: {e}"
        ))
    })?;
    let mut options = UpdateOptions::new(Target::Main, call.field_manager(), call.query.dry_run()?);
    options.managed = Managed::RecordScale;
    let updated = call
        .storage()
        .update(call.key_namespace(), call.name(), &options, |current| {
            let obj = current.expect("an update's object exists");
            scaled(call.name(), obj, &scale)
        })
        .await?;
    Ok(json(200, &scale_of(&updated.object)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_table() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": []}, "status": {"phase": "Pending"}});
        let binding = json!({"target": {"kind": "Node", "name": "n1"}});
        let bound = plan_binding(&pod, &binding, "web", "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(bound["spec"]["nodeName"], "n1");
        assert_eq!(bound["status"]["conditions"][0]["type"], "PodScheduled");
        assert_eq!(
            plan_binding(&bound, &binding, "web", "t").unwrap_err(),
            "pod web is already assigned to node \"n1\""
        );
        let deleting = json!({"metadata": {"name": "web", "deletionTimestamp": "t"}, "spec": {}});
        assert!(
            plan_binding(&deleting, &binding, "web", "t")
                .unwrap_err()
                .contains("being deleted")
        );
    }

    #[test]
    fn scale_reports_spec_status_and_selector() {
        let deployment = json!({
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}
        });
        let scale = scale_of(&deployment);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(
            scale["status"],
            json!({"replicas": 2, "selector": "app=web"})
        );
        assert_eq!(scale["metadata"]["resourceVersion"], "7");
    }
}
