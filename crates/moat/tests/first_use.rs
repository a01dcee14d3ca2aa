//! What a new user tripped over (issue 15): warnings only where they
//! apply, `moat check` agreeing with `moat apply`, block-list commands that
//! say what they did, plain messages, a namespace's apply kept apart from
//! the host's, the iptables front-end's warning before it cuts the SSH
//! session, completions and a manual page, moat made the host's iptables
//! through update-alternatives, where zone files come from, block lists in
//! the status, and a demo that names its articles.

mod common;
mod config_common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use common::{exec_input, text};
use config_common::{example, moat, moat_env, Scratch};
use moat_testnet::{require_programs_or_skip, require_root_or_skip, Netns};

/// The warning a rule that needs IPv4 forwarding gets.
const FORWARD_WARNING: &str = "sysctl -w net.ipv4.ip_forward=1";

/// A fresh namespace (forwarding off, as on a new host) and a scratch
/// directory, or `None` (the test skips) without root.
fn host() -> Option<(Netns, Scratch)> {
    require_root_or_skip().then(|| (Netns::new("first").unwrap(), Scratch::new()))
}

/// Runs moat in `ns` with its advice on (as at a terminal), asserts it
/// succeeded and returns its stderr.
fn stderr_of_success(ns: &Netns, s: &Scratch, args: &[&str]) -> String {
    let out: Output = moat_env(ns, s, &[("MOAT_ADVICE", "1")], args);
    let err = text(&out.stderr);
    assert!(out.status.success(), "moat {args:?} failed: {err}");
    err
}

#[test]
fn forwarding_warning_only_for_rules_that_forward_once_where_they_are_added() {
    let Some((ns, s)) = host() else { return };
    let web = s.file("web.toml", &example("anti-dos-web.toml", &[]));
    let err = stderr_of_success(&ns, &s, &["apply", web.to_str().unwrap()]);
    assert!(
        !err.contains("forwards"),
        "a web server forwards nothing: {err}"
    );
    for args in [
        &[
            "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT",
        ][..],
        &[
            "iptables", "-D", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT",
        ],
        &["iptables", "-P", "INPUT", "DROP"],
        &["iptables", "-Z"],
        &[
            "iptables",
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    ] {
        let err = stderr_of_success(&ns, &s, args);
        assert!(!err.contains(FORWARD_WARNING), "{args:?}: {err}");
    }
    let forward = ["iptables", "-A", "FORWARD", "-i", "eth9", "-j", "ACCEPT"];
    let err = stderr_of_success(&ns, &s, &forward);
    assert_eq!(err.matches(FORWARD_WARNING).count(), 1, "{err}");
    // A program running iptables (its stderr no terminal) hears nothing
    // that iptables would not say: Docker takes any output as a failure.
    let out = moat(&ns, &s, &forward);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "no advice for programs");
    let err = stderr_of_success(&ns, &s, &["iptables", "-P", "INPUT", "ACCEPT"]);
    assert!(!err.contains(FORWARD_WARNING), "{err}");
    let gateway = s.file(
        "gateway.toml",
        "[zones.lan]\ninterfaces = [\"eth1\"]\n[zones.wan]\ninterfaces = [\"eth0\"]\n\
         [[forward]]\nfrom = \"lan\"\nto = \"wan\"\n\
         [[port_forward]]\nport = 6881\nto = \"192.168.1.100\"\nfrom = \"wan\"\n",
    );
    let err = stderr_of_success(&ns, &s, &["apply", gateway.to_str().unwrap()]);
    assert_eq!(err.matches(FORWARD_WARNING).count(), 1, "once: {err}");
}

