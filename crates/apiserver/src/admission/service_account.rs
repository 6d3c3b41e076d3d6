//! ServiceAccount, as upstream's admission plugin: a new pod runs as `serviceAccountName`
//! (`default` unless set), which must exist; unless `automountServiceAccountToken: false` (on
//! the pod, else on the service account), it gets the `kube-api-access-<random>` projected
//! volume — a token for its service account, the cluster CA and its namespace — mounted
//! read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every container.

use async_trait::async_trait;
use ferrokube_api::{ApiError, GroupResource};
use serde_json::{Value, json};

use super::{Attributes, Operation, Plugin};
use crate::Inner;
use crate::registry::Storage;

/// Where the token, CA and namespace appear in a container.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The token lifetime the kubelet asks for (upstream's 3607: an hour and a marker).
const TOKEN_SECONDS: i64 = 3607;

/// The ServiceAccount plugin.
pub struct ServiceAccount;

/// Upstream's `utilrand.String`: consonants and digits that spell no words.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The projected volume of the pod's token, CA and namespace.
pub fn api_access_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

fn containers_mut(spec: &mut Value) -> impl Iterator<Item = &mut Value> {
    let spec = spec.as_object_mut().into_iter().flat_map(|s| s.iter_mut());
    spec.filter(|(k, _)| *k == "containers" || *k == "initContainers")
        .flat_map(|(_, list)| list.as_array_mut().into_iter().flatten())
}

/// Whether a container already mounts something at the token's path.
fn mounts_token_path(container: &Value) -> bool {
    let mounts = container.get("volumeMounts").and_then(Value::as_array);
    mounts
        .into_iter()
        .flatten()
        .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH))
}

/// Adds the volume and its mounts to a pod spec.
pub fn mount_api_access(spec: &mut Value, volume_name: &str) {
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH});
    for container in containers_mut(spec).filter(|c| !mounts_token_path(c)) {
        let mounts = container
            .as_object_mut()
            .expect("containers are objects")
            .entry("volumeMounts")
            .or_insert_with(|| json!([]));
        if let Some(list) = mounts.as_array_mut() {
            list.push(mount.clone());
        }
    }
    let volumes = spec
        .as_object_mut()
        .expect("pod specs are objects")
        .entry("volumes")
        .or_insert_with(|| json!([]));
    if let Some(list) = volumes.as_array_mut() {
        list.push(api_access_volume(volume_name));
    }
}

fn is_pod(attributes: &Attributes<'_>) -> bool {
    attributes.info.group.is_empty() && attributes.info.kind == "Pod"
}

#[async_trait]
impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    async fn mutate(
        &self,
        attributes: &Attributes<'_>,
        obj: &mut Value,
        server: &Inner,
    ) -> Result<(), ApiError> {
        if attributes.operation != Operation::Create || !is_pod(attributes) {
            return Ok(());
        }
        let namespace = attributes.namespace.unwrap_or_default();
        let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
            return Ok(());
        };
        let given = ["serviceAccountName", "serviceAccount"]
            .iter()
            .find_map(|k| spec.get(*k)?.as_str().filter(|s| !s.is_empty()))
            .unwrap_or("default")
            .to_owned();
        spec["serviceAccountName"] = json!(given);
        spec["serviceAccount"] = json!(given);
        let account = Storage::of(server, "", "v1", "serviceaccounts")
            .find(Some(namespace), &given)
            .await?;
        let Some(account) = account else {
            let why = format!(
                "error looking up service account {namespace}/{given}: serviceaccount \"{given}\" not found"
            );
            return Err(ApiError::forbidden(
                &GroupResource::new("", "pods"),
                attributes.name,
                &why,
            ));
        };
        let automount = spec
            .get("automountServiceAccountToken")
            .and_then(Value::as_bool)
            .or_else(|| {
                account
                    .object
                    .get("automountServiceAccountToken")?
                    .as_bool()
            })
            .unwrap_or(true);
        if automount {
            mount_api_access(spec, &format!("kube-api-access-{}", random_suffix()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_volume_is_mounted_in_every_container_once() {
        let mut spec = json!({"containers": [
            {"name": "a", "image": "i"},
            {"name": "b", "image": "i", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]},
        ], "initContainers": [{"name": "init", "image": "i"}], "volumes": [{"name": "own", "emptyDir": {}}]});
        mount_api_access(&mut spec, "kube-api-access-x2z9q");
        let mounts = |path: &str| spec.pointer(path).cloned().unwrap();
        assert_eq!(
            mounts("/containers/0/volumeMounts"),
            json!([{"name": "kube-api-access-x2z9q", "readOnly": true, "mountPath": MOUNT_PATH}])
        );
        assert_eq!(
            mounts("/containers/1/volumeMounts")
                .as_array()
                .unwrap()
                .len(),
            1,
            "its own stays"
        );
        assert_eq!(
            mounts("/initContainers/0/volumeMounts/0/name"),
            "kube-api-access-x2z9q"
        );
        assert_eq!(
            mounts("/volumes/1/projected/sources/0/serviceAccountToken/expirationSeconds"),
            3607
        );
        assert_eq!(random_suffix().len(), 5);
    }
}
