//! Port maps with real traffic: a run of port forwards becomes one rule
//! that looks the port up in two maps (`moat_nft::portmap`). Connections
//! land where each forward says, `-S` and `-vnL` show the user's rules with
//! their own counters, and edits change only the elements they touch.

mod common;

use common::{gateway_lab, moat_ok, packets_of, restore_ok, words};
use moat_testnet::topology::{
    GATEWAY_LAN_V4, GATEWAY_LAN_V6, SERVER_EXTRA_V4, SERVER_V4, SERVER_V6,
};
use moat_testnet::{tcp_connect, Netns, TcpOutcome, TcpServer};

const FORWARDS: u16 = 40;

/// Forward `i`: public port 20000+i to 10.99.2.2 or .3, ports 8000..8003.
fn forward_line(i: u16) -> String {
    let host = if i.is_multiple_of(2) {
        SERVER_V4
    } else {
        SERVER_EXTRA_V4[0]
    };
    format!(
        "-A PREROUTING -i lan0 -p tcp -m tcp --dport {} -j DNAT --to-destination {host}:{}",
        20000 + i,
        8000 + i % 4
    )
}

/// An iptables-restore input holding `lines` as nat PREROUTING.
fn nat_table(lines: &[String]) -> String {
    format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n{}\nCOMMIT\n",
        lines.join("\n")
    )
}

fn banner(client: &Netns, port: u16) -> Option<String> {
    match tcp_connect(client, GATEWAY_LAN_V4, port).unwrap() {
        TcpOutcome::Connected { banner } => Some(banner),
        _ => None,
    }
}

