//! A real Docker daemon in a namespace, calling whichever iptables a test
//! puts first on its PATH (moat's or Debian's), and the docker client
//! talking to it.
//!
//! The daemon runs in its own mount namespace with fresh tmpfs over `/run`
//! and `/etc/docker`, so what it writes there (containerd's shim sockets,
//! its plugin directory, its key) stays out of the host; its images,
//! containers and state live in the directory the test gives it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::holder::{die_with_parent, terminate};
use crate::netns::Netns;

/// Debian's dockerd (package docker.io).
pub const DOCKERD: &str = "/usr/sbin/dockerd";

/// How long the daemon gets to answer on its socket after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the daemon gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Mounts the private tmpfs over `/run` and `/etc/docker`, then runs the
/// daemon (`$@`).
const PRIVATE_MOUNTS: &str = "mount -t tmpfs moat-docker /run && \
    { [ ! -d /etc/docker ] || mount -t tmpfs moat-docker /etc/docker; } && exec \"$@\"";

/// A `dockerd` in a namespace, stopped (containers killed first) on drop.
#[derive(Debug)]
pub struct Dockerd {
    child: Option<Child>,
    dir: PathBuf,
}

impl Dockerd {
    /// Starts dockerd in `ns` with `tools` (a directory of `iptables`,
    /// `iptables-save`, ... links) first on its PATH, its state under `dir`
    /// (created; kept across restarts) and `options` besides, and waits
    /// until it answers. `--userland-proxy=false`, so published ports are
    /// the rules' DNAT alone.
    pub fn start(ns: &Netns, tools: &Path, dir: &Path, options: &[&str]) -> Result<Dockerd> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the docker directory", e))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .map_err(|e| Error::io("opening the dockerd log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("opening the dockerd log", e))?;
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display());
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", ns.path().display()))
            .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", PRIVATE_MOUNTS, "sh", DOCKERD])
            .arg(format!("--data-root={}", dir.join("root").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .arg(format!(
                "--host=unix://{}",
                dir.join("docker.sock").display()
            ))
            .args([
                "--storage-driver=vfs",
                "--userland-proxy=false",
                "--shutdown-timeout=1",
            ])
            .args(options)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // The daemon dies with the test thread that started it, even if
        // the test process is killed before Drop runs.
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|source| Error::Spawn {
            command: format!("nsenter ... {DOCKERD}"),
            source,
        })?;
        let mut daemon = Dockerd {
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        daemon.wait_until_ready()?;
        Ok(daemon)
    }

    /// Polls `docker version` until the daemon answers.
    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.docker(&["version"]).is_ok() {
                return Ok(());
            }
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            };
            if exited.is_some() || Instant::now() > deadline {
                let _ = self.stop();
                return Err(Error::NotReady(format!(
                    "dockerd did not answer (exited: {exited:?}); its log:\n{}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs the docker client against this daemon; its stdout if it
    /// succeeds.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        let out = self.docker_output(args)?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("docker {}", args.join(" ")),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the docker client against this daemon, whatever its status.
    pub fn docker_output(&self, args: &[&str]) -> Result<Output> {
        Command::new("docker")
            .arg(format!(
                "--host=unix://{}",
                self.dir.join("docker.sock").display()
            ))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                command: format!("docker {}", args.join(" ")),
                source,
            })
    }

    /// Imports `image` (a root file system as a tar file, such as
    /// [`busybox_image`](crate::busybox_image) makes) as `name`.
    pub fn import(&self, image: &Path, name: &str) -> Result<()> {
        self.docker(&["import", &image.to_string_lossy(), name])
            .map(drop)
    }

    /// The last lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("module=grpc")).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the daemon as its service manager would (SIGTERM; it stops
    /// its containers), killing it if it has not exited in 20 s. Its
    /// state stays in the directory for a later [`Dockerd::start`].
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if terminate(&mut child, STOP_TIMEOUT) {
            return Ok(());
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(Error::NotReady(
            "dockerd did not stop within 20 s; killed".into(),
        ))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Ok(ids) = self.docker(&["ps", "-aq"]) {
                let mut argv = vec!["rm", "-f"];
                argv.extend(ids.split_whitespace());
                if argv.len() > 2 {
                    let _ = self.docker(&argv);
                }
            }
        }
        let _ = self.stop();
    }
}
