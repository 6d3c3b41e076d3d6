//! A watch of a workload's pods that records every pod ever created and each moment a
//! rollout's bounds broke (more pods than `max_pods`, fewer Ready than `min_ready`).

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

/// What a watch of the pods saw: every pod ever created, and any moment the bounds broke.
#[derive(Default)]
pub struct Observed {
    pub created: std::collections::HashSet<String>,
    pub live: std::collections::HashMap<String, bool>,
    pub violations: Vec<String>,
}

impl Observed {
    fn check(&mut self, max_pods: usize, min_ready: usize) {
        let ready = self.live.values().filter(|r| **r).count();
        if self.live.len() > max_pods || ready < min_ready {
            let moment = format!("{} pods, {ready} ready", self.live.len());
            self.violations.push(moment);
        }
    }
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Whether the pod counts (it is not terminating), and whether it is Ready.
fn counted_and_ready(pod: &Pod) -> (bool, bool) {
    let ready = pod
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Ready" && c.status == "True");
    (pod.metadata.deletion_timestamp.is_none(), ready)
}

/// Watches the pods labelled `selector` (terminating pods no longer count, as the Deployment
/// controller does not count them) (resuming across server restarts) and records them.
pub fn observe_pods(
    client: kube::Client,
    selector: &str,
    max_pods: usize,
    min_ready: usize,
    observed: Arc<Mutex<Observed>>,
) -> tokio::task::JoinHandle<()> {
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let config = watcher::Config::default().labels(selector);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(pods, config).default_backoff());
        let mut relisted = std::collections::HashMap::new();
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { continue };
            let mut seen = observed.lock().unwrap();
            match event {
                watcher::Event::Init => relisted.clear(),
                watcher::Event::InitApply(pod) => {
                    seen.created.insert(uid(&pod));
                    if let (true, ready) = counted_and_ready(&pod) {
                        relisted.insert(uid(&pod), ready);
                    }
                }
                watcher::Event::InitDone => {
                    seen.live = std::mem::take(&mut relisted);
                    seen.check(max_pods, min_ready);
                }
                watcher::Event::Apply(pod) => {
                    seen.created.insert(uid(&pod));
                    match counted_and_ready(&pod) {
                        (true, ready) => seen.live.insert(uid(&pod), ready),
                        (false, _) => seen.live.remove(&uid(&pod)),
                    };
                    seen.check(max_pods, min_ready);
                }
                watcher::Event::Delete(pod) => {
                    seen.live.remove(&uid(&pod));
                    seen.check(max_pods, min_ready);
                }
            }
        }
    })
}
