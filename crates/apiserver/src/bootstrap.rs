//! What every cluster has from its first start: the namespaces default, kube-system,
//! kube-public and kube-node-lease.

use ferrokube_api::ApiError;
use ferrokube_store::StoreError;
use serde_json::json;

use crate::Inner;
use crate::handlers::create::prepare_create;

/// The namespaces upstream creates at start.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates each system namespace that does not exist yet; existing ones are left alone.
pub(crate) async fn ensure_system_namespaces(server: &Inner) -> Result<(), ApiError> {
    let info = server
        .registry
        .find("", "v1", "namespaces")
        .expect("namespaces are registered");
    for name in SYSTEM_NAMESPACES {
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        prepare_create(info, &mut ns);
        match server
            .store
            .create(&info.key(None, name), crate::object::to_stored(info, &ns))
            .await
        {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(err) => {
                return Err(ApiError::internal(format!(
                    "creating namespace {name}: {err}"
                )));
            }
        }
    }
    Ok(())
}
