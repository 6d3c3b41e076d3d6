//! A pod's volumes on this node, set up before its sandbox and kept up to date while it runs:
//! one file per volume type. ConfigMap, Secret, downward API and projected volumes are written
//! with the atomic writer under `<root>/<pod uid>/volumes/kubernetes.io~<type>/<name>` and
//! mounted read-only, as upstream; emptyDirs live beside them; hostPaths are the node's own,
//! and so are the directories of bound PersistentVolumeClaims.
//! A volume this kubelet cannot set up fails the pod's start with upstream's `FailedMount`
//! text, never leaving the volume out.

pub mod atomic_writer;
pub mod config_map;
pub mod downward_api;
pub mod empty_dir;
pub mod host_path;
pub mod local_path;
pub mod mounts;
pub mod persistent;
pub mod projected;
pub mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Volume};

use crate::pod::env::NodeFacts;
use crate::sources::{Objects, Referenced};
use atomic_writer::Payload;

/// A volume ready to mount: where it is on the node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mounted {
    pub path: PathBuf,
    /// Mounted read-only whatever the mount asks (ConfigMaps, Secrets, downward API, projected).
    pub read_only: bool,
    /// Written by the atomic writer (a subPath of it is resolved through `..data`).
    pub atomic: bool,
}

/// A pod's volumes by name.
pub type PodVolumes = BTreeMap<String, Mounted>;

/// A volume that could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

/// What setting up a pod's volumes gave.
#[derive(Debug, Default)]
pub struct SetUp {
    pub volumes: PodVolumes,
    /// Things the user should know that do not stop the pod (Warning events).
    pub warnings: Vec<String>,
}

/// The ConfigMaps and Secrets a pod's volumes read.
pub fn referenced(pod: &Pod) -> Referenced {
    let mut refs = Referenced::default();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        if let Some(cm) = &volume.config_map {
            refs.config_maps.insert(cm.name.clone());
        }
        if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            refs.secrets.insert(name);
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            refs.claims.insert(claim.claim_name.clone());
        }
        let projections = volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten());
        for projection in projections {
            if let Some(cm) = &projection.config_map {
                refs.config_maps.insert(cm.name.clone());
            }
            if let Some(s) = &projection.secret {
                refs.secrets.insert(s.name.clone());
            }
        }
    }
    refs
}

/// The directory of a pod's files under the kubelet's root.
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join(uid)
}

fn volume_dir(root: &Path, uid: &str, plugin: &str, name: &str) -> PathBuf {
    pod_dir(root, uid)
        .join("volumes")
        .join(format!("kubernetes.io~{plugin}"))
        .join(name)
}

/// The name of a volume's source, as its field is named (for messages).
fn source_kind(volume: &Volume) -> String {
    let encoded = serde_json::to_value(volume).unwrap_or_default();
    let mut kinds = encoded.as_object().into_iter().flatten().map(|(k, _)| k);
    kinds.find(|k| *k != "name").cloned().unwrap_or_default()
}

/// Everything about a pod that its volumes need.
pub struct Context<'a> {
    pub root: &'a Path,
    pub objects: &'a Objects,
    pub node: &'a NodeFacts,
}

/// Sets up (or brings up to date) every volume of the pod.
pub fn set_up(pod: &Pod, ctx: &Context) -> Result<SetUp, VolumeError> {
    let mut done = SetUp::default();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let mounted =
            set_up_one(pod, volume, ctx, &mut done.warnings).map_err(|message| VolumeError {
                volume: volume.name.clone(),
                message,
            })?;
        done.volumes.insert(volume.name.clone(), mounted);
    }
    Ok(done)
}

fn fs_group(pod: &Pod) -> Option<u32> {
    let group = pod.spec.as_ref()?.security_context.as_ref()?.fs_group?;
    u32::try_from(group).ok()
}

