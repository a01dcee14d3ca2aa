//! Applying safely (issue 5): the lock-out guard, `--confirm` with its
//! rollback watchdog, atomic applies under SIGKILL, and the ruleset kept
//! for boot.

mod common;
mod config_common;

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::text;
use config_common::{
    apply, apply_toml, config_lab, moat, moat_env, moat_ok, rules, spawn, wait_until, Scratch,
};
use moat_testnet::topology::GATEWAY_LAN_V4;
use moat_testnet::{TcpServer, Topology};

const OPEN_SSH: &str = "[[service]]\nname = \"ssh\"\n";
const WITH_80: &str = "[[service]]\nname = \"ssh\"\n[[service]]\nport = 80\n";
const CUT_SSH: &str = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n";
const KEEP_SSH: &str = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
const SSH_ENV: (&str, &str) = ("SSH_CONNECTION", "10.99.1.2 50514 10.99.1.1 22");

/// `moat apply ARGS...` on the gateway from within an SSH session from the client.
fn apply_over_ssh(lab: &Topology, s: &Scratch, args: &[&str]) -> Output {
    let mut argv = vec!["apply"];
    argv.extend_from_slice(args);
    moat_env(&lab.gateway, s, &[SSH_ENV], &argv)
}

/// `moat apply --confirm SECONDS FILE` on the gateway; panics on failure.
fn apply_confirm(lab: &Topology, s: &Scratch, seconds: &str, file: &Path) {
    moat_ok(
        &lab.gateway,
        s,
        &["apply", "--confirm", seconds, file.to_str().unwrap()],
    );
}

/// Applies OPEN_SSH as old.toml and returns the rules it made.
fn start_with_open_ssh(lab: &Topology, s: &Scratch) -> String {
    apply(&lab.gateway, s, &s.file("old.toml", OPEN_SSH));
    rules(&lab.gateway, s)
}

