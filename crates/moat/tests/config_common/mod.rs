//! Helpers for the moat.toml end-to-end tests: run moat in a namespace with
//! a private configuration directory and no SSH session in its environment.
//! A test binary using them declares `mod common;` too.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use moat_testnet::{Netns, Topology};

use crate::common::{gateway_lab, moat_bin, stdout_of_success};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The client / gateway / server lab and a fresh [`Scratch`], or `None` (the test skips) without root.
pub fn config_lab() -> Option<(Topology, Scratch)> {
    gateway_lab().map(|lab| (lab, Scratch::new()))
}

/// A private directory for one test: MOAT_ETC and the config files; removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "moat-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    /// MOAT_ETC for this test.
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }

    /// Writes a file and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn argv(scratch: &Scratch, env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["env".into(), "-u".into(), "SSH_CONNECTION".into()];
    v.push(format!("MOAT_ETC={}", scratch.etc().display()));
    v.push("MOAT_SSHD_CONFIG=/nonexistent".into());
    for (k, val) in env {
        v.push(format!("{k}={val}"));
    }
    v.push(moat_bin().into());
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Runs moat in `ns` with `env` added.
pub fn moat_env(ns: &Netns, scratch: &Scratch, env: &[(&str, &str)], args: &[&str]) -> Output {
    ns.exec(&argv(scratch, env, args)).expect("run moat")
}

/// Runs moat in `ns`.
pub fn moat(ns: &Netns, scratch: &Scratch, args: &[&str]) -> Output {
    moat_env(ns, scratch, &[], args)
}

/// Runs moat in `ns`; panics with its stderr on failure; returns stdout.
pub fn moat_ok(ns: &Netns, scratch: &Scratch, args: &[&str]) -> String {
    stdout_of_success(args, moat(ns, scratch, args))
}

/// Starts moat in `ns` without waiting (standard input piped, kept open).
pub fn spawn(ns: &Netns, scratch: &Scratch, args: &[&str]) -> Child {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name()])
        .args(argv(scratch, &[], args));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moat")
}

/// `moat apply FILE` in `ns`; panics with its stderr on failure; returns stdout.
pub fn apply(ns: &Netns, scratch: &Scratch, file: &Path) -> String {
    moat_ok(ns, scratch, &["apply", file.to_str().unwrap()])
}

/// Writes `config` as moat.toml and applies it in `ns` (see [`apply`]).
pub fn apply_toml(ns: &Netns, scratch: &Scratch, config: &str) -> String {
    apply(ns, scratch, &scratch.file("moat.toml", config))
}

/// moat's IPv4 and IPv6 rules (iptables-save without comment lines, and
/// without the policy counters it writes on chain lines).
pub fn rules(ns: &Netns, scratch: &Scratch) -> String {
    let mut out = String::new();
    for prog in ["iptables-save", "ip6tables-save"] {
        let s = moat_ok(ns, scratch, &[prog]);
        out.extend(
            s.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| match l.split_once(" [") {
                    Some((chain, _)) if l.starts_with(':') => chain,
                    _ => l,
                })
                .map(|l| format!("{prog}: {l}\n")),
        );
    }
    out
}

/// Polls `f` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An example from examples/ with the seed's names swapped for the lab's.
pub fn example(name: &str, swaps: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in swaps {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replace(from, to);
    }
    text
}
