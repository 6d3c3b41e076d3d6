//! The scheduler: watches pods and nodes, keeps a queue of pending pods and a cache of nodes
//! with the pods counted on them, picks a node for each pod with filter and score plugins
//! (`schedule`), and binds through the `pods/binding` subresource, asynchronously so one slow
//! bind never holds the queue. It says why a pod fits nowhere with a FailedScheduling Event
//! and the PodScheduled condition, as upstream's kube-scheduler.

pub mod cache;
pub mod framework;
pub mod plugins;
pub mod queue;
pub mod resources;
pub mod schedule;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use ferrokube_client::cache::trimmed;
use ferrokube_client::events::{Kind, Recorder};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use cache::Cache;
use framework::PodInfo;
use plugins::volume_binding;
use queue::Queue;

/// How the scheduler is set up.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// Pods whose `spec.schedulerName` is this are ours.
    pub scheduler_name: String,
    /// percentageOfNodesToScore; `None` for upstream's adaptive rule.
    pub percentage_of_nodes_to_score: Option<usize>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            scheduler_name: "default-scheduler".into(),
            percentage_of_nodes_to_score: None,
        }
    }
}

/// What the loop reacts to.
enum Input {
    Pod(Box<watcher::Event<Pod>>),
    Node(Box<watcher::Event<Node>>),
    /// A claim, volume or class changed: pods waiting for one may fit now.
    Volumes,
    /// A binding finished: the pod, the node, and whether to try the pod again.
    Bound {
        pod: Arc<Pod>,
        node: String,
        retry: bool,
    },
}

