//! The kubelet: registers its node and keeps its Lease fresh, and runs every pod bound to the
//! node through a container runtime (`runtime::Runtime`), one worker per pod. The `hollow`
//! runtime simulates containers for scale tests (`ferrokube server --hollow-nodes N`); the CRI
//! runtime (containerd) is the next step.

pub mod containerd;
pub mod log_server;
pub mod logs;
pub mod node;
pub mod pod;
pub mod runtime;
pub mod sources;
pub mod volume;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use ferrokube_client::cache::trimmed;
use ferrokube_client::events::Recorder;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use node::Machine;
use node::heartbeat::{heartbeat, register};
use pod::worker::WorkerContext;
use runtime::Runtime;

/// How a kubelet is set up.
pub struct KubeletOptions {
    pub machine: Machine,
    pub runtime: Arc<dyn Runtime>,
    /// Where the kubelet serves container logs (the port in `machine.kubelet_port`); none for
    /// hollow nodes.
    pub log_listener: Option<tokio::net::TcpListener>,
    /// Where pods' volumes are set up (`<data dir>/kubelet/pods`); none for hollow nodes, whose
    /// volumes are simulated.
    pub volumes_root: Option<std::path::PathBuf>,
    /// Where local-path PersistentVolumes live on this node (`<data dir>/storage`), announced
    /// on the Node for the provisioner; none for hollow nodes, which hold no such volumes.
    pub local_path_root: Option<std::path::PathBuf>,
}

/// Hands each pod event to the pod's worker, starting workers as pods appear.
struct Workers {
    ctx: WorkerContext,
    running: HashMap<String, watch::Sender<Arc<Pod>>>,
    /// The workers' tasks, waited for on shutdown.
    tasks: tokio::task::JoinSet<()>,
    /// The same pods by namespace and name, for the log server.
    directory: log_server::PodDirectory,
}

impl Workers {
    fn update(&mut self, mut pod: Pod) {
        let uid = pod.uid().unwrap_or_default();
        // The stored conditions matter only to a new worker (their transition times); a
        // running one keeps what it reported, so the pod is kept without them.
        let seed = pod::status::Transitions::of(&pod);
        if let Some(status) = pod.status.as_mut() {
            status.conditions = None;
        }
        let pod = Arc::new(pod);
        let key = (pod.namespace().unwrap_or_default(), pod.name_any());
        self.directory
            .write()
            .expect("pod directory lock")
            .insert(key, pod.clone());
        if let Some(tx) = self.running.get(&uid)
            && tx.send(pod.clone()).is_ok()
        {
            return;
        }
        let (tx, rx) = watch::channel(pod);
        self.tasks
            .spawn(pod::worker::run(self.ctx.clone(), rx, seed));
        self.running.insert(uid, tx);
    }

    /// Drops the workers that finished (their pods are gone).
    fn forget_finished(&mut self) {
        while self.tasks.try_join_next().is_some() {}
        let before = self.running.len();
        self.running.retain(|_, tx| !tx.is_closed());
        if self.running.len() != before {
            let uids: HashSet<&String> = self.running.keys().collect();
            self.directory
                .write()
                .expect("pod directory lock")
                .retain(|_, pod| pod.metadata.uid.as_ref().is_some_and(|u| uids.contains(u)));
        }
    }

    /// Ends every worker at its next wait (its channel closes) and waits for them, at most
    /// `STOP_GRACE`; their containers keep running, as upstream's kubelet leaves them when it
    /// stops.
    async fn stop(mut self) {
        self.running.clear();
        let tasks = &mut self.tasks;
        let all_ended = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_GRACE, all_ended).await.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "pod workers still busy at shutdown; stopping them"
            );
        }
    }

    /// The pod is gone from the API: its worker stops what still runs.
    fn gone(&mut self, mut pod: Pod) {
        if pod.metadata.deletion_timestamp.is_none() {
            pod.metadata.deletion_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
            );
        }
        self.update(pod);
    }
}

/// How long pod workers get to finish their step when the kubelet stops.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the containers of a pod that no longer exists get to stop.
const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Removes the sandboxes (and containers) and then the volumes of pods not in `known`.
async fn remove_orphans(ctx: WorkerContext, known: HashSet<String>) {
    let runtime = ctx.runtime;
    let uids = match runtime.pod_uids().await {
        Ok(uids) => uids,
        Err(err) => {
            tracing::warn!(error = %err, "could not list the runtime's pods");
            return;
        }
    };
    for uid in uids.into_iter().filter(|u| !known.contains(u)) {
        tracing::info!(pod_uid = %uid, "removing the sandbox of a pod that no longer exists");
        if let Err(err) = runtime.remove_sandbox(&uid, ORPHAN_GRACE).await {
            tracing::warn!(pod_uid = %uid, error = %err, "could not remove an orphaned sandbox");
        }
    }
    let Some(root) = ctx.volumes_root else {
        return;
    };
    for uid in volume::pod_uids(&root)
        .into_iter()
        .filter(|u| !known.contains(u))
    {
        tracing::info!(pod_uid = %uid, "removing the volumes of a pod that no longer exists");
        if let Err(err) = volume::tear_down(&root, &uid) {
            tracing::warn!(pod_uid = %uid, error = %err, "could not remove an orphaned pod's volumes");
        }
    }
}

