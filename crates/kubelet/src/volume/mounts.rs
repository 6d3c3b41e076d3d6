//! A container's volume mounts as the runtime's bind mounts: the volume's directory, or with
//! `subPath`/`subPathExpr` a path inside it (created as a directory when missing, as upstream,
//! and refused when it resolves outside the volume); read-only as the mount or the volume type
//! asks; mount propagation as given.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::PodVolumes;
use crate::pod::env::expand;
use crate::runtime::{Mount, Propagation};

/// Why a subPath is refused before it is looked at: absolute or with `..` parts.
fn check_sub_path(sub: &str) -> Result<(), String> {
    let path = Path::new(sub);
    if path.is_absolute() {
        return Err(format!("subPath {sub:?} must be a relative path"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("subPath {sub:?} must not contain '..'"));
    }
    Ok(())
}

/// The mount's subPath, with `subPathExpr` expanded by the container's environment.
fn sub_path(mount: &VolumeMount, env: &BTreeMap<String, String>) -> Option<String> {
    if let Some(expr) = mount.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
        return Some(expand(expr, |name| env.get(name).cloned()));
    }
    mount.sub_path.clone().filter(|s| !s.is_empty())
}

fn propagation(mount: &VolumeMount) -> Propagation {
    match mount.mount_propagation.as_deref() {
        Some("HostToContainer") => Propagation::HostToContainer,
        Some("Bidirectional") => Propagation::Bidirectional,
        _ => Propagation::Private,
    }
}

/// The bind mounts of the container's `volumeMounts`.
pub fn container_mounts(
    container: &Container,
    volumes: &PodVolumes,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = volumes.get(&mount.name).ok_or_else(|| {
            format!(
                "cannot find volume {:?} to mount into container {:?}",
                mount.name, container.name
            )
        })?;
        let host_path = match sub_path(mount, env) {
            None => volume.path.clone(),
            Some(sub) => resolve_sub_path(&volume.path, &sub, volume.atomic).map_err(|e| {
                format!(
                    "failed to prepare subPath for volumeMount {:?} of container {:?}: {e}",
                    mount.name, container.name
                )
            })?,
        };
        let read_only = mount.read_only == Some(true) || volume.read_only;
        mounts.push(Mount {
            container_path: mount.mount_path.clone(),
            host_path,
            read_only,
            // `Enabled` is asked of the runtime, which refuses it if it cannot (a Failed
            // event); `IfPossible` is left at plain read-only, which upstream allows.
            recursive_read_only: read_only
                && mount.recursive_read_only.as_deref() == Some("Enabled"),
            propagation: propagation(mount),
        });
    }
    Ok(mounts)
}

/// The node's path of `sub` in the volume at `root`: followed through links, and inside it.
fn resolve_sub_path(root: &Path, sub: &str, atomic: bool) -> Result<std::path::PathBuf, String> {
    check_sub_path(sub)?;
    let path = root.join(sub);
    if !atomic && std::fs::symlink_metadata(&path).is_err() {
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let resolved = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let base = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    if !resolved.starts_with(&base) {
        return Err(format!(
            "subpath {:?} not within volume path {:?}",
            resolved.display().to_string(),
            base.display().to_string()
        ));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Mounted;
    use serde_json::json;

    #[test]
    fn mounts_with_sub_paths_and_modes() {
        let root = tempfile::tempdir().unwrap();
        let cm = root.path().join("cm");
        let payload = crate::volume::atomic_writer::Payload::from([(
            "app.conf".to_owned(),
            crate::volume::atomic_writer::FileData {
                data: b"a=1".to_vec(),
                mode: 0o644,
            },
        )]);
        crate::volume::atomic_writer::write(&cm, &payload, None).unwrap();
        let scratch = root.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        std::os::unix::fs::symlink("/etc", scratch.join("out")).unwrap();
        let volumes = PodVolumes::from([
            (
                "cm".to_owned(),
                Mounted {
                    path: cm.clone(),
                    read_only: true,
                    atomic: true,
                },
            ),
            (
                "scratch".to_owned(),
                Mounted {
                    path: scratch.clone(),
                    read_only: false,
                    atomic: false,
                },
            ),
        ]);
        let container = |mounts: serde_json::Value| -> Container {
            serde_json::from_value(json!({"name": "app", "volumeMounts": mounts})).unwrap()
        };
        let env = BTreeMap::from([("POD".to_owned(), "web-1".to_owned())]);
        let mounts = container_mounts(&container(json!([
            {"name": "cm", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
            {"name": "scratch", "mountPath": "/data", "readOnly": true},
            {"name": "scratch", "mountPath": "/logs", "subPathExpr": "logs/$(POD)", "mountPropagation": "HostToContainer"},
        ])), &volumes, &env)
        .unwrap();
        assert!(mounts[0].host_path.starts_with(cm.canonicalize().unwrap()));
        assert!(
            mounts[0].host_path.to_string_lossy().contains("/..20"),
            "resolved through ..data"
        );
        assert_eq!(
            std::fs::read_to_string(&mounts[0].host_path).unwrap(),
            "a=1"
        );
        assert!(mounts[0].read_only, "a configMap is read-only");
        assert_eq!(
            (mounts[1].host_path.clone(), mounts[1].read_only),
            (scratch.clone(), true)
        );
        assert_eq!(
            mounts[2].host_path,
            scratch.canonicalize().unwrap().join("logs/web-1")
        );
        assert!(mounts[2].host_path.is_dir(), "a missing subPath is made");
        assert_eq!(mounts[2].propagation, Propagation::HostToContainer);
        let recursive = container_mounts(&container(json!([
            {"name": "scratch", "mountPath": "/r", "readOnly": true, "recursiveReadOnly": "Enabled"},
            {"name": "scratch", "mountPath": "/p", "readOnly": true, "recursiveReadOnly": "IfPossible"},
        ])), &volumes, &env)
        .unwrap();
        assert!(recursive[0].recursive_read_only && !recursive[1].recursive_read_only);

        let refused = |mounts: serde_json::Value| {
            container_mounts(&container(mounts), &volumes, &env).unwrap_err()
        };
        assert!(
            refused(json!([{"name": "scratch", "mountPath": "/x", "subPath": "out"}]))
                .contains("not within volume path")
        );
        assert!(
            refused(json!([{"name": "scratch", "mountPath": "/x", "subPath": "../x"}]))
                .contains("must not contain '..'")
        );
        assert_eq!(
            refused(json!([{"name": "nope", "mountPath": "/x"}])),
            "cannot find volume \"nope\" to mount into container \"app\""
        );
    }
}
