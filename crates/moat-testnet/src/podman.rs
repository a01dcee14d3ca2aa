//! Podman (daemonless, its network through netavark) in a namespace,
//! calling whichever iptables a test puts first on its PATH.
//!
//! Every podman command runs in the network namespace given and in one
//! private mount namespace held open by a `sleep` for the helper's life:
//! there `/run` is a fresh tmpfs (podman keeps its address allocations and
//! aardvark-dns' state in /run/containers/networks), with the host's
//! /run/netns bound back in (podman names its containers' namespaces
//! there). Images, containers and network definitions live in the
//! directory the test gives it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::holder::spawn_ready;
use crate::netns::Netns;

/// Debian's podman.
pub const PODMAN: &str = "/usr/bin/podman";

/// Makes the private mounts, says so, and holds the mount namespace open.
const HOLD_MOUNTS: &str = "set -e
mkdir -p \"$1/netns\"
mount --bind /run/netns \"$1/netns\"
mount -t tmpfs moat-podman /run
mkdir /run/netns
mount --bind \"$1/netns\" /run/netns
echo ready
exec sleep infinity";

/// How long the mount namespace gets to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Podman's state for one namespace; the mount namespace's holder is
/// stopped and every container removed on drop.
#[derive(Debug)]
pub struct Podman {
    holder: Child,
    net: PathBuf,
    dir: PathBuf,
    path: String,
}

impl Podman {
    /// Podman for `ns` with `tools` (a directory of `iptables`, ...
    /// links) first on its PATH and its state under `dir` (created).
    pub fn new(ns: &Netns, tools: &Path, dir: &Path) -> Result<Podman> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the podman directory", e))?;
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", HOLD_MOUNTS, "sh"])
            .arg(dir)
            .stderr(Stdio::null());
        let holder = spawn_ready(&mut command, "podman's mount namespace", READY_TIMEOUT)?;
        Ok(Podman {
            holder,
            net: ns.path(),
            dir: dir.to_path_buf(),
            path: format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display()),
        })
    }

    /// Runs `podman ARGS...`; its stdout if it succeeds.
    pub fn podman(&self, args: &[&str]) -> Result<String> {
        let state = |name: &str| self.dir.join(name).display().to_string();
        let out = Command::new("nsenter")
            .arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .arg(format!("--net={}", self.net.display()))
            .args(["--", "podman"])
            .args(["--root", &state("root"), "--runroot", &state("runroot")])
            .args([
                "--tmpdir",
                &state("tmp"),
                "--network-config-dir",
                &state("networks"),
            ])
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
            .env("PATH", &self.path)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                command: format!("podman {}", args.join(" ")),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("podman {}", args.join(" ")),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--force", "--all", "--time", "0"]);
        let _ = self.podman(&["network", "prune", "--force"]);
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
