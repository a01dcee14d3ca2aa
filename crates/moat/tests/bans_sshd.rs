//! Bans from a real OpenSSH server's log: failed password logins from a
//! client namespace, `moat daemon` on the gateway, and real TCP through it.

mod common;

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connects, gateway_lab, text};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_WAN_V4, SERVER_V4};
use moat_testnet::{ssh_password_login, Netns, SshOutcome, Sshd, TcpServer};

/// A `moat daemon` in a namespace; killed on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(ns: &Netns, dir: &Path, config: &Path, name: &str) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                common::moat_bin(),
                "daemon",
                "--config",
            ])
            .arg(config)
            .env("MOAT_STATE", dir.join("state"))
            .env("MOAT_ETC", dir.join("etc"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("daemon log"))
            .spawn()
            .expect("start moat daemon");
        let daemon = Daemon { child, log };
        daemon.wait_for("[daemon] ready");
        daemon
    }

    fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.output().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon never logged {needle:?}:\n{}", self.output());
    }

    fn signal(&mut self, sig: &str) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn banned(ns: &Netns, dir: &Path, addr: IpAddr) -> bool {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            common::moat_bin(),
            "bans",
            "--json",
        ])
        .env("MOAT_STATE", dir.join("state"))
        .output()
        .expect("moat bans");
    assert!(out.status.success(), "moat bans: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bans json");
    v["bans"]
        .as_array()
        .expect("bans")
        .iter()
        .any(|b| b["address"] == addr.to_string())
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not happen within {secs} s");
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
    let Some(lab) = gateway_lab() else { return };
    let dir = std::env::temp_dir().join(format!("moat-bans-sshd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.gateway.name(),
            common::moat_bin(),
            "unban",
            "10.99.1.2",
        ])
        .env("MOAT_STATE", dir.join("state"))
        .output()
        .unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bans_by_hand_go_through_the_daemon_and_guard_the_ssh_session() {
    let Some(lab) = gateway_lab() else { return };
    let dir = std::env::temp_dir().join(format!("moat-bans-hand-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let config = dir.join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "[[jail]]\nname = \"sshd\"\nlogpath = \"{}\"\nport = 22\nbantime = \"1h\"\n",
            log.display()
        ),
    )
    .unwrap();
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap();
    let daemon = Daemon::start(&lab.gateway, &dir, &config, "hand");
    let gw: IpAddr = GATEWAY_LAN_V4.into();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", lab.gateway.name(), common::moat_bin()])
            .args(args)
            .env("MOAT_STATE", dir.join("state"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let refused = run(
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

    let out = run(&["ban", "sshd", "10.99.1.2", "--time", "10m"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !connects(&lab.client, gw, 22),
        "a ban by hand closes the port at once"
    );
    daemon.wait_for("Ban 10.99.1.2 by hand");
    let listing = text(&run(&["bans"], &[]).stdout);
    assert!(listing.contains("10.99.1.2"), "{listing}");
    assert!(listing.contains("jail sshd"), "{listing}");

    let out = run(&["unban", "--all"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(connects(&lab.client, gw, 22));
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