/// Runs moat in `ns`, asserts it succeeded and returns its stdout.
fn stdout_of_success(ns: &Netns, s: &Scratch, args: &[&str]) -> String {
    let out = moat(ns, s, args);
    assert!(
        out.status.success(),
        "moat {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn block_add_needs_create_and_block_commands_say_what_they_did() {
    let Some((ns, s)) = host() else { return };
    let list = s.file("bad.txt", "192.0.2.7\n");
    let path = list.to_str().unwrap();
    stdout_of_success(
        &ns,
        &s,
        &["block", "file", "badhosts", path, "--direction", "none"],
    );
    let out = moat(&ns, &s, &["block", "add", "typo", "10.9.9.9"]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a typo creates no list");
    assert!(
        err.contains("--create") && err.contains("badhosts"),
        "{err}"
    );
    assert!(!stdout_of_success(&ns, &s, &["block", "list"]).contains("typo"));
    let out = stdout_of_success(&ns, &s, &["block", "add", "badhosts", "10.9.9.9"]);
    assert_eq!(out.trim(), "added 1 address to badhosts (now 2 entries)");
    let out = stdout_of_success(&ns, &s, &["block", "remove", "badhosts", "10.9.9.9"]);
    assert_eq!(out.trim(), "removed 1 address from badhosts (now 1 entry)");
    let out = stdout_of_success(&ns, &s, &["block", "add", "fresh", "10.9.9.9", "--create"]);
    assert!(out.contains("created block list fresh"), "{out}");
}

#[test]
fn block_list_says_used_by_only_while_a_rule_uses_the_list() {
    let Some((ns, s)) = host() else { return };
    let list = s.file("bad.txt", "192.0.2.7\n");
    let path = list.to_str().unwrap();
    stdout_of_success(
        &ns,
        &s,
        &["block", "file", "badhosts", path, "--direction", "none"],
    );
    let rule = [
        "-p",
        "tcp",
        "--dport",
        "9000",
        "-m",
        "set",
        "--match-set",
        "badhosts",
        "src",
        "-j",
        "DROP",
    ];
    let with =
        |cmd: &'static str| -> Vec<&str> { [&["iptables", cmd, "INPUT"][..], &rule].concat() };
    stdout_of_success(&ns, &s, &with("-A"));
    let listing = stdout_of_success(&ns, &s, &["block", "list"]);
    assert!(
        listing.contains("used by iptables rules in ip moat_filter"),
        "{listing}"
    );
    stdout_of_success(&ns, &s, &with("-D"));
    let listing = stdout_of_success(&ns, &s, &["block", "list"]);
    assert!(!listing.contains("used by"), "the rule is gone: {listing}");
    let json = |ns: &Netns| -> serde_json::Value {
        serde_json::from_str(&stdout_of_success(ns, &s, &["block", "list", "--json"])).unwrap()
    };
    assert_eq!(json(&ns)[0]["used_by"].as_array().map(Vec::len), Some(0));
    stdout_of_success(&ns, &s, &with("-A"));
    let lists = json(&ns);
    assert_eq!(lists[0]["name"], "badhosts");
    assert_eq!(lists[0]["ranges_v4"], 1);
    assert_eq!(lists[0]["used_by"][0], "ip moat_filter");
}

#[test]
fn status_apply_and_iptables_speak_plainly() {
    let Some((ns, s)) = host() else { return };
    let config = s.file(
        "plain.toml",
        "[ip6tables]\nrules = [\"-t nat -A POSTROUTING -o eth9 -j MASQUERADE\"]\n",
    );
    let out = stdout_of_success(&ns, &s, &["apply", config.to_str().unwrap()]);
    assert!(out.contains("IPv6 nat (1 rule)"), "{out}");
    let status = stdout_of_success(&ns, &s, &["status"]);
    assert!(status.contains("input drop"), "{status}");
    assert!(!status.contains("Drop"), "{status}");
    assert!(!status.contains("Open services:"), "no services: {status}");

    let out = moat(&ns, &s, &["iptables", "-A", "INPUT", "-j", "ACCEPTT"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("did you mean ACCEPT?"), "{err}");
    assert!(!stdout_of_success(&ns, &s, &["iptables", "-S"]).contains("ACCEPTT"));

    for args in [
        &["help", "iptables"][..],
        &["iptables", "-h"],
        &["ip6tables", "--help"],
    ] {
        let help = stdout_of_success(&ns, &s, args);
        for word in ["-A, --append", "-t, --table", "conntrack", "MASQUERADE"] {
            assert!(help.contains(word), "{args:?}: {word} missing from {help}");
        }
    }
    // -V as Debian's iptables-nft prints it (scripts read version and mode).
    let real = String::from_utf8(
        std::process::Command::new("iptables-nft")
            .arg("-V")
            .output()
            .expect("Debian's iptables-nft")
            .stdout,
    )
    .unwrap();
    for (args, program) in [
        (&["iptables", "-V"][..], "iptables"),
        (&["ip6tables", "--version"], "ip6tables"),
    ] {
        let line = stdout_of_success(&ns, &s, args);
        let words: Vec<&str> = line.split_whitespace().take(3).collect();
        assert_eq!(words[0], program, "{line}");
        assert_eq!(words[2].trim_end_matches(':'), "(nf_tables)", "{line}");
        assert!(
            words[1].starts_with("v1.8.")
                && real
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|v| v.starts_with("v1.8.")),
            "moat: {line} iptables-nft: {real}"
        );
    }
}

/// Files `moat apply` refuses without needing to ask the kernel, with a
/// word of the reason: `moat check` must refuse them too.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "masquerade.rules",
        "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MASQUERADE\nCOMMIT\n",
        "MASQUERADE",
    ),
    (
        "oif.toml",
        "[iptables]\nrules = [\"-A INPUT -o eth0 -j DROP\"]\n",
        "output interface",
    ),
];

