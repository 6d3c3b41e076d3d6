//! core/v1 Pods: defaults (pod spec, admission-set priority, tolerations, service account),
//! status Pending with a QoS class on create, validation, and the READY STATUS RESTARTS table.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodSpec, PodStatus, Toleration};
use serde_json::{Value, json};

use crate::field::{FieldError, FieldPath};
use crate::resources::podspec::{check_quantities, default_pod_spec, validate_pod_spec};
use crate::strategy::{Typed, name_and_age};
use crate::table::{Column, age};
use crate::validation::NameRule;

pub fn strategy() -> Typed<Pod> {
    Typed {
        default,
        validate,
        decode_check: |pod: &Pod| pod.spec.as_ref().map_or(Ok(()), check_quantities),
        columns: &COLUMNS,
        cells,
        fields,
        has_status: true,
        ..Typed::plain(NameRule::Subdomain)
    }
}

const COLUMNS: [Column; 9] = [
    Column::NAME,
    Column::new(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::new(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    Column::AGE,
    Column::wide("IP", "string", "The IP address assigned to this pod."),
    Column::wide(
        "Node",
        "string",
        "The name of the node this pod is scheduled on.",
    ),
    Column::wide(
        "Nominated Node",
        "string",
        "The name of the node this pod is nominated to run on, if any.",
    ),
    Column::wide(
        "Readiness Gates",
        "string",
        "The readiness gates of this pod, if any.",
    ),
];

fn default(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    default_pod_spec(spec);
    spec.enable_service_links.get_or_insert(true);
    spec.priority.get_or_insert(0);
    spec.preemption_policy
        .get_or_insert_with(|| "PreemptLowerPriority".to_owned());
    if spec.service_account_name.is_none() {
        spec.service_account_name = Some("default".to_owned());
        spec.service_account = Some("default".to_owned());
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let present = tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some("NoExecute"));
        if !present {
            tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(300),
                ..Default::default()
            });
        }
    }
    default_requests_from_limits(spec);
    let qos = qos_class(spec);
    let status = pod.status.get_or_insert_with(PodStatus::default);
    status.phase.get_or_insert_with(|| "Pending".to_owned());
    status.qos_class.get_or_insert_with(|| qos.to_owned());
}

