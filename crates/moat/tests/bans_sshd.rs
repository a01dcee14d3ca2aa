//! Bans from a real OpenSSH server's log: failed password logins from a
//! client namespace, `moat daemon` on the gateway, and real TCP through it.

mod common;
mod daemon_common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{connects, gateway_lab, text};
use daemon_common::{banned, moat_in, wait_until, Daemon, TempDir};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_WAN_V4, SERVER_V4};
use moat_testnet::{ssh_password_login, Netns, SshOutcome, Sshd, TcpServer};

/// The lab, when the namespaces and the SSH tools are there; without the
/// tools the test is skipped, except under `CI=true`, where it fails.
fn ssh_lab() -> Option<moat_testnet::Topology> {
    let programs = [moat_testnet::SSHD, "/usr/bin/sshpass", "/usr/bin/ssh"];
    if !moat_testnet::require_programs_or_skip(&programs, "openssh-server sshpass") {
        return None;
    }
    gateway_lab()
}

fn fail_login(from: &Netns, to: IpAddr) {
    let outcome = ssh_password_login(from, to, "root", "wrong-password").expect("ssh");
    assert_eq!(
        outcome,
        SshOutcome::Denied,
        "a login attempt must reach sshd and fail"
    );
}

#[test]
fn failed_ssh_logins_ban_the_client_until_bantime_ends() {
    let Some(lab) = ssh_lab() else { return };
    let tmp = TempDir::new("bans-sshd");
    let dir = tmp.0.clone();
    let auth_log = dir.join("auth.log");
    std::fs::write(&auth_log, "").unwrap();
    let _sshd = Sshd::start(
        &lab.gateway,
        &[GATEWAY_LAN_V4.into(), GATEWAY_WAN_V4.into()],
        &dir.join("sshd"),
        &auth_log,
    )
    .expect("start sshd");
    let _web = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 80).unwrap();
    let config = dir.join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "[[jail]]\nname = \"sshd\"\nlogpath = \"{}\"\nmaxretry = 3\nfindtime = 60\nbantime = 8\n\
             port = 22\nproto = \"tcp\"\nignoreip = [\"{SERVER_V4}\"]\n",
            auth_log.display()
        ),
    )
    .unwrap();
    let mut daemon = Daemon::start(&lab.gateway, &dir, &config, "first");
    let client: IpAddr = CLIENT_V4.into();
    let gw: IpAddr = GATEWAY_LAN_V4.into();

    assert!(
        connects(&lab.client, gw, 22),
        "ssh is open before any failure"
    );
    for _ in 0..3 {
        fail_login(&lab.client, gw);
    }
    wait_until("the ban of the client", 5, || {
        banned(&lab.gateway, &dir, client)
    });
    assert!(
        !connects(&lab.client, gw, 22),
        "the banned client's ssh connection fails"
    );
    assert!(
        connects(&lab.client, gw, 80),
        "the banned client still reaches port 80"
    );

    // The ignored address fails more often than maxretry and is never banned.
    for _ in 0..5 {
        fail_login(&lab.server, GATEWAY_WAN_V4.into());
    }
    daemon.wait_for(&format!("Ignore {SERVER_V4}"));
    assert!(!banned(&lab.gateway, &dir, SERVER_V4.into()));
    assert!(
        connects(&lab.server, GATEWAY_WAN_V4, 22),
        "another client still reaches ssh"
    );
    assert!(
        daemon.output().contains("NOTICE [sshd] Ban 10.99.1.2"),
        "{}",
        daemon.output()
    );

    // The ban holds through kill -9 of the daemon and through an orderly stop.
    daemon.signal("-KILL");
    assert!(
        !connects(&lab.client, gw, 22),
        "the ban holds after kill -9"
    );
    let mut second = Daemon::start(&lab.gateway, &dir, &config, "second");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !connects(&lab.client, gw, 22),
        "the ban holds after a restart"
    );
    let restarted = second.output();
    assert!(
        !restarted.contains("Found 10.99.1.2") && !restarted.contains("Ban 10.99.1.2"),
        "a restart must not replay old lines:\n{restarted}"
    );
    second.signal("-TERM");
    assert!(
        !connects(&lab.client, gw, 22),
        "the ban holds after an orderly stop"
    );

    // moat unban lifts it at once, without a daemon.
    let out = moat_in(&lab.gateway, &dir, &["unban", "10.99.1.2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(connects(&lab.client, gw, 22), "unban lifts the ban at once");

    // Banned again, the ban ends by itself after bantime (8 s).
    let third = Daemon::start(&lab.gateway, &dir, &config, "third");
    for _ in 0..3 {
        fail_login(&lab.client, gw);
    }
    wait_until("the second ban", 5, || banned(&lab.gateway, &dir, client));
    let banned_at = Instant::now();
    assert!(!connects(&lab.client, gw, 22));
    wait_until("the end of the ban", 15, || connects(&lab.client, gw, 22));
    assert!(
        banned_at.elapsed() >= Duration::from_secs(4),
        "the ban lasted about bantime"
    );
    drop(third);
}
