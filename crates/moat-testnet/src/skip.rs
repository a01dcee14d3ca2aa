//! Deciding whether namespace tests can run here.

use std::io::Write;
use std::process::Command;
use std::sync::OnceLock;

use crate::cleanup::cleanup_stale;
use crate::netns::Netns;

/// Whether the `CI` environment variable asks for strictness (`CI=true` or
/// `CI=1`).
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Checks once per process whether namespace tests can run: root, `ip`
/// present, and a probe namespace can be created and deleted. Also removes
/// namespaces left over by dead processes (see
/// [`cleanup_stale`](crate::cleanup_stale)). Returns why not, if not.
pub fn lab_unavailable() -> Option<&'static str> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE.get_or_init(probe).as_deref()
}

fn probe() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!("not running as root (euid {euid})"));
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`ip -V` failed ({})", out.status)),
        Err(e) => return Some(format!("iproute2's `ip` is not available: {e}")),
    }
    let _ = cleanup_stale();
    match Netns::new("probe") {
        Ok(ns) => ns
            .ip(&["link", "set", "lo", "up"])
            .err()
            .map(|e| e.to_string()),
        Err(e) => Some(format!("`ip netns` does not work here: {e}")),
    }
}

/// For tests: returns `true` when network-namespace tests can run, and
/// `false` (after printing why, past the test harness's output capture)
/// when they cannot and should be skipped.
///
/// With `CI=true` in the environment a missing capability is a test
/// failure instead: this function panics.
///
/// ```no_run
/// #[test]
/// fn forwards_tcp() {
///     if !moat_testnet::require_root_or_skip() {
///         return;
///     }
///     // ... build a Topology and send traffic ...
/// }
/// ```
pub fn require_root_or_skip() -> bool {
    let Some(reason) = lab_unavailable() else {
        return true;
    };
    skip_or_fail(&format!("network-namespace tests cannot run: {reason}"))
}

/// Skips the test, saying why on the real stderr, and returns `false`; a
/// failure (panic) under `CI=true`.
fn skip_or_fail(reason: &str) -> bool {
    if on_ci() {
        panic!("moat-testnet: {reason}, and CI=true");
    }
    // Write to the real stderr (`eprintln!` would be captured by libtest),
    // in one piece so parallel tests do not interleave.
    let line = format!(
        "moat-testnet: SKIPPED {}: {reason} (set CI=true to make this a failure)\n",
        std::thread::current().name().unwrap_or("test")
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// For tests that need programs besides the lab: `true` when every path of
/// `programs` exists, else `false` after printing which are missing (the
/// test is skipped). With `CI=true` a missing program is a failure: this
/// function panics, naming the Debian packages (`packages`) to install.
pub fn require_programs_or_skip(programs: &[&str], packages: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !program_exists(p))
        .collect();
    missing.is_empty()
        || skip_or_fail(&format!(
            "{missing:?} not installed (apt-get install {packages})"
        ))
}

/// Whether `program` exists: a path as given, or a bare name on PATH.
fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).exists()))
}