#[test]
fn check_refuses_what_apply_refuses_and_names_what_needs_the_kernel() {
    let Some((ns, s)) = host() else { return };
    for (name, content, reason) in REFUSED {
        let path = s.file(name, content);
        let path = path.to_str().unwrap();
        let check = moat(&ns, &s, &["check", path]);
        let apply = moat(&ns, &s, &["apply", path]);
        assert!(!apply.status.success(), "{name}: apply refuses it");
        let err = text(&check.stderr);
        assert!(!check.status.success(), "{name}: check said ok: {err}");
        assert!(err.contains(reason), "{name}: {err}");
    }
    // Whether a block list or ipset exists only the kernel knows: check
    // says so, apply checks it (several flags need an ipset).
    for (name, content, set) in [
        ("list.toml", "[iptables]\nrules = [\"-A INPUT -m set --match-set partners src -j ACCEPT\"]\n", "partners"),
        ("list.rules", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set partners src -j ACCEPT\nCOMMIT\n", "partners"),
        ("srcdst.toml", "[iptables]\nrules = [\"-A INPUT -m set --match-set badhosts src,dst -j DROP\"]\n", "badhosts"),
    ] {
        let path = s.file(name, content);
        let path = path.to_str().unwrap();
        let err = stderr_of_success(&ns, &s, &["check", path]);
        assert!(
            err.contains(&format!("note: block list or ipset {set} must exist when applied (checked by apply)")),
            "{name}: {err}"
        );
        let apply = moat(&ns, &s, &["apply", path]);
        assert!(!apply.status.success(), "{name}: there is no set {set}");
        assert!(text(&apply.stderr).contains(&format!("\"{set}\"")), "{}", text(&apply.stderr));
    }
    let list = s.file("partners.txt", "192.0.2.0/24\n");
    stdout_of_success(
        &ns,
        &s,
        &[
            "block",
            "file",
            "partners",
            list.to_str().unwrap(),
            "--direction",
            "none",
        ],
    );
    stdout_of_success(
        &ns,
        &s,
        &["apply", s.dir.join("list.toml").to_str().unwrap()],
    );
}

/// Every entry under `dir` (recursively, sorted) with its size,
/// modification time and contents; empty when there is no `dir`.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let bytes = if meta.is_file() {
            std::fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        out.push((path.clone(), meta.len(), meta.modified().ok(), bytes));
        if meta.is_dir() {
            out.extend(tree(&path));
        }
    }
    out.sort();
    out
}

/// /etc/netns/NAME, removed (with /etc/netns when it is left empty) on drop.
struct EtcNetns(PathBuf);

impl Drop for EtcNetns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir(Path::new("/etc/netns"));
    }
}

/// The host's /etc/moat as it was; put back on drop, so a moat that
/// wrongly writes there (as it did before this test's fix) leaves no trace.
struct HostEtc {
    existed: bool,
    files: Vec<(PathBuf, u64, Option<SystemTime>, Vec<u8>)>,
}

/// Where moat keeps the host's configuration.
const HOST_ETC: &str = "/etc/moat";

impl HostEtc {
    fn take() -> HostEtc {
        HostEtc {
            existed: Path::new(HOST_ETC).exists(),
            files: tree(Path::new(HOST_ETC)),
        }
    }

    fn unchanged(&self) -> bool {
        Path::new(HOST_ETC).exists() == self.existed && tree(Path::new(HOST_ETC)) == self.files
    }
}

