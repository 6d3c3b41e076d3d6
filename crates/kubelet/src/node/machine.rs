//! What the kubelet reads off its machine for the Node: name, address, CPUs, memory and the
//! disk space under its data dir.

use std::path::Path;

use crate::node::Machine;

/// The machine's host name, lowercased (a node name must be a DNS subdomain).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The address other machines would reach this one at: the source address of the default
/// route, or loopback on a machine without one.
pub fn address() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("10.255.255.255:1")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

/// `MemTotal` from a /proc/meminfo text, in bytes.
pub fn mem_total(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Total bytes of the file system holding `path`.
pub fn disk_total(path: &Path) -> Option<i64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `stat` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    (rc == 0).then(|| (stat.f_blocks as i64).saturating_mul(stat.f_frsize as i64))
}

/// This machine as a node named `name`, with up to 110 pods (upstream's default).
pub fn this_machine(name: String, data_dir: &Path, runtime_version: String) -> Machine {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m))
        .unwrap_or(0);
    Machine {
        name,
        address: address(),
        milli_cpu: cpus * 1000,
        memory_bytes: memory,
        ephemeral_storage_bytes: disk_total(data_dir).unwrap_or(0),
        max_pods: 110,
        runtime_version,
        kubelet_port: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_and_disk() {
        assert_eq!(
            mem_total("MemTotal:       24573380 kB\nMemFree: 1 kB\n"),
            Some(24573380 * 1024)
        );
        assert_eq!(mem_total("nothing"), None);
        assert!(disk_total(Path::new("/")).unwrap() > 0);
        let m = this_machine("n1".into(), Path::new("/"), "containerd://1.6".into());
        assert!(m.milli_cpu >= 1000 && m.memory_bytes > 0);
    }
}
