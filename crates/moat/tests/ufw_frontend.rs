//! Debian's ufw, with moat's iptables in place of iptables-nft, enables,
//! adds, limits, inserts, deletes, reloads and changes defaults with the
//! same output and the same iptables-save and ip6tables-save as ufw on
//! iptables-nft beside it, and its rules filter real connections.
//!
//! ufw calls /usr/sbin/iptables by its full path, so each run happens in a
//! private mount namespace where moat-iptables is bind-mounted over
//! /usr/sbin/xtables-nft-multi (every iptables name then runs moat, by its
//! program name) and what ufw writes (/etc/ufw, /etc/default, /run) are
//! copies: nothing of it reaches the host.

mod common;
mod containers_common;

use std::process::Command;

use common::{connects, moat_iptables_bin, text};
use containers_common::{oracle_namespace, XTABLES_NFT};
use moat_testnet::topology::{GATEWAY_LAN_IF, GATEWAY_LAN_V4};
use moat_testnet::{require_programs_or_skip, require_root_or_skip, Netns, TcpServer, Topology};

/// Debian's ufw.
const UFW: &str = "/usr/sbin/ufw";

/// Runs ufw's commands (`$@`) in a private mount namespace: /etc/ufw and
/// /etc/default (ufw writes its defaults there) copies, ufw's sysctl.conf
/// emptied (the test leaves the namespace's settings alone), /run fresh,
/// and `$IPTABLES`, when set, over xtables-nft-multi. Each command's
/// output follows a `> command` line, and its status.
const SCRIPT: &str = r#"
set -e
mount -t tmpfs moat-ufw /run
for dir in /etc/ufw /etc/default; do
  copy=/run/copy$dir
  mkdir -p "$copy" && cp -a "$dir/." "$copy/" && mount --bind "$copy" "$dir"
done
: > /etc/ufw/sysctl.conf
[ -z "$IPTABLES" ] || mount --bind "$IPTABLES" /usr/sbin/xtables-nft-multi
set +e
for command in "$@"; do
  echo "> ufw $command"
  ufw $command 2>&1
  echo "status $?"
done
"#;

/// What a user does with ufw, in order.
const COMMANDS: &[&str] = &[
    "--force enable",
    "allow 22/tcp",
    "deny from 172.16.0.0/12",
    "limit ssh",
    "allow proto udp from 1.2.3.4 to any port 53",
    "allow in on lan0 to any port 8080 proto tcp",
    "route allow in on lan0 out on wan0",
    "deny out 25",
    "allow from fd00::/64 to any port 443 proto tcp",
    "reload",
    "insert 1 reject from 192.0.2.1",
    "logging high",
    "default deny outgoing",
    "default allow outgoing",
    "delete deny out 25",
    "status verbose",
];

/// Runs [`COMMANDS`] with ufw in `ns`, its iptables being `iptables`
/// (None: Debian's own); what ufw printed.
fn run_ufw(ns: &Netns, iptables: Option<&str>) -> String {
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--net={}", ns.path().display()))
        .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
        .args(["sh", "-c", SCRIPT, "sh"])
        .args(COMMANDS)
        .env("IPTABLES", iptables.unwrap_or(""));
    let out = command.output().expect("run ufw");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// A namespace's iptables-save and ip6tables-save, moat's or Debian's,
/// without comments and counters.
fn saves(ns: &Netns, moat: bool) -> String {
    let mut all = String::new();
    for family in ["iptables", "ip6tables"] {
        let save = format!("{family}-save");
        let nft_save = format!("{family}-nft-save");
        let argv = match moat {
            true => vec![moat_iptables_bin(), &save],
            false => vec![&nft_save[..]],
        };
        let out = ns.exec(&argv).unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        for line in text(&out.stdout).lines().filter(|l| !l.starts_with('#')) {
            let line = match line.split_once(" [") {
                Some((chain, _)) if line.starts_with(':') => chain,
                _ => line,
            };
            all.push_str(line);
            all.push('\n');
        }
    }
    all
}

#[test]
fn ufw_runs_on_moat_as_on_iptables_nft() {
    if !require_programs_or_skip(&[UFW, XTABLES_NFT], "ufw iptables") || !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle = oracle_namespace("ufw-nft");

    let said = run_ufw(&lab.gateway, Some(moat_iptables_bin()));
    assert!(said.contains("Firewall is active"), "{said}");
    assert_eq!(said, run_ufw(&oracle, None));
    let saved = saves(&lab.gateway, true);
    assert!(
        saved.contains("-A ufw-user-input -i lan0 -p tcp -m tcp --dport 8080 -j ACCEPT"),
        "{saved}"
    );
    assert_eq!(saved, saves(&oracle, false));

    // ufw's rules, loaded by moat, filter: incoming is denied but for what
    // was allowed.
    let _open = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8080).unwrap();
    let _closed = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8081).unwrap();
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8080),
        "allowed in on {GATEWAY_LAN_IF}"
    );
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 8081), "denied");
}