/// The rules of nat PREROUTING as `PROGRAM -t nat -S` prints them, without the policy line.
fn nat_rules(gw: &Netns, program: &str) -> Vec<String> {
    moat_ok(gw, &[program, "-t", "nat", "-S", "PREROUTING"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_run_of_forwards_is_one_lookup_with_the_users_rules_and_counters() {
    let Some(lab) = gateway_lab() else { return };
    let _servers: Vec<TcpServer> = [SERVER_V4, SERVER_EXTRA_V4[0]]
        .into_iter()
        .flat_map(|host| (8000..8004).map(move |port| (host, port)))
        .map(|(host, port)| TcpServer::start(&lab.server, host, port).unwrap())
        .collect();
    let gw = &lab.gateway;
    let mut lines: Vec<String> = (0..FORWARDS).map(forward_line).collect();
    lines.push(
        "-A PREROUTING -i lan0 -p udp -m udp --dport 53 -j DNAT --to-destination 10.99.2.2".into(),
    );
    restore_ok(gw, "iptables-restore", &nat_table(&lines));

    // One rule and two maps in the kernel; the user's rules in -S.
    let ruleset = gw
        .exec_ok(&["nft", "list", "chain", "ip", "moat_nat", "PREROUTING"])
        .unwrap();
    assert_eq!(ruleset.matches("moat: port map").count(), 1, "{ruleset}");
    assert_eq!(
        ruleset.matches("dnat to").count(),
        2,
        "one port map rule and the udp rule:\n{ruleset}"
    );
    assert_eq!(nat_rules(gw, "iptables"), lines);

    // Connections land where each forward says.
    for i in [0, 1, 7, FORWARDS - 1] {
        let host = if i.is_multiple_of(2) {
            SERVER_V4
        } else {
            SERVER_EXTRA_V4[0]
        };
        assert_eq!(
            banner(&lab.client, 20000 + i),
            Some(format!("{host}:{}", 8000 + i % 4))
        );
    }
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 20000 + FORWARDS).unwrap(),
        TcpOutcome::Refused
    );
    let listing = moat_ok(gw, &["iptables", "-t", "nat", "-vnL", "PREROUTING"]);
    assert_eq!(
        packets_of(&listing, "PREROUTING", "dpt:20007 "),
        1,
        "{listing}"
    );
    assert_eq!(
        packets_of(&listing, "PREROUTING", "dpt:20003 "),
        0,
        "{listing}"
    );

    // Delete, insert and replace: the rest keep their elements and counters.
    moat_ok(gw, &["iptables", "-t", "nat", "-D", "PREROUTING", "3"]);
    moat_ok(
        gw,
        &words("iptables", "-t nat -I PREROUTING 10 -i lan0 -p tcp --dport 20100 -j DNAT --to-destination 10.99.2.3:8001"),
    );
    moat_ok(
        gw,
        &words("iptables", "-t nat -R PREROUTING 1 -i lan0 -p tcp --dport 20000 -j DNAT --to-destination 10.99.2.3:8002"),
    );
    let mut expected = lines.clone();
    expected.remove(2);
    expected.insert(
        9,
        "-A PREROUTING -i lan0 -p tcp -m tcp --dport 20100 -j DNAT --to-destination 10.99.2.3:8001"
            .into(),
    );
    expected[0] =
        "-A PREROUTING -i lan0 -p tcp -m tcp --dport 20000 -j DNAT --to-destination 10.99.2.3:8002"
            .into();
    assert_eq!(nat_rules(gw, "iptables"), expected);
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 20002).unwrap(),
        TcpOutcome::Refused,
        "deleted"
    );
    assert_eq!(
        banner(&lab.client, 20100).as_deref(),
        Some("10.99.2.3:8001")
    );
    assert_eq!(
        banner(&lab.client, 20000).as_deref(),
        Some("10.99.2.3:8002")
    );
    let listing = moat_ok(gw, &["iptables", "-t", "nat", "-vnL", "PREROUTING"]);
    assert_eq!(
        packets_of(&listing, "PREROUTING", "dpt:20007 "),
        1,
        "kept its counter:\n{listing}"
    );
    assert_eq!(
        packets_of(&listing, "PREROUTING", "dpt:20100 "),
        1,
        "{listing}"
    );
    let ruleset = gw
        .exec_ok(&["nft", "list", "chain", "ip", "moat_nat", "PREROUTING"])
        .unwrap();
    assert_eq!(
        ruleset.matches("moat: port map").count(),
        1,
        "still one map:\n{ruleset}"
    );

    // Zeroing resets the rules' counters; save and restore give the same rules back.
    moat_ok(gw, &["iptables", "-t", "nat", "-Z", "PREROUTING"]);
    let listing = moat_ok(gw, &["iptables", "-t", "nat", "-vnL", "PREROUTING"]);
    assert_eq!(
        packets_of(&listing, "PREROUTING", "dpt:20007 "),
        0,
        "{listing}"
    );
    let saved = moat_ok(gw, &["iptables-save", "-t", "nat"]);
    restore_ok(gw, "iptables-restore", &saved);
    assert_eq!(nat_rules(gw, "iptables"), expected);
    assert_eq!(
        banner(&lab.client, 20039).as_deref(),
        Some("10.99.2.3:8003")
    );
}

#[test]
fn ipv6_forwards_share_a_map_too() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V6, 9000).unwrap();
    let lines: Vec<String> = (0..10)
        .map(|i| format!("-A PREROUTING -p tcp -m tcp --dport {} -j DNAT --to-destination [{SERVER_V6}]:9000", 30000 + i))
        .collect();
    restore_ok(&lab.gateway, "ip6tables-restore", &nat_table(&lines));
    let ruleset = lab
        .gateway
        .exec_ok(&["nft", "list", "table", "ip6", "moat_nat"])
        .unwrap();
    assert!(
        ruleset.contains("type inet_service : ipv6_addr"),
        "{ruleset}"
    );
    assert_eq!(nat_rules(&lab.gateway, "ip6tables"), lines);
    let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V6, 30007).unwrap();
    assert_eq!(
        outcome,
        TcpOutcome::Connected {
            banner: format!("[{SERVER_V6}]:9000")
        }
    );
}
