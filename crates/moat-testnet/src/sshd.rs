//! A real OpenSSH server in a namespace, logging as syslog would, and
//! failed password logins against it (for the ban tests).

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// Debian's sshd.
pub const SSHD: &str = "/usr/sbin/sshd";

/// An `sshd -D -e` in a namespace, whose log lines are appended to a file
/// with a syslog prefix (`Dec  3 12:00:01 gateway sshd[PID]: ...`), as
/// rsyslog writes /var/log/auth.log. Stopped on drop.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    logger: Option<JoinHandle<()>>,
    dir: PathBuf,
}

impl Sshd {
    /// Starts sshd in `ns` on `addr:22`, with a fresh host key in `dir`
    /// (created), logging to `log`.
    pub fn start(ns: &Netns, addrs: &[IpAddr], dir: &Path, log: &Path) -> Result<Sshd> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e| Error::io(what, e)
        };
        std::fs::create_dir_all(dir).map_err(io("creating the sshd directory"))?;
        std::fs::create_dir_all("/run/sshd").map_err(io("creating /run/sshd"))?;
        let key = dir.join("host_ed25519");
        if !key.exists() {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)
                .output()
                .map_err(io("running ssh-keygen"))?;
            if !out.status.success() {
                return Err(Error::io(
                    "ssh-keygen",
                    std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()),
                ));
            }
        }
        let mut config = format!(
            "HostKey {}\nPidFile none\nUsePAM no\nPasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\nPermitRootLogin yes\nStrictModes no\n\
             MaxAuthTries 6\nLogLevel INFO\nPort 22\n",
            key.display()
        );
        for addr in addrs {
            config.push_str(&format!("ListenAddress {addr}\n"));
        }
        let config_path = dir.join("sshd_config");
        std::fs::write(&config_path, config).map_err(io("writing sshd_config"))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), SSHD, "-D", "-e", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                command: format!("{SSHD} -D -e"),
                source,
            })?;
        let stderr = child.stderr.take().expect("piped stderr");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io("opening the sshd log"))?;
        let pid = child.id();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let logger = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if line.starts_with("Server listening") {
                    let _ = ready_tx.send(());
                }
                let stamp = chrono::Local::now().format("%b %e %H:%M:%S");
                let _ = writeln!(file, "{stamp} gateway sshd[{pid}]: {line}");
            }
        });
        let mut sshd = Sshd {
            child,
            logger: Some(logger),
            dir: dir.to_path_buf(),
        };
        for _ in addrs {
            if ready_rx.recv_timeout(Duration::from_secs(5)).is_err() {
                let _ = sshd.child.kill();
                return Err(Error::NotReady("sshd did not start listening".into()));
            }
        }
        Ok(sshd)
    }

    /// The directory with its host key and configuration.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(logger) = self.logger.take() {
            let _ = logger.join();
        }
    }
}

/// How a password login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshOutcome {
    /// The server answered and refused the password.
    Denied,
    /// No SSH server could be reached (refused, unreachable, timed out).
    NoConnection(String),
    /// Logged in (never expected in the tests).
    LoggedIn,
}

/// One password login as `user` from `ns` to `addr:22` with sshpass (one
/// password attempt; the client gives up after 3 seconds).
pub fn ssh_password_login(
    ns: &Netns,
    addr: IpAddr,
    user: &str,
    password: &str,
) -> Result<SshOutcome> {
    let target = format!("{user}@{addr}");
    let out = ns.exec(&[
        "sshpass",
        "-p",
        password,
        "ssh",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "NumberOfPasswordPrompts=1",
        "-o",
        "ConnectTimeout=3",
        "-o",
        "LogLevel=ERROR",
        &target,
        "true",
    ])?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok(if out.status.success() {
        SshOutcome::LoggedIn
    } else if stderr.contains("Permission denied") || out.status.code() == Some(5) {
        SshOutcome::Denied
    } else {
        SshOutcome::NoConnection(stderr.trim().to_string())
    })
}
