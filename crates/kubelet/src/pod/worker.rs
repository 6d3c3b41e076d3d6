//! One worker per pod bound to this node: the thin async shell around `pod_plan`. It reads
//! what the runtime has (again every second, as upstream's PLEG relists), carries out the next
//! step (sandbox; pull, create and start a container; restarts after their backoff), reports
//! the pod's status when it changes, and on deletion stops everything and removes the pod.

use std::sync::Arc;
use std::time::Duration;

use ferrokube_client::events::{Kind, Recorder};
use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use super::env::NodeFacts;
use super::plan::{self as pod_plan, FailureKind, ImageSource, StartFailure, StartFailures, Step};
use super::probe::{self, Kind as ProbeKind, Outcome};
use super::prober::{self, Target, Verdict};
use super::volumes::Volumes;
use crate::runtime::{ContainerInfo, ContainerSetup, Runtime, RuntimeError, SandboxInfo};
use crate::sources;
use crate::volume::{self, PodVolumes};

/// How often the runtime is read again without a change of the pod.
const RELIST: Duration = Duration::from_secs(1);
/// How long a container whose configuration failed waits before it is tried again.
const CONFIG_RETRY: Duration = Duration::from_secs(10);

/// Everything a worker needs besides its pod.
#[derive(Clone)]
pub struct WorkerContext {
    pub client: kube::Client,
    pub runtime: Arc<dyn Runtime>,
    pub recorder: Recorder,
    /// The node's address and allocatable resources (for fieldRefs and resourceFieldRefs).
    pub node: Arc<NodeFacts>,
    /// Where pods' volumes are set up; none on hollow nodes, whose volumes are simulated.
    pub volumes_root: Option<Arc<std::path::Path>>,
}

