//! containerd as a child process, as k3s runs it: a generated configuration in the data dir
//! with the CRI settings this machine needs (`restrict_oom_score_adj`), a registry mirror
//! (`certs.d/<registry>/hosts.toml`) and a CNI configuration (bridge with host-local IPAM and
//! a pod CIDR, portmap, loopback). Containers outlive it: their shims keep running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The sandbox (pause) image.
pub const SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.6";

/// How to set containerd up.
#[derive(Clone, Debug)]
pub struct ContainerdSetup {
    /// Where its root, state, socket, logs and configuration go.
    pub dir: PathBuf,
    /// A registry (`HOST:PORT`, plain HTTP) tried first for docker.io and registry.k8s.io.
    pub mirror: Option<String>,
    /// The pods' subnet, e.g. `10.42.0.0/24`.
    pub pod_cidr: String,
    /// The CNI network and bridge name (distinct per node on one machine).
    pub network: String,
}

/// containerd's configuration file (version 2) for `setup`.
pub fn config_toml(setup: &ContainerdSetup) -> String {
    let dir = setup.dir.display();
    format!(
        r#"version = 2
root = "{dir}/root"
state = "{dir}/state"
[grpc]
  address = "{dir}/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{dir}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{dir}/certs.d"
"#
    )
}

/// A registry's hosts.toml: the mirror first, then the registry itself.
pub fn hosts_toml(upstream: &str, mirror: &str) -> String {
    format!(
        "server = \"{upstream}\"\n[host.\"http://{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    )
}

/// The CNI network: a bridge with host-local IPAM, port mappings and loopback.
pub fn cni_conflist(network: &str, pod_cidr: &str) -> String {
    let bridge: String = network
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(15)
        .collect();
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": network,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "loopback"},
        ],
    })
    .to_string()
}

/// A running containerd; killed on drop (its containers keep running).
pub struct Containerd {
    child: Child,
    pub socket: PathBuf,
}

/// Why containerd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error("writing containerd's configuration: {0}")]
    Configure(std::io::Error),
    #[error("cannot start `containerd` (run hack/setup.sh): {0}")]
    Spawn(std::io::Error),
    #[error("containerd did not open {socket} within 20 s; see {log}")]
    NoSocket { socket: String, log: String },
}

fn write(path: &Path, text: &str) -> Result<(), ContainerdError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(ContainerdError::Configure)?;
    }
    std::fs::write(path, text).map_err(ContainerdError::Configure)
}

impl Containerd {
    /// Writes the configuration and starts containerd; returns once its socket answers.
    pub async fn start(setup: &ContainerdSetup) -> Result<Containerd, ContainerdError> {
        let dir = &setup.dir;
        write(&dir.join("config.toml"), &config_toml(setup))?;
        if let Some(mirror) = &setup.mirror {
            for (registry, upstream) in [
                ("docker.io", "https://registry-1.docker.io"),
                ("registry.k8s.io", "https://registry.k8s.io"),
            ] {
                write(
                    &dir.join("certs.d").join(registry).join("hosts.toml"),
                    &hosts_toml(upstream, mirror),
                )?;
            }
        }
        write(
            &dir.join("cni").join("10-ferrokube.conflist"),
            &cni_conflist(&setup.network, &setup.pod_cidr),
        )?;
        let socket = dir.join("containerd.sock");
        let _ = std::fs::remove_file(&socket);
        let log = dir.join("containerd.log");
        let log_file = std::fs::File::create(&log).map_err(ContainerdError::Configure)?;
        let binary = std::env::var("CONTAINERD_BIN").unwrap_or_else(|_| "containerd".into());
        let mut command = Command::new(binary);
        // containerd goes when ferrokube goes, even on SIGKILL (its containers stay: their
        // shims are not its children); a restarted ferrokube starts it again.
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(ContainerdError::Spawn)?;
        let containerd = Containerd { child, socket };
        for _ in 0..200 {
            if tokio::net::UnixStream::connect(&containerd.socket)
                .await
                .is_ok()
            {
                return Ok(containerd);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ContainerdError::NoSocket {
            socket: containerd.socket.display().to_string(),
            log: log.display().to_string(),
        })
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_has_what_this_machine_needs() {
        let setup = ContainerdSetup {
            dir: "/data/containerd".into(),
            mirror: Some("127.0.0.1:5000".into()),
            pod_cidr: "10.42.0.0/24".into(),
            network: "ferrokube".into(),
        };
        let config = config_toml(&setup);
        assert!(config.contains("restrict_oom_score_adj = true"));
        assert!(config.contains("address = \"/data/containerd/containerd.sock\""));
        assert!(config.contains("config_path = \"/data/containerd/certs.d\""));
        assert!(
            hosts_toml("https://registry-1.docker.io", "127.0.0.1:5000")
                .contains("[host.\"http://127.0.0.1:5000\"]")
        );
        let cni: serde_json::Value =
            serde_json::from_str(&cni_conflist("ferrokube-test-1", "10.42.0.0/24")).unwrap();
        assert_eq!(cni["plugins"][0]["bridge"], "ferrokubetest1");
        assert_eq!(
            cni["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.42.0.0/24"
        );
    }
}
