//! The node's side of local-path volumes: a deleted volume's directory is removed by the
//! kubelet of the node that holds it, which then lifts the volume's finalizer (as k3s's
//! provisioner runs a helper pod on the node). Only directories under this kubelet's
//! local-path root are ever removed.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use ferrokube_client::volumes::{LOCAL_PATH_FINALIZER, fits_node};
use futures::StreamExt;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};

/// The directory to remove for a volume being deleted, if it is this node's to remove: the
/// volume carries the finalizer, is pinned to this node, and its path is a plain child of
/// `root`.
pub fn directory_to_remove(pv: &PersistentVolume, node: &str, root: &Path) -> Option<PathBuf> {
    pv.metadata.deletion_timestamp.as_ref()?;
    let finalizers = pv.metadata.finalizers.as_deref().unwrap_or_default();
    if !finalizers.iter().any(|f| f == LOCAL_PATH_FINALIZER) {
        return None;
    }
    let labels = BTreeMap::from([("kubernetes.io/hostname".to_owned(), node.to_owned())]);
    if !fits_node(pv, &labels, node) {
        return None;
    }
    let path = PathBuf::from(&pv.spec.as_ref()?.host_path.as_ref()?.path);
    let child = path.strip_prefix(root).ok()?;
    let mut parts = child.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Some(path),
        _ => None,
    }
}

/// Removes the directory and lifts the finalizer.
async fn clean_up(api: &Api<PersistentVolume>, pv: &PersistentVolume, dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            tracing::info!(volume = %pv.name_any(), dir = %dir.display(), "removed a deleted volume's directory")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(volume = %pv.name_any(), dir = %dir.display(), error = %e, "could not remove a deleted volume's directory");
            return;
        }
    }
    let patch = ferrokube_client::volumes::without_finalizer(&pv.metadata, LOCAL_PATH_FINALIZER);
    if let Err(err) = api
        .patch(
            &pv.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        tracing::debug!(volume = %pv.name_any(), error = %err, "could not lift the finalizer; the watch retries");
    }
}

/// Watches the volumes and cleans up this node's deleted ones, until the stream ends.
pub async fn run(client: kube::Client, node: String, root: PathBuf) {
    let api: Api<PersistentVolume> = Api::all(client.clone());
    let (_cache, volumes) = ferrokube_client::volumes::volumes_cache(&client);
    let mut volumes = volumes;
    while let Some(event) = volumes.next().await {
        match event {
            Ok(pv) => {
                if let Some(dir) = directory_to_remove(&pv, &node, &root) {
                    clean_up(&api, &pv, &dir).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "watching volumes failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(path: &str, node: &str, deleting: bool, finalizer: bool) -> PersistentVolume {
        let mut pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": "pvc-1", "finalizers": if finalizer { vec![LOCAL_PATH_FINALIZER] } else { vec![] }},
            "spec": {"hostPath": {"path": path}, "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
        }))
        .unwrap();
        if deleting {
            pv.metadata.deletion_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
            );
        }
        pv
    }

    #[test]
    fn only_this_nodes_deleted_directories_are_removed() {
        let root = Path::new("/var/lib/fk/storage");
        let cases = [
            (pv("/var/lib/fk/storage/pvc-1_ns_c", "n1", true, true), true),
            (
                pv("/var/lib/fk/storage/pvc-1_ns_c", "n1", false, true),
                false,
            ),
            (
                pv("/var/lib/fk/storage/pvc-1_ns_c", "n1", true, false),
                false,
            ),
            (
                pv("/var/lib/fk/storage/pvc-1_ns_c", "n2", true, true),
                false,
            ),
            (pv("/var/lib/fk/storage", "n1", true, true), false),
            (pv("/var/lib/fk/storage/../etc", "n1", true, true), false),
            (pv("/var/lib/fk/storage/a/b", "n1", true, true), false),
            (pv("/etc", "n1", true, true), false),
        ];
        for (volume, want) in cases {
            let path = volume
                .spec
                .as_ref()
                .unwrap()
                .host_path
                .as_ref()
                .unwrap()
                .path
                .clone();
            assert_eq!(
                directory_to_remove(&volume, "n1", root).is_some(),
                want,
                "{path}"
            );
        }
    }
}