/// Drops the parts of a pod's stored status the kubelet never reads (it works the status out
/// from the runtime): it keeps the QoS class (its cgroups and resources follow it), the
/// waiting reasons of containers not started (the log server's answer for them), and the
/// start time and each condition's type, value and transition time (kept across reports).
pub fn keep_what_kubelet_reads(pod: &mut Pod) {
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodStatus};
    let Some(status) = pod.status.take() else {
        return;
    };
    let waiting = |statuses: Option<Vec<ContainerStatus>>| {
        let kept: Vec<ContainerStatus> = statuses
            .into_iter()
            .flatten()
            .filter(|c| c.state.as_ref().is_some_and(|s| s.waiting.is_some()))
            .map(|c| ContainerStatus {
                name: c.name,
                state: c.state,
                ..Default::default()
            })
            .collect();
        (!kept.is_empty()).then_some(kept)
    };
    let conditions = status.conditions.map(|conditions| {
        let kept = conditions.into_iter().map(|c| PodCondition {
            type_: c.type_,
            status: c.status,
            last_transition_time: c.last_transition_time,
            ..Default::default()
        });
        kept.collect()
    });
    pod.status = Some(PodStatus {
        qos_class: status.qos_class,
        start_time: status.start_time,
        conditions,
        container_statuses: waiting(status.container_statuses),
        init_container_statuses: waiting(status.init_container_statuses),
        ..Default::default()
    });
}

/// Drops a pod's volumes and mounts on a hollow node, whose volumes are simulated: nothing
/// reads them there, and k8s-openapi's `Volume` holds every volume type inline (kilobytes a
/// pod, 80 MiB over 10,000 hollow pods once every pod had its service account token volume).
pub fn drop_simulated_volumes(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    spec.volumes = None;
    let containers = spec.containers.iter_mut();
    for c in containers.chain(spec.init_containers.iter_mut().flatten()) {
        c.volume_mounts = None;
    }
}

