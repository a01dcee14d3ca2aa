//! `moat daemon` and the ban commands without an SSH server: bans by hand
//! through the daemon, reloads that fail or succeed, bans put back at boot,
//! a forged user name that must not ban the address it names.

mod common;
mod daemon_common;

use std::net::IpAddr;
use std::path::Path;

use common::{connects, gateway_lab};
use daemon_common::{
    append, banned, moat_in, moat_in_env, sshd_line, text, wait_until, Daemon, TempDir,
};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4};
use moat_testnet::TcpServer;

/// `moat bans --json` in `ns`.
fn bans_json(ns: &moat_testnet::Netns, dir: &Path) -> serde_json::Value {
    let out = moat_in(ns, dir, &["bans", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("bans json")
}

/// A jail file of `extra` settings, also kept as `etc/moat.toml` for boot.
fn kept_jail_config(dir: &Path, log: &Path, extra: &str) -> std::path::PathBuf {
    let config = jail_config(dir, "sshd", log, extra);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::copy(&config, dir.join("etc/moat.toml")).unwrap();
    config
}

fn jail_config(dir: &Path, name: &str, log: &Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[[jail]]\nname = \"{name}\"\nfilter = \"sshd\"\nlogpath = \"{}\"\nport = 22\n{extra}",
            log.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn bans_by_hand_go_through_the_daemon_and_guard_the_ssh_session() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-hand");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = jail_config(dir, "sshd", &log, "bantime = \"1h\"\n");
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap();
    let daemon = Daemon::start(&lab.gateway, dir, &config, "hand");
    let gw: IpAddr = GATEWAY_LAN_V4.into();

    let refused = moat_in_env(
        &lab.gateway,
        dir,
        &["ban", "sshd", "10.99.1.2"],
        &[("SSH_CONNECTION", "10.99.1.2 51000 10.99.1.1 22")],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("--force"),
        "{}",
        text(&refused.stderr)
    );
    assert!(connects(&lab.client, gw, 22));

    let out = moat_in(
        &lab.gateway,
        dir,
        &["ban", "sshd", "10.99.1.2", "--time", "10m"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !connects(&lab.client, gw, 22),
        "a ban by hand closes the port at once"
    );
    daemon.wait_for("Ban 10.99.1.2 by hand");
    let listing = text(&moat_in(&lab.gateway, dir, &["bans"]).stdout);
    assert!(listing.contains("10.99.1.2"), "{listing}");
    assert!(listing.contains("jail sshd"), "{listing}");
    let json = text(&moat_in(&lab.gateway, dir, &["bans", "--json"]).stdout);
    assert_eq!(
        json.matches("\"name\"").count(),
        1,
        "one jail, named once:\n{json}"
    );

    let out = moat_in(&lab.gateway, dir, &["unban", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(connects(&lab.client, gw, 22));
}

#[test]
fn a_failed_reload_keeps_the_running_jails_and_a_good_one_adds_jails() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-reload");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = jail_config(dir, "first", &log, "maxretry = 1\n");
    let daemon = Daemon::start(&lab.gateway, dir, &config, "reload");
    let pid = daemon.pid().to_string();

    std::fs::write(&config, "[[jail]]\nname = \"first\"\nbantime = \"ten\"\n").unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    daemon.wait_for("reload failed, the running configuration stays");
    append(
        &log,
        &sshd_line("Failed password for root from 203.0.113.7 port 4022 ssh2"),
    );
    wait_until("a ban by the old jail", 5, || {
        banned(&lab.gateway, dir, "203.0.113.7".parse().unwrap())
    });

    let good = format!(
        "[[jail]]\nname = \"first\"\nfilter = \"sshd\"\nlogpath = \"{0}\"\nport = 22\nmaxretry = 1\n\n\
         [[jail]]\nname = \"second\"\nfilter = \"sshd\"\nlogpath = \"{0}\"\nport = 80\nmaxretry = 1\n",
        log.display()
    );
    std::fs::write(&config, good).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    daemon.wait_for("configuration reloaded");
    daemon.wait_for("[second] watching");
    append(
        &log,
        &sshd_line("Failed password for root from 203.0.113.8 port 4022 ssh2"),
    );
    wait_until("bans by both jails", 5, || {
        let out = moat_in(&lab.gateway, dir, &["bans", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let jails: Vec<String> = v["bans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["address"] == "203.0.113.8")
            .filter_map(|b| b["jail"].as_str().map(str::to_string))
            .collect();
        jails.contains(&"first".to_string()) && jails.contains(&"second".to_string())
    });
    let out = daemon.output();
    assert_eq!(
        out.matches("Ban 203.0.113.7").count(),
        1,
        "no line read twice across a reload:\n{out}"
    );
}

#[test]
fn boot_puts_the_bans_still_due_back() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-boot");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = jail_config(dir, "sshd", &log, "");
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::copy(&config, dir.join("etc/moat.toml")).unwrap();
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap();
    let gw: IpAddr = GATEWAY_LAN_V4.into();

    // boot creates the jail's sets; a ban by hand without a daemon.
    let out = moat_in(&lab.gateway, dir, &["boot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = moat_in(
        &lab.gateway,
        dir,
        &["ban", "sshd", "10.99.1.2", "--time", "1h"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = moat_in(
        &lab.gateway,
        dir,
        &["ban", "sshd", "198.51.100.4", "--time", "1"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!connects(&lab.client, gw, 22));

    // A reboot: the kernel forgets everything; boot puts back what is still due.
    lab.gateway
        .exec_ok(&["nft", "delete", "table", "inet", "moat_ban"])
        .unwrap();
    assert!(connects(&lab.client, gw, 22));
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let out = moat_in(&lab.gateway, dir, &["boot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("restored 1 bans still due"),
        "{}",
        text(&out.stdout)
    );
    assert!(!connects(&lab.client, gw, 22), "the ban is back after boot");
    assert!(banned(&lab.gateway, dir, CLIENT_V4.into()));
    assert!(
        !banned(&lab.gateway, dir, "198.51.100.4".parse().unwrap()),
        "an ended ban stays ended"
    );
}

#[test]
fn a_forged_user_name_does_not_ban_the_address_it_names() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-forged");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = jail_config(dir, "sshd", &log, "maxretry = 1\n");
    let daemon = Daemon::start(&lab.gateway, dir, &config, "forged");
    // An attacker at 198.51.100.9 logs in as a user named to frame 10.99.1.1.
    append(
        &log,
        &sshd_line(
            "Failed password for invalid user from 10.99.1.1 port 22 ssh2 from 198.51.100.9 port 50000 ssh2",
        ),
    );
    append(
        &log,
        &sshd_line("Invalid user x from 10.99.1.1 port 22 from 198.51.100.10 port 50001"),
    );
    wait_until("the real address's ban", 5, || {
        banned(&lab.gateway, dir, "198.51.100.9".parse().unwrap())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !banned(&lab.gateway, dir, "10.99.1.1".parse().unwrap()),
        "the address in the user name is never banned:\n{}",
        daemon.output()
    );
}

#[test]
fn moat_apply_makes_the_running_daemon_take_the_new_jails() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-apply");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    // No kept moat.toml yet: the daemon waits for one.
    let daemon = Daemon::start_with(&lab.gateway, dir, &[], "apply");
    daemon.wait_for("no jails to run");
    let config = dir.join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\ninput = \"accept\"\n\n[[jail]]\nname = \"sshd\"\nlogpath = \"{}\"\nport = 22\nmaxretry = 1\n",
            log.display()
        ),
    )
    .unwrap();
    let out = moat_in(&lab.gateway, dir, &["apply", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("moat daemon reads its configuration again"),
        "{}",
        text(&out.stdout)
    );
    daemon.wait_for("[sshd] watching");
    append(
        &log,
        &sshd_line("Failed password for root from 203.0.113.20 port 4022 ssh2"),
    );
    wait_until("a ban by the applied jail", 5, || {
        banned(&lab.gateway, dir, "203.0.113.20".parse().unwrap())
    });
}

/// Bans `2001:db8:ee::5` by hand in a jail that bans IPv6 by /64, then
/// lifts it through another address of that /64.
fn ban_and_lift_by_hand(ns: &moat_testnet::Netns, dir: &Path) {
    let out = moat_in(ns, dir, &["ban", "sshd", "2001:db8:ee::5", "--time", "1h"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("banned 2001:db8:ee::/64 in sshd"),
        "the command names what the kernel bans: {}",
        text(&out.stdout)
    );
    let out = moat_in(ns, dir, &["unban", "2001:db8:ee::77"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("lifted 1 bans"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_ban_by_hand_in_a_prefix_jail_is_the_prefix_in_the_kernel_and_the_store() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-prefix");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = kept_jail_config(dir, &log, "ipv6_prefix = 64\n");
    let mut daemon = Daemon::start(&lab.gateway, dir, &config, "prefix");
    ban_and_lift_by_hand(&lab.gateway, dir);
    daemon.signal("-TERM");
    // Without a daemon, on the kernel and the store directly.
    ban_and_lift_by_hand(&lab.gateway, dir);

    // A reboot: boot puts back what the store holds, which is nothing.
    lab.gateway
        .exec_ok(&["nft", "delete", "table", "inet", "moat_ban"])
        .unwrap();
    let out = moat_in(&lab.gateway, dir, &["boot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bans = bans_json(&lab.gateway, dir);
    assert_eq!(bans["bans"], serde_json::json!([]), "{bans}");
}

#[test]
fn failures_of_an_address_banned_already_ban_it_no_more() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-held");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = kept_jail_config(dir, &log, "maxretry = 2\nincrement = true\n");
    // A ban only the kernel holds, as after a `kill -9` between the
    // kernel's ban and the store's commit; its lines are read again.
    let out = moat_in(&lab.gateway, dir, &["boot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = moat_in(
        &lab.gateway,
        dir,
        &["ban", "sshd", "203.0.113.30", "--time", "1h"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::remove_file(dir.join("state/bans.redb")).unwrap();
    let daemon = Daemon::start(&lab.gateway, dir, &config, "held");
    daemon.wait_for("recorded 1 bans only the kernel held");
    for addr in ["203.0.113.30", "203.0.113.31"] {
        let line = sshd_line(&format!(
            "Failed password for root from {addr} port 4022 ssh2"
        ));
        append(&log, &line.repeat(2));
    }
    daemon.wait_for("Ban 203.0.113.31");
    let out = daemon.output();
    assert!(!out.contains("Ban 203.0.113.30"), "banned twice:\n{out}");
    let bans = bans_json(&lab.gateway, dir);
    let held = bans["bans"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["address"] == "203.0.113.30")
        .cloned()
        .unwrap_or_default();
    assert_eq!(held["times_banned"], 1, "{bans}");
}

#[test]
fn moat_bans_knows_a_daemon_without_jails_and_creates_no_store() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-nojails");
    let dir = &tmp.0;
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let out = moat_in(&lab.gateway, dir, &["bans"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !dir.join("state/bans.redb").exists(),
        "a read-only command created the store"
    );
    assert!(
        text(&out.stdout).contains("no moat daemon runs here"),
        "{}",
        text(&out.stdout)
    );
    let daemon = Daemon::start_with(&lab.gateway, dir, &[], "nojails");
    daemon.wait_for("no jails to run");
    let out = moat_in(&lab.gateway, dir, &["bans"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("the moat daemon here runs no jails"),
        "{listing}"
    );
    assert!(!listing.contains("no moat daemon runs here"), "{listing}");
}

#[test]
fn a_reload_keeps_the_failures_counted_by_unchanged_jails() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-keep");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = jail_config(dir, "sshd", &log, "maxretry = 2\n");
    let daemon = Daemon::start(&lab.gateway, dir, &config, "keep");
    let fail = |addr: &str| {
        append(
            &log,
            &sshd_line(&format!(
                "Failed password for root from {addr} port 4022 ssh2"
            )),
        )
    };

    fail("203.0.113.40");
    daemon.wait_for("Found 203.0.113.40 (1 of 2)");
    daemon.reload(1);
    fail("203.0.113.40");
    wait_until("a ban by the failure counted before the reload", 5, || {
        banned(&lab.gateway, dir, "203.0.113.40".parse().unwrap())
    });

    // A changed jail starts afresh.
    fail("203.0.113.41");
    daemon.wait_for("Found 203.0.113.41 (1 of 2)");
    jail_config(dir, "sshd", &log, "maxretry = 3\n");
    daemon.reload(2);
    fail("203.0.113.41");
    daemon.wait_for("Found 203.0.113.41 (1 of 3)");
}

#[test]
fn a_jail_a_reload_removes_lifts_its_bans_which_come_back_with_it() {
    let Some(lab) = gateway_lab() else { return };
    let tmp = TempDir::new("bans-removed");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let ssh = format!(
        "[[jail]]\nname = \"ssh\"\nfilter = \"sshd\"\nlogpath = \"{}\"\nport = 22\n",
        log.display()
    );
    let both = format!(
        "{ssh}\n[[jail]]\nname = \"web\"\nfilter = \"sshd\"\nlogpath = \"{}\"\nport = 80\n",
        log.display()
    );
    let config = dir.join("jails.toml");
    std::fs::write(&config, &both).unwrap();
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 80).unwrap();
    let daemon = Daemon::start(&lab.gateway, dir, &config, "removed");
    let gw: IpAddr = GATEWAY_LAN_V4.into();
    let reload_with = |text: &str, times: usize| {
        std::fs::write(&config, text).unwrap();
        daemon.reload(times);
    };
    let web_set = || {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", lab.gateway.name()])
            .args(["nft", "list", "table", "inet", "moat_ban"])
            .output()
            .unwrap();
        text(&out.stdout).contains("web")
    };

    let client = CLIENT_V4.to_string();
    let out = moat_in(&lab.gateway, dir, &["ban", "web", &client, "--time", "1h"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!connects(&lab.client, gw, 80), "the ban closes port 80");

    reload_with(&ssh, 1);
    assert!(!web_set(), "the removed jail's sets and rules are gone");
    assert!(
        connects(&lab.client, gw, 80),
        "a jail the reload removed bans no more"
    );
    daemon.wait_for("took out web");

    reload_with(&both, 2);
    assert!(
        !connects(&lab.client, gw, 80),
        "the jail's ban still due comes back with it"
    );

    // A configuration of no jails at all takes every jail out.
    reload_with("", 3);
    assert!(connects(&lab.client, gw, 80));
    daemon.wait_for("took out ssh, web");
}