impl Drop for HostEtc {
    fn drop(&mut self) {
        if self.unchanged() {
            return;
        }
        if !self.existed {
            let _ = std::fs::remove_dir_all(HOST_ETC);
            return;
        }
        for (path, _, _, bytes) in &self.files {
            if path.is_file() {
                let _ = std::fs::write(path, bytes);
            }
        }
        for (path, ..) in tree(Path::new(HOST_ETC)) {
            if !self.files.iter().any(|(p, ..)| *p == path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

#[test]
fn apply_in_a_named_namespace_keeps_its_files_in_etc_netns_not_etc_moat() {
    let Some((ns, s)) = host() else { return };
    let host_etc = HostEtc::take();
    let ns_etc = EtcNetns(Path::new("/etc/netns").join(ns.name()));
    let kept = ns_etc.0.join("moat");
    let config = s.file("moat.toml", "[[service]]\nname = \"ssh\"\n");
    let run = |args: &[&str]| -> String {
        let mut argv = vec!["env", "-u", "SSH_CONNECTION", "-u", "MOAT_ETC"];
        argv.extend_from_slice(&["MOAT_SSHD_CONFIG=/nonexistent", common::moat_bin()]);
        argv.extend_from_slice(args);
        let out = ns.exec(&argv).unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let out = run(&["apply", config.to_str().unwrap()]);
    assert!(host_etc.unchanged(), "/etc/moat changed");
    assert!(
        out.contains(&format!("kept in {} for the next boot", kept.display())),
        "{out}"
    );
    assert!(kept.join("moat.toml").is_file() && kept.join("ruleset.json").is_file());
    let status = run(&["status"]);
    assert!(
        status.contains(&format!("Configuration: {}/moat.toml", kept.display())),
        "{status}"
    );
    let help = run(&["apply", "--help"]);
    for words in ["/etc/moat", "/etc/netns/NAME/moat", "MOAT_ETC"] {
        assert!(help.contains(words), "{words} missing from {help}");
    }
}

/// The SSH session the iptables tests run in: client 10.99.1.2, port 22.
const SSH_ENV: (&str, &str) = ("SSH_CONNECTION", "10.99.1.2 50514 10.99.1.1 22");

/// Runs `moat iptables LINE` in `ns` inside the SSH session [`SSH_ENV`];
/// asserts it succeeded and returns its stderr.
fn iptables_in_session(ns: &Netns, s: &Scratch, line: &str) -> String {
    let args: Vec<&str> = common::words("iptables", line);
    let out = moat_env(ns, s, &[SSH_ENV], &args);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{line}: {err}");
    err
}

#[test]
fn iptables_warns_when_a_command_cuts_the_ssh_session_and_still_applies_it() {
    let Some((ns, s)) = host() else { return };
    let err = iptables_in_session(&ns, &s, "-P INPUT DROP");
    for words in [
        "WARNING",
        "10.99.1.2:50514 -> 10.99.1.1:22",
        "moat iptables -I INPUT -s 10.99.1.2 -p tcp --dport 22 -j ACCEPT",
        "moat iptables -P INPUT ACCEPT",
    ] {
        assert!(err.contains(words), "{words} missing from {err}");
    }
    assert!(stdout_of_success(&ns, &s, &["iptables", "-S"]).contains("-P INPUT DROP"));
    let err = iptables_in_session(&ns, &s, "-A INPUT -p tcp --dport 22 -j ACCEPT");
    assert!(err.is_empty(), "SSH is allowed again: {err}");
    // A drop that cannot match the session's packets says nothing.
    let err = iptables_in_session(&ns, &s, "-I INPUT -s 198.51.100.7 -j DROP");
    assert!(err.is_empty(), "{err}");
    assert!(stdout_of_success(&ns, &s, &["iptables", "-S", "INPUT"])
        .contains("-A INPUT -s 198.51.100.7/32 -j DROP"));
    let err = iptables_in_session(&ns, &s, "-I INPUT -s 10.99.1.2 -j DROP");
    assert!(err.contains("moat iptables -D INPUT 1"), "{err}");
    let err = iptables_in_session(&ns, &s, "-D INPUT -s 10.99.1.2 -j DROP");
    assert!(err.is_empty(), "{err}");
    let err = iptables_in_session(&ns, &s, "-F INPUT");
    assert!(err.contains("policy DROP"), "{err}");
    iptables_in_session(&ns, &s, "-P INPUT ACCEPT");
    // iptables-restore warns the same way.
    let file = s.file("cut.rules", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n");
    let out = moat_env(
        &ns,
        &s,
        &[SSH_ENV],
        &["iptables-restore", file.to_str().unwrap()],
    );
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.starts_with("iptables-restore: WARNING"), "{err}");
    assert!(err.contains("moat iptables -P INPUT ACCEPT"), "{err}");
    iptables_in_session(&ns, &s, "-P INPUT ACCEPT");
    // An append that drops takes the full path, so it is checked too.
    let err = iptables_in_session(&ns, &s, "-A OUTPUT -d 10.99.1.2 -j REJECT");
    assert!(
        err.contains("moat iptables -I OUTPUT -d 10.99.1.2 -p tcp --sport 22 -j ACCEPT"),
        "{err}"
    );
    assert!(err.contains("moat iptables -D OUTPUT 1"), "{err}");
    // Outside SSH nothing is said.
    let err = stderr_of_success(&ns, &s, &["iptables", "-P", "FORWARD", "DROP"]);
    assert!(err.is_empty(), "{err}");
    let err = stderr_of_success(&ns, &s, &["iptables", "-A", "INPUT", "-j", "DROP"]);
    assert!(err.is_empty(), "{err}");
}

/// Runs `update-alternatives --root ROOT ARGS...` and returns its stdout.
fn alternatives(root: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("update-alternatives")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run update-alternatives");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `moat install --iptables` in a root laid out as Debian's (iptables-nft
/// registered with update-alternatives, stand-in scripts for its
/// binaries): the six names then lead to moat's personalities, which run
/// real commands in a namespace, and `update-alternatives --auto` goes
/// back to iptables-nft, which still ranks first.
#[test]
fn install_iptables_chooses_moat_through_update_alternatives() {
    if !require_programs_or_skip(&["update-alternatives"], "dpkg") {
        return;
    }
    let s = Scratch::new();
    let root = s.dir.join("root");
    for dir in ["usr/sbin", "etc/alternatives", "var/lib/dpkg/alternatives"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let names = |family: &str| ["", "-restore", "-save"].map(|suffix| format!("{family}{suffix}"));
    for family in ["iptables", "ip6tables"] {
        let [master, restore, save] = names(family);
        for name in [&master, &restore, &save] {
            let stand_in = root.join(format!(
                "usr/sbin/{}",
                name.replacen("tables", "tables-nft", 1)
            ));
            std::fs::write(&stand_in, "#!/bin/sh\necho nft\n").unwrap();
            std::fs::set_permissions(
                &stand_in,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
        let sbin = |n: &str| format!("/usr/sbin/{n}");
        let nft = |n: &str| sbin(&n.replacen("tables", "tables-nft", 1));
        alternatives(
            &root,
            &[
                "--install",
                &sbin(&master),
                &master,
                &nft(&master),
                "20",
                "--slave",
                &sbin(&restore),
                &restore,
                &nft(&restore),
                "--slave",
                &sbin(&save),
                &save,
                &nft(&save),
            ],
        );
    }
    let out = std::process::Command::new(common::moat_bin())
        .args(["install", "--iptables", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("update-alternatives --auto iptables"));
    let dir = root.join("usr/local/lib/moat");
    for family in ["iptables", "ip6tables"] {
        for name in names(family) {
            let link = |p: &str| std::fs::read_link(root.join(p)).unwrap();
            assert_eq!(
                link(&format!("usr/sbin/{name}")),
                Path::new(&format!("/etc/alternatives/{name}"))
            );
            assert_eq!(
                link(&format!("etc/alternatives/{name}")),
                Path::new(&format!("/usr/local/lib/moat/{name}"))
            );
            assert_eq!(
                std::fs::read_link(dir.join(&name)).unwrap(),
                Path::new("moat-iptables")
            );
        }
        let query = alternatives(&root, &["--query", family]);
        for line in [
            "Status: manual".to_string(),
            format!("Value: /usr/local/lib/moat/{family}"),
            format!("Best: /usr/sbin/{family}-nft"),
        ] {
            assert!(query.contains(&line), "{line} missing from {query}");
        }
    }
    if let Some((ns, _)) = host() {
        let run = |name: &str, args: &[&str], input: &str| {
            let program = dir.join(name);
            let argv: Vec<&str> = std::iter::once(program.to_str().unwrap())
                .chain(args.iter().copied())
                .collect();
            let out = exec_input(&ns, &argv, &[], input);
            assert!(
                out.status.success(),
                "{name} {args:?}: {}",
                text(&out.stderr)
            );
            text(&out.stdout)
        };
        run(
            "iptables-restore",
            &[],
            "*filter\n-A INPUT -s 192.0.2.1 -j DROP\nCOMMIT\n",
        );
        assert!(run("iptables-save", &[], "").contains("-A INPUT -s 192.0.2.1/32 -j DROP"));
        run(
            "ip6tables",
            &["-A", "INPUT", "-s", "2001:db8::1", "-j", "DROP"],
            "",
        );
        assert!(
            run("ip6tables", &["-S", "INPUT"], "").contains("-A INPUT -s 2001:db8::1/128 -j DROP")
        );
        assert!(run("iptables", &["-V"], "").contains("moat"));
    }
    for family in ["iptables", "ip6tables"] {
        alternatives(&root, &["--auto", family]);
        let query = alternatives(&root, &["--query", family]);
        assert!(
            query.contains(&format!("Value: /usr/sbin/{family}-nft")),
            "{query}"
        );
    }
    // A bare root, being prepared, gets update-alternatives' directories,
    // and installing again changes nothing.
    let bare = s.dir.join("bare");
    for _ in 0..2 {
        let out = std::process::Command::new(common::moat_bin())
            .args(["install", "--iptables", "--root", bare.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let query = alternatives(&bare, &["--query", "ip6tables"]);
    assert!(
        query.contains("Value: /usr/local/lib/moat/ip6tables"),
        "{query}"
    );
}

#[test]
fn install_writes_completions_and_a_manual_page() {
    let s = Scratch::new();
    let root = s.dir.join("root");
    let out = std::process::Command::new(common::moat_bin())
        .args(["install", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bash = root.join("usr/share/bash-completion/completions/moat");
    for file in [
        &bash,
        &root.join("usr/share/zsh/vendor-completions/_moat"),
        &root.join("usr/share/fish/vendor_completions.d/moat.fish"),
    ] {
        let script = std::fs::read_to_string(file).unwrap();
        assert!(script.contains("iptables-restore"), "{}", file.display());
    }
    let complete = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("source {}; complete -p moat", bash.display()),
        ])
        .output()
        .unwrap();
    assert!(complete.status.success(), "{}", text(&complete.stderr));
    assert!(text(&complete.stdout).contains("moat"));
    let man = root.join("usr/share/man/man8/moat.8");
    let roff = std::fs::read_to_string(&man).unwrap();
    assert!(roff.contains(".TH moat 8"), "{roff}");
    let rendered = std::process::Command::new("man")
        .arg("-l")
        .arg(&man)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .expect("man (man-db, installed by scripts/deps.sh)");
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let page = text(&rendered.stdout);
    for words in [
        "SYNOPSIS",
        "COMMANDS",
        "moat apply",
        "moat iptables-restore",
    ] {
        assert!(page.contains(words), "{words} missing from {page}");
    }
    assert!(
        !roff.contains("moat\\-apply(8)"),
        "no page of its own: {roff}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(common::moat_bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
}

#[test]
fn block_country_says_where_zone_files_come_from_and_how_to_fetch_them() {
    let Some((ns, s)) = host() else { return };
    let zones = s.dir.join("zones");
    let dir = zones.to_str().unwrap();
    let mut errors = Vec::new();
    for _ in 0..2 {
        let out = moat(
            &ns,
            &s,
            &["block", "country", "cn", "RU", "--zone-dir", dir],
        );
        assert!(!out.status.success());
        errors.push(text(&out.stderr));
        std::fs::create_dir_all(zones.join("ipv4")).unwrap();
        std::fs::write(zones.join("ipv4/cn.zone"), "192.0.2.0/24\n").unwrap();
    }
    assert!(errors[0].contains("no zone directory"), "{}", errors[0]);
    for (err, codes) in errors.iter().zip([&["cn", "ru"][..], &["ru"]]) {
        for code in codes {
            for line in [
                format!("https://www.ipdeny.com/ipv6/ipaddresses/blocks/{code}.zone"),
                format!("curl -fsS -o {dir}/ipv4/{code}.zone https://www.ipdeny.com/ipblocks/data/countries/{code}.zone"),
                format!("curl -fsS -o {dir}/ipv6/{code}.zone https://www.ipdeny.com/ipv6/ipaddresses/blocks/{code}.zone"),
            ] {
                assert!(err.contains(&line), "{line} missing from {err}");
            }
        }
    }
    assert!(
        !errors[1].contains("/cn.zone"),
        "cn is there: {}",
        errors[1]
    );
    let help = stdout_of_success(&ns, &s, &["block", "country", "--help"]);
    assert!(help.contains("ipdeny.com"), "{help}");
}

#[test]
fn status_shows_the_block_lists() {
    let Some((ns, s)) = host() else { return };
    assert!(!stdout_of_success(&ns, &s, &["status"]).contains("Block lists:"));
    let list = s.file("bad.txt", "192.0.2.7\n198.51.100.0/24\n");
    stdout_of_success(
        &ns,
        &s,
        &[
            "block",
            "file",
            "badhosts",
            list.to_str().unwrap(),
            "--direction",
            "none",
        ],
    );
    stdout_of_success(&ns, &s, &["block", "add", "fresh", "10.9.9.9", "--create"]);
    let status = stdout_of_success(&ns, &s, &["status"]);
    assert!(status.contains("Block lists:"), "{status}");
    let line = |name: &str| {
        status
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .to_string()
    };
    assert!(
        line("badhosts").contains("directions none  2 entries"),
        "{status}"
    );
    assert!(
        line("fresh").contains("directions in,forward  1 entry"),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of_success(&ns, &s, &["status", "--json"])).unwrap();
    let lists = json["block_lists"].as_array().unwrap();
    assert_eq!(lists.len(), 2);
    let bad = lists.iter().find(|l| l["name"] == "badhosts").unwrap();
    assert_eq!(bad["entries"], 2);
    assert_eq!(bad["directions"].as_array().map(Vec::len), Some(0));
}

#[test]
fn the_demo_names_its_articles_and_keeps_apt_quiet() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts");
    let demo = std::fs::read_to_string(scripts.join("demo.sh")).unwrap();
    let announce = demo
        .find("building moat (first time: a minute or two)...")
        .expect("demo.sh announces the build");
    assert!(announce < demo.find("cargo build").expect("demo.sh builds"));
    // The crate has two binaries: cargo must be told which one runs.
    assert!(
        demo.contains("cargo run --release --quiet --bin moat -- demo"),
        "demo.sh must name the moat binary: {demo}"
    );
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("default-run = \"moat\""),
        "a plain `cargo run` must run moat"
    );
    let deps = std::fs::read_to_string(scripts.join("deps.sh")).unwrap();
    for words in ["DEBIAN_FRONTEND=noninteractive", "-qq", ">\"$log\" 2>&1"] {
        assert!(deps.contains(words), "{words} missing from deps.sh");
    }
    if !require_root_or_skip() {
        return;
    }
    let out = std::process::Command::new(common::moat_bin())
        .arg("demo")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("the 2010 stateful-firewall article's firewall and the 2016 port-forwarding article's router"),
        "{stdout}"
    );
    assert!(!stdout.to_lowercase().contains("seed"), "{stdout}");
}

#[test]
fn switching_to_an_ipv4_save_file_says_what_happens_to_ipv6_and_status_agrees() {
    let Some((ns, s)) = host() else { return };
    let toml = s.file("moat.toml", "[[service]]\nname = \"ssh\"\n");
    let out = config_common::moat_ok(&ns, &s, &["apply", toml.to_str().unwrap()]);
    assert!(out.contains("IPv6 filter"), "{out}");
    let save = s.file(
        "rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    );
    let out = config_common::moat_ok(&ns, &s, &["apply", save.to_str().unwrap()]);
    let (applied, rest) = out.split_once('\n').unwrap();
    assert!(applied.contains("IPv4 filter (1 rule)"), "{out}");
    assert!(
        !applied.contains("IPv6"),
        "the file has no IPv6 table: {out}"
    );
    assert!(
        rest.contains("left as they were") && rest.contains("IPv6 filter"),
        "{out}"
    );
    let status = config_common::moat_ok(&ns, &s, &["status"]);
    assert!(
        status.contains("Configuration: iptables-save file") && status.contains("(IPv4 filter)"),
        "{status}"
    );
    assert!(
        status.contains("not from that file") && status.contains("IPv6 filter"),
        "{status}"
    );
}
