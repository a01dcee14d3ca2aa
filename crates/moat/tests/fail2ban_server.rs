//! Debian's fail2ban-server, its iptables actions calling moat's iptables
//! (first on its PATH): failed logins in a log ban the client through
//! iptables-multiport's chain and iptables-ipset-proto6-allports' set, so
//! its real connections are refused; stopping the server takes every
//! rule, chain and set away. The same server on iptables-nft beside it
//! leaves the same iptables-save at each step.

mod common;
mod containers_common;
mod daemon_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connects, moat_iptables_bin, text};
use containers_common::{oracle_namespace, save, tool_dirs};
use daemon_common::{append, sshd_line, wait_until, TempDir};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4};
use moat_testnet::{require_programs_or_skip, require_root_or_skip, Netns, TcpServer, Topology};

/// Debian's fail2ban.
const FAIL2BAN_SERVER: &str = "/usr/bin/fail2ban-server";

/// Two jails on one log: one bans from ports 8080 and 2222 through its own
/// chain, one from every port through an ipset.
const JAILS: &str = "[DEFAULT]
backend = polling
maxretry = 3
findtime = 600
bantime = 3600

[sshd]
enabled = true
banaction = iptables-multiport
port = 8080,2222
logpath = LOG

[sshd-everywhere]
enabled = true
filter = sshd
banaction = iptables-ipset-proto6-allports
logpath = LOG
";

/// A fail2ban-server in a namespace with its configuration, socket, log and
/// database in a directory of its own; stopped on drop.
struct Fail2ban {
    child: Child,
    conf: PathBuf,
    ns: String,
    path: String,
}

impl Fail2ban {
    /// A copy of /etc/fail2ban in `dir` (Debian's jail.d left out), the
    /// jails of [`JAILS`] reading `log`, and the server started with
    /// `tools` first on its PATH; waits until it answers.
    fn start(ns: &Netns, tools: &Path, dir: &Path, log: &Path) -> Fail2ban {
        let conf = dir.join("conf");
        let copied = Command::new("cp")
            .args(["-a", "/etc/fail2ban"])
            .arg(&conf)
            .status()
            .unwrap();
        assert!(copied.success());
        for entry in std::fs::read_dir(conf.join("jail.d")).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        std::fs::write(
            conf.join("jail.local"),
            JAILS.replace("LOG", &log.display().to_string()),
        )
        .unwrap();
        let run = |name: &str| dir.join(name).display().to_string();
        std::fs::write(
            conf.join("fail2ban.local"),
            format!(
                "[Definition]\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = :memory:\n",
                run("fail2ban.log"),
                run("fail2ban.sock"),
                run("fail2ban.pid")
            ),
        )
        .unwrap();
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display());
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "env", &format!("PATH={path}")])
            .args([FAIL2BAN_SERVER, "-c"])
            .arg(&conf)
            .args(["-f", "-x"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Fail2ban {
            child,
            conf,
            ns: ns.name().to_string(),
            path,
        };
        wait_until("fail2ban-server answering", 20, || server.client("ping"));
        server
    }

    /// Runs `fail2ban-client COMMAND` against this server; whether it
    /// succeeded.
    fn client(&self, command: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "env",
                &format!("PATH={}", self.path),
            ])
            .arg("fail2ban-client")
            .arg("-c")
            .arg(&self.conf)
            .arg(command)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server as its service would (its actions' stop commands
    /// run) and waits for it to exit.
    fn stop(&mut self) {
        assert!(self.client("stop"), "fail2ban-client stop");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("fail2ban-server did not stop");
    }
}

impl Drop for Fail2ban {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text`'s lines, sorted.
fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

/// The sets in `ns`, by name.
fn ipsets(ns: &Netns) -> String {
    let out = ns.exec(&["ipset", "list", "-n"]).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn fail2ban_bans_through_moat_as_through_iptables_nft() {
    let programs = [
        FAIL2BAN_SERVER,
        "/usr/bin/fail2ban-client",
        "/usr/sbin/ipset",
    ];
    if !require_programs_or_skip(&programs, "fail2ban ipset") || !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle_ns = oracle_namespace("fail2ban-nft");
    let tmp = TempDir::new("fail2ban-server");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let moat_dir = tmp.0.join("moat");
    let nft_dir = tmp.0.join("nft");
    for dir in [&moat_dir, &nft_dir] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let _web = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8080).unwrap();
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8080),
        "before any ban"
    );

    let mut server = Fail2ban::start(&lab.gateway, &moat_tools, &moat_dir, &log);
    let mut oracle = Fail2ban::start(&oracle_ns, &nft_tools, &nft_dir, &log);
    let failure = sshd_line(&format!(
        "Failed password for root from {CLIENT_V4} port 4242 ssh2"
    ));
    append(&log, &failure.repeat(4));
    let banned = format!("-A f2b-sshd -s {CLIENT_V4}/32 -j REJECT");
    for ns in [&lab.gateway, &oracle_ns] {
        let tools = if ns.name() == lab.gateway.name() {
            &moat_tools
        } else {
            &nft_tools
        };
        wait_until("both jails' bans", 20, || {
            let saved = save(ns, tools);
            saved.contains(&banned) && saved.contains("--match-set f2b-sshd-everywhere src")
        });
    }
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 8080), "banned");
    // The two jails start in threads of their own, each putting its rule
    // first in INPUT: their order is the race's, so the lines are compared
    // sorted.
    assert_eq!(
        sorted_lines(&save(&lab.gateway, &moat_tools)),
        sorted_lines(&save(&oracle_ns, &nft_tools))
    );
    assert_eq!(ipsets(&lab.gateway), ipsets(&oracle_ns));

    server.stop();
    oracle.stop();
    let stopped = save(&lab.gateway, &moat_tools);
    assert!(!stopped.contains("f2b-"), "{stopped}");
    assert_eq!(stopped, save(&oracle_ns, &nft_tools));
    assert_eq!(ipsets(&lab.gateway), "", "the jail's set is destroyed");
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8080),
        "after the stop"
    );
}
