//! Shared helpers for moat's end-to-end tests: run the moat binary inside a
//! namespace and read its results.

#![allow(dead_code)]

use std::process::Output;

use moat_testnet::Netns;

/// The moat binary under test.
pub fn moat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_moat")
}

/// Runs `moat ARGS...` inside `ns`.
pub fn moat(ns: &Netns, args: &[&str]) -> Output {
    let mut argv = vec![moat_bin()];
    argv.extend_from_slice(args);
    ns.exec(&argv).expect("run moat in the namespace")
}

/// Runs `moat ARGS...` inside `ns` and returns its standard output; panics with its stderr on failure.
pub fn moat_ok(ns: &Netns, args: &[&str]) -> String {
    let out = moat(ns, args);
    assert!(
        out.status.success(),
        "moat {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs each line as `moat iptables LINE` (words split on spaces) inside `ns`.
pub fn iptables_all(ns: &Netns, program: &str, lines: &[&str]) {
    for line in lines {
        let mut args = vec![program];
        args.extend(line.split_whitespace());
        moat_ok(ns, &args);
    }
}

/// Runs `moat iptables-restore` with `text` on standard input inside `ns`.
pub fn restore(ns: &Netns, program: &str, extra: &[&str], text: &str) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name(), moat_bin(), program])
        .args(extra);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn moat restore");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write restore input");
    child.wait_with_output().expect("wait for moat restore")
}

/// The packet counter of the first `-vnL` line of `chain` whose text contains `needle`.
pub fn packets_of(listing: &str, chain: &str, needle: &str) -> u64 {
    let mut in_chain = false;
    for line in listing.lines() {
        if line.starts_with("Chain ") {
            in_chain = line.starts_with(&format!("Chain {chain} "));
            continue;
        }
        if in_chain && line.contains(needle) {
            let first = line.split_whitespace().next().expect("counter column");
            return parse_scaled(first);
        }
    }
    panic!("no line containing {needle:?} in chain {chain} of:\n{listing}");
}

fn parse_scaled(text: &str) -> u64 {
    let (digits, factor) = match text.chars().last() {
        Some('K') => (&text[..text.len() - 1], 1_000),
        Some('M') => (&text[..text.len() - 1], 1_000_000),
        Some('G') => (&text[..text.len() - 1], 1_000_000_000),
        _ => (text, 1),
    };
    digits.parse::<u64>().expect("counter") * factor
}

/// The whole kernel ruleset of `ns`, as nft prints it.
pub fn nft_ruleset(ns: &Netns) -> String {
    ns.exec_ok(&["nft", "list", "ruleset"])
        .expect("nft list ruleset")
}
