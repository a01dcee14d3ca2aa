//! Block lists used from moat's iptables rules (`-m set --match-set NAME`),
//! with real traffic: the rule's table gets a copy of the list, which every
//! refresh, add and remove keeps current in the same transaction, and which
//! keeps the list from being removed while a rule uses it.

mod common;

use common::{
    gateway_lab, iptables_all, moat_err, moat_ok, packets_of, reaches_server, restore_ok,
    serve_8080, words,
};
use moat_testnet::Netns;

/// A list file that removes itself.
struct ListFile(std::path::PathBuf);

impl ListFile {
    fn new(tag: &str, text: &str) -> ListFile {
        let path =
            std::env::temp_dir().join(format!("moat-bl-ipt-{}-{tag}.txt", std::process::id()));
        std::fs::write(&path, text).unwrap();
        ListFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ListFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn copy_in(ns: &Netns, family: &str) -> String {
    ns.exec_ok(&["nft", "list", "set", family, "moat_filter", "blocklist.lan"])
        .unwrap()
}

/// A FORWARD policy of DROP that lets in only what comes from list `lan`.
fn allow_only_the_list(gateway: &Netns) {
    for program in ["iptables", "ip6tables"] {
        iptables_all(
            gateway,
            program,
            &[
                "-P FORWARD DROP",
                "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-A FORWARD -m set --match-set lan src -j ACCEPT",
            ],
        );
    }
}

#[test]
fn match_set_rules_use_the_list_and_follow_its_changes() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = serve_8080(&lab);
    let gw = &lab.gateway;

    // A list that blocks nothing by itself: it exists for rules to use.
    let list = ListFile::new("lan", "10.99.1.0/24\n192.0.2.0/24\nfd99:1::/64\n");
    let out = moat_ok(
        gw,
        &["block", "file", "lan", list.path(), "--direction", "none"],
    );
    assert!(out.contains("lan"), "{out}");
    assert!(moat_ok(gw, &["block", "list"]).contains("none"));
    for v6 in [false, true] {
        assert!(reaches_server(&lab.client, v6), "a none list drops nothing");
    }

    // A rule naming a list that does not exist changes nothing.
    let err = moat_err(
        gw,
        &words(
            "iptables",
            "-A FORWARD -m set --match-set nosuch src -j DROP",
        ),
    );
    assert!(
        err.contains("no block list or ipset named \"nosuch\""),
        "{err}"
    );
    assert!(!moat_ok(gw, &["iptables", "-S"]).contains("nosuch"));
    let err = moat_err(
        gw,
        &words(
            "iptables",
            "-A FORWARD -m set --match-set lan src,dst -j DROP",
        ),
    );
    assert!(err.contains("one flag"), "{err}");

    // The list as an allow list in FORWARD, IPv4 and IPv6.
    allow_only_the_list(gw);
    for v6 in [false, true] {
        assert!(
            reaches_server(&lab.client, v6),
            "the list lets the client through (v6: {v6})"
        );
    }
    assert!(moat_ok(gw, &["iptables", "-S", "FORWARD"])
        .contains("-A FORWARD -m set --match-set lan src -j ACCEPT"));
    let v4 = copy_in(gw, "ip");
    assert!(v4.contains("10.99.1.0/24") && !v4.contains("fd99"), "{v4}");
    assert!(copy_in(gw, "ip6").contains("fd99:1::/64"));
    let counters = moat_ok(gw, &["iptables", "-vnL", "FORWARD"]);
    assert!(
        packets_of(&counters, "FORWARD", "match-set lan src") >= 1,
        "{counters}"
    );

    // Removing the client's network from the list closes the door at once.
    moat_ok(gw, &["block", "remove", "lan", "10.99.1.0/24"]);
    assert!(
        !reaches_server(&lab.client, false),
        "removed from the list: dropped"
    );
    assert!(reaches_server(&lab.client, true), "IPv6 is still listed");
    // A refresh from a file rewrites the copy in the same transaction.
    let refreshed = ListFile::new("lan2", "10.99.0.0/16\n");
    moat_ok(gw, &["block", "file", "lan", refreshed.path()]);
    assert!(
        reaches_server(&lab.client, false),
        "refreshed list lets it in again"
    );
    assert!(
        !reaches_server(&lab.client, true),
        "the refresh had no IPv6"
    );

    // A restore recreates the table; the copy comes back filled.
    let saved = moat_ok(gw, &["iptables-save"]);
    restore_ok(gw, "iptables-restore", &saved);
    assert!(copy_in(gw, "ip").contains("10.99.0.0/16"));
    assert!(reaches_server(&lab.client, false), "after the restore");
    // In one restore, a rule of a list the table holds no copy of yet and a
    // rule only moat's netlink writer handles (an xtables match): the copy
    // is declared in the same batch.
    let other = ListFile::new("other", "198.51.100.0/24\n");
    moat_ok(
        gw,
        &[
            "block",
            "file",
            "other",
            other.path(),
            "--direction",
            "none",
        ],
    );
    let rule = "-A FORWARD -m set --match-set lan src -j ACCEPT";
    let with_string = saved.replace(
        rule,
        &format!(
            "-A FORWARD -p udp -m string --string \"moat-probe\" --algo bm -j DROP\n\
             -A FORWARD -m set --match-set other src -j DROP\n{rule}"
        ),
    );
    assert_ne!(with_string, saved);
    restore_ok(gw, "iptables-restore", &with_string);
    let copy = gw
        .exec_ok(&["nft", "list", "set", "ip", "moat_filter", "blocklist.other"])
        .unwrap();
    assert!(copy.contains("198.51.100.0/24"), "{copy}");
    let rules = moat_ok(gw, &["iptables", "-S", "FORWARD"]);
    assert!(
        rules.contains("-m string") && rules.contains("other src"),
        "{rules}"
    );
    assert!(
        reaches_server(&lab.client, false),
        "beside an xtables match"
    );
    restore_ok(gw, "iptables-restore", &saved);
    moat_ok(gw, &["unblock", "other"]);

    // The list cannot go while a rule uses it.
    let err = moat_err(gw, &["unblock", "lan"]);
    assert!(err.contains("used by moat's iptables rules"), "{err}");
    moat_ok(gw, &["iptables", "-D", "FORWARD", "2"]);
    moat_ok(
        gw,
        &words(
            "ip6tables",
            "-D FORWARD -m set --match-set lan src -j ACCEPT",
        ),
    );
    moat_ok(gw, &["unblock", "lan"]);
    assert!(
        gw.exec(&["nft", "list", "set", "ip", "moat_filter", "blocklist.lan"])
            .unwrap()
            .status
            .code()
            != Some(0)
    );
    assert!(
        !reaches_server(&lab.client, false),
        "policy DROP without the list"
    );
}