/// Runs one pod until it is gone: `updates` carries the newest version of the pod.
///
/// The steps that talk to the runtime or the API are boxed: a future is as large as its
/// largest await, and this one waits, unboxed, for each of 10,000 hollow pods (5 KB each before).
pub async fn run(
    ctx: WorkerContext,
    mut updates: watch::Receiver<Arc<Pod>>,
    mut transitions: super::status::Transitions,
) {
    let mut pulls = StartFailures::new();
    let mut volumes = Volumes::default();
    let mut probes = probe::Trackers::new();
    // The last status written, as a hash of its encoding (8 bytes kept per pod where its JSON
    // tree was ~8 KB; upstream's kubelet compares container specs by hash the same way).
    let mut reported: Option<u64> = None;
    let mut settled = None;
    let mut warned_crash: Option<(String, u32)> = None;
    let start_time = jiff::Timestamp::now();
    loop {
        let pod = updates.borrow_and_update().clone();
        let uid = pod.uid().unwrap_or_default();
        let state = match ctx.runtime.pod_state(&uid).await {
            Ok(state) => state,
            Err(err) => {
                tracing::warn!(pod = %pod.name_any(), error = %err, "runtime state unavailable");
                None
            }
        };
        let now = jiff::Timestamp::now();
        let until = match pod_plan::next_step(&pod, state.as_ref(), &pulls, now) {
            Step::Terminate => {
                Box::pin(terminate(&ctx, &pod, state.as_ref())).await;
                volumes.tear_down(&ctx, &pod);
                return;
            }
            Step::RunSandbox => {
                if !Box::pin(volumes.set_up(&ctx, &pod)).await {
                    let status = super::status::pod_status(
                        &pod,
                        &transitions,
                        None,
                        &[],
                        &pulls,
                        &probe::Health::default(),
                        (&ctx.node.host_ip, start_time),
                        now,
                    );
                    let encoded = hash_of(&serde_json::to_string(&status).unwrap_or_default());
                    if reported != Some(encoded) && Box::pin(report(&ctx, &pod, &status)).await {
                        reported = Some(encoded);
                        transitions = super::status::Transitions::of_status(&status);
                    }
                    if !wait(&mut updates, volumes.retry_at, now).await {
                        return;
                    }
                    continue;
                }
                if let Err(err) = ctx.runtime.run_sandbox(&pod).await {
                    tracing::warn!(pod = %pod.name_any(), error = %err, "sandbox failed");
                    let note = format!("Failed to create pod sandbox: {err}");
                    Box::pin(event(
                        &ctx,
                        &pod,
                        Kind::Warning,
                        "FailedCreatePodSandBox",
                        note,
                    ))
                    .await;
                    tokio::time::sleep(RELIST).await;
                }
                continue;
            }
            Step::Start { name, attempt } => {
                let (sandbox, containers) = state.expect("a sandbox when starting containers");
                let runs = (&sandbox, containers.as_slice());
                let mounted = volumes.mounted.as_ref();
                Box::pin(start_container(
                    &ctx, &pod, runs, mounted, &name, attempt, &mut pulls,
                ))
                .await;
                continue;
            }
            Step::Wait { until } => until,
        };
        if let Some((sandbox, containers)) = &state {
            if Box::pin(run_probes(&ctx, &pod, sandbox, containers, &mut probes)).await {
                // A container was killed: read the runtime again.
                continue;
            }
            let health = probe::health(&pod, containers, &probes);
            // Most relists find nothing new: the status is only worked out again on a change.
            // Kept as a hash (8 bytes a pod, where clones of all four were ~1 KB).
            let inputs = hash_of(&(&pod.metadata.resource_version, &state, &pulls, &health));
            if settled != Some(inputs) {
                let status = super::status::pod_status(
                    &pod,
                    &transitions,
                    Some(sandbox),
                    containers,
                    &pulls,
                    &health,
                    (&ctx.node.host_ip, start_time),
                    now,
                );
                Box::pin(warn_crash_loop(&ctx, &pod, &status, &mut warned_crash)).await;
                let encoded = hash_of(&serde_json::to_string(&status).unwrap_or_default());
                if reported == Some(encoded) {
                    settled = Some(inputs);
                } else if Box::pin(report(&ctx, &pod, &status)).await {
                    reported = Some(encoded);
                    transitions = super::status::Transitions::of_status(&status);
                    // The next report of a failed pull says ImagePullBackOff, as upstream's.
                    for (name, failure) in pulls
                        .iter_mut()
                        .filter(|(_, f)| !f.backing_off && f.kind == FailureKind::Pull)
                    {
                        failure.backing_off = true;
                        let image = image_of(&pod, name);
                        Box::pin(event(
                            &ctx,
                            &pod,
                            Kind::Normal,
                            "BackOff",
                            format!("Back-off pulling image \"{image}\""),
                        ))
                        .await;
                    }
                }
            }
        }
        Box::pin(volumes.resync(&ctx, &pod)).await;
        // The runtime's answer is read again after the wait: not held while waiting.
        drop(state);
        if !wait(&mut updates, until, now).await {
            return;
        }
    }
}