fn key_of(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// The loop's state: everything is owned by one task, so no locks.
struct Scheduler {
    client: kube::Client,
    options: SchedulerOptions,
    cache: Cache,
    queue: Queue,
    recorder: Recorder,
    bound: mpsc::UnboundedSender<Input>,
    volumes: Arc<volume_binding::Volumes>,
    start: usize,
    /// Pods and nodes seen during a relist, to drop what vanished meanwhile.
    relisted_pods: Option<Vec<Pod>>,
    relisted_nodes: Option<Vec<Node>>,
    /// UIDs of the pods the cache and queue know, with their keys.
    known: std::collections::HashMap<String, String>,
}

impl Scheduler {
    fn ours(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or("default-scheduler");
        name == self.options.scheduler_name
    }

    fn apply_pod(&mut self, pod: Pod, now: Instant) {
        let key = key_of(&pod);
        let uid = pod.uid().unwrap_or_default();
        if is_terminal(&pod) {
            self.delete_pod(&pod, now);
            return;
        }
        self.known.insert(uid.clone(), key.clone());
        if node_name(&pod).is_some() {
            self.queue.remove(&key);
            self.cache.set_bound_pod(Arc::new(pod));
        } else if self.cache.contains(&uid) {
            // Assumed: its binding is under way.
        } else if self.ours(&pod) && pod.metadata.deletion_timestamp.is_none() {
            self.queue.add_or_update(&key, Arc::new(pod));
        } else {
            self.queue.remove(&key);
        }
    }

    fn delete_pod(&mut self, pod: &Pod, now: Instant) {
        let uid = pod.uid().unwrap_or_default();
        self.known.remove(&uid);
        self.queue.remove(&key_of(pod));
        if self.cache.contains(&uid) {
            self.cache.remove_pod(&uid);
            // Room was freed: pods waiting for a change may fit now.
            self.queue.move_all(now);
        }
    }

    fn apply_node(&mut self, node: Node, now: Instant) {
        self.cache.set_node(Arc::new(node));
        self.queue.move_all(now);
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Pod(event) => self.handle_pods(*event, now),
            Input::Node(event) => self.handle_nodes(*event, now),
            Input::Volumes => self.queue.move_all(now),
            Input::Bound { pod, node, retry } => {
                let uid = pod.uid().unwrap_or_default();
                if retry {
                    tracing::debug!(pod = %key_of(&pod), %node, "binding failed; retrying");
                    self.cache.forget(&uid);
                    let key = key_of(&pod);
                    self.queue.retry_pod(&key, pod, now);
                }
            }
        }
    }

    fn handle_pods(&mut self, event: watcher::Event<Pod>, now: Instant) {
        match event {
            watcher::Event::Init => self.relisted_pods = Some(Vec::new()),
            watcher::Event::InitApply(pod) => match &mut self.relisted_pods {
                Some(list) => list.push(pod),
                None => self.apply_pod(pod, now),
            },
            watcher::Event::InitDone => {
                let list = self.relisted_pods.take().unwrap_or_default();
                let present: HashSet<String> = list.iter().filter_map(|p| p.uid()).collect();
                let gone: Vec<(String, String)> = self
                    .known
                    .iter()
                    .filter(|(uid, _)| !present.contains(*uid))
                    .map(|(u, k)| (u.clone(), k.clone()))
                    .collect();
                for (uid, key) in gone {
                    self.known.remove(&uid);
                    self.queue.remove(&key);
                    self.cache.remove_pod(&uid);
                }
                for pod in list {
                    self.apply_pod(pod, now);
                }
                self.queue.move_all(now);
            }
            watcher::Event::Apply(pod) => self.apply_pod(pod, now),
            watcher::Event::Delete(pod) => self.delete_pod(&pod, now),
        }
    }

    fn handle_nodes(&mut self, event: watcher::Event<Node>, now: Instant) {
        match event {
            watcher::Event::Init => self.relisted_nodes = Some(Vec::new()),
            watcher::Event::InitApply(node) => match &mut self.relisted_nodes {
                Some(list) => list.push(node),
                None => self.apply_node(node, now),
            },
            watcher::Event::InitDone => {
                let list = self.relisted_nodes.take().unwrap_or_default();
                let present: HashSet<String> = list.iter().map(|n| n.name_any()).collect();
                let gone: Vec<String> = self
                    .cache
                    .nodes()
                    .map(|n| n.name.clone())
                    .filter(|n| !present.contains(n))
                    .collect();
                for name in gone {
                    self.cache.remove_node(&name);
                }
                for node in list {
                    self.cache.set_node(Arc::new(node));
                }
                self.queue.move_all(now);
            }
            watcher::Event::Apply(node) => self.apply_node(node, now),
            watcher::Event::Delete(node) => self.cache.remove_node(&node.name_any()),
        }
    }

    /// Schedules the next active pod, if any; whether there was one.
    fn schedule_next(&mut self, rng: &mut impl rand::Rng) -> bool {
        let now = Instant::now();
        let Some((key, pod)) = self.queue.pop(now) else {
            return false;
        };
        let info = Arc::new(PodInfo::new(pod.clone()));
        let percentage = self.options.percentage_of_nodes_to_score;
        let chosen = volume_binding::prefilter(&info, &self.volumes)
            .map_err(|reason| schedule::FitError {
                nodes: self.cache.node_list().len(),
                failures: Vec::new(),
                preemption_never: false,
                prefilter: Some(reason),
            })
            .and_then(|volumes| {
                let delayed: Vec<Arc<PersistentVolumeClaim>> =
                    volumes.delayed.iter().map(|d| d.claim.clone()).collect();
                let node = schedule::select_node(
                    &info,
                    &self.cache,
                    &mut self.start,
                    percentage,
                    volumes,
                    rng,
                )?;
                Ok((node, delayed))
            });
        match chosen {
            Ok((node, delayed)) => {
                self.cache.assume(info, &node);
                self.queue.done(&key);
                tokio::spawn(bind(
                    self.client.clone(),
                    self.recorder.clone(),
                    pod,
                    (node, delayed),
                    self.bound.clone(),
                ));
            }
            Err(fit) => {
                self.queue.unschedulable(&key, now);
                let message = fit.message();
                tracing::debug!(pod = %key, %message, "unschedulable");
                tokio::spawn(report_unschedulable(
                    self.client.clone(),
                    self.recorder.clone(),
                    pod,
                    message,
                ));
            }
        }
        true
    }
}