/// A limit without a request requests as much (upstream's SetDefaults_Pod), for containers and
/// init containers.
fn default_requests_from_limits(spec: &mut PodSpec) {
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        let Some(resources) = c.resources.as_mut() else {
            continue;
        };
        let Some(limits) = resources.limits.as_ref().filter(|l| !l.is_empty()) else {
            continue;
        };
        let requests = resources.requests.get_or_insert_with(Default::default);
        for (name, value) in limits {
            requests
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
}

/// BestEffort without requests or limits, Guaranteed when every container's cpu and memory
/// limits equal its requests, Burstable otherwise.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let resources = c.resources.clone().unwrap_or_default();
        let requests = resources.requests.unwrap_or_default();
        let limits = resources.limits.unwrap_or_default();
        any |= !requests.is_empty() || !limits.is_empty();
        for name in ["cpu", "memory"] {
            let limit = limits.get(name);
            let request = requests.get(name).or(limit);
            guaranteed &= limit.is_some() && request == limit;
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn validate(pod: &Pod) -> Vec<FieldError> {
    match &pod.spec {
        Some(spec) => validate_pod_spec(spec, &FieldPath::new("spec")),
        None => vec![FieldError::required(FieldPath::new("spec"), "")],
    }
}

fn fields(pod: &Value) -> Vec<(&'static str, String)> {
    let text = |pointer: &str| crate::meta::text_at(pod, pointer);
    let host_network = pod
        .pointer("/spec/hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    vec![
        ("spec.nodeName", text("/spec/nodeName")),
        ("spec.restartPolicy", text("/spec/restartPolicy")),
        ("spec.schedulerName", text("/spec/schedulerName")),
        ("spec.serviceAccountName", text("/spec/serviceAccountName")),
        ("spec.hostNetwork", host_network.to_string()),
        ("status.phase", text("/status/phase")),
        ("status.podIP", text("/status/podIP")),
        (
            "status.nominatedNodeName",
            text("/status/nominatedNodeName"),
        ),
    ]
}

/// Upstream's STATUS cell: the phase, refined by container states and deletion.
pub fn display_status(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    let mut reason = status
        .reason
        .clone()
        .or(status.phase.clone())
        .unwrap_or_default();
    let init_total = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in status.init_container_statuses.iter().flatten().enumerate() {
        let state = c.state.clone().unwrap_or_default();
        match (&state.terminated, &state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            (Some(t), _) => {
                reason = match (&t.reason, t.signal) {
                    (Some(r), _) if !r.is_empty() => format!("Init:{r}"),
                    (_, Some(signal)) if signal != 0 => format!("Init:Signal:{signal}"),
                    _ => format!("Init:ExitCode:{}", t.exit_code),
                };
            }
            (None, Some(w))
                if w.reason
                    .as_deref()
                    .is_some_and(|r| !r.is_empty() && r != "PodInitializing") =>
            {
                reason = format!("Init:{}", w.reason.clone().unwrap_or_default());
            }
            _ => reason = format!("Init:{i}/{init_total}"),
        }
        initializing = true;
        break;
    }
    if !initializing || condition_true(&status, "Initialized") {
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            let state = c.state.clone().unwrap_or_default();
            if let Some(r) = state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match (&t.reason, t.signal) {
                    (Some(r), _) if !r.is_empty() => r.clone(),
                    (_, Some(signal)) if signal != 0 => format!("Signal:{signal}"),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(&status, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }
    let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    if pod.metadata.deletion_timestamp.is_some() && status.reason.as_deref() == Some("NodeLost") {
        reason = "Unknown".to_owned();
    } else if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".to_owned();
    }
    reason
}

fn condition_true(status: &PodStatus, kind: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == kind && c.status == "True")
}

/// The RESTARTS cell: `0`, or `3 (2m ago)` when a restart time is known.
fn restarts_cell(statuses: &[ContainerStatus], now: Timestamp) -> String {
    let restarts: i32 = statuses.iter().map(|c| c.restart_count).sum();
    let last = statuses
        .iter()
        .filter(|c| c.restart_count > 0)
        .filter_map(|c| {
            c.last_state
                .as_ref()?
                .terminated
                .as_ref()?
                .finished_at
                .as_ref()
                .map(|t| t.0)
        })
        .max();
    match last {
        Some(at) => format!("{restarts} ({} ago)", age(Some(&at), now)),
        None => restarts.to_string(),
    }
}

fn cells(pod: &Pod, now: Timestamp) -> Vec<Value> {
    let (name, age) = name_and_age(&pod.metadata, now);
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|c| c.ready && c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .count();
    let none = || "<none>".to_owned();
    let gates = spec.readiness_gates.clone().unwrap_or_default();
    let gates_cell = if gates.is_empty() {
        none()
    } else {
        let met = gates
            .iter()
            .filter(|g| condition_true(&status, &g.condition_type))
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        name,
        json!(format!("{ready}/{}", spec.containers.len())),
        json!(display_status(pod)),
        json!(restarts_cell(&statuses, now)),
        age,
        json!(
            status
                .pod_ip
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(none)
        ),
        json!(
            spec.node_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(none)
        ),
        json!(
            status
                .nominated_node_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(none)
        ),
        json!(gates_cell),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod_with(phase: &str, waiting: Option<&str>, deleting: bool) -> Pod {
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Default::default()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let statuses = waiting.map(|reason| {
            vec![ContainerStatus {
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]
        });
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            container_statuses: statuses,
            ..Default::default()
        });
        if deleting {
            pod.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        }
        pod
    }

    #[test]
    fn display_status_table() {
        let cases = [
            (pod_with("Pending", None, false), "Pending"),
            (
                pod_with("Pending", Some("ContainerCreating"), false),
                "ContainerCreating",
            ),
            (
                pod_with("Pending", Some("ImagePullBackOff"), false),
                "ImagePullBackOff",
            ),
            (pod_with("Running", None, true), "Terminating"),
            (pod_with("Succeeded", None, true), "Succeeded"),
        ];
        for (pod, want) in cases {
            assert_eq!(display_status(&pod), want);
        }
    }

    #[test]
    fn defaults_as_upstream() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}
        }))
        .unwrap();
        default(&mut pod);
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(v["spec"]["restartPolicy"], "Always");
        assert_eq!(v["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(v["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(v["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(v["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(v["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            v["spec"]["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
        assert_eq!(v["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(v["status"]["phase"], "Pending");
        assert_eq!(v["status"]["qosClass"], "BestEffort");

        let mut limited: Pod = serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}}]}
        }))
        .unwrap();
        default(&mut limited);
        let v = serde_json::to_value(&limited).unwrap();
        let requests = &v["spec"]["containers"][0]["resources"]["requests"];
        assert_eq!(requests, &json!({"cpu": "100m", "memory": "64Mi"}));
        assert_eq!(v["status"]["qosClass"], "Burstable");
    }
}
