//! The worker's part of a pod's volumes (the async shell around `crate::volume`): set up before
//! the sandbox, with a `FailedMount` warning and a retry with backoff while one cannot be;
//! brought up to date every minute and when the pod's labels or annotations change (so edits
//! of a ConfigMap or Secret reach running pods, as upstream's sync period does, and tokens are
//! renewed once 80% of their life has passed); removed with the pod.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokube_client::events::Kind;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::worker::{WorkerContext, event};
use crate::sources::{self, Objects, TokenKey};
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
    /// The service-account tokens its projected volumes hold.
    tokens: BTreeMap<TokenKey, Issued>,
}

fn meta_hash(pod: &Pod) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (&pod.metadata.labels, &pod.metadata.annotations).hash(&mut hasher);
    hasher.finish()
}

/// A token the kubelet holds for a pod.
#[derive(Clone, Debug)]
struct Issued {
    token: String,
    issued_at: jiff::Timestamp,
    expires_at: jiff::Timestamp,
}

/// Upstream's `requiresRefresh`: a token is asked for again once 80% of its life has passed,
/// or after 24 hours.
fn needs_refresh(issued: &Issued, now: jiff::Timestamp) -> bool {
    let life = issued.expires_at.as_second() - issued.issued_at.as_second();
    let age = now.as_second() - issued.issued_at.as_second();
    age * 5 >= life * 4 || age >= 24 * 3600
}

/// Brings the pod's projected tokens up to date, asking for new ones where due.
async fn refresh_tokens(
    ctx: &WorkerContext,
    pod: &Pod,
    held: &mut BTreeMap<TokenKey, Issued>,
) -> Result<BTreeMap<TokenKey, String>, String> {
    let now = jiff::Timestamp::now();
    let wanted = crate::volume::projected::token_keys(pod);
    held.retain(|key, _| wanted.contains(key));
    for key in wanted {
        if held
            .get(&key)
            .is_some_and(|issued| !needs_refresh(issued, now))
        {
            continue;
        }
        let (token, expires_at) = sources::request_token(&ctx.client, pod, &key).await?;
        let issued = Issued {
            token,
            issued_at: now,
            expires_at,
        };
        held.insert(key, issued);
    }
    Ok(held
        .iter()
        .map(|(k, v)| (k.clone(), v.token.clone()))
        .collect())
}

/// Reads the ConfigMaps, Secrets and tokens the volumes name and writes every volume.
async fn sync(
    ctx: &WorkerContext,
    root: &std::path::Path,
    pod: &Pod,
    tokens: &mut BTreeMap<TokenKey, Issued>,
) -> Result<SetUp, String> {
    let refs = volume::referenced(pod);
    let mut objects = match refs.is_empty() {
        true => Objects::default(),
        false => {
            let namespace = pod.namespace().unwrap_or_default();
            sources::fetch(&ctx.client, &namespace, &refs)
                .await
                .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?
        }
    };
    objects.tokens = refresh_tokens(ctx, pod, tokens)
        .await
        .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?;
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
        match sync(ctx, &root, pod, &mut self.tokens).await {
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
        match sync(ctx, &root, pod, &mut self.tokens).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_at_80_percent_of_their_life_or_a_day() {
        let at = |s: i64| jiff::Timestamp::from_second(1_700_000_000 + s).unwrap();
        let issued = |life: i64| Issued {
            token: "t".into(),
            issued_at: at(0),
            expires_at: at(life),
        };
        assert!(!needs_refresh(&issued(3600), at(2879)));
        assert!(needs_refresh(&issued(3600), at(2880)));
        assert!(!needs_refresh(&issued(365 * 86400), at(86399)));
        assert!(needs_refresh(&issued(365 * 86400), at(86400)));
    }
}
