//! Block lists in moat.toml (`[[block]]`), with real traffic: `moat apply`
//! loads them (before the ruleset, whose `-m set` rules may use them),
//! removes those the file no longer names, refuses a bad list file before
//! changing anything, and `moat boot` brings them back; a refused or
//! unconfirmed apply puts them back as they were.

mod common;
mod config_common;

use common::{connects_quickly, gateway_lab, text};
use config_common::{apply, moat, moat_ok, Scratch};
use moat_testnet::topology::{GATEWAY_LAN_V4, SERVER_V4, SERVER_V6};
use moat_testnet::TcpServer;

/// A configuration that lets everything through except its block lists;
/// port 9000 on the gateway is open only to list `friends`.
fn config(s: &Scratch, with_country: bool) -> String {
    let zones = s.dir.join("zones");
    let friends = s.dir.join("friends.txt");
    let country = if with_country {
        format!(
            "[[block]]\ncountries = [\"xa\"]\nzone_dir = \"{}\"\nexcept = [\"10.99.1.99\"]\n\n",
            zones.display()
        )
    } else {
        String::new()
    };
    format!(
        "[defaults]\ninput = \"accept\"\nforward = \"accept\"\n\n{country}\
         [[block]]\nname = \"friends\"\nfile = \"{}\"\ndirection = \"none\"\n\n\
         [iptables]\nrules = [\n  \"-A INPUT -p tcp --dport 9000 -m set ! --match-set friends src -j DROP\",\n]\n",
        friends.display()
    )
}

#[test]
fn configured_block_lists_load_follow_the_file_and_come_back_at_boot() {
    let Some(lab) = gateway_lab() else { return };
    let _v4 = TcpServer::start(&lab.server, SERVER_V4, 8080).unwrap();
    let _v6 = TcpServer::start(&lab.server, SERVER_V6, 8080).unwrap();
    let _svc = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9000).unwrap();
    let s = Scratch::new();
    std::fs::create_dir_all(s.dir.join("zones/ipv4")).unwrap();
    std::fs::create_dir_all(s.dir.join("zones/ipv6")).unwrap();
    s.file("zones/ipv4/xa.zone", "10.99.1.0/24\n192.0.2.0/24\n");
    s.file("zones/ipv6/xa.zone", "fd99:1::/64\n");
    s.file("friends.txt", "# who may use port 9000\n10.99.1.2\n");
    let gw = &lab.gateway;

    // A relative path is refused with its place in the file.
    let bad = s.file(
        "relative.toml",
        "[[block]]\nname = \"x\"\nfile = \"list.txt\"\n",
    );
    let out = moat(gw, &s, &["check", bad.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("relative.toml:3:") && err.contains("absolute"),
        "{err}"
    );

    let with = s.file("with.toml", &config(&s, true));
    moat_ok(gw, &s, &["check", with.to_str().unwrap()]);
    let out = apply(gw, &s, &with);
    assert!(
        out.contains("block lists loaded: xa, friends")
            || out.contains("block lists loaded: friends, xa"),
        "{out}"
    );
    assert!(
        !connects_quickly(&lab.client, SERVER_V4, 8080),
        "xa is blocked"
    );
    assert!(
        !connects_quickly(&lab.client, SERVER_V6, 8080),
        "xa is blocked (IPv6)"
    );
    let listing = moat_ok(gw, &s, &["block", "list"]);
    assert!(
        listing.contains("xa") && listing.contains("friends"),
        "{listing}"
    );

    // Without the country the client passes, and -m set lets it use 9000.
    let without = s.file("without.toml", &config(&s, false));
    let out = apply(gw, &s, &without);
    assert!(out.contains("block lists removed: xa"), "{out}");
    assert!(connects_quickly(&lab.client, SERVER_V4, 8080));
    assert!(connects_quickly(&lab.client, SERVER_V6, 8080));
    assert!(
        connects_quickly(&lab.client, GATEWAY_LAN_V4, 9000),
        "friends may use 9000"
    );
    assert!(!moat_ok(gw, &s, &["block", "list"]).contains("xa "));

    // A bad line in a list file stops the apply before anything changes.
    s.file("friends.txt", "10.99.1.2\nnot-an-address\n");
    let out = moat(gw, &s, &["apply", with.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("friends.txt:2"),
        "{err}"
    );
    assert!(
        connects_quickly(&lab.client, SERVER_V4, 8080),
        "nothing changed"
    );
    assert!(!moat_ok(gw, &s, &["block", "list"]).contains("xa "));

    // Changing the list file and applying again refreshes the list.
    s.file("friends.txt", "10.99.1.200\n");
    apply(gw, &s, &without);
    assert!(
        !connects_quickly(&lab.client, GATEWAY_LAN_V4, 9000),
        "no longer a friend"
    );

    // After a reboot (an empty ruleset), boot brings lists and rules back.
    s.file("friends.txt", "10.99.1.2\n");
    gw.exec_ok(&["nft", "flush", "ruleset"]).unwrap();
    moat_ok(gw, &s, &["boot"]);
    assert!(moat_ok(gw, &s, &["block", "list"]).contains("friends"));
    assert!(
        connects_quickly(&lab.client, GATEWAY_LAN_V4, 9000),
        "the list is back and reloaded"
    );
    assert!(moat_ok(gw, &s, &["iptables", "-S", "INPUT"]).contains("--match-set friends src"));
}

/// Waits up to ten seconds for `done`: a `--confirm` watchdog rolls back
/// by itself once its time is up.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..40 {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    false
}

