//! The worker's part of a pod's volumes (the async shell around `crate::volume`): set up before
//! the sandbox, with a `FailedMount` warning and a retry with backoff while one cannot be;
//! brought up to date every minute and when the pod's labels or annotations change (so edits
//! of a ConfigMap or Secret reach running pods, as upstream's sync period does); removed with
//! the pod.

use std::time::{Duration, Instant};

use ferrokube_client::events::Kind;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::worker::{WorkerContext, event};
use crate::sources::{self, Objects};
use crate::volume::{self, PodVolumes, SetUp};

/// How often mounted volumes are written again from their sources.
pub const RESYNC: Duration = Duration::from_secs(60);
/// The longest wait between two attempts at a volume that failed.
const MAX_RETRY: Duration = Duration::from_secs(32);

/// A pod's volumes as its worker knows them.
#[derive(Default)]
pub struct Volumes {
    /// Whether they are set up (on hollow nodes at once: their volumes are simulated).
    pub ready: bool,
    /// Where each is on the node (none on hollow nodes).
    pub mounted: Option<PodVolumes>,
    failures: u32,
    /// When to try again after a failure.
    pub retry_at: Option<jiff::Timestamp>,
    synced_at: Option<Instant>,
    /// A hash of the labels and annotations the last sync saw (downward API volumes show them).
    synced_meta: u64,
}

fn meta_hash(pod: &Pod) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (&pod.metadata.labels, &pod.metadata.annotations).hash(&mut hasher);
    hasher.finish()
}

/// Reads the ConfigMaps and Secrets the volumes name and writes every volume.
async fn sync(ctx: &WorkerContext, root: &std::path::Path, pod: &Pod) -> Result<SetUp, String> {
    let refs = volume::referenced(pod);
    let objects = match refs.is_empty() {
        true => Objects::default(),
        false => {
            let namespace = pod.namespace().unwrap_or_default();
            sources::fetch(&ctx.client, &namespace, &refs)
                .await
                .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?
        }
    };
    let context = volume::Context {
        root,
        objects: &objects,
        node: &ctx.node,
    };
    volume::set_up(pod, &context).map_err(|e| e.to_string())
}

impl Volumes {
    /// Sets the pod's volumes up unless they are; whether they are ready.
    pub async fn set_up(&mut self, ctx: &WorkerContext, pod: &Pod) -> bool {
        if self.ready {
            return true;
        }
        let Some(root) = ctx.volumes_root.clone() else {
            self.ready = true;
            return true;
        };
        // Woken early (by the pod's own status update): the retry is not due yet.
        if self.retry_at.is_some_and(|at| at > jiff::Timestamp::now()) {
            return false;
        }
        match sync(ctx, &root, pod).await {
            Ok(done) => {
                for warning in done.warnings {
                    event(
                        ctx,
                        pod,
                        Kind::Warning,
                        "VolumeSizeLimitNotEnforced",
                        warning,
                    )
                    .await;
                }
                self.mounted = Some(done.volumes);
                self.ready = true;
                self.retry_at = None;
                self.synced_at = Some(Instant::now());
                self.synced_meta = meta_hash(pod);
                true
            }
            Err(message) => {
                tracing::debug!(pod = %pod.name_any(), %message, "volume setup failed");
                event(ctx, pod, Kind::Warning, "FailedMount", message).await;
                self.failures += 1;
                let wait = Duration::from_secs(1 << self.failures.min(5)).min(MAX_RETRY);
                self.retry_at = Some(jiff::Timestamp::now() + wait);
                false
            }
        }
    }

    /// Writes the volumes again when a minute has passed or the pod's metadata changed; a
    /// failure is reported and leaves the files as they were.
    pub async fn resync(&mut self, ctx: &WorkerContext, pod: &Pod) {
        let (Some(root), Some(at)) = (ctx.volumes_root.clone(), self.synced_at) else {
            return;
        };
        if at.elapsed() < RESYNC && meta_hash(pod) == self.synced_meta {
            return;
        }
        self.synced_at = Some(Instant::now());
        self.synced_meta = meta_hash(pod);
        match sync(ctx, &root, pod).await {
            Ok(done) => self.mounted = Some(done.volumes),
            Err(message) => event(ctx, pod, Kind::Warning, "FailedMount", message).await,
        }
    }

    /// Removes what the pod's volumes left on the node.
    pub fn tear_down(&self, ctx: &WorkerContext, pod: &Pod) {
        let Some(root) = &ctx.volumes_root else {
            return;
        };
        let uid = pod.uid().unwrap_or_default();
        if let Err(err) = volume::tear_down(root, &uid) {
            tracing::warn!(pod = %pod.name_any(), error = %err, "could not remove the pod's volumes");
        }
    }
}
