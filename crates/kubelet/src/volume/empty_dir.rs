//! `emptyDir` volumes: a directory of the pod's, on disk or (`medium: Memory`) a tmpfs sized as
//! upstream sizes it: the `sizeLimit`, at most the pod's memory limit, else the node's memory.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ferrokube_client::quantity::value;
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Pod};

/// The filesystem type of a tmpfs (`statfs`'s `f_type`).
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The size of a memory-backed emptyDir in bytes.
pub fn memory_size(source: &EmptyDirVolumeSource, pod: &Pod, node_memory: i64) -> i64 {
    let containers = pod.spec.iter().flat_map(|s| &s.containers);
    let limits: Option<Vec<i64>> = containers
        .map(|c| {
            let limits = c.resources.as_ref()?.limits.as_ref()?;
            limits.get("memory").map(|q| value(q, 1))
        })
        .collect();
    let pod_limit = limits
        .map(|l| l.iter().sum::<i64>())
        .filter(|l| *l > 0)
        .unwrap_or(node_memory);
    match source.size_limit.as_ref().map(|q| value(q, 1)) {
        Some(limit) if limit > 0 => limit.min(pod_limit),
        _ => pod_limit,
    }
}

fn is_tmpfs(path: &Path) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed statfs for the kernel to fill in.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type as i64 == TMPFS_MAGIC
}

/// Creates the directory (mode 0777, as upstream), mounting a tmpfs of `size` bytes on it for
/// `medium: Memory`; an existing one is kept.
pub fn set_up(dir: &Path, memory: Option<i64>, group: Option<u32>) -> Result<(), String> {
    let fail = |e: io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    if let Some(size) = memory
        && !is_tmpfs(dir)
    {
        mount_tmpfs(dir, size).map_err(fail)?;
    }
    let mut mode = 0o777;
    if let Some(gid) = group {
        std::os::unix::fs::chown(dir, None, Some(gid)).map_err(fail)?;
        mode |= 0o2000;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(fail)
}

fn mount_tmpfs(dir: &Path, size: i64) -> io::Result<()> {
    let target = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    let options = std::ffi::CString::new(format!("size={size}"))?;
    // SAFETY: valid C strings; the kernel copies them.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Unmounts a memory-backed volume's tmpfs, if it has one.
pub fn tear_down(dir: &Path) -> io::Result<()> {
    if !is_tmpfs(dir) {
        return Ok(());
    }
    let target = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    // SAFETY: a valid C string.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_sizes_as_upstream() {
        let pod = |limits: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": limits}})).unwrap()
        };
        let limited = pod(json!([
            {"name": "a", "resources": {"limits": {"memory": "64Mi"}}},
            {"name": "b", "resources": {"limits": {"memory": "64Mi"}}}]));
        let open =
            pod(json!([{"name": "a"}, {"name": "b", "resources": {"limits": {"memory": "64Mi"}}}]));
        let source = |limit: Option<&str>| EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: limit
                .map(|l| k8s_openapi::apimachinery::pkg::api::resource::Quantity(l.into())),
        };
        let node = 8 << 30;
        assert_eq!(memory_size(&source(None), &limited, node), 128 << 20);
        assert_eq!(memory_size(&source(Some("16Mi")), &limited, node), 16 << 20);
        assert_eq!(memory_size(&source(Some("1Gi")), &limited, node), 128 << 20);
        assert_eq!(memory_size(&source(None), &open, node), node);
        assert_eq!(memory_size(&source(Some("16Mi")), &open, node), 16 << 20);
    }
}
