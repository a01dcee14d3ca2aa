//! Debian's firewalld with its iptables back-end, moat's iptables in place
//! of iptables-nft: firewall-cmd answers as it does on iptables-nft for
//! services, ports, masquerading, port forwards, rich rules, ICMP blocks
//! (firewalld reads the ICMP type names from `iptables -p icmp --help`),
//! sources, a permanent copy and a reload; the iptables-save and
//! ip6tables-save outputs are the same, and its rules let an opened port
//! through and keep a closed one out.

mod common;
mod containers_common;
mod daemon_common;

use std::path::Path;

use common::{connects, moat_iptables_bin};
use containers_common::{oracle_namespace, save, tool_dirs};
use daemon_common::TempDir;
use moat_testnet::topology::GATEWAY_LAN_V4;
use moat_testnet::{
    require_programs_or_skip, require_root_or_skip, Firewalld, TcpServer, Topology, FIREWALLD,
};

/// What a user does with firewall-cmd, in order.
const COMMANDS: &[&[&str]] = &[
    &["--add-service=http"],
    &["--add-port=8080/tcp"],
    &["--add-masquerade"],
    &["--add-forward-port=port=2222:proto=tcp:toport=22:toaddr=10.0.0.5"],
    &["--add-rich-rule=rule family=ipv4 source address=192.0.2.0/24 reject"],
    &["--add-icmp-block=echo-request"],
    &["--zone=trusted", "--add-source=198.51.100.0/24"],
    // One rich rule per family: firewalld orders a family's rich rules as
    // a Python set iterates.
    &["--add-rich-rule=rule family=ipv6 source address=fd00::/64 service name=ssh log prefix=ssh6 level=info limit value=3/m accept"],
    &["--runtime-to-permanent"],
    &["--reload"],
    &["--remove-service=http"],
    &["--list-all"],
    &["--get-icmptypes"],
];

/// Runs [`COMMANDS`] against `firewalld`: each command, its status and
/// its output, whose lines are sorted (firewalld lists the rich rules of a
/// zone in the order of a Python set, which differs from run to run).
fn run_commands(firewalld: &Firewalld) -> String {
    let mut said = String::new();
    for args in COMMANDS {
        let (ok, text) = firewalld.firewall_cmd(args).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        said.push_str(&format!(
            "> {}\n{ok}\n{}\n",
            args.join(" "),
            lines.join("\n")
        ));
    }
    said
}

#[test]
fn firewalld_runs_on_moat_as_on_iptables_nft() {
    let programs = [FIREWALLD, "/usr/bin/firewall-cmd", "/usr/bin/dbus-daemon"];
    if !require_programs_or_skip(&programs, "firewalld dbus") || !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle_ns = oracle_namespace("firewalld-nft");
    let tmp = TempDir::new("firewalld-iptables");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let moat = Path::new(moat_iptables_bin());
    let daemon = Firewalld::start(&lab.gateway, Some(moat), &tmp.0.join("moat")).unwrap();
    let oracle = Firewalld::start(&oracle_ns, None, &tmp.0.join("nft")).unwrap();

    let said = run_commands(&daemon);
    assert!(said.contains("echo-request"), "{said}");
    assert_eq!(
        said,
        run_commands(&oracle),
        "firewalld's log:\n{}",
        daemon.log()
    );
    let saved = save(&lab.gateway, &moat_tools);
    assert!(saved.contains("--dport 8080"), "{saved}");
    assert_eq!(saved, save(&oracle_ns, &nft_tools));

    // The default zone (public) takes the gateway's interfaces: 8080 was
    // opened, 8081 was not.
    let _open = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8080).unwrap();
    let _closed = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8081).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 8080), "opened");
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 8081), "closed");
}
