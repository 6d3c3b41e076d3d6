//! What every cluster has from its first start: the namespaces default, kube-system,
//! kube-public and kube-node-lease, and their `default` service accounts, created through the
//! registry like any other object.

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
    Ok(())
}
