//! `persistentVolumeClaim` volumes: the claim must be bound, and its volume is mounted from
//! where it is on this node — a `hostPath` (what the local-path provisioner makes; its
//! directory is created world-writable, as k3s's is) or a `local` path. A volume of another
//! type fails with upstream's `FailedMount` shape, never mounting nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ferrokube_client::volumes::{claim_volume, is_local_path, refers_to};
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource,
};

use super::Mounted;
use crate::sources::Objects;

/// The volume's field names that are not its source.
const NOT_SOURCES: [&str; 9] = [
    "accessModes",
    "capacity",
    "claimRef",
    "mountOptions",
    "nodeAffinity",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "volumeMode",
    "volumeAttributesClassName",
];

fn source_kind(pv: &PersistentVolume) -> String {
    let spec = serde_json::to_value(pv.spec.clone().unwrap_or_default()).unwrap_or_default();
    let mut kinds = spec.as_object().into_iter().flatten().map(|(k, _)| k);
    kinds
        .find(|k| !NOT_SOURCES.contains(&k.as_str()))
        .cloned()
        .unwrap_or_default()
}

/// The claim and its volume, checked as upstream's volume manager checks them.
fn bound_volume<'a>(
    claim: Option<&'a (PersistentVolumeClaim, Option<PersistentVolume>)>,
    name: &str,
    namespace: &str,
) -> Result<(&'a PersistentVolumeClaim, &'a PersistentVolume), String> {
    let Some((claim, pv)) = claim else {
        return Err(format!("persistentvolumeclaim \"{name}\" not found"));
    };
    let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let Some(volume) = claim_volume(claim).filter(|_| bound) else {
        return Err(format!(
            "error processing PVC {namespace}/{name}: PVC is not bound"
        ));
    };
    let Some(pv) = pv else {
        return Err(format!(
            "error processing PVC {namespace}/{name}: failed to fetch PV \"{volume}\" from API server: persistentvolumes \"{volume}\" not found"
        ));
    };
    if !refers_to(pv, claim) {
        return Err(format!(
            "error processing PVC {namespace}/{name}: the PV \"{volume}\" is bound to another claim"
        ));
    }
    Ok((claim, pv))
}

/// Sets up the claim's volume for a pod in `namespace`.
pub fn set_up(
    source: &PersistentVolumeClaimVolumeSource,
    objects: &Objects,
    namespace: &str,
) -> Result<Mounted, String> {
    let name = source.claim_name.as_str();
    let (_, pv) = bound_volume(objects.claims.get(name), name, namespace)?;
    let spec = pv.spec.as_ref().ok_or("the volume has no spec")?;
    if spec.volume_mode.as_deref() == Some("Block") {
        return Err("volumes of volumeMode Block are not supported by this kubelet yet".into());
    }
    if let Some(options) = spec.mount_options.as_ref().filter(|o| !o.is_empty()) {
        return Err(format!(
            "mount options {options:?} are not supported by this kubelet yet"
        ));
    }
    let read_only = source.read_only.unwrap_or(false);
    let path = if let Some(host) = &spec.host_path {
        let provisioned = is_local_path(pv);
        let path = PathBuf::from(&host.path);
        let created = provisioned && !path.exists();
        super::host_path::check(host)?;
        if created {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| format!("{}: {e}", host.path))?;
        }
        path
    } else if let Some(local) = &spec.local {
        let path = PathBuf::from(&local.path);
        if !path.is_dir() {
            return Err(format!(
                "path \"{}\" does not exist or is not a directory",
                local.path
            ));
        }
        path
    } else {
        return Err(format!(
            "volumes of type {} are not supported by this kubelet yet",
            source_kind(pv)
        ));
    };
    Ok(Mounted {
        path,
        read_only,
        atomic: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokube_client::volumes::{LOCAL_PATH_PROVISIONER, PROVISIONED_BY};
    use serde_json::json;

    fn objects(claim: serde_json::Value, pv: Option<serde_json::Value>) -> Objects {
        let mut objects = Objects::default();
        let claim: PersistentVolumeClaim = serde_json::from_value(claim).unwrap();
        let pv = pv.map(|v| serde_json::from_value(v).unwrap());
        objects.claims.insert("data".into(), (claim, pv));
        objects
    }

    fn source() -> PersistentVolumeClaimVolumeSource {
        PersistentVolumeClaimVolumeSource {
            claim_name: "data".into(),
            read_only: None,
        }
    }

    #[test]
    fn claims_are_checked_and_local_path_directories_made() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pvc-u1_shop_data");
        let claim = json!({"metadata": {"name": "data", "namespace": "shop", "uid": "u1"},
            "spec": {"volumeName": "pv1"}, "status": {"phase": "Bound"}});
        let pv = |source: serde_json::Value| {
            let mut spec = json!({"claimRef": {"namespace": "shop", "name": "data", "uid": "u1"}});
            spec.as_object_mut()
                .unwrap()
                .extend(source.as_object().unwrap().clone());
            json!({"metadata": {"name": "pv1", "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER}}, "spec": spec})
        };
        let host =
            pv(json!({"hostPath": {"path": dir.to_string_lossy(), "type": "DirectoryOrCreate"}}));
        let mounted = set_up(&source(), &objects(claim.clone(), Some(host)), "shop").unwrap();
        assert_eq!(mounted.path, dir);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o777);
        let block = pv(json!({"hostPath": {"path": "/d"}, "volumeMode": "Block"}));
        assert_eq!(
            set_up(&source(), &objects(claim.clone(), Some(block)), "shop").unwrap_err(),
            "volumes of volumeMode Block are not supported by this kubelet yet"
        );
        let options = pv(json!({"hostPath": {"path": "/d"}, "mountOptions": ["ro"]}));
        assert_eq!(
            set_up(&source(), &objects(claim.clone(), Some(options)), "shop").unwrap_err(),
            "mount options [\"ro\"] are not supported by this kubelet yet"
        );
        let nfs = pv(json!({"nfs": {"server": "s", "path": "/"}}));
        assert_eq!(
            set_up(&source(), &objects(claim.clone(), Some(nfs)), "shop").unwrap_err(),
            "volumes of type nfs are not supported by this kubelet yet"
        );
        assert_eq!(
            set_up(&source(), &objects(claim.clone(), None), "shop").unwrap_err(),
            "error processing PVC shop/data: failed to fetch PV \"pv1\" from API server: persistentvolumes \"pv1\" not found"
        );
        let pending = json!({"metadata": {"name": "data", "namespace": "shop", "uid": "u1"},
            "spec": {}, "status": {"phase": "Pending"}});
        assert_eq!(
            set_up(&source(), &objects(pending, None), "shop").unwrap_err(),
            "error processing PVC shop/data: PVC is not bound"
        );
        assert_eq!(
            set_up(&source(), &Objects::default(), "shop").unwrap_err(),
            "persistentvolumeclaim \"data\" not found"
        );
    }
}
