//! The iptables command set against the kernel: every command is one atomic
//! transaction, bad input changes nothing, other tables survive.

mod common;

use common::{
    iptables_all, moat, moat_advised, moat_bin, moat_err, moat_iptables_bin, moat_ok, nft_ruleset,
    restore, restore_ok, words,
};
use moat_testnet::{ping, require_root_or_skip, Netns};

fn lab() -> Option<Netns> {
    require_root_or_skip().then(|| Netns::new("cmd").expect("namespace"))
}

#[test]
fn editing_commands_keep_iptables_semantics() {
    let Some(ns) = lab() else { return };
    iptables_all(
        &ns,
        "iptables",
        &[
            "-A INPUT -p tcp --dport 22 -j ACCEPT",
            "-A INPUT -p tcp --dport 80 -j ACCEPT",
            "-I INPUT -p tcp --dport 443 -j ACCEPT",
            "-I INPUT 3 -p udp --dport 53 -j ACCEPT",
            "-N LOGDROP",
            "-A LOGDROP -j LOG --log-prefix dropped:",
            "-A LOGDROP -j DROP",
            "-A INPUT -j LOGDROP",
        ],
    );
    let s = moat_ok(&ns, &["iptables", "-S"]);
    assert_eq!(
        s,
        "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-N LOGDROP\n\
         -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
         -A INPUT -p udp -m udp --dport 53 -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n\
         -A INPUT -j LOGDROP\n\
         -A LOGDROP -j LOG --log-prefix \"dropped:\"\n\
         -A LOGDROP -j DROP\n"
    );
    iptables_all(
        &ns,
        "iptables",
        &[
            "-D INPUT 2",
            "-D INPUT -p tcp --dport 80 -j ACCEPT",
            "-R INPUT 1 -p tcp --dport 8443 -j ACCEPT",
        ],
    );
    assert!(moat(
        &ns,
        &["iptables", "-C", "INPUT", "-p", "tcp", "--dport", "8443", "-j", "ACCEPT"]
    )
    .status
    .success());
    let missing = moat(
        &ns,
        &[
            "iptables", "-C", "INPUT", "-p", "tcp", "--dport", "443", "-j", "ACCEPT",
        ],
    );
    assert_eq!(missing.status.code(), Some(1));
    iptables_all(&ns, "iptables", &["-E LOGDROP LOGGED"]);
    let s = moat_ok(&ns, &["iptables", "-S", "INPUT"]);
    assert_eq!(
        s,
        "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT\n\
         -A INPUT -p udp -m udp --dport 53 -j ACCEPT\n-A INPUT -j LOGGED\n"
    );
    let busy = moat(&ns, &["iptables", "-X", "LOGGED"]);
    assert!(!busy.status.success(), "a chain in use cannot be deleted");
    iptables_all(
        &ns,
        "iptables",
        &["-D INPUT 3", "-F LOGGED", "-X LOGGED", "-P FORWARD DROP"],
    );
    let s = moat_ok(&ns, &["iptables", "-S"]);
    assert!(!s.contains("LOGGED"), "{s}");
    assert!(s.contains("-P FORWARD DROP"), "{s}");
    iptables_all(&ns, "iptables", &["-F"]);
    assert_eq!(
        moat_ok(&ns, &["iptables", "-S", "INPUT"]),
        "-P INPUT ACCEPT\n"
    );
}

