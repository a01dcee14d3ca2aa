//! A `moat daemon` under test: started in a namespace with its own state
//! directory, its log read back, stopped on drop.

#![allow(dead_code)]

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moat_testnet::Netns;

fn moat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_moat")
}

/// Lossy text of output bytes.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `moat ARGS` in `ns` with `dir` as its state and configuration directory.
pub fn moat_in(ns: &Netns, dir: &Path, args: &[&str]) -> std::process::Output {
    moat_in_env(ns, dir, args, &[])
}

/// [`moat_in`] with more environment variables.
pub fn moat_in_env(
    ns: &Netns,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name(), moat_bin()])
        .args(args)
        .env("MOAT_STATE", dir.join("state"))
        .env("MOAT_ETC", dir.join("etc"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run moat")
}

/// A fresh directory for one test's files, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `/tmp/moat-NAME-PID`, empty.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("moat-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A syslog line of sshd's at the current time, as rsyslog writes it.
pub fn sshd_line(message: &str) -> String {
    let stamp = chrono::Local::now().format("%b %e %H:%M:%S");
    format!("{stamp} gateway sshd[4242]: {message}\n")
}

/// Appends `text` to the file at `path`.
pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open log");
    f.write_all(text.as_bytes()).expect("append to log");
}

/// A `moat daemon` in a namespace; killed on drop.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `moat daemon --config CONFIG` and waits until it is ready.
    pub fn start(ns: &Netns, dir: &Path, config: &Path, name: &str) -> Daemon {
        let config = config.display().to_string();
        Daemon::start_with(ns, dir, &["--config", &config], name)
    }

    /// Starts `moat daemon ARGS` and waits until it is ready.
    pub fn start_with(ns: &Netns, dir: &Path, args: &[&str], name: &str) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), moat_bin(), "daemon"])
            .args(args)
            .env("MOAT_STATE", dir.join("state"))
            .env("MOAT_ETC", dir.join("etc"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("daemon log"))
            .spawn()
            .expect("start moat daemon");
        let daemon = Daemon { child, log };
        daemon.wait_for("[daemon] ready");
        daemon
    }

    /// What the daemon logged so far.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits (up to 10 s) until the daemon logged `needle`.
    pub fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.output().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon never logged {needle:?}:\n{}", self.output());
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGHUP and waits until the daemon has logged its `times`-th
    /// "configuration reloaded".
    pub fn reload(&self, times: usize) {
        Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill -HUP");
        wait_until("the reload", 10, || {
            self.output().matches("configuration reloaded").count() == times
        });
    }

    /// Sends a signal (`-KILL`, `-TERM`) and reaps the process.
    pub fn signal(&mut self, sig: &str) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `moat bans` lists `addr`.
pub fn banned(ns: &Netns, dir: &Path, addr: IpAddr) -> bool {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), moat_bin(), "bans", "--json"])
        .env("MOAT_STATE", dir.join("state"))
        .output()
        .expect("moat bans");
    assert!(out.status.success(), "moat bans: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bans json");
    v["bans"]
        .as_array()
        .expect("bans")
        .iter()
        .any(|b| b["address"] == addr.to_string())
}

/// Polls `f` until it holds; panics after `secs`.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not happen within {secs} s");
}