#[test]
fn guard_refuses_a_ruleset_that_cuts_the_ssh_session_and_accepts_one_that_keeps_it() {
    let Some((lab, s)) = config_lab() else { return };
    let cut = s.file("cut.rules", CUT_SSH);
    let out = apply_over_ssh(&lab, &s, &[cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("your SSH session (SSH_CONNECTION) 10.99.1.2:50514 -> 10.99.1.1:22"),
        "{err}"
    );
    assert!(err.contains("chain INPUT: policy DROP"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(
        !rules(&lab.gateway, &s).contains("INPUT DROP"),
        "nothing was applied"
    );
    // A ruleset with an explicit drop names the rule.
    let drop = s.file(
        "drop.toml",
        "[iptables]\nrules = [\"-I INPUT -s 10.99.1.0/24 -j DROP\"]\n",
    );
    let out = apply_over_ssh(&lab, &s, &[drop.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("rule 1: -s 10.99.1.0/24 -j DROP"),
        "{}",
        text(&out.stderr)
    );
    // Keeping the session passes without fuss, and so does a moat.toml (replies are always allowed).
    let keep = s.file("keep.rules", KEEP_SSH);
    let out = apply_over_ssh(&lab, &s, &[keep.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = s.file("moat.toml", "[[service]]\nport = 80\n");
    let out = apply_over_ssh(&lab, &s, &[toml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // --force overrides.
    let out = apply_over_ssh(&lab, &s, &["--force", cut.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn guard_protects_established_ssh_connections_found_in_conntrack() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(&lab.gateway, &s, OPEN_SSH);
    let _sshd = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap();
    let mut session = lab
        .client
        .run(|| TcpStream::connect_timeout(&(GATEWAY_LAN_V4, 22).into(), Duration::from_secs(2)))
        .unwrap()
        .expect("ssh-like connection");
    let mut banner = [0u8; 16];
    let _ = session.read(&mut banner);
    let cut = s.file("cut.rules", CUT_SSH);
    let out = moat(&lab.gateway, &s, &["apply", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("an established connection (conntrack) 10.99.1.2:"),
        "{}",
        text(&out.stderr)
    );
    let keep = s.file("keep.rules", KEEP_SSH);
    assert!(moat(&lab.gateway, &s, &["apply", keep.to_str().unwrap()])
        .status
        .success());
    drop(session);
}

fn has_port_80_rule(lab: &Topology, s: &Scratch) -> bool {
    rules(&lab.gateway, s).contains("--dport 80")
}

#[test]
fn confirm_rolls_back_without_confirmation_and_keeps_with_it() {
    let Some((lab, s)) = config_lab() else { return };
    let new = s.file("new.toml", WITH_80);
    let before = start_with_open_ssh(&lab, &s);

    // Not confirmed: back by itself.
    apply_confirm(&lab, &s, "2", &new);
    assert!(has_port_80_rule(&lab, &s));
    assert!(moat_ok(&lab.gateway, &s, &["status"]).contains("waiting for `moat confirm`"));
    assert!(
        wait_until(Duration::from_secs(6), || rules(&lab.gateway, &s) == before),
        "rolled back"
    );
    assert!(
        !moat(&lab.gateway, &s, &["confirm"]).status.success(),
        "nothing left to confirm"
    );

    // Confirmed: stays, and is kept for boot.
    apply_confirm(&lab, &s, "3", &new);
    let out = moat_ok(&lab.gateway, &s, &["confirm"]);
    assert!(out.contains("confirmed"), "{out}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(has_port_80_rule(&lab, &s), "kept after the deadline");
    let kept = std::fs::read_to_string(s.etc().join("moat.toml")).unwrap();
    assert!(kept.contains("port = 80"));
}

#[test]
fn confirm_rolls_back_when_the_applying_process_is_killed() {
    let Some((lab, s)) = config_lab() else { return };
    let new = s.file("new.toml", WITH_80);
    let before = start_with_open_ssh(&lab, &s);
    // `--wait` keeps the applying process waiting for a "yes" on its standard input.
    let mut child = spawn(
        &lab.gateway,
        &s,
        &["apply", "--confirm", "3", "--wait", new.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(5), || has_port_80_rule(&lab, &s)),
        "applied"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(has_port_80_rule(&lab, &s), "the watchdog outlives it");
    assert!(
        wait_until(Duration::from_secs(6), || rules(&lab.gateway, &s) == before),
        "rolled back after the kill"
    );
    // Nothing was kept for boot from the unconfirmed change.
    let kept = std::fs::read_to_string(s.etc().join("moat.toml")).unwrap();
    assert!(!kept.contains("port = 80"));
}

#[test]
fn a_second_apply_during_a_pending_confirmation() {
    let Some((lab, s)) = config_lab() else { return };
    let mid = s.file("mid.toml", WITH_80);
    let last = s.file(
        "last.toml",
        "[[service]]\nname = \"ssh\"\n[[service]]\nport = 443\n",
    );
    let before = start_with_open_ssh(&lab, &s);
    apply_confirm(&lab, &s, "2", &mid);
    // A plain apply is refused while a change waits for confirmation.
    let out = moat(&lab.gateway, &s, &["apply", last.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("waiting for `moat confirm`"),
        "{}",
        text(&out.stderr)
    );
    // Another --confirm takes over: the rollback goes to the last confirmed ruleset.
    apply_confirm(&lab, &s, "3", &last);
    assert!(rules(&lab.gateway, &s).contains("--dport 443"));
    assert!(
        wait_until(Duration::from_secs(7), || rules(&lab.gateway, &s) == before),
        "back to the original"
    );
}

#[test]
fn a_killed_apply_leaves_the_old_or_the_new_ruleset_never_a_mix() {
    let Some((lab, s)) = config_lab() else { return };
    let a = s.file(
        "a.toml",
        "[zones.out]\ninterfaces = [\"lan0\"]\nmasquerade = true\n[[service]]\nname = \"ssh\"\n",
    );
    let mut big =
        String::from("[zones.out]\ninterfaces = [\"lan0\"]\n[[service]]\nname = \"http\"\n");
    for i in 0..300 {
        big.push_str(&format!(
            "[[port_forward]]\nport = {}\nto = \"10.99.2.2:{}\"\n",
            20000 + i,
            30000 + i
        ));
    }
    let b = s.file("b.toml", &big);
    apply(&lab.gateway, &s, &a);
    let old = rules(&lab.gateway, &s);
    apply(&lab.gateway, &s, &b);
    let new = rules(&lab.gateway, &s);
    let (mut saw_old, mut saw_new) = (0, 0);
    for i in 0..16u64 {
        apply(&lab.gateway, &s, &a);
        let mut child = spawn(&lab.gateway, &s, &["apply", b.to_str().unwrap()]);
        std::thread::sleep(Duration::from_millis(i * 12));
        let _ = child.kill();
        child.wait().unwrap();
        // The nft process moat started may still be finishing its transaction,
        // and a read spans several tables: wait for two equal reads in a row.
        let mut now = rules(&lab.gateway, &s);
        assert!(
            wait_until(Duration::from_secs(10), || {
                let again = rules(&lab.gateway, &s);
                std::mem::replace(&mut now, again) == now
            }),
            "the ruleset did not settle"
        );
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!("a mix after a kill at {} ms:\n{now}", i * 12);
        }
    }
    eprintln!("killed applies: {saw_old} left the old ruleset, {saw_new} the new one");
}

#[test]
fn the_applied_ruleset_comes_back_at_boot() {
    let Some((lab, s)) = config_lab() else { return };
    let out = apply_toml(
        &lab.gateway,
        &s,
        "[zones.wan]\ninterfaces = [\"lan0\"]\nmasquerade = true\n[[service]]\nname = \"ssh\"\n",
    );
    assert!(out.contains("kept in"), "{out}");
    assert!(s.etc().join("ruleset.json").exists() && s.etc().join("moat.toml").exists());
    let applied = rules(&lab.gateway, &s);
    // A reboot: the kernel forgets everything.
    let fresh = Topology::gateway().unwrap();
    assert!(!rules(&fresh.gateway, &s).contains("moat: service ssh"));
    let out = moat_ok(&fresh.gateway, &s, &["boot"]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(rules(&fresh.gateway, &s), applied);
    // Nothing kept: boot does nothing, successfully.
    let empty = Scratch::new();
    assert!(moat_ok(&fresh.gateway, &empty, &["boot"]).contains("nothing to restore"));
}

#[test]
fn install_writes_the_binary_and_an_enabled_unit_into_a_root() {
    let s = Scratch::new();
    let root = s.dir.join("root");
    let out = std::process::Command::new(common::moat_bin())
        .args(["install", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(root.join("usr/local/bin/moat").is_file());
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/moat.service")).unwrap();
    for line in [
        "Type=oneshot",
        "Before=network-pre.target",
        "Wants=network-pre.target",
        "ExecStart=/usr/local/bin/moat boot",
    ] {
        assert!(unit.contains(line), "{line} missing from\n{unit}");
    }
    let link =
        std::fs::read_link(root.join("etc/systemd/system/sysinit.target.wants/moat.service"))
            .unwrap();
    assert_eq!(
        link,
        std::path::Path::new("/etc/systemd/system/moat.service")
    );
    assert!(root.join("etc/moat").is_dir());
}

/// The balanced services (table `inet moat_lb`, written after the ruleset)
/// stay as they are when applied again unchanged, and roll back with the
/// ruleset: a service's changed weights go back, and a service the
/// unconfirmed file added goes.
#[test]
fn confirm_rolls_the_balanced_services_back_too() {
    let Some((lab, s)) = config_lab() else { return };
    let service = |name: &str, port: u16, weights: &str| {
        format!(
            "[[balance]]\nname = \"{name}\"\nport = {port}\nfrom = [\"lan\"]\ncheck = \"tcp\"\n\
             backends = [{{ to = \"10.10.7.14:8080\"{weights} }}, {{ to = \"10.10.7.15:8080\" }}]\n"
        )
    };
    let zone = "[zones.lan]\ninterfaces = [\"lan0\"]\ninput = \"accept\"\n";
    let old = s.file(
        "old.toml",
        &format!("{zone}{}", service("web", 80, ", weight = 3")),
    );
    let new = s.file(
        "new.toml",
        &format!(
            "{zone}{}{}",
            service("web", 80, ""),
            service("db", 5432, "")
        ),
    );
    let balanced = || {
        lab.gateway
            .exec_ok(&["nft", "-s", "list", "table", "inet", "moat_lb"])
            .unwrap()
    };
    apply(&lab.gateway, &s, &old);
    let before = balanced();
    // Applied again unchanged, the table stays as it is (handles, counters).
    let with_handles = || {
        lab.gateway
            .exec_ok(&["nft", "-a", "list", "table", "inet", "moat_lb"])
            .unwrap()
    };
    let first = with_handles();
    let out = apply(&lab.gateway, &s, &old);
    assert!(out.contains("inet moat_lb (unchanged): web"), "{out}");
    assert_eq!(with_handles(), first);
    apply_confirm(&lab, &s, "2", &new);
    assert_ne!(balanced(), before, "the new services are in");
    assert!(
        wait_until(Duration::from_secs(8), || balanced() == before),
        "rolled back: {}",
        balanced()
    );
}
