//! What every cluster has from its first start: the namespaces default, kube-system,
//! kube-public and kube-node-lease, their `default` service accounts, and the `local-path`
//! StorageClass (the default one, as k3s ships it), created through the registry like any
//! other object.

use ferrokube_api::ApiError;
use serde_json::json;

use crate::Inner;
use crate::admission::IMMORTAL_NAMESPACES;
use crate::registry::Storage;

/// Creates each system namespace that does not exist yet; existing ones are left alone.
pub(crate) async fn ensure_system_namespaces(server: &Inner) -> Result<(), ApiError> {
    let namespaces = Storage::of(server, "", "v1", "namespaces");
    for name in IMMORTAL_NAMESPACES {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        namespaces.create_if_missing(None, ns).await?;
    }
    // Their `default` service accounts, so that pods can be admitted from the first request
    // (the service account controller makes them too, in every namespace, a moment later).
    let accounts = Storage::of(server, "", "v1", "serviceaccounts");
    for name in IMMORTAL_NAMESPACES {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}});
        accounts.create_if_missing(Some(name), sa).await?;
    }
    let classes = Storage::of(server, "storage.k8s.io", "v1", "storageclasses");
    classes.create_if_missing(None, local_path_class()).await?;
    Ok(())
}

/// The provisioner of the built-in local-path volumes (k3s's name for it).
pub const LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";

/// The default StorageClass: a directory per volume on the node that runs the first pod
/// using it, deleted with its claim.
fn local_path_class() -> serde_json::Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {
            ferrokube_api::resources::storage::DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    })
}