/// Announces the node's local-path directory on its Node (retrying until it is written), then
/// removes the directories of its deleted local-path volumes.
async fn keep_local_paths(client: kube::Client, node: String, root: std::path::PathBuf) {
    use ferrokube_client::volumes::LOCAL_PATH_ANNOTATION;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let patch = serde_json::json!({"metadata": {"annotations": {
        LOCAL_PATH_ANNOTATION: root.to_string_lossy()}}});
    let params = kube::api::PatchParams::default();
    while let Err(err) = nodes
        .patch(&node, &params, &kube::api::Patch::Merge(&patch))
        .await
    {
        tracing::warn!(%node, error = %err, "could not announce the local-path directory; retrying");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    volume::local_path::run(client, node, root).await;
}

/// Runs the kubelet until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    options: KubeletOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let machine = options.machine;
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    // A registration that keeps failing (no API server yet) still stops on a signal.
    let node_uid = loop {
        match register(&client, &machine).await {
            Ok(uid) => break uid,
            Err(err) => {
                tracing::warn!(node = %machine.name, error = %err, "node registration failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                    () = shutdown.clone() => return,
                }
            }
        }
    };
    tracing::info!(node = %machine.name, "node registered");
    let beat = tokio::spawn(heartbeat(client.clone(), machine.clone(), node_uid));
    let local_paths = options
        .local_path_root
        .map(|root| tokio::spawn(keep_local_paths(client.clone(), machine.name.clone(), root)));
    let mut workers = Workers {
        ctx: WorkerContext {
            client: client.clone(),
            runtime: options.runtime,
            recorder: Recorder::new(client.clone(), "kubelet"),
            node: Arc::new(pod::env::NodeFacts {
                host_ip: machine.address.clone(),
                milli_cpu: machine.milli_cpu,
                memory_bytes: machine.memory_bytes,
                ephemeral_storage_bytes: machine.ephemeral_storage_bytes,
            }),
            volumes_root: options.volumes_root.map(Arc::from),
        },
        running: HashMap::new(),
        tasks: tokio::task::JoinSet::new(),
        directory: log_server::PodDirectory::default(),
    };
    if let Some(listener) = options.log_listener {
        tokio::spawn(log_server::serve(
            listener,
            workers.directory.clone(),
            workers.ctx.runtime.clone(),
            shutdown.clone(),
        ));
    }
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", machine.name));
    let simulated = workers.ctx.volumes_root.is_none();
    let pods = trimmed(watcher(Api::<Pod>::all(client), config)).modify(move |pod: &mut Pod| {
        keep_what_kubelet_reads(pod);
        if simulated {
            drop_simulated_volumes(pod);
        }
    });
    let mut pods = std::pin::pin!(pods.default_backoff());
    let mut relisted: Option<HashSet<String>> = None;
    loop {
        let event = tokio::select! {
            event = pods.next() => event,
            () = shutdown.clone() => break,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(err)) => {
                // The watcher retries with a backoff; say why it had to.
                tracing::warn!(node = %machine.name, error = %err, "watching this node's pods failed; retrying");
                continue;
            }
            None => break,
        };
        match event {
            watcher::Event::Init => relisted = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let Some(seen) = &mut relisted {
                    seen.insert(pod.uid().unwrap_or_default());
                }
                workers.update(pod);
            }
            watcher::Event::InitDone => {
                // Workers of pods that vanished while the watch was down stop their pods.
                let seen = relisted.take().unwrap_or_default();
                let stale: Vec<Arc<Pod>> = workers
                    .running
                    .iter()
                    .filter(|(uid, _)| !seen.contains(*uid))
                    .map(|(_, tx)| tx.borrow().clone())
                    .collect();
                for pod in stale {
                    workers.gone((*pod).clone());
                }
                // Sandboxes of pods that went away while no kubelet watched (say, deleted while
                // ferrokube was down) are removed too.
                let known: HashSet<String> = seen
                    .into_iter()
                    .chain(workers.running.keys().cloned())
                    .collect();
                tokio::spawn(remove_orphans(workers.ctx.clone(), known));
            }
            watcher::Event::Apply(pod) => workers.update(pod),
            watcher::Event::Delete(pod) => workers.gone(pod),
        }
        workers.forget_finished();
    }
    beat.abort();
    if let Some(task) = local_paths {
        task.abort();
    }
    workers.stop().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hollow_nodes_keep_no_volumes() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "a", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                "initContainers": [{"name": "i", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}]},
        }))
        .unwrap();
        drop_simulated_volumes(&mut pod);
        let spec = pod.spec.unwrap();
        assert!(spec.volumes.is_none());
        assert!(spec.containers[0].volume_mounts.is_none());
        assert!(spec.init_containers.unwrap()[0].volume_mounts.is_none());
        // What one volume costs held as k8s-openapi's struct, before its sources' own heap.
        let size = std::mem::size_of::<k8s_openapi::api::core::v1::Volume>();
        assert!(size > 1024, "{size} bytes");
        println!("a Volume is {size} bytes inline");
    }

    #[test]
    fn the_kept_status_answers_as_the_whole_one() {
        let pod = |waiting: bool| -> Pod {
            let state = if waiting {
                serde_json::json!({"waiting": {"reason": "ImagePullBackOff", "message": "x"}})
            } else {
                serde_json::json!({"running": {"startedAt": "2026-12-03T10:00:00Z"}})
            };
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web", "uid": "u1"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                "status": {"phase": "Pending", "qosClass": "Burstable", "podIP": "10.0.0.9",
                    "startTime": "2026-12-03T09:59:00Z",
                    "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                        "message": "m", "lastTransitionTime": "2026-12-03T09:59:30Z"}],
                    "containerStatuses": [{"name": "app", "image": "nginx", "imageID": "",
                        "ready": false, "restartCount": 0, "state": state}]},
            }))
            .unwrap()
        };
        for waiting in [true, false] {
            let full = pod(waiting);
            let mut kept = full.clone();
            keep_what_kubelet_reads(&mut kept);
            assert_eq!(
                runtime::cri::cgroup_parent(&kept),
                runtime::cri::cgroup_parent(&full)
            );
            assert_eq!(
                runtime::cri::cgroup_parent(&kept),
                "/kubepods/burstable/podu1"
            );
            assert_eq!(
                logs::waiting_reason(&kept, "app"),
                logs::waiting_reason(&full, "app")
            );
            // The status worked out from the kept pod keeps the same transition times.
            let now = jiff::Timestamp::now();
            let report = |p: &Pod| {
                let (pulls, health) = (Default::default(), Default::default());
                let previous = pod::status::Transitions::of(p);
                pod::status::pod_status(p, &previous, None, &[], &pulls, &health, ("h", now), now)
            };
            assert_eq!(report(&kept), report(&full));
            let status = kept.status.unwrap();
            assert_eq!(status.pod_ip, None);
            let condition = &status.conditions.unwrap()[0];
            assert_eq!(
                (condition.reason.as_ref(), condition.message.as_ref()),
                (None, None)
            );
            assert_eq!(
                status.container_statuses.is_some(),
                waiting,
                "only waiting ones"
            );
        }
    }

    /// A kubelet whose API server never answers still stops when asked to: its registration
    /// retries wait on the shutdown signal too.
    #[tokio::test]
    async fn a_failing_registration_stops_on_shutdown() {
        // A port nobody listens on: every registration fails at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let machine = node::machine::this_machine(
            "lonely".into(),
            std::path::Path::new("/"),
            "hollow".into(),
        );
        let options = KubeletOptions {
            machine,
            runtime: Arc::new(runtime::hollow::Hollow::new(0)),
            log_listener: None,
            volumes_root: None,
            local_path_root: None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let kubelet = tokio::spawn(run(client, options, async move {
            let _ = stopped.await;
        }));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!kubelet.is_finished(), "still retrying its registration");
        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), kubelet)
            .await
            .expect("the kubelet stops on shutdown")
            .unwrap();
    }
}
