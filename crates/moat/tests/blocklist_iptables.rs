//! Block lists used from moat's iptables tables (`-m set --match-set NAME`):
//! the table gets a copy of the list (`moat_blocklist::iptables_set`), which
//! every refresh, add and remove keeps current in the same transaction, and
//! which keeps the list from being removed while a rule uses it.

mod common;

use common::{moat, moat_ok};
use moat_blocklist::nftables;
use moat_model::Family;
use moat_testnet::{require_root_or_skip, Netns};

fn list_file(text: &str) -> (std::path::PathBuf, String) {
    let path = std::env::temp_dir().join(format!(
        "moat-bl-ipt-{}-{}.txt",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&path, text).unwrap();
    let s = path.to_str().unwrap().to_string();
    (path, s)
}

fn copy_of(ns: &Netns) -> String {
    ns.exec_ok(&["nft", "list", "set", "ip", "moat_filter", "blocklist.bad"])
        .unwrap()
}

#[test]
fn iptables_copy_follows_the_list() {
    if !require_root_or_skip() {
        return;
    }
    let ns = Netns::new("blipt").unwrap();
    let (p1, f1) = list_file("10.99.0.0/16\n2001:db8::/32\n");
    moat_ok(
        &ns,
        &["block", "file", "bad", &f1, "--except", "10.99.1.0/24"],
    );

    // What the rule compiler emits for `-m set --match-set bad src` in
    // `ip moat_filter`: the copy's declaration (with the list's addresses
    // minus its exceptions), then rules that look it up.
    let decl = ns
        .run(|| moat_blocklist::iptables_set("bad", Family::Ipv4, "moat_filter"))
        .unwrap()
        .unwrap();
    apply_declaration(&ns, &decl);
    ns.exec_ok(&["nft", "add", "chain", "ip", "moat_filter", "INPUT"])
        .unwrap();
    ns.exec_ok(&[
        "nft",
        "add",
        "rule",
        "ip",
        "moat_filter",
        "INPUT",
        "ip",
        "saddr",
        "@blocklist.bad",
        "drop",
    ])
    .unwrap();
    let copy = copy_of(&ns);
    assert!(
        copy.contains("10.99.0.0/24") && copy.contains("10.99.2.0-10.99.255.255"),
        "{copy}"
    );

    // A refresh rewrites the copy in the same transaction.
    let (p2, f2) = list_file("10.98.0.0/16\n");
    moat_ok(&ns, &["block", "file", "bad", &f2]);
    let copy = copy_of(&ns);
    assert!(
        copy.contains("10.98.0.0/16") && !copy.contains("10.99"),
        "{copy}"
    );
    // So do single additions and removals.
    moat_ok(&ns, &["block", "add", "bad", "192.0.2.1"]);
    assert!(copy_of(&ns).contains("192.0.2.1"));
    moat_ok(&ns, &["block", "remove", "bad", "10.98.0.0/17"]);
    let copy = copy_of(&ns);
    assert!(
        copy.contains("10.98.128.0/17") && !copy.contains("10.98.0.0/16"),
        "{copy}"
    );
    let listing = moat_ok(&ns, &["block", "list"]);
    assert!(
        listing.contains("used by iptables rules in ip moat_filter"),
        "{listing}"
    );

    // The list cannot go while a rule uses it.
    let out = moat(&ns, &["unblock", "bad"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("used by moat's iptables rules in table ip moat_filter"),
        "{err}"
    );
    assert!(moat_ok(&ns, &["block", "list"]).contains("bad "));
    ns.exec_ok(&["nft", "flush", "chain", "ip", "moat_filter", "INPUT"])
        .unwrap();
    moat_ok(&ns, &["unblock", "bad"]);
    assert!(
        ns.exec(&["nft", "list", "set", "ip", "moat_filter", "blocklist.bad"])
            .unwrap()
            .status
            .code()
            != Some(0)
    );
    let _ = std::fs::remove_file(p1);
    let _ = std::fs::remove_file(p2);
}

/// Adds moat's table and the copy's declaration with `nft -j`, as the
/// iptables planner's batch would.
fn apply_declaration(ns: &Netns, set: &nftables::schema::Set<'static>) {
    use nftables::schema::{NfCmd, NfListObject, NfObject, Nftables, Table};
    let table = Table {
        family: set.family,
        name: set.table.clone(),
        handle: None,
    };
    let doc = Nftables {
        objects: vec![
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table))),
            NfObject::CmdObject(NfCmd::Add(NfListObject::Set(Box::new(set.clone())))),
        ]
        .into(),
    };
    // nft runs as a child of the thread that joined the namespace.
    ns.run(|| nftables::helper::apply_ruleset(&doc))
        .unwrap()
        .unwrap();
}