/// The lists an apply loads before its rules go back with them: when the
/// rules are refused, and when a `--confirm` runs out unconfirmed (a list
/// it refilled, one it removed and one it made).
#[test]
fn block_lists_go_back_with_a_refused_or_unconfirmed_apply() {
    let Some(lab) = gateway_lab() else { return };
    let _v4 = TcpServer::start(&lab.server, SERVER_V4, 8080).unwrap();
    let _svc = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9000).unwrap();
    let s = Scratch::new();
    std::fs::create_dir_all(s.dir.join("zones/ipv4")).unwrap();
    std::fs::create_dir_all(s.dir.join("zones/ipv6")).unwrap();
    s.file("zones/ipv4/xa.zone", "10.99.1.0/24\n");
    s.file("zones/ipv6/xa.zone", "fd99:1::/64\n");
    s.file("friends.txt", "10.99.1.2\n");
    let gw = &lab.gateway;
    let friend = || connects_quickly(&lab.client, GATEWAY_LAN_V4, 9000);
    let lists = || moat_ok(gw, &s, &["block", "list"]);
    let without = s.file("without.toml", &config(&s, false));
    apply(gw, &s, &without);
    assert!(friend(), "the client is a friend");

    // A refused rule: the refilled list goes back to what it held.
    s.file("friends.txt", "10.99.1.200\n");
    let refused = s.file(
        "refused.toml",
        &config(&s, false).replace(
            "rules = [\n",
            "rules = [\n  \"-A INPUT -m set --match-set nosuch src -j DROP\",\n",
        ),
    );
    let out = moat(gw, &s, &["apply", refused.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(friend(), "the list holds the client again");

    // Unconfirmed: the refilled list goes back.
    moat_ok(
        gw,
        &s,
        &["apply", "--confirm", "2", without.to_str().unwrap()],
    );
    assert!(!friend(), "refilled without the client");
    assert!(
        eventually(friend),
        "rolled back: the client is a friend again"
    );

    // Unconfirmed: a removed list comes back, a new one goes.
    let other = s.file(
        "other.toml",
        &format!(
            "[defaults]\ninput = \"accept\"\nforward = \"accept\"\n\n[[block]]\ncountries = [\"xa\"]\nzone_dir = \"{}\"\n",
            s.dir.join("zones").display()
        ),
    );
    s.file("friends.txt", "10.99.1.2\n");
    moat_ok(
        gw,
        &s,
        &["apply", "--confirm", "2", other.to_str().unwrap()],
    );
    let during = lists();
    assert!(
        during.contains("xa") && !during.contains("friends"),
        "{during}"
    );
    assert!(
        !connects_quickly(&lab.client, SERVER_V4, 8080),
        "xa blocks the client"
    );
    assert!(
        eventually(|| {
            let after = lists();
            after.contains("friends") && !after.contains("xa")
        }),
        "{}",
        lists()
    );
    assert!(connects_quickly(&lab.client, SERVER_V4, 8080), "xa is gone");
    assert!(friend(), "friends is back with its rule");
}

/// A kept ruleset whose rules look up a list boot does not bring back
/// (one `moat block` made; apply warns) still comes back at boot, the list
/// empty until it is loaded again, rather than leaving the machine
/// without a firewall.
#[test]
fn boot_brings_the_rules_back_when_a_list_they_use_is_gone() {
    let Some(lab) = gateway_lab() else { return };
    let _svc = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9000).unwrap();
    let s = Scratch::new();
    let gw = &lab.gateway;
    let list = s.file("partners.txt", "10.99.1.2\n");
    let friend = || connects_quickly(&lab.client, GATEWAY_LAN_V4, 9000);
    moat_ok(
        gw,
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
    moat_ok(
        gw,
        &s,
        &[
            "iptables",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "9000",
            "-m",
            "set",
            "!",
            "--match-set",
            "partners",
            "src",
            "-j",
            "DROP",
        ],
    );
    let saved = s.file("rules.v4", &moat_ok(gw, &s, &["iptables-save"]));
    let out = moat(gw, &s, &["apply", saved.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("block list partners, which boot does not bring back"),
        "told at apply: {err}"
    );
    assert!(friend(), "a partner may use 9000");

    gw.exec_ok(&["nft", "flush", "ruleset"]).unwrap();
    let out = moat(gw, &s, &["boot"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("block list partners"), "{err}");
    assert!(
        moat_ok(gw, &s, &["iptables", "-S", "INPUT"]).contains("--match-set partners src"),
        "the rules are back"
    );
    assert!(!friend(), "the list is empty: nobody is a partner");
    moat_ok(
        gw,
        &s,
        &["block", "file", "partners", list.to_str().unwrap()],
    );
    assert!(friend(), "loaded again");
}