/// Writes a payload with the atomic writer.
fn written(dir: PathBuf, payload: Result<Payload, String>, pod: &Pod) -> Result<Mounted, String> {
    atomic_writer::write(&dir, &payload?, fs_group(pod)).map_err(|e| e.to_string())?;
    Ok(Mounted {
        path: dir,
        read_only: true,
        atomic: true,
    })
}

fn set_up_one(
    pod: &Pod,
    volume: &Volume,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Result<Mounted, String> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let dir = |plugin: &str| volume_dir(ctx.root, uid, plugin, &volume.name);
    let mode = config_map::DEFAULT_MODE;
    if let Some(source) = &volume.config_map {
        let payload = config_map::payload(source, ctx.objects, mode);
        return written(dir("configmap"), payload, pod);
    }
    if let Some(source) = &volume.secret {
        let payload = secret::payload(source, ctx.objects, mode);
        return written(dir("secret"), payload, pod);
    }
    if let Some(source) = &volume.downward_api {
        let items = source.items.as_deref().unwrap_or_default();
        let mode = source.default_mode.unwrap_or(mode);
        let payload = downward_api::payload(pod, items, mode, ctx.node);
        return written(dir("downward-api"), payload, pod);
    }
    if let Some(source) = &volume.projected {
        let payload = projected::payload(pod, source, ctx.objects, ctx.node);
        return written(dir("projected"), payload, pod);
    }
    if let Some(source) = &volume.empty_dir {
        let memory = match source.medium.as_deref().unwrap_or_default() {
            "" => None,
            "Memory" => Some(empty_dir::memory_size(source, pod, ctx.node.memory_bytes)),
            other => {
                return Err(format!(
                    "emptyDir medium {other:?} is not supported by this kubelet"
                ));
            }
        };
        if let (None, Some(limit)) = (memory, &source.size_limit) {
            warnings.push(format!(
                "The sizeLimit {} of emptyDir volume {:?} is not enforced on disk by this kubelet (it is for medium: Memory)",
                limit.0, volume.name
            ));
        }
        let path = dir("empty-dir");
        empty_dir::set_up(&path, memory, fs_group(pod))?;
        return Ok(Mounted {
            path,
            read_only: false,
            atomic: false,
        });
    }
    if let Some(source) = &volume.persistent_volume_claim {
        let containers = pod.spec.iter().flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        });
        let mut devices = containers.flat_map(|c| c.volume_devices.iter().flatten());
        if devices.any(|d| d.name == volume.name) {
            return Err(
                "raw block devices (volumeDevices) are not supported by this kubelet yet".into(),
            );
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        return persistent::set_up(source, ctx.objects, namespace);
    }
    if let Some(source) = &volume.host_path {
        host_path::check(source)?;
        return Ok(Mounted {
            path: PathBuf::from(&source.path),
            read_only: false,
            atomic: false,
        });
    }
    Err(format!(
        "volumes of type {} are not supported by this kubelet yet",
        source_kind(volume)
    ))
}

