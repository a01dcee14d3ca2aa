//! firewalld with its iptables back-end in a namespace, on whichever
//! iptables a test chooses, and firewall-cmd talking to it.
//!
//! firewalld calls /usr/sbin/iptables by its full path and answers on the
//! system bus, so it runs in a private mount namespace of its own: /run a
//! fresh tmpfs (the host's /run/netns bound back) where a dbus-daemon of
//! its own listens, /etc/firewalld a copy with `FirewallBackend=iptables`,
//! and, when a test asks, the chosen iptables binary bound over
//! /usr/sbin/xtables-nft-multi (every iptables name then runs it). A shell
//! holds the mount namespace and stops both daemons when told.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::holder::{kill_group, spawn_ready, terminate};
use crate::netns::Netns;

/// Debian's firewalld.
pub const FIREWALLD: &str = "/usr/sbin/firewalld";

/// Sets up the mounts, starts dbus-daemon and firewalld, says `ready`, and
/// stops both on SIGTERM. `$1` is the test's directory, `$2` the iptables
/// binary to bind (empty: Debian's own).
const HOLD: &str = r#"set -e
mkdir -p "$1/netns" "$1/etc"
cp -a /etc/firewalld/. "$1/etc/"
sed -i 's/^FirewallBackend=.*/FirewallBackend=iptables/' "$1/etc/firewalld.conf"
mount --bind /run/netns "$1/netns"
mount -t tmpfs moat-firewalld /run
mkdir -p /run/netns /run/dbus
mount --bind "$1/netns" /run/netns
mount --bind "$1/etc" /etc/firewalld
[ -z "$2" ] || mount --bind "$2" /usr/sbin/xtables-nft-multi
dbus-daemon --system --nofork --nopidfile > "$1/dbus.out" 2>&1 &
bus=$!
for i in $(seq 50); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
firewalld --nofork --nopid --log-file "$1/firewalld.log" > "$1/firewalld.out" 2>&1 &
fw=$!
trap 'kill $fw; wait $fw; kill $bus; exit 0' TERM
for i in $(seq 100); do
  [ "$(firewall-cmd --state 2>/dev/null)" = running ] && break
  sleep 0.2
done
echo ready
while :; do sleep 1; done
"#;

/// How long firewalld gets to be running.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// firewalld and its bus in a namespace; stopped on drop.
#[derive(Debug)]
pub struct Firewalld {
    holder: Child,
    net: PathBuf,
    dir: PathBuf,
}

impl Firewalld {
    /// Starts firewalld (iptables back-end) in `ns`, its state under `dir`
    /// (created), with `iptables` bound over xtables-nft-multi when given;
    /// waits until `firewall-cmd --state` says running.
    pub fn start(ns: &Netns, iptables: Option<&Path>, dir: &Path) -> Result<Firewalld> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("creating the firewalld directory", e))?;
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", ns.path().display()))
            .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", HOLD, "sh"])
            .arg(dir)
            .arg(iptables.map(Path::as_os_str).unwrap_or_default())
            .stderr(Stdio::null());
        let holder = spawn_ready(&mut command, "firewalld", READY_TIMEOUT).map_err(|_| {
            let log = std::fs::read_to_string(dir.join("firewalld.log")).unwrap_or_default();
            Error::NotReady(format!("firewalld did not start; its log:\n{log}"))
        })?;
        Ok(Firewalld {
            holder,
            net: ns.path(),
            dir: dir.to_path_buf(),
        })
    }

    /// Runs `firewall-cmd ARGS...`: its output (stdout and stderr) and
    /// whether it succeeded.
    pub fn firewall_cmd(&self, args: &[&str]) -> Result<(bool, String)> {
        let out = Command::new("nsenter")
            .arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .arg(format!("--net={}", self.net.display()))
            .args(["--", "firewall-cmd"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                command: format!("firewall-cmd {}", args.join(" ")),
                source,
            })?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    }

    /// firewalld's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("firewalld.log")).unwrap_or_default()
    }

    /// Stops firewalld (it removes its rules) and its bus, waiting up to
    /// 20 s, then kills the holder's process group.
    fn stop(&mut self) {
        if !terminate(&mut self.holder, Duration::from_secs(20)) {
            kill_group(&mut self.holder);
        }
    }
}

impl Drop for Firewalld {
    fn drop(&mut self) {
        self.stop();
    }
}