/// Binds the pod; the loop learns the outcome (retry on failure unless the pod is gone or
/// already bound).
async fn bind(
    client: kube::Client,
    recorder: Recorder,
    pod: Arc<Pod>,
    (node, delayed): (String, Vec<Arc<PersistentVolumeClaim>>),
    done: mpsc::UnboundedSender<Input>,
) {
    let (namespace, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    if let Err(err) = bind_claims(&client, &delayed, &node).await {
        tracing::warn!(pod = %name, %node, error = %err, "the pod's claims did not bind");
        let _ = done.send(Input::Bound {
            pod,
            node,
            retry: true,
        });
        return;
    }
    let api: Api<Pod> = Api::namespaced(client, &namespace);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace, "uid": pod.uid()},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let result = api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await;
    let retry = match result {
        Ok(_) => {
            let note = format!("Successfully assigned {namespace}/{name} to {node}");
            recorder
                .publish(
                    &pod.object_ref(&()),
                    Kind::Normal,
                    "Scheduled",
                    "Binding",
                    &note,
                )
                .await;
            false
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => false,
        Err(err) => {
            tracing::warn!(pod = %name, %node, error = %err, "binding failed");
            true
        }
    };
    let _ = done.send(Input::Bound { pod, node, retry });
}

/// How long the scheduler waits for a claim to bind once it named the node (upstream's
/// `bindTimeoutSeconds`).
const CLAIM_BIND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Upstream's PreBind of VolumeBinding: names the chosen node on each claim that waited for its
/// first consumer (the PV controller then binds or provisions on that node), and waits until
/// every one is bound.
async fn bind_claims(
    client: &kube::Client,
    claims: &[Arc<PersistentVolumeClaim>],
    node: &str,
) -> Result<(), String> {
    use ferrokube_client::volumes::{SELECTED_NODE, claim_volume};
    for claim in claims {
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(client.clone(), &claim.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
        api.patch(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    let deadline = Instant::now() + CLAIM_BIND_TIMEOUT;
    for claim in claims {
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(client.clone(), &claim.namespace().unwrap_or_default());
        loop {
            let current = api
                .get(&claim.name_any())
                .await
                .map_err(|e| e.to_string())?;
            let phase = current.status.as_ref().and_then(|s| s.phase.as_deref());
            if claim_volume(&current).is_some() && phase == Some("Bound") {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "binding volumes: timed out waiting for the condition (claim {})",
                    claim.name_any()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// The FailedScheduling Event and the PodScheduled=False condition, as upstream.
async fn report_unschedulable(
    client: kube::Client,
    recorder: Recorder,
    pod: Arc<Pod>,
    message: String,
) {
    recorder
        .publish(
            &pod.object_ref(&()),
            Kind::Warning,
            "FailedScheduling",
            "Scheduling",
            &message,
        )
        .await;
    let current = pod
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .find(|c| c.type_ == "PodScheduled");
    if current.is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(&message)) {
        return;
    }
    let now = ferrokube_client::clock::rfc3339(jiff::Timestamp::now());
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": now,
    }]}});
    let api: Api<Pod> = Api::namespaced(client, &pod.namespace().unwrap_or_default());
    if let Err(err) = api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        tracing::debug!(pod = %pod.name_any(), error = %err, "could not set PodScheduled");
    }
}

/// Whether a pod's label selector (of an affinity term or a spread constraint) matches
/// `labels`, through kube-core's `Selector`: an empty selector matches every pod and one that
/// does not parse matches none, as upstream's `LabelSelectorAsSelector`.
pub(crate) fn label_selector_matches(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    use kube::core::SelectorExt;
    kube::core::Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// Drops the parts of a watched pod no plugin reads, as upstream's informers' transforms: its
/// annotations, its volumes, its containers' images, commands, environment, mounts and
/// probes (a container keeps its name, resources, ports and restart policy), and its status but
/// the phase and the PodScheduled condition; of its volumes only the claims (VolumeBinding's).
/// With 10,000 pods these were most of the scheduler's memory. A plugin that comes to read
/// more keeps it here.
pub fn keep_what_scheduler_reads(pod: &mut Pod) {
    pod.metadata.annotations = None;
    if let Some(spec) = pod.spec.as_mut() {
        let claims: Vec<k8s_openapi::api::core::v1::Volume> = spec
            .volumes
            .take()
            .into_iter()
            .flatten()
            .filter(|v| v.persistent_volume_claim.is_some())
            .map(|v| k8s_openapi::api::core::v1::Volume {
                name: v.name,
                persistent_volume_claim: v.persistent_volume_claim,
                ..Default::default()
            })
            .collect();
        spec.volumes = (!claims.is_empty()).then_some(claims);
        let slim = |c: &mut k8s_openapi::api::core::v1::Container| {
            *c = k8s_openapi::api::core::v1::Container {
                name: std::mem::take(&mut c.name),
                resources: c.resources.take(),
                ports: c.ports.take(),
                restart_policy: c.restart_policy.take(),
                ..Default::default()
            }
        };
        spec.containers.iter_mut().for_each(slim);
        spec.init_containers.iter_mut().flatten().for_each(slim);
        spec.ephemeral_containers = None;
    }
    if let Some(status) = pod.status.take() {
        let scheduled = status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "PodScheduled")
                .collect()
        });
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: status.phase,
            conditions: scheduled,
            ..Default::default()
        });
    }
}