#[test]
fn bad_input_is_refused_with_a_pointed_message_and_changes_nothing() {
    let Some(ns) = lab() else { return };
    iptables_all(&ns, "iptables", &["-A INPUT -p tcp --dport 22 -j ACCEPT"]);
    let before = nft_ruleset(&ns);
    let cases: &[(&str, &str)] = &[
        ("-A INPUT -p tcp 8080 -j ACCEPT", "--dport 8080"),
        ("-A INPUT -m conntract --ctstate NEW -j ACCEPT", "conntrack"),
        ("-t nat -F POSTOUTING", "POSTROUTING"),
        ("-A OUTPUT -i eth1 -j ACCEPT", "input interface"),
        ("-A INPUT -s 300.1.1.1 -j DROP", "300.1.1.1"),
        ("-A INPUT -p tcp --dport 70000 -j DROP", "70000"),
        (
            "-A INPUT -m limit --limit 5/fortnight -j ACCEPT",
            "fortnight",
        ),
        ("-A INPUT --dport 22 -j ACCEPT", "-p tcp"),
        ("-A INPUT -p tcp -p udp -j ACCEPT", "-p"),
        ("-A NOPE -j ACCEPT", "NOPE"),
        ("-A INPUT -j NOPE", "NOPE"),
    ];
    // As a person at a terminal reads it: moat's reason follows the words
    // iptables has for some failures.
    for (args, needle) in cases {
        let out = moat_advised(&ns, &words("iptables", args));
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(nft_ruleset(&ns), before, "failed commands change nothing");
}

#[test]
fn old_negation_syntax_is_accepted_with_a_warning() {
    let Some(ns) = lab() else { return };
    let out = moat_advised(
        &ns,
        &["iptables", "-A", "INPUT", "-i", "!", "eth0", "-j", "ACCEPT"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("! -i eth0"));
    assert_eq!(
        moat_ok(&ns, &["iptables", "-S", "INPUT"]),
        "-P INPUT ACCEPT\n-A INPUT ! -i eth0 -j ACCEPT\n"
    );
}

const SEED_004: &str = "*nat
:PREROUTING DROP [0:0]
:OUTPUT DROP [0:0]
:POSTROUTING DROP [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
-A PREROUTING -i eth0 -p tcp --dport 7070 -j DNAT --to-destination 192.168.1.43:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state NEW -m tcp -p tcp --dport 22 -j ACCEPT
-A INPUT -m state --state NEW -m tcp -p tcp --dport 7070 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -p icmp -j ACCEPT
-A FORWARD -i lo -j ACCEPT
-A FORWARD -p 7070 -m state --state NEW -m tcp -p tcp -d 192.168.1.43 --dport 80 -j ACCEPT
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
";

#[test]
fn restore_is_atomic_and_names_the_bad_line() {
    let Some(ns) = lab() else { return };
    iptables_all(&ns, "iptables", &["-A INPUT -p tcp --dport 22 -j ACCEPT"]);
    let before = nft_ruleset(&ns);
    let bad = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 80 -j ACCEPT\n-A INPUT -m conntract --ctstate NEW -j ACCEPT\nCOMMIT\n";
    let out = restore(&ns, "iptables-restore", &[], bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("conntract"), "{stderr}");
    assert_eq!(
        nft_ruleset(&ns),
        before,
        "nothing of the bad file was applied"
    );
}

/// A line whose quote never closes is refused at its line, for that
/// reason; iptables-restore takes the rest of such a line into the quoted
/// word, so its rule would have no target and accept nothing.
#[test]
fn a_quote_a_restore_line_never_closes_is_refused_at_its_line() {
    let Some(ns) = lab() else { return };
    let before = nft_ruleset(&ns);
    let bad = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -m comment --comment \"ssh -j ACCEPT\nCOMMIT\n";
    let out = restore(&ns, "iptables-restore", &[], bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("never closes"), "{stderr}");
    assert_eq!(nft_ruleset(&ns), before, "nothing of the file was applied");
}

#[test]
fn save_and_restore_round_trip() {
    let Some(ns) = lab() else { return };
    let good = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SSH - [0:0]\n\
                -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j SSH\n\
                -A SSH -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n";
    let out = restore(&ns, "iptables-restore", &[], good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = moat_ok(&ns, &["iptables-save"]);
    let body: Vec<&str> = saved.lines().filter(|l| !l.starts_with('#')).collect();
    let expected: Vec<&str> = good.lines().collect();
    assert_eq!(body, expected);
    let again = restore(&ns, "iptables-restore", &[], &saved);
    assert!(again.status.success());
    assert_eq!(
        moat_ok(&ns, &["iptables-save"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        expected
    );
    let with_counters = "*filter\n:INPUT ACCEPT [5:300]\n[7:420] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    assert!(
        restore(&ns, "iptables-restore", &["--counters"], with_counters)
            .status
            .success()
    );
    let saved = moat_ok(&ns, &["iptables-save", "-c"]);
    assert!(saved.contains(":INPUT ACCEPT [5:300]"), "{saved}");
    assert!(
        saved.contains("[7:420] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
        "{saved}"
    );
}

/// The lines of `iptables-save` (with `extra` options) but its comments.
fn saved_body(ns: &Netns, extra: &[&str]) -> Vec<String> {
    let mut argv = vec!["iptables-save"];
    argv.extend_from_slice(extra);
    moat_ok(ns, &argv)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// A file larger than a restore reads of the kernel's table first replaces
/// the table whole, as iptables-restore does: over another ruleset (whose
/// user chain and policy go), and over itself after traffic (its counters
/// start again from zero, the file giving none).
#[test]
fn a_restore_too_large_to_read_first_replaces_the_table() {
    let Some(ns) = lab() else { return };
    let old =
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:OLD - [0:0]\n\
               -A INPUT -j OLD\n-A OLD -p icmp -j DROP\nCOMMIT\n";
    assert!(restore(&ns, "iptables-restore", &[], old).status.success());
    let mut large = String::from(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p icmp -j ACCEPT\n",
    );
    for port in 1024..1024 + 20_500 {
        large.push_str(&format!(
            "-A INPUT -p tcp -m tcp --dport {port} -j ACCEPT\n"
        ));
    }
    large.push_str("COMMIT\n");
    let expected: Vec<String> = large.lines().map(str::to_string).collect();
    let out = restore(&ns, "iptables-restore", &[], &large);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(saved_body(&ns, &[]), expected);
    ns.ip(&["link", "set", "lo", "up"]).expect("loopback");
    ns.sysctl("net/ipv4/ping_group_range", "0 2147483647")
        .expect("ping sockets");
    assert!(
        ping(&ns, [127, 0, 0, 1]).expect("ping"),
        "the icmp rule lets the echo in"
    );
    let counted = saved_body(&ns, &["-c"]);
    assert!(
        counted[4].starts_with("[") && !counted[4].starts_with("[0:0]"),
        "the echo was counted: {}",
        counted[4]
    );
    let out = restore(&ns, "iptables-restore", &[], &large);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counted = saved_body(&ns, &["-c"]);
    assert_eq!(
        counted[4], "[0:0] -A INPUT -p icmp -j ACCEPT",
        "a restore without counters starts them from zero"
    );
    assert_eq!(saved_body(&ns, &[]), expected);
}

#[test]
fn seed_004_file_restores_nat_and_filter_in_one_go() {
    let Some(ns) = lab() else { return };
    let out = restore(&ns, "iptables-restore", &[], SEED_004);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the seed's `-p 7070` is not a protocol, as real iptables also says"
    );
    assert!(stderr.contains("line 21"), "{stderr}");
    assert!(stderr.contains("7070"), "{stderr}");
    assert_eq!(moat_ok(&ns, &["iptables-save"]), "", "nothing was applied");
    let fixed = SEED_004.replace("-A FORWARD -p 7070 -m state", "-A FORWARD -m state");
    let out = restore(&ns, "iptables-restore", &[], &fixed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let saved = moat_ok(&ns, &["iptables-save"]);
    assert!(saved.contains("*nat\n:PREROUTING DROP [0:0]"), "{saved}");
    assert!(saved.contains("-A PREROUTING -i eth0 -p tcp -m tcp --dport 7070 -j DNAT --to-destination 192.168.1.43:80"), "{saved}");
    assert!(
        saved.contains("-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT"),
        "{saved}"
    );
}

#[test]
fn other_tables_survive_every_command() {
    let Some(ns) = lab() else { return };
    ns.exec_ok(&["nft", "add table inet dockerlike"]).unwrap();
    ns.exec_ok(&[
        "nft",
        "add chain inet dockerlike filt { type filter hook forward priority 0; policy accept; }",
    ])
    .unwrap();
    ns.exec_ok(&[
        "nft",
        "add rule inet dockerlike filt ip saddr 172.17.0.0/16 counter accept",
    ])
    .unwrap();
    let theirs = || {
        ns.exec_ok(&["nft", "list", "table", "inet", "dockerlike"])
            .unwrap()
    };
    let original = theirs();
    iptables_all(
        &ns,
        "iptables",
        &["-A FORWARD -j DROP", "-F", "-X", "-Z", "-P FORWARD DROP"],
    );
    assert!(restore(
        &ns,
        "iptables-restore",
        &[],
        "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"
    )
    .status
    .success());
    moat_ok(&ns, &["iptables-save"]);
    assert_eq!(theirs(), original);
}

#[test]
fn namespaces_do_not_see_each_other() {
    if !require_root_or_skip() {
        return;
    }
    let a = Netns::new("iso-a").unwrap();
    let b = Netns::new("iso-b").unwrap();
    iptables_all(&a, "iptables", &["-A INPUT -s 10.1.1.1 -j DROP"]);
    assert_eq!(
        moat_ok(&b, &["iptables", "-S", "INPUT"]),
        "-P INPUT ACCEPT\n"
    );
    assert!(moat_ok(&a, &["iptables", "-S", "INPUT"]).contains("10.1.1.1/32"));
}

/// Both binaries, `moat` and the lean `moat-iptables`, behave as the
/// command their symlink names, and `moat-iptables` also as the
/// personality its first argument names; without either it says how to
/// call it.
#[test]
fn symlinks_named_like_iptables_behave_as_iptables() {
    let Some(ns) = lab() else { return };
    for binary in [moat_bin(), moat_iptables_bin()] {
        ns.exec(&[binary, "iptables", "-F"]).unwrap();
        ns.exec(&[binary, "ip6tables", "-F"]).unwrap();
        behaves_as_iptables_through_symlinks(&ns, binary);
    }
    let lean = |args: &[&str]| {
        let mut argv = vec![moat_iptables_bin()];
        argv.extend_from_slice(args);
        ns.exec(&argv).unwrap()
    };
    let listed = lean(&["iptables", "-S", "INPUT"]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
    );
    let lost = lean(&["apply", "moat.toml"]);
    assert_eq!(lost.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&lost.stderr).contains("call it as iptables"));
}

fn behaves_as_iptables_through_symlinks(ns: &Netns, binary: &str) {
    let dir = std::env::temp_dir().join(format!("moat-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["iptables", "ip6tables", "iptables-save", "iptables-restore"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(binary, &link).unwrap();
    }
    let run = |name: &str, args: &[&str]| {
        let mut argv = vec![dir.join(name).display().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        ns.exec(&argv).unwrap()
    };
    let out = run(
        "iptables",
        &["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
    );
    assert!(out.status.success(), "{binary}: {out:?}");
    assert!(run(
        "ip6tables",
        &["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"]
    )
    .status
    .success());
    let save = String::from_utf8_lossy(&run("iptables-save", &[]).stdout).into_owned();
    assert!(
        save.contains("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
        "{binary}: {save}"
    );
    let v6 = String::from_utf8_lossy(&run("ip6tables", &["-S", "INPUT"]).stdout).into_owned();
    assert_eq!(
        v6, "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n",
        "{binary}"
    );
    // As iptables-save and iptables-restore: -b is taken, an unknown option
    // exits 1.
    assert!(run("iptables-save", &["-b"]).status.success());
    assert_eq!(run("iptables-save", &["-x"]).status.code(), Some(1));
    assert_eq!(run("iptables-restore", &["-x"]).status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The sets connlimit and hashlimit rules fill go with the last rule that
/// needs them; a set another rule still needs stays.
#[test]
fn dynamic_sets_go_with_their_last_rule() {
    let Some(ns) = lab() else { return };
    let sets = |ns: &Netns| -> Vec<String> {
        let mut names: Vec<String> = ns
            .exec_ok(&["nft", "list", "sets", "ip"])
            .unwrap()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("set "))
            .map(|l| l.trim_end_matches(" {").to_string())
            .collect();
        names.sort();
        names
    };
    let limit = |seconds: u32| {
        format!(
            "-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-above 5/min --hashlimit-mode srcip \
             --hashlimit-name ssh --hashlimit-htable-expire {} -j DROP",
            seconds * 1000
        )
    };
    iptables_all(
        &ns,
        "iptables",
        &[
            "-A INPUT -p tcp --dport 22 -m connlimit --connlimit-above 3 -j REJECT",
            &limit(60),
        ],
    );
    let before = sets(&ns);
    assert_eq!(before.len(), 2, "{before:?}");
    // A changed connlimit rule gets a new set; the old one goes.
    iptables_all(
        &ns,
        "iptables",
        &["-R INPUT 1 -p tcp --dport 22 -m connlimit --connlimit-above 5 -j REJECT"],
    );
    let after = sets(&ns);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&"hashlimit_ssh".to_string()), "{after:?}");
    assert!(!after
        .iter()
        .any(|s| before.contains(s) && s.starts_with("connlimit_")));
    // A second rule fills the same set (the kernel refuses a second
    // declaration, so it is not declared again).
    iptables_all(&ns, "iptables", &[&limit(60)]);
    // One that asks another expiry takes the first rule's, as the kernel's
    // table of the name does.
    iptables_all(&ns, "iptables", &[&limit(120)]);
    let set = ns
        .exec_ok(&["nft", "list", "set", "ip", "moat_filter", "hashlimit_ssh"])
        .unwrap();
    assert!(set.contains("timeout 1m"), "{set}");
    // hashlimit_ssh stays while one of its rules does.
    iptables_all(&ns, "iptables", &["-D INPUT 1", "-D INPUT 1"]);
    assert_eq!(sets(&ns), ["hashlimit_ssh"]);
    iptables_all(&ns, "iptables", &["-F INPUT"]);
    assert!(sets(&ns).is_empty(), "{:?}", sets(&ns));
}

/// A connlimit or hashlimit rule that also looks up one of the kernel's
/// ipsets keeps its set while it stays: later rules that fill sets of
/// their own are added beside it (the planner once named its set from the
/// rule before the ipset was resolved, and deleted the set the rule was
/// using, so every later such rule was refused). A restore that drops a
/// chain whose rule fills a set takes the set with the chain.
#[test]
fn rules_on_ipsets_keep_the_sets_they_fill() {
    let Some(ns) = lab() else { return };
    ns.exec_ok(&["ipset", "create", "S4", "hash:ip"]).unwrap();
    let sets = |ns: &Netns| -> Vec<String> {
        let mut names: Vec<String> = (ns.exec_ok(&["nft", "list", "sets", "ip"]).unwrap().lines())
            .filter_map(|l| l.trim().strip_prefix("set "))
            .map(|l| l.trim_end_matches(" {").to_string())
            .collect();
        names.sort();
        names
    };
    iptables_all(
        &ns,
        "iptables",
        &[
            "-A INPUT -m set --match-set S4 dst -m connlimit --connlimit-above 2",
            "-A INPUT -m connlimit --connlimit-above 3",
            "-A INPUT -m set --match-set S4 src --return-nomatch -m hashlimit --hashlimit-upto 7/sec --hashlimit-name h1",
            "-A INPUT -m hashlimit --hashlimit-upto 1/sec --hashlimit-name h2",
        ],
    );
    let filled = sets(&ns);
    assert_eq!(filled.len(), 4, "{filled:?}");
    // Without a --hashlimit-mode the set keys nothing (`/none`).
    assert!(
        filled.contains(&"hashlimit_h1/none".to_string()),
        "{filled:?}"
    );
    // The first rule goes: its set goes with it, the others stay.
    iptables_all(&ns, "iptables", &["-D INPUT 1"]);
    let left = sets(&ns);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.iter().all(|s| filled.contains(s)), "{left:?}");
    let saved = moat_ok(&ns, &["iptables-save"]);
    assert_eq!(saved.matches("-A INPUT").count(), 3, "{saved}");
    // A rule replaced by one that looks up the ipset takes its set along.
    iptables_all(
        &ns,
        "iptables",
        &["-R INPUT 3 -m set --match-set S4 src -m hashlimit --hashlimit-above 1/sec --hashlimit-name h3"],
    );
    let replaced = sets(&ns);
    assert!(
        !replaced.contains(&"hashlimit_h2/none".to_string()),
        "{replaced:?}"
    );
    assert!(
        replaced.contains(&"hashlimit_h3/none".to_string()),
        "{replaced:?}"
    );
    iptables_all(
        &ns,
        "iptables",
        &["-R INPUT 3 -m hashlimit --hashlimit-upto 1/sec --hashlimit-name h2"],
    );
    // A chain of its own whose rule fills a set, then a restore without it.
    iptables_all(
        &ns,
        "iptables",
        &[
            "-N LIMITED",
            "-A LIMITED -m connlimit --connlimit-above 9 -j DROP",
            "-A INPUT -j LIMITED",
        ],
    );
    assert_eq!(sets(&ns).len(), 4, "{:?}", sets(&ns));
    restore_ok(
        &ns,
        "iptables-restore",
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m hashlimit --hashlimit-upto 1/sec --hashlimit-name h2\nCOMMIT\n",
    );
    assert_eq!(sets(&ns), ["hashlimit_h2/none"]);
}

/// The ct helper object CT --helper rules share goes with the last of
/// them, also while a NOTRACK rule keeps the raw table as it is (the
/// objects stayed until the table was made again).
#[test]
fn ct_objects_go_with_their_last_rule() {
    let Some(ns) = lab() else { return };
    let helpers = |ns: &Netns| nft_ruleset(ns).matches("ct helper helper-").count();
    iptables_all(
        &ns,
        "iptables",
        &[
            "-t raw -A OUTPUT -p udp --dport 5060 -j CT --helper sip",
            "-t raw -A OUTPUT -j NOTRACK",
            "-t raw -A PREROUTING -p udp --dport 5060 -j CT --helper sip",
        ],
    );
    let ruleset = nft_ruleset(&ns);
    assert!(ruleset.contains("ct helper helper-sip-17 {"), "{ruleset}");
    iptables_all(&ns, "iptables", &["-t raw -D OUTPUT 1"]);
    assert!(helpers(&ns) > 0, "{}", nft_ruleset(&ns));
    iptables_all(&ns, "iptables", &["-t raw -D PREROUTING 1"]);
    assert_eq!(helpers(&ns), 0, "{}", nft_ruleset(&ns));
    iptables_all(
        &ns,
        "iptables",
        &["-t raw -A OUTPUT -p udp --dport 5060 -j CT --helper sip"],
    );
    let flushed = moat(&ns, &["iptables", "-t", "raw", "-F"]);
    assert!(flushed.status.success(), "{flushed:?}");
    assert_eq!(helpers(&ns), 0, "{}", nft_ruleset(&ns));
}

/// A raw table whose rules come to need the other side of conntrack (a
/// CT helper beside NOTRACK, and back) is made again in the same batch:
/// the sets its connlimit and hashlimit rules fill are declared again
/// with it (they were taken for present, and the kernel refused the rules
/// with ENOENT, every later change too).
#[test]
fn raw_tables_made_again_declare_their_sets_again() {
    let Some(ns) = lab() else { return };
    iptables_all(
        &ns,
        "iptables",
        &[
            "-t raw -A OUTPUT -m connlimit --connlimit-above 1 -j DROP",
            "-t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp",
            "-t raw -A PREROUTING -p icmp -j NOTRACK",
            "-t raw -A PREROUTING -p tcp -m hashlimit --hashlimit-upto 1/sec --hashlimit-name H -j CT --helper ftp",
            "-t raw -D PREROUTING 1",
            "-t raw -D PREROUTING 1",
        ],
    );
    let saved = moat_ok(&ns, &["iptables-save", "-t", "raw"]);
    assert!(saved.contains("-A OUTPUT -m connlimit"), "{saved}");
    assert!(
        saved.contains("--hashlimit-name H -j CT --helper ftp"),
        "{saved}"
    );
    let ruleset = nft_ruleset(&ns);
    assert_eq!(ruleset.matches("\tset connlimit_").count(), 1, "{ruleset}");
    assert_eq!(ruleset.matches("\tset hashlimit_H").count(), 1, "{ruleset}");
}

/// `-s`/`-d` address lists stand for one rule per address (per pair), as
/// with Debian's iptables-nft, which runs the same commands in a second
/// namespace: appends, inserts, checks, deletes and a restore line with
/// counters give the same save; `!` before a list and `-R` with one are
/// refused by both.
#[test]
fn address_lists_make_one_rule_per_address_like_iptables_nft() {
    let Some(ours) = lab() else { return };
    let theirs = Netns::new("cmdref").expect("namespace");
    let commands = [
        "-A INPUT -s 1.2.3.4,5.6.7.8 -d 9.9.9.9,8.8.8.8 -p tcp --dport 22 -j ACCEPT",
        "-D INPUT -s 5.6.7.8,1.2.3.4 -d 8.8.8.8 -p tcp --dport 22 -j ACCEPT",
        "-I INPUT 2 -s 7.7.7.7,6.6.6.6 -j DROP",
    ];
    for command in commands {
        moat_ok(&ours, &words("iptables", command));
        let out = theirs
            .exec(&words("iptables-nft", command))
            .expect("run iptables-nft");
        assert!(out.status.success(), "iptables-nft {command}");
    }
    let check = words(
        "iptables",
        "-C INPUT -s 1.2.3.4,5.6.7.8 -d 9.9.9.9 -p tcp --dport 22 -j ACCEPT",
    );
    assert!(moat(&ours, &check).status.success());
    let missing = words("iptables", "-C INPUT -s 1.2.3.4,5.6.7.9 -j DROP");
    assert!(!moat(&ours, &missing).status.success());
    for refused in [
        "-A INPUT ! -s 1.0.0.0/8,2.0.0.0/8 -j ACCEPT",
        "-R INPUT 1 -s 7.7.7.7,6.6.6.6 -j DROP",
    ] {
        assert!(moat_err(&ours, &words("iptables", refused)).contains("iptables"));
        let out = theirs.exec(&words("iptables-nft", refused)).unwrap();
        assert!(!out.status.success(), "iptables-nft takes {refused}");
    }
    let file = "*filter\n[3:4] -A INPUT -s 3.3.3.3,4.4.4.4 -j ACCEPT\nCOMMIT\n";
    assert!(restore(&ours, "iptables-restore", &["-n", "-c"], file)
        .status
        .success());
    theirs
        .exec_input(&["iptables-nft-restore", "-n", "-c"], file)
        .expect("iptables-nft-restore");
    let saved = |out: String| -> String {
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mine = saved(moat_ok(&ours, &["iptables-save", "-c"]));
    let reference = saved(theirs.exec_ok(&["iptables-nft-save", "-c"]).unwrap());
    assert_eq!(mine, reference);
    assert!(
        mine.contains("[3:4] -A INPUT -s 4.4.4.4/32 -j ACCEPT"),
        "{mine}"
    );
}

/// A hosts file `ip netns exec` shows the namespace's commands in place of
/// `/etc/hosts` (`/etc/netns/NAME/hosts`), removed when dropped.
struct NamespaceHosts(std::path::PathBuf);

impl NamespaceHosts {
    fn new(ns: &Netns, text: &str) -> NamespaceHosts {
        let dir = std::path::Path::new("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME");
        std::fs::write(dir.join("hosts"), text).expect("write the namespace's hosts");
        NamespaceHosts(dir)
    }
}

impl Drop for NamespaceHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // Only when no other namespace has a file there.
        let _ = std::fs::remove_dir("/etc/netns");
    }
}

/// Host and network names in rules resolve from `/etc/hosts` and
/// `/etc/networks` as with Debian's iptables-nft (run side by side, each
/// namespace with the same hosts file): `-s`/`-d` make one rule per address
/// of a name, every line naming it counted; conntrack's addresses take a
/// name of one address and refuse one of several; a name only DNS could
/// answer is refused.
#[test]
fn host_names_resolve_like_iptables_nft() {
    let Some(ours) = lab() else { return };
    let theirs = Netns::new("cmdref").expect("namespace");
    let hosts = "127.0.0.1 localhost\n10.0.0.1 multi\n10.0.0.2 multi alias2\n\
                 10.0.0.1 multi\n2001:db8::5 multi\n";
    let _files = [
        NamespaceHosts::new(&ours, hosts),
        NamespaceHosts::new(&theirs, hosts),
    ];
    let commands = [
        (
            "iptables",
            "-A INPUT -s multi/24 -d alias2,LOCALHOST -j ACCEPT",
        ),
        (
            "iptables",
            "-A INPUT -s loopback -m conntrack --ctorigdst alias2 -j ACCEPT",
        ),
        ("iptables", "-A INPUT -s multi -j DROP"),
        ("ip6tables", "-A INPUT -d multi -j DROP"),
    ];
    for (tool, command) in commands {
        moat_ok(&ours, &words(tool, command));
        let out = theirs
            .exec(&words(&format!("{tool}-nft"), command))
            .expect("run iptables-nft");
        assert!(out.status.success(), "{tool}-nft {command}");
    }
    for refused in [
        "-A INPUT ! -s multi -j ACCEPT",
        "-A INPUT -m conntrack --ctorigsrc multi -j ACCEPT",
        "-A INPUT -m conntrack --ctorigsrc loopback -j ACCEPT",
        "-A INPUT -s nosuchhost.example -j ACCEPT",
    ] {
        assert!(moat_err(&ours, &words("iptables", refused)).contains("iptables"));
        let out = theirs.exec(&words("iptables-nft", refused)).unwrap();
        assert!(!out.status.success(), "iptables-nft takes {refused}");
    }
    for tool in ["iptables", "ip6tables"] {
        let mine = moat_ok(&ours, &[tool, "-S"]);
        let reference = theirs.exec_ok(&[&format!("{tool}-nft"), "-S"]).unwrap();
        assert_eq!(mine, reference, "{tool} -S");
    }
    assert!(moat_ok(&ours, &["iptables", "-S"])
        .contains("-A INPUT -s 127.0.0.0/32 -m conntrack --ctorigdst 10.0.0.2 -j ACCEPT"),);
}

/// The exit status of Debian's iptables-nft-restore reading `file` in `ns`.
fn nft_restore_status(ns: &Netns, file: &str) -> Option<i32> {
    use std::io::Write;
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "iptables-nft-restore"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run iptables-nft-restore");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(file.as_bytes())
        .expect("write the file");
    child.wait().expect("iptables-nft-restore ends").code()
}

/// A restore carries out its lines in order, as iptables-restore does: a
/// chain is there only from its declaration on (a jump to it or a rule in
/// it before then is refused), a chain declared again is flushed, and a
/// closing quote ends a word. Each file is restored by both tools into
/// fresh namespaces; statuses and saves agree.
#[test]
fn restore_lines_take_effect_in_order_like_iptables_nft() {
    if lab().is_none() {
        return;
    }
    for (file, status) in [
        ("*filter\n-A INPUT -j uc\n:uc - [0:0]\nCOMMIT\n", 2),
        ("*filter\n-A uc -j ACCEPT\n:uc - [0:0]\nCOMMIT\n", 1),
        (
            "*filter\n-N uc\n-A uc -j ACCEPT\n:uc - [0:0]\n-A INPUT -j uc\nCOMMIT\n",
            0,
        ),
        (
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
            0,
        ),
        (
            "*filter\n-A INPUT -m comment --comment \"a b\"c\nCOMMIT\n",
            2,
        ),
    ] {
        let ours = Netns::new("cmdord").expect("namespace");
        let theirs = Netns::new("cmdordref").expect("namespace");
        let mine = restore(&ours, "iptables-restore", &[], file).status.code();
        let reference = nft_restore_status(&theirs, file);
        assert_eq!((mine, reference), (Some(status), Some(status)), "{file}");
        let saved = |out: String| -> String {
            out.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            saved(moat_ok(&ours, &["iptables-save"])),
            saved(theirs.exec_ok(&["iptables-nft-save"]).unwrap()),
            "{file}"
        );
    }
}

/// moat's lab namespace and a second one for Debian's iptables-nft
/// (`reference` names it), both restored from `file` with its counters;
/// `None` where the lab cannot run.
fn restored_side_by_side(reference: &str, file: &str) -> Option<(Netns, Netns)> {
    let ours = lab()?;
    let theirs = Netns::new(reference).expect("namespace");
    assert!(restore(&ours, "iptables-restore", &["-c"], file)
        .status
        .success());
    theirs
        .exec_input(&["iptables-nft-restore", "-c"], file)
        .expect("iptables-nft-restore");
    Some((ours, theirs))
}

/// Runs iptables `command` with moat in `ours` and with iptables-nft in
/// `theirs`; asserts the same exit status and output, and gives them.
fn same_in_both(ours: &Netns, theirs: &Netns, command: &str) -> (Option<i32>, String) {
    let mine = moat(ours, &words("iptables", command));
    let reference = theirs
        .exec(&words("iptables-nft", command))
        .expect("run iptables-nft");
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        (mine.status.code(), text(&mine)),
        (reference.status.code(), text(&reference)),
        "iptables {command}"
    );
    (mine.status.code(), text(&mine))
}

/// `-L`/`-S` together with `-Z` (list, then zero, in either order; the
/// chain given last is the command's; `-v` says which chains were zeroed),
/// and `-4`/`-6`: refused by the other family's command, skipped without a
/// word by its restore. Debian's iptables-nft runs the same in a second
/// namespace and must print the same.
#[test]
fn listing_with_zeroing_and_family_options_like_iptables_nft() {
    let file = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :userc - [0:0]\n[7:700] -A INPUT -s 10.1.1.1 -j ACCEPT\n[3:300] -A FORWARD -j userc\n\
        -A INPUT -6 -s ::1 -j DROP\n[2:200] -A userc -4 -j RETURN\nCOMMIT\n";
    let Some((ours, theirs)) = restored_side_by_side("zeroref", file) else {
        return;
    };
    let same = |command: &str| same_in_both(&ours, &theirs, command).1;
    // One chain's listing, read with that chain's rules alone.
    for one in [
        "-S userc",
        "-S INPUT",
        "-S userc 1",
        "-v -S FORWARD",
        "-S INPUT 9",
    ] {
        same(one);
    }
    // A jump rule not there, to a chain that is (or is not).
    assert_eq!(same_in_both(&ours, &theirs, "-C INPUT -j userc").0, Some(1));
    assert_eq!(
        same_in_both(&ours, &theirs, "-C INPUT -j nochain").0,
        Some(2)
    );
    let listed = same("-L INPUT -Z FORWARD -v -n -x");
    assert!(listed.contains("Chain FORWARD") && !listed.contains("Chain INPUT"));
    assert!(listed.contains("Zeroing chain `FORWARD'"), "{listed}");
    let rules = same("-S -Z userc -v");
    assert!(rules.contains("-A userc -c 2 200 -j RETURN"), "{rules}");
    let after = same("-Z -L -v -n -x");
    assert!(after.contains("700"), "{after}");
    assert!(
        !after.contains(" 300 ") && !after.contains(" 200 "),
        "{after}"
    );
    let zeroed = same("-vnxL");
    assert!(!zeroed.contains("700"), "{zeroed}");
    same("-Z -v");
    same("-nL INPUT -4");
    let refused = same("-nL INPUT -6");
    assert!(refused.is_empty());
    assert!(moat_err(&ours, &words("iptables", "-A INPUT -6 -j DROP")).contains("ip6tables"));
    assert!(moat_err(&ours, &words("ip6tables", "-S --ipv4")).contains("iptables"));
}

/// `-X` of a built-in chain, side by side with iptables-nft: an empty one
/// with policy ACCEPT is deleted (Ansible's `chain_management` with
/// `state: absent` does this) and still listed, one with rules is refused
/// by the kernel (4), one with policy DROP by iptables (1); a rule added
/// to the chain afterwards works.
#[test]
fn builtin_chains_are_deleted_as_iptables_nft_deletes_them() {
    let file = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -s 10.1.1.1 -j ACCEPT\nCOMMIT\n";
    let Some((ours, theirs)) = restored_side_by_side("xbuiltin", file) else {
        return;
    };
    let status = |command: &str| same_in_both(&ours, &theirs, command).0;
    assert_eq!(status("-X INPUT"), Some(4));
    assert_eq!(status("-X FORWARD"), Some(1));
    assert_eq!(status("-X OUTPUT"), Some(0));
    let listed = same_in_both(&ours, &theirs, "-S").1;
    assert!(listed.contains("-P OUTPUT ACCEPT"), "{listed}");
    assert_eq!(status("-A OUTPUT -d 10.2.2.2 -j ACCEPT"), Some(0));
    same_in_both(&ours, &theirs, "-S");
    assert_eq!(status("-F INPUT"), Some(0));
    assert_eq!(status("-v -X INPUT"), Some(0));
}

/// Failed commands end with iptables' exit statuses, side by side with
/// iptables-nft: 4 when the kernel refuses (a chain in use or not empty, a
/// target where its module does not work), 2 for what iptables refuses on
/// its command line (a jump to a missing chain, `-i` in OUTPUT, DROP in the
/// nat table), 1 for the rest (no such rule, chain or index). After a DROP
/// was refused in an existing nat table, neither holds it.
#[test]
fn failures_exit_with_iptables_statuses() {
    let Some(ours) = lab() else { return };
    let theirs = Netns::new("statusref").expect("namespace");
    let file = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :userc - [0:0]\n-A INPUT -j userc\n-A userc -j RETURN\nCOMMIT\n";
    assert!(restore(&ours, "iptables-restore", &[], file)
        .status
        .success());
    theirs
        .exec_input(&["iptables-nft-restore"], file)
        .expect("iptables-nft-restore");
    for ns in [&ours, &theirs] {
        ns.exec_ok(&["ipset", "create", "v6only", "hash:ip", "family", "inet6"])
            .expect("ipset create");
    }
    for (command, status) in [
        ("-X userc", 4),
        ("-A INPUT -j MASQUERADE", 4),
        ("-t nat -A INPUT -j DNAT --to-destination 10.0.0.1", 4),
        ("-A INPUT -j REJECT --reject-with tcp-reset", 4),
        ("-t mangle -A PREROUTING -p udp -j TCPMSS --set-mss 1400", 4),
        ("-t raw -A PREROUTING -j CT --timeout slow", 4),
        ("-A INPUT -j nosuchchain", 2),
        ("-C INPUT -j nosuchchain", 2),
        ("-C INPUT -m set --match-set nosuchset src -j DROP", 2),
        ("-R INPUT 9 -j SET --add-set nosuchset src", 2),
        ("-D INPUT -g nosuchchain", 2),
        ("-A OUTPUT -i eth0 -j ACCEPT", 2),
        ("-A OUTPUT -i + -j ACCEPT", 2),
        ("-A INPUT -m set --match-set v6only src -j DROP", 2),
        ("-A INPUT -j SET --add-set v6only src", 2),
        ("-A INPUT -m multiport --dports 1,2", 2),
        ("-A INPUT -m tcp --dport 22 --tcp-option 2", 4),
        ("-A INPUT -p udp -m tcp --tcp-option 2", 4),
        ("-C INPUT -m tcp --tcp-option 2", 1),
        ("-N ACCEPT", 2),
        ("-N !userc", 2),
        ("-E userc !x", 2),
        ("-N abcdefghijklmnopqrstuvwxyz012", 2),
        ("-P INPUT REJECT", 1),
        ("-N userc", 1),
        ("-t nat -A PREROUTING -j DROP", 2),
        ("-t nat -C PREROUTING -s 10.0.0.1 -j DROP", 2),
        ("-t nat -D OUTPUT -j DROP", 2),
        ("-t mangle -A INPUT -j REJECT", 4),
        ("-t nat -A OUTPUT -j REJECT", 4),
        (
            "-t nat -I POSTROUTING 2 -p tcp -j REDIRECT --to-ports 3128",
            1,
        ),
        ("-t nat -P POSTROUTING DROP", 2),
        ("-D INPUT 99", 1),
        ("-D INPUT -s 10.9.9.9 -j ACCEPT", 1),
        ("-X nosuch", 1),
    ] {
        let mine = moat(&ours, &words("iptables", command)).status.code();
        let reference = theirs
            .exec(&words("iptables-nft", command))
            .expect("run iptables-nft")
            .status
            .code();
        assert_eq!((mine, reference), (Some(status), Some(status)), "{command}");
    }
    for (ns, nft) in [(&ours, false), (&theirs, true)] {
        let run = |command: &str| match nft {
            false => moat(ns, &words("iptables", command)),
            true => ns
                .exec(&words("iptables-nft", command))
                .expect("run iptables-nft"),
        };
        assert!(run("-t nat -A POSTROUTING -j MASQUERADE").status.success());
        assert_eq!(
            run("-t nat -A POSTROUTING -p udp -j DROP").status.code(),
            Some(2)
        );
        let rules = String::from_utf8_lossy(&run("-t nat -S POSTROUTING").stdout).to_string();
        assert!(!rules.contains("DROP"), "{rules}");
    }
    // iptables-restore's statuses for a bad line.
    for (line, status) in [
        ("-A INPUT --bogus", 2),
        ("-A INPUT -j nosuchchain", 2),
        ("-A NOCHAIN -j ACCEPT", 1),
        ("-A INPUT -j MASQUERADE", 4),
        ("-A INPUT -p udp -m tcpmss --mss 100", 4),
    ] {
        let file = format!("*filter\n:INPUT ACCEPT [0:0]\n{line}\nCOMMIT\n");
        let mine = restore(&ours, "iptables-restore", &[], &file).status.code();
        let path = std::env::temp_dir().join(format!("moat-status-{}.rules", std::process::id()));
        std::fs::write(&path, &file).unwrap();
        let shell = format!("iptables-nft-restore < {}", path.display());
        let reference = theirs
            .exec(&["sh", "-c", &shell])
            .expect("iptables-nft-restore");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            (mine, reference.status.code()),
            (Some(status), Some(status)),
            "{line}"
        );
    }
    // And for whole files: no table line, Windows line endings, a set that
    // does not exist, a built-in chain's bad policy, missing counters with
    // --counters, white space where iptables-restore does not skip it (a
    // blank line with spaces, an indented declaration, comment or COMMIT,
    // text after COMMIT; an indented rule is fine).
    for (file, options, status) in [
        ("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n \n", "", 1),
        ("*filter\n \n:INPUT ACCEPT [0:0]\nCOMMIT\n", "", 2),
        ("*filter\n  :INPUT ACCEPT [0:0]\nCOMMIT\n", "", 2),
        ("*filter\n:INPUT ACCEPT [0:0]\n  # note\nCOMMIT\n", "", 2),
        ("  # note\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "", 1),
        ("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT   \n", "", 2),
        (
            "*filter\n:INPUT ACCEPT [0:0]\n\t-A INPUT -j ACCEPT\nCOMMIT\n",
            "",
            0,
        ),
        (":INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", "", 1),
        ("*filter\r\n:INPUT ACCEPT [0:0]\r\nCOMMIT\r\n", "", 2),
        (
            "*filter\n:INPUT ACCEPT [0:0]\r\n-A INPUT -j ACCEPT\r\nCOMMIT\n",
            "",
            2,
        ),
        (
            "*filter\n:INPUT ACCEPT [0:0]\r\n-A INPUT -j ACCEPT\nCOMMIT\n",
            "",
            0,
        ),
        (
            "*filter\n-A INPUT -m set --match-set nosuchset src -j DROP\nCOMMIT\n",
            "",
            2,
        ),
        ("*filter\n:INPUT accept [0:0]\nCOMMIT\n", "", 1),
        ("*filter\n:INPUT ACCEPT\nCOMMIT\n", "-c", 2),
        (
            "*filter\n:INPUT ACCEPT [0:0]\n[1:2] -N x\nCOMMIT\n",
            "-c",
            2,
        ),
        ("*filter\n:INPUT ACCEPT [0:0]\n[1:2] -N x\nCOMMIT\n", "", 0),
        (
            "*filter\n:INPUT ACCEPT\n:FOO DROP\n-A INPUT -j FOO\nCOMMIT\n",
            "",
            0,
        ),
    ] {
        let args: Vec<&str> = options.split_whitespace().collect();
        let mine = restore(&ours, "iptables-restore", &args, file)
            .status
            .code();
        let path =
            std::env::temp_dir().join(format!("moat-statusfile-{}.rules", std::process::id()));
        std::fs::write(&path, file).unwrap();
        let shell = format!("iptables-nft-restore {options} < {}", path.display());
        let reference = Netns::new("statusfile")
            .expect("namespace")
            .exec(&["sh", "-c", &shell])
            .expect("iptables-nft-restore")
            .status
            .code();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((mine, reference), (Some(status), Some(status)), "{file:?}");
    }
    // A missing set is pointed at on the line that names it.
    let file = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n\
        -A INPUT -m set --match-set nosuchset src -j DROP\nCOMMIT\n";
    let refused = restore(&ours, "iptables-restore", &[], file);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("line 4: -m set --match-set nosuchset: there is no block list or ipset"),
        "{said}"
    );
}

/// Of several missing sets, the one iptables meets first is told: a
/// rule's first `-m set`, its matches' before its `-j SET` target's, and a
/// restore's first in the file, whatever the names' order or the tables'.
#[test]
fn the_first_missing_set_is_told_as_iptables_tells_it() {
    let Some(ours) = lab() else { return };
    for (rule, first) in [
        (
            "-A INPUT -m set --match-set zz-first src -m set --match-set aa-next dst -j DROP",
            "-m set --match-set zz-first:",
        ),
        (
            "-A INPUT -m set --match-set zz-first src -j SET --add-set aa-next src",
            "-m set --match-set zz-first:",
        ),
    ] {
        let err = moat_err(&ours, &words("iptables", rule));
        assert!(err.contains(first), "{rule}: {err}");
    }
    let file = "*nat\n:POSTROUTING ACCEPT [0:0]\n\
        -A POSTROUTING -m set --match-set zz-first src -m set ! --match-set mm-next dst -j MASQUERADE\n\
        COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set aa-last src -j DROP\nCOMMIT\n";
    let refused = restore(&ours, "iptables-restore", &[], file);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("line 3: -m set --match-set zz-first:"),
        "{said}"
    );
}

/// What iptables prints with `-v` for the commands that change rules and
/// chains (each rule added, replaced, checked or deleted, one line per
/// address of a list; "Flushing chain" and "Deleting chain" in listing
/// order), the options it refuses beside a command (`-n`, `-x` and
/// `--line-numbers` but with `-L`; `-c` but with `-A`, `-I`, `-R`, `-P`),
/// and `-Z CHAIN NUM`, which zeroes one rule and takes the command over
/// from a listing before it. Debian's iptables-nft runs each command in a
/// second namespace: the same output and exit status, then the same
/// counters.
#[test]
fn verbose_commands_and_option_checks_like_iptables_nft() {
    let file = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :zeta - [0:0]\n:alpha - [0:0]\n[7:700] -A INPUT -s 10.1.1.1 -j ACCEPT\n\
        [3:300] -A INPUT -s 10.1.1.2 -j ACCEPT\n[2:200] -A FORWARD -j zeta\nCOMMIT\n";
    let Some((ours, theirs)) = restored_side_by_side("verboseref", file) else {
        return;
    };
    let same = |command: &str| same_in_both(&ours, &theirs, command);
    let added = same("-A INPUT -s 10.0.0.1,10.0.0.2 -p tcp --dport 22 -j ACCEPT -v");
    assert_eq!(added.1.lines().count(), 2, "{added:?}");
    assert!(added.1.contains(" 10.0.0.2  -> 0.0.0.0/0   tcp dpt:22"));
    let inserted = same("-I INPUT 2 ! -i eth0 ! -d 10.9.9.9 -p 47 -j zeta -v");
    assert!(inserted.1.contains("!-> 10.9.9.9"), "{inserted:?}");
    for command in [
        "-R INPUT 1 -f -s 10.1.1.1 -j ACCEPT -v",
        "-C INPUT -f -s 10.1.1.1 -j ACCEPT -v",
        "-A INPUT -g alpha -m comment --comment goto -v",
        "-D INPUT -g alpha -m comment --comment goto -v",
        "-C INPUT -j DROP -v",
        "-A INPUT -j nosuchchain -v",
    ] {
        same(command);
    }
    for command in [
        "-A INPUT -n -j ACCEPT",
        "-F INPUT --line-numbers",
        "-S INPUT -x",
        "-Z -n",
        "-D INPUT 1 -c 1 2",
        "-L INPUT -c 1 2",
        "-L -Z INPUT 1 -n",
    ] {
        assert_eq!(same(command), (Some(2), String::new()), "{command}");
    }
    same("-P OUTPUT ACCEPT -c 5 6");
    // Zeroes rule 3 (10.1.1.2) only and lists nothing.
    assert_eq!(same("-L -Z INPUT 3"), (Some(0), String::new()));
    same("-Z INPUT 9");
    let counters = same("-vnxL");
    assert!(
        counters.1.contains(" 200 ") && !counters.1.contains(" 300 "),
        "{counters:?}"
    );
    // Lists FORWARD's rule 1, then zeroes it.
    let one = same("-Z FORWARD 1 -L -v -n -x");
    assert!(
        one.1.contains(" 200 ") && one.1.lines().count() == 1,
        "{one:?}"
    );
    assert!(!same("-vnxL").1.contains(" 200 "));
    same("-F -v");
    let deleted = same("-X -v");
    assert_eq!(deleted.1, "Deleting chain `alpha'\nDeleting chain `zeta'\n");
    // iptables-restore -v: the chains each table's restore flushes and
    // deletes, then each rule it adds.
    same("-N old");
    let file = "*filter\n:INPUT DROP [0:0]\n:foo - [0:0]\n-A INPUT -s 10.5.5.5 -j foo\n\
        -I INPUT 1 -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n\
        -A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n";
    let mine = restore(&ours, "iptables-restore", &["-v"], file);
    let reference = theirs
        .exec_input(&["iptables-nft-restore", "-v"], file)
        .expect("iptables-nft-restore -v");
    let mine = String::from_utf8_lossy(&mine.stdout).to_string();
    assert_eq!(mine, reference);
    assert!(
        mine.contains("Deleting chain `old'\nfoo  all opt"),
        "{mine}"
    );
    // A line's own -v, without the restore's: that line's rules and chains.
    let file = "*filter\n:INPUT ACCEPT [0:0]\n:FOO - [0:0]\n:BAR - [0:0]\n\
        -A INPUT -p tcp --dport 22 -j ACCEPT\n-D INPUT -v -p tcp --dport 22 -j ACCEPT\n\
        -A FOO -v -s 10.0.0.0/8,192.168.0.0/16 -d 1.1.1.1 -j RETURN\n-A FOO -p udp -j DROP\n\
        -Z FOO -v\n-X BAR -v\n-F -v\nCOMMIT\n\
        *nat\n:PREROUTING ACCEPT [0:0]\n\
        -A PREROUTING -v -p tcp --dport 80 -j DNAT --to-destination 10.0.0.1:8080\nCOMMIT\n";
    // --noflush -v speaks only for such lines; --test prints nothing.
    // iptables-nft -v over existing tables adds libnftnl's debug dump of
    // its rules (`ip nat PREROUTING 2`, `  [ cmp eq reg 1 ... ]`), which
    // is not iptables' output and moat does not copy.
    let without_debug = |text: String| -> String {
        text.lines()
            .filter(|l| !(l.is_empty() || l.starts_with("ip ") || l.starts_with("  [")))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    for options in [
        &[][..],
        &["--noflush", "-v"],
        &["--test", "-v"],
        &["--test"],
    ] {
        let mine = restore(&ours, "iptables-restore", options, file);
        let reference = theirs
            .exec_input(&[&["iptables-nft-restore"], options].concat(), file)
            .map(without_debug)
            .expect("iptables-nft-restore");
        let mine = String::from_utf8_lossy(&mine.stdout).to_string();
        assert_eq!(mine, reference, "{options:?}");
        assert_eq!(
            mine.contains("RETURN  all opt -- in * out *  192.168.0.0/16  -> 1.1.1.1")
                && mine.contains("Deleting chain `BAR'\nFlushing chain `INPUT'"),
            !options.contains(&"--test"),
            "{options:?}: {mine}"
        );
    }
}

/// `-I`, `-R`, `-N`, `-P`, `-F` and `-X`, which moat answers from the
/// table's layout and the chains read only as far as it needs (without
/// building the whole table): the same exit statuses, output, rules and
/// counters as Debian's iptables-nft in a second namespace, for built-in
/// and user chains, places at the start, in the middle, one past the end
/// and too far, rules given counters with `-c`, a rule a user chain's hooks
/// refuse, a policy whose counters start again when it changes, chains
/// flushed and deleted, chains that cannot go (with rules, jumped to,
/// built in), and jumps to chains whose rules must then work from more
/// hooks, to chains further on, to missing chains and in loops; and
/// counters zeroed (`-Z`), chain by chain and all at once; and chains
/// renamed (`-E`), with and without a jump to them.
#[test]
fn placing_and_chain_commands_like_iptables_nft() {
    let file = "*filter\n:INPUT ACCEPT [5:500]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :f2b-sshd - [0:0]\n[7:700] -A INPUT -s 10.1.1.1 -j ACCEPT\n\
        [3:300] -A INPUT -s 10.1.1.2 -j ACCEPT\n-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd\n\
        -A OUTPUT -j f2b-sshd\n-A f2b-sshd -j RETURN\nCOMMIT\n";
    let Some((ours, theirs)) = restored_side_by_side("placeref", file) else {
        return;
    };
    let same = |command: &str| same_in_both(&ours, &theirs, command);
    for (command, status) in [
        ("-I INPUT -s 10.0.0.1 -j DROP", 0),
        ("-I INPUT 1 -s 10.0.0.2 -j DROP", 0),
        ("-I INPUT 3 -p udp --dport 53 -j ACCEPT", 0),
        ("-I INPUT 7 -s 10.0.0.3 -j DROP", 0),
        ("-I INPUT 9 -s 10.0.0.4 -j DROP", 1),
        ("-I INPUT 2 -c 4 400 -s 10.0.0.5 -j ACCEPT", 0),
        ("-R INPUT 4 -c 9 900 -s 10.0.0.6 -j REJECT", 0),
        ("-R INPUT 1 -s 10.0.0.7 -j DROP", 0),
        ("-R INPUT 20 -s 10.0.0.8 -j DROP", 1),
        (
            "-I f2b-sshd 1 -s 192.0.2.1 -j REJECT --reject-with icmp-port-unreachable",
            0,
        ),
        (
            "-I f2b-sshd 1 -s 192.0.2.2 -j REJECT --reject-with icmp-port-unreachable",
            0,
        ),
        (
            "-I f2b-sshd 2 -s 192.0.2.3 -j REJECT --reject-with icmp-port-unreachable",
            0,
        ),
        ("-A f2b-sshd -s 192.0.2.4 -j DROP", 0),
        ("-R f2b-sshd 1 -s 192.0.2.5 -j DROP", 0),
        ("-I f2b-sshd -i eth0 -j DROP", 0),
        (
            "-I f2b-sshd -m mac --mac-source 00:11:22:33:44:55 -j DROP",
            4,
        ),
        ("-I nosuch -s 10.0.0.9 -j DROP", 1),
        ("-R nosuch 1 -s 10.0.0.9 -j DROP", 1),
        ("-N f2b-web", 0),
        ("-N f2b-web", 1),
        ("-A f2b-web -s 192.0.2.9 -j DROP", 0),
        ("-N ACCEPT", 2),
        ("-P FORWARD DROP", 0),
        ("-P INPUT DROP", 0),
        ("-P f2b-web DROP", 1),
        ("-P nosuch DROP", 1),
        ("-t nat -P POSTROUTING DROP", 2),
        ("-t mangle -N marks", 0),
        ("-t mangle -I marks -j MARK --set-mark 5", 0),
        ("-t mangle -P PREROUTING ACCEPT", 0),
        ("-N jumped", 0),
        ("-A OUTPUT -j jumped", 0),
        ("-X jumped", 4),
        ("-X f2b-sshd", 4),
        ("-X INPUT", 1),
        ("-X nosuch", 1),
        ("-F nosuch", 1),
        (
            "-A f2b-web -m hashlimit --hashlimit-upto 5/sec --hashlimit-name hl -j ACCEPT",
            0,
        ),
        ("-F f2b-web", 0),
        ("-X f2b-web", 0),
        ("-X f2b-web", 1),
        ("-t mangle -F marks", 0),
        ("-t mangle -X marks", 0),
        ("-t mangle -F", 0),
        ("-N DOCKER-USER", 0),
        ("-A DOCKER-USER -j RETURN", 0),
        ("-I FORWARD -j DOCKER-USER", 0),
        ("-A FORWARD -j DOCKER-USER", 0),
        ("-A DOCKER-USER -j DOCKER-USER", 4),
        ("-N macs", 0),
        ("-A macs -m mac --mac-source 00:11:22:33:44:55 -j DROP", 0),
        ("-A OUTPUT -j macs", 4),
        ("-A INPUT -j macs", 0),
        ("-N deep", 0),
        ("-A deep -j macs", 0),
        ("-A OUTPUT -j deep", 4),
        ("-I INPUT 2 -g deep", 0),
        ("-A INPUT -j nosuch", 2),
        ("-A INPUT -j INPUT", 4),
        ("-N renamed", 0),
        ("-A renamed -s 10.1.2.3 -j DROP", 0),
        ("-E renamed renamed-to", 0),
        ("-A INPUT -j renamed-to", 0),
        ("-E renamed-to renamed-again", 0),
        ("-E nosuch other", 1),
        ("-E renamed-again DOCKER-USER", 1),
    ] {
        let (code, _) = same(command);
        assert_eq!(code, Some(status), "{command}");
    }
    for listing in [
        "-S",
        "-vxnL --line-numbers",
        "-t mangle -S",
        "-t mangle -vxnL",
    ] {
        same(listing);
    }
    let counted = same("-vxnL INPUT").1;
    assert!(
        counted.contains("policy DROP 0 packets, 0 bytes"),
        "{counted}"
    );
    assert!(counted.contains("       9      900 REJECT"), "{counted}");
    let bans = same("-S f2b-sshd").1;
    assert!(
        bans.starts_with(
            "-N f2b-sshd\n-A f2b-sshd -i eth0 -j DROP\n-A f2b-sshd -s 192.0.2.5/32 -j DROP\n"
        ),
        "{bans}"
    );
    // Zeroing: one chain (a built-in one's policy counter too), then all.
    let zeroed = same("-Z INPUT -v").1;
    assert!(zeroed.contains("Zeroing chain `INPUT'"), "{zeroed}");
    let listed = same("-vxnL").1;
    assert!(
        listed.contains("policy DROP 0 packets, 0 bytes"),
        "{listed}"
    );
    assert!(!listed.contains("       9      900 REJECT"), "{listed}");
    same("-Z nosuch");
    same("-t mangle -Z");
    same("-Z");
    same("-vxnL");
}