/// A hash of `value` (deterministic: the same value, the same hash, in one process).
fn hash_of(value: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Sleeps until the pod changes, `until` comes, or the next relist is due; false once the
/// kubelet stopped (no more updates will come).
async fn wait(
    updates: &mut watch::Receiver<Arc<Pod>>,
    until: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> bool {
    let wake = until
        .and_then(|u| Duration::try_from(u.duration_since(now)).ok())
        .map_or(RELIST, |d| d.min(RELIST));
    tokio::select! {
        changed = updates.changed() => changed.is_ok(),
        () = tokio::time::sleep(wake) => true,
    }
}

/// Runs the probes that are due, with Unhealthy events for failures; a liveness or startup
/// probe that trips kills its container (which restarts by the pod's policy). Whether one was
/// killed.
async fn run_probes(
    ctx: &WorkerContext,
    pod: &Pod,
    sandbox: &SandboxInfo,
    runs: &[ContainerInfo],
    trackers: &mut probe::Trackers,
) -> bool {
    let now = jiff::Timestamp::now();
    let due = probe::due(pod, runs, trackers, now);
    if due.is_empty() {
        return false;
    }
    let spec = |name: &str, kind: ProbeKind| {
        let container = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .find(|c| c.name == name)?;
        Some((container, kind.of(container)?))
    };
    let verdicts = futures::future::join_all(due.iter().map(|(name, kind, run_id)| async {
        let (container, probe) = spec(name, *kind)?;
        let timing = probe::timing(probe);
        let target = Target {
            runtime: &*ctx.runtime,
            container,
            container_id: run_id,
            pod_ip: &sandbox.ip,
        };
        Some((
            probe,
            timing,
            prober::run(probe, &target, timing.timeout).await,
        ))
    }))
    .await;
    let mut killed = false;
    for ((name, kind, run_id), verdict) in due.iter().zip(verdicts) {
        let Some((probe, timing, verdict)) = verdict else {
            continue;
        };
        let success = match verdict {
            Verdict::Success => true,
            Verdict::Failure(message) => {
                let note = format!("{} probe failed: {message}", kind.label());
                event(ctx, pod, Kind::Warning, "Unhealthy", note).await;
                false
            }
            Verdict::Unknown(message) => {
                tracing::debug!(pod = %pod.name_any(), container = %name, %message, "probe not run");
                continue;
            }
        };
        let key = (name.as_str(), *kind, run_id.as_str());
        let outcome = probe::record(trackers, key, &timing, success, now);
        if outcome == Outcome::Tripped && *kind != ProbeKind::Readiness {
            let note = format!(
                "Container {name} failed {} probe, will be restarted",
                kind.label().to_lowercase()
            );
            event(ctx, pod, Kind::Normal, "Killing", note).await;
            let grace = probe
                .termination_grace_period_seconds
                .or_else(|| pod.spec.as_ref()?.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64;
            if let Err(err) = ctx
                .runtime
                .stop_container(run_id, Duration::from_secs(grace))
                .await
            {
                tracing::warn!(pod = %pod.name_any(), container = %name, error = %err, "could not stop an unhealthy container");
            }
            killed = true;
        }
    }
    killed
}

fn image_of(pod: &Pod, name: &str) -> String {
    pod_plan::container(pod, name)
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Upstream's BackOff warning, once per crashed run that waits for its restart (read off the
/// status just computed).
async fn warn_crash_loop(
    ctx: &WorkerContext,
    pod: &Pod,
    status: &PodStatus,
    warned: &mut Option<(String, u32)>,
) {
    for c in status.container_statuses.iter().flatten() {
        let reason = c
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref()?.reason.as_deref());
        if reason != Some("CrashLoopBackOff") {
            continue;
        }
        let attempt = c.restart_count.max(0) as u32;
        if warned.as_ref() == Some(&(c.name.clone(), attempt)) {
            continue;
        }
        let note = format!(
            "Back-off restarting failed container {} in pod {}_{}({})",
            c.name,
            pod.name_any(),
            pod.namespace().unwrap_or_default(),
            pod.uid().unwrap_or_default()
        );
        event(ctx, pod, Kind::Warning, "BackOff", note).await;
        *warned = Some((c.name.clone(), attempt));
    }
}

pub(super) async fn event(ctx: &WorkerContext, pod: &Pod, kind: Kind, reason: &str, note: String) {
    let mut reference = pod.object_ref(&());
    reference.field_path = None;
    ctx.recorder
        .publish(&reference, kind, reason, reason, &note)
        .await;
}

/// The container's environment, command and mounts, with upstream's
/// `InvalidEnvironmentVariableNames` warnings; or why it cannot start.
async fn container_setup(
    ctx: &WorkerContext,
    pod: &Pod,
    container: &Container,
    pod_ip: &str,
    mounted: Option<&PodVolumes>,
) -> Result<(ContainerSetup, Vec<String>), String> {
    let refs = super::env::referenced(container);
    let objects = match refs.is_empty() {
        true => sources::Objects::default(),
        false => {
            let namespace = pod.namespace().unwrap_or_default();
            sources::fetch(&ctx.client, &namespace, &refs).await?
        }
    };
    let resolved = super::env::resolve(pod, container, &objects, pod_ip, &ctx.node)?;
    let mounts = match mounted {
        Some(volumes) => volume::mounts::container_mounts(container, volumes, &resolved.env)?,
        None => Vec::new(),
    };
    let setup = ContainerSetup {
        env: resolved.env.into_iter().collect(),
        command: resolved.command,
        args: resolved.args,
        mounts,
    };
    Ok((setup, resolved.skipped))
}

/// Records a container that could not be configured (CreateContainerConfigError), retried as
/// upstream's pod worker retries a failed sync, after 10 s.
fn config_failed(pulls: &mut StartFailures, name: &str, message: String) {
    let failures = pulls.get(name).map_or(1, |f| f.failures + 1);
    let failure = StartFailure {
        kind: FailureKind::Config,
        message,
        failures,
        retry_at: jiff::Timestamp::now() + CONFIG_RETRY,
        backing_off: false,
    };
    pulls.insert(name.to_owned(), failure);
}

/// Pulls (unless an earlier run's image is there and the policy allows it), works out the
/// container's environment and mounts, creates and starts its `attempt`-th run, and removes
/// runs older than the previous one.
async fn start_container(
    ctx: &WorkerContext,
    pod: &Pod,
    (sandbox, containers): (&SandboxInfo, &[ContainerInfo]),
    mounted: Option<&PodVolumes>,
    name: &str,
    attempt: u32,
    pulls: &mut StartFailures,
) {
    let Some(container) = pod_plan::container(pod, name) else {
        return;
    };
    let Some(image_id) = ensure_image(ctx, pod, container, pulls).await else {
        return;
    };
    let setup = match container_setup(ctx, pod, container, &sandbox.ip, mounted).await {
        Ok((setup, skipped)) => {
            for note in skipped {
                event(
                    ctx,
                    pod,
                    Kind::Warning,
                    "InvalidEnvironmentVariableNames",
                    note,
                )
                .await;
            }
            setup
        }
        Err(message) => {
            event(
                ctx,
                pod,
                Kind::Warning,
                "Failed",
                format!("Error: {message}"),
            )
            .await;
            config_failed(pulls, name, message);
            return;
        }
    };
    pulls.remove(name);
    match ctx
        .runtime
        .start_container(sandbox, pod, container, &setup, &image_id, attempt)
        .await
    {
        Ok(_) => {
            event(
                ctx,
                pod,
                Kind::Normal,
                "Created",
                format!("Created container: {name}"),
            )
            .await;
            event(
                ctx,
                pod,
                Kind::Normal,
                "Started",
                format!("Started container {name}"),
            )
            .await;
            // Keep the previous run (for `kubectl logs --previous`), not the ones before it.
            for old in containers
                .iter()
                .filter(|c| c.name == name && c.attempt + 1 < attempt)
            {
                if let Err(err) = ctx.runtime.remove_container(&old.id).await {
                    tracing::debug!(container = %old.id, error = %err, "could not remove an old run");
                }
            }
        }
        Err(err) => {
            event(ctx, pod, Kind::Warning, "Failed", format!("Error: {err}")).await;
            tokio::time::sleep(RELIST).await;
        }
    }
}

/// The container's image ID by its imagePullPolicy: present already, or pulled (with upstream's
/// Pulling/Pulled/Failed events); a failure is recorded in `pulls` for a retry with backoff.
async fn ensure_image(
    ctx: &WorkerContext,
    pod: &Pod,
    container: &Container,
    pulls: &mut StartFailures,
) -> Option<String> {
    let name = container.name.as_str();
    let image = container.image.clone().unwrap_or_default();
    let policy = container.image_pull_policy.as_deref();
    // Always pulls whatever the node has: no need to ask.
    let present = match pod_plan::pull_policy(policy, &image) {
        "Always" => None,
        _ => match ctx.runtime.image_status(&image).await {
            Ok(present) => present.map(|(id, _)| id),
            Err(err) => {
                tracing::debug!(%image, error = %err, "image status");
                None
            }
        },
    };
    let failed = |pulls: &mut StartFailures, message: String, never_pull: bool| {
        let failures = pulls.get(name).map_or(1, |f| f.failures + 1);
        let delay = pod_plan::backoff(failures, Duration::ZERO).max(Duration::from_secs(10));
        let kind = match never_pull {
            true => FailureKind::NeverPull,
            false => FailureKind::Pull,
        };
        let failure = StartFailure {
            kind,
            message,
            failures,
            retry_at: jiff::Timestamp::now() + delay,
            backing_off: false,
        };
        pulls.insert(name.to_owned(), failure);
    };
    match pod_plan::image_source(policy, &image, present) {
        ImageSource::Present(id) => {
            pulls.remove(name);
            let note = format!("Container image \"{image}\" already present on machine");
            event(ctx, pod, Kind::Normal, "Pulled", note).await;
            Some(id)
        }
        ImageSource::NeverPull => {
            let note =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            event(ctx, pod, Kind::Warning, "ErrImageNeverPull", note.clone()).await;
            failed(pulls, note, true);
            None
        }
        ImageSource::Pull => {
            let note = format!("Pulling image \"{image}\"");
            event(ctx, pod, Kind::Normal, "Pulling", note).await;
            let began = std::time::Instant::now();
            match ctx.runtime.pull_image(&image).await {
                Ok(id) => {
                    pulls.remove(name);
                    let took = began.elapsed();
                    let size = match ctx.runtime.image_status(&image).await {
                        Ok(Some((_, size))) => size,
                        _ => 0,
                    };
                    let note = format!(
                        "Successfully pulled image \"{image}\" in {took:.3?} ({took:.3?} including waiting). Image size: {size} bytes."
                    );
                    event(ctx, pod, Kind::Normal, "Pulled", note).await;
                    Some(id)
                }
                Err(RuntimeError::ImagePull(message)) | Err(RuntimeError::Other(message)) => {
                    let note = format!("Failed to pull image \"{image}\": {message}");
                    event(ctx, pod, Kind::Warning, "Failed", note).await;
                    let note = "Error: ErrImagePull".to_owned();
                    event(ctx, pod, Kind::Warning, "Failed", note).await;
                    failed(pulls, message, false);
                    None
                }
            }
        }
    }
}

/// Writes the status; whether it was accepted. The answer is read only for its status code:
/// decoding the pod it returns cost more than the patch itself, and nothing used it.
async fn report(ctx: &WorkerContext, pod: &Pod, status: &PodStatus) -> bool {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"status": status});
    let request = kube::core::Request::new(api.resource_url()).patch_subresource(
        "status",
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    );
    match ferrokube_client::send(&ctx.client, request).await {
        Ok(_) => true,
        Err(err) => {
            tracing::debug!(pod = %pod.name_any(), error = %err, "status not written");
            false
        }
    }
}

/// Stops the containers within the pod's grace period, removes the sandbox, and deletes the
/// pod object with grace 0 (the kubelet's part of a graceful deletion).
async fn terminate(
    ctx: &WorkerContext,
    pod: &Pod,
    state: Option<&(SandboxInfo, Vec<ContainerInfo>)>,
) {
    let uid = pod.uid().unwrap_or_default();
    if let Some((_, containers)) = state {
        for c in containers {
            event(
                ctx,
                pod,
                Kind::Normal,
                "Killing",
                format!("Stopping container {}", c.name),
            )
            .await;
        }
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(30)
            .max(0) as u64;
        if let Err(err) = ctx
            .runtime
            .remove_sandbox(&uid, std::time::Duration::from_secs(grace))
            .await
        {
            tracing::warn!(pod = %pod.name_any(), error = %err, "could not remove the sandbox");
        }
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    if let Err(err) = api.delete(&pod.name_any(), &params).await {
        tracing::debug!(pod = %pod.name_any(), error = %err, "final delete");
    }
}