/// The event, or `None` with the error logged: the watcher retries with a backoff, and the log
/// says why it had to.
fn logged<T>(event: Result<T, watcher::Error>, what: &str) -> Option<T> {
    event
        .inspect_err(|err| tracing::warn!(error = %err, "watching {what} failed; retrying"))
        .ok()
}

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    options: SchedulerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (bound, mut bound_rx) = mpsc::unbounded_channel();
    let pods = trimmed(watcher(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default(),
    ))
    .modify(keep_what_scheduler_reads)
    .default_backoff()
    .filter_map(|e| futures::future::ready(logged(e, "pods").map(|e| Input::Pod(Box::new(e)))));
    let nodes = trimmed(watcher(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
    ))
    .default_backoff()
    .filter_map(|e| futures::future::ready(logged(e, "nodes").map(|e| Input::Node(Box::new(e)))));
    use ferrokube_client::volumes::{claims_cache, classes_cache, volumes_cache};
    let (claims, claim_events) = claims_cache(&client);
    let (volumes, volume_events) = volumes_cache(&client);
    let (classes, class_events) = classes_cache(&client);
    let storage = futures::stream::select(
        claim_events.map(|_| Input::Volumes),
        futures::stream::select(
            volume_events.map(|_| Input::Volumes),
            class_events.map(|_| Input::Volumes),
        ),
    );
    let volumes = Arc::new(volume_binding::Volumes {
        claims,
        volumes,
        classes,
    });
    let mut inputs = std::pin::pin!(futures::stream::select(
        futures::stream::select(pods, nodes),
        storage
    ));
    let mut scheduler = Scheduler {
        recorder: Recorder::new(client.clone(), "default-scheduler"),
        client,
        options,
        cache: Cache::default(),
        queue: Queue::default(),
        bound,
        volumes,
        start: 0,
        relisted_pods: None,
        relisted_nodes: None,
        known: Default::default(),
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Everything that has arrived first, so decisions use the freshest cache.
        while let Some(Some(input)) = inputs.next().now_or_never() {
            scheduler.handle(input, Instant::now());
        }
        while let Ok(input) = bound_rx.try_recv() {
            scheduler.handle(input, Instant::now());
        }
        if scheduler.schedule_next(&mut rng) {
            tokio::task::consume_budget().await;
            continue;
        }
        let due = scheduler.queue.next_due();
        let sleep = async move {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = inputs.next() => match input {
                Some(input) => scheduler.handle(input, Instant::now()),
                None => break,
            },
            Some(input) = bound_rx.recv() => scheduler.handle(input, Instant::now()),
            () = sleep => {}
            () = &mut shutdown => break,
        }
    }
}