/// Removes everything the pod's volumes left on the node (unmounting memory-backed emptyDirs
/// first); a hostPath is the node's and stays.
pub fn tear_down(root: &Path, uid: &str) -> std::io::Result<()> {
    let dir = pod_dir(root, uid);
    let empty_dirs = dir.join("volumes").join("kubernetes.io~empty-dir");
    if let Ok(entries) = std::fs::read_dir(&empty_dirs) {
        for entry in entries.flatten() {
            empty_dir::tear_down(&entry.path())?;
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The pod UIDs that have a directory under the root (to clean up after pods gone while the
/// kubelet was down).
pub fn pod_uids(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": volumes},
        }))
        .unwrap()
    }

    fn objects() -> Objects {
        let mut objects = Objects::default();
        objects.config_maps.insert(
            "cfg".into(),
            serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"k": "v"}}))
                .unwrap(),
        );
        objects
    }

    #[test]
    fn volumes_set_up_and_torn_down() {
        let root = tempfile::tempdir().unwrap();
        let host = root.path().join("host");
        let p = pod(json!([
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "host", "hostPath": {"path": host.to_string_lossy(), "type": "DirectoryOrCreate"}},
        ]));
        let (objects, node) = (objects(), NodeFacts::default());
        let ctx = Context {
            root: &root.path().join("pods"),
            objects: &objects,
            node: &node,
        };
        let done = set_up(&p, &ctx).unwrap();
        let cfg = &done.volumes["cfg"];
        assert!(cfg.read_only && cfg.atomic);
        assert_eq!(
            cfg.path,
            root.path()
                .join("pods/u-1/volumes/kubernetes.io~configmap/cfg")
        );
        assert_eq!(std::fs::read_to_string(cfg.path.join("k")).unwrap(), "v");
        let info = &done.volumes["info"].path;
        assert_eq!(
            std::fs::read_to_string(info.join("labels")).unwrap(),
            "a=\"b\""
        );
        assert!(done.volumes["scratch"].path.is_dir() && !done.volumes["scratch"].read_only);
        assert_eq!(done.volumes["host"].path, host);
        assert_eq!(done.warnings.len(), 1, "{:?}", done.warnings);
        assert_eq!(pod_uids(ctx.root), ["u-1"]);
        tear_down(ctx.root, "u-1").unwrap();
        assert!(!ctx.root.join("u-1").exists());
        assert!(host.is_dir(), "a hostPath stays");
    }

    #[test]
    fn failures_name_the_volume_as_upstream() {
        let root = tempfile::tempdir().unwrap();
        let (objects, node) = (objects(), NodeFacts::default());
        let ctx = Context {
            root: root.path(),
            objects: &objects,
            node: &node,
        };
        let failed = |volumes| set_up(&pod(volumes), &ctx).unwrap_err().to_string();
        assert_eq!(
            failed(json!([{"name": "gone", "configMap": {"name": "nope"}}])),
            "MountVolume.SetUp failed for volume \"gone\" : configmap \"nope\" not found"
        );
        assert_eq!(
            failed(json!([{"name": "s", "secret": {"secretName": "nope"}}])),
            "MountVolume.SetUp failed for volume \"s\" : secret \"nope\" not found"
        );
        assert_eq!(
            failed(json!([{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}])),
            "MountVolume.SetUp failed for volume \"data\" : persistentvolumeclaim \"c\" not found"
        );
        let mut device = pod(json!([{"name": "raw", "persistentVolumeClaim": {"claimName": "c"}}]));
        device.spec.as_mut().unwrap().containers[0].volume_devices =
            Some(vec![k8s_openapi::api::core::v1::VolumeDevice {
                name: "raw".into(),
                device_path: "/dev/xvda".into(),
            }]);
        assert_eq!(
            set_up(&device, &ctx).unwrap_err().to_string(),
            "MountVolume.SetUp failed for volume \"raw\" : raw block devices (volumeDevices) are not supported by this kubelet yet"
        );
        assert_eq!(
            failed(json!([{"name": "e", "ephemeral": {}}])),
            "MountVolume.SetUp failed for volume \"e\" : volumes of type ephemeral are not supported by this kubelet yet"
        );
        assert!(
            failed(json!([{"name": "h", "emptyDir": {"medium": "HugePages"}}]))
                .contains("HugePages")
        );
    }

    #[test]
    fn references_from_every_volume_type() {
        let p = pod(json!([
            {"name": "a", "configMap": {"name": "cm1"}},
            {"name": "b", "secret": {"secretName": "s1"}},
            {"name": "c", "projected": {"sources": [{"configMap": {"name": "cm2"}}, {"secret": {"name": "s2"}}]}},
            {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
        ]));
        let refs = referenced(&p);
        assert_eq!(refs.claims.iter().collect::<Vec<_>>(), ["data"]);
        assert_eq!(
            refs.config_maps.into_iter().collect::<Vec<_>>(),
            ["cm1", "cm2"]
        );
        assert_eq!(refs.secrets.into_iter().collect::<Vec<_>>(), ["s1", "s2"]);
    }
}
