//! The filter table end to end with real packets: a client, a gateway running
//! moat and a server in network namespaces.

mod common;

use common::{connects, gateway_lab, iptables_all, moat_ok, packets_of, servers};
use moat_testnet::topology::{
    CLIENT_V4, GATEWAY_LAN_IF, GATEWAY_LAN_V4, GATEWAY_LAN_V6, SERVER_V4,
};
use moat_testnet::{
    ping, ping_burst, tcp_connect, tcp_connect_many, udp_exchange, TcpOutcome, TcpServer, UdpEcho,
    UdpOutcome, Unreachable,
};
use std::time::Duration;

/// Seed 003: INPUT policy DROP, other interfaces and listed ports open,
/// ESTABLISHED,RELATED accepted, ICMP allowed, the rest rejected with
/// icmp-host-prohibited (as in seed 004's file).
#[test]
fn seed_003_stateful_server_firewall() {
    let Some(lab) = gateway_lab() else { return };
    let _ssh_web_other = servers(&lab.gateway, GATEWAY_LAN_V4, &[22, 80, 8080]);
    let ext = GATEWAY_LAN_IF;
    let rules = [
        format!("-A INPUT -i ! {ext} -j ACCEPT"),
        "-A INPUT -p tcp --dport 22 -j ACCEPT".to_string(),
        "-A INPUT -p tcp --dport 80 -j ACCEPT".to_string(),
        format!("-A INPUT -i {ext} -m state --state ESTABLISHED,RELATED -j ACCEPT"),
        "-A INPUT -p icmp -j ACCEPT".to_string(),
        "-A INPUT -j REJECT --reject-with icmp-host-prohibited".to_string(),
        "-P INPUT DROP".to_string(),
    ];
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    iptables_all(&lab.gateway, "iptables", &rules);

    assert!(connects(&lab.client, GATEWAY_LAN_V4, 22));
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 80));
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 8080).unwrap(),
        TcpOutcome::Unreachable(Unreachable::Host),
        "port 8080 is not open: rejected with icmp-host-prohibited"
    );
    assert!(ping(&lab.client, GATEWAY_LAN_V4).unwrap());

    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(
        listing.starts_with("Chain INPUT (policy DROP "),
        "{listing}"
    );
    assert!(
        packets_of(&listing, "INPUT", "tcp dpt:22") >= 1,
        "{listing}"
    );
    assert!(
        packets_of(&listing, "INPUT", "reject-with icmp-host-prohibited") >= 1,
        "{listing}"
    );
    let before = packets_of(&listing, "INPUT", "tcp dpt:80");
    for _ in 0..3 {
        assert!(connects(&lab.client, GATEWAY_LAN_V4, 80));
    }
    let after = packets_of(
        &moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]),
        "INPUT",
        "tcp dpt:80",
    );
    assert!(
        after >= before + 3,
        "counter grows with traffic: {before} -> {after}"
    );
}

/// Seed 000: FORWARD policy DROP with a stateful accept; only the LAN may open connections.
#[test]
fn forward_policy_drop_with_stateful_accept() {
    let Some(lab) = gateway_lab() else { return };
    let _web = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    let _client_ssh = TcpServer::start(&lab.client, CLIENT_V4, 22).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-P FORWARD DROP",
            "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A FORWARD -i lan0 -o wan0 -s 10.99.1.0/24 -m conntrack --ctstate NEW -j ACCEPT",
        ],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    assert_eq!(
        tcp_connect(&lab.server, CLIENT_V4, 22).unwrap(),
        TcpOutcome::TimedOut
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "FORWARD"]);
    assert!(
        packets_of(&listing, "FORWARD", "ctstate NEW") >= 1,
        "{listing}"
    );
    assert!(
        listing.starts_with("Chain FORWARD (policy DROP "),
        "{listing}"
    );
    let policy_packets: u64 = listing
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        policy_packets >= 1,
        "the policy counter counts the dropped SYN: {listing}"
    );
}

/// REJECT as the client sees it: a TCP reset, ICMP port unreachable, ICMP host prohibited, and IPv6.
#[test]
fn reject_variants_as_the_client_sees_them() {
    let Some(lab) = gateway_lab() else { return };
    let rejecting = servers(&lab.gateway, GATEWAY_LAN_V4, &[1001, 1002, 1003]);
    let _udp = UdpEcho::start(&lab.gateway, GATEWAY_LAN_V4, 1004).unwrap();
    let _v6 = TcpServer::start(&lab.gateway, GATEWAY_LAN_V6, 1005).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p tcp --dport 1001 -j REJECT --reject-with tcp-reset",
            "-A INPUT -p tcp --dport 1002 -j REJECT",
            "-A INPUT -p tcp --dport 1003 -j REJECT --reject-with icmp-host-prohibited",
            "-A INPUT -p udp --dport 1004 -j REJECT",
        ],
    );
    iptables_all(
        &lab.gateway,
        "ip6tables",
        &["-A INPUT -p tcp --dport 1005 -j REJECT --reject-with icmp6-adm-prohibited"],
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 1001).unwrap(),
        TcpOutcome::Refused
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 1002).unwrap(),
        TcpOutcome::Refused
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 1003).unwrap(),
        TcpOutcome::Unreachable(Unreachable::Host)
    );
    assert_eq!(
        udp_exchange(&lab.client, GATEWAY_LAN_V4, 1004).unwrap(),
        UdpOutcome::PortUnreachable
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V6, 1005).unwrap(),
        TcpOutcome::Unreachable(Unreachable::Prohibited)
    );
    assert!(
        rejecting.iter().all(|s| s.accepted() == 0),
        "no rejected connection reached a server"
    );
    let v6 = moat_ok(&lab.gateway, &["ip6tables", "-S", "INPUT"]);
    assert!(
        v6.contains(
            "-A INPUT -p tcp -m tcp --dport 1005 -j REJECT --reject-with icmp6-adm-prohibited"
        ),
        "{v6}"
    );
}

/// ip6tables' REJECT --reject-with icmp6-policy-fail and icmp6-reject-route:
/// the client gets destination-unreachable codes 5 and 6 (counted by nft on
/// the client) and gives up at once.
#[test]
fn icmpv6_policy_fail_and_reject_route_reach_the_client() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = servers(&lab.gateway, GATEWAY_LAN_V6, &[1006, 1007]);
    let codes =
        [5, 6].map(|code| format!("icmpv6 type destination-unreachable icmpv6 code {code}"));
    common::count_arrivals(&lab.client, "ip6", &codes);
    iptables_all(
        &lab.gateway,
        "ip6tables",
        &[
            "-A INPUT -p tcp --dport 1006 -j REJECT --reject-with icmp6-policy-fail",
            "-A INPUT -p tcp --dport 1007 -j REJECT --reject-with icmp6-reject-route",
        ],
    );
    for port in [1006, 1007] {
        assert_eq!(
            tcp_connect(&lab.client, GATEWAY_LAN_V6, port).unwrap(),
            TcpOutcome::Unreachable(Unreachable::Prohibited),
            "port {port}"
        );
    }
    let counts = common::arrivals(&lab.client, "ip6");
    assert!(counts.iter().all(|&n| n >= 1), "{counts:?}");
}

/// The token-bucket limit (seed 002's anti-DoS): a burst passes, the rest is dropped.
#[test]
fn limit_lets_the_burst_through_and_drops_the_rest() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p icmp -m limit --limit 1/minute --limit-burst 3 -j ACCEPT",
            "-A INPUT -p icmp -j DROP",
        ],
    );
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 10, Duration::from_millis(800)).unwrap();
    assert_eq!(
        answered, 3,
        "limit-burst 3 lets exactly three echo requests through"
    );
}

/// hashlimit's byte rates: a bucket of the rate plus the burst in bytes.
/// An echo request of the test kit is 40 bytes at the IP layer; 400b/s with
/// a burst of 800b holds 1200 bytes, 30 requests sent at once.
#[test]
fn hashlimit_byte_rates_let_that_many_bytes_through() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p icmp -m hashlimit --hashlimit-upto 400b/s --hashlimit-burst 800b \
             --hashlimit-mode srcip --hashlimit-name bytes --hashlimit-htable-max 64 -j ACCEPT",
            "-A INPUT -p icmp -j DROP",
        ],
    );
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 40, Duration::from_millis(800)).unwrap();
    assert_eq!(answered, 30, "1200 bytes of 40-byte echo requests");
    let nft = common::nft_ruleset(&lab.gateway);
    assert!(
        nft.contains("limit rate 400 bytes/second burst 800 bytes"),
        "{nft}"
    );
    assert!(nft.contains("size 64"), "{nft}");
}

/// Rules of one hashlimit name share its buckets, as iptables' rules share
/// the kernel's table of that name: without a mode, one bucket for every
/// packet of every such rule (two rules with a burst of two let two echo
/// requests through between them, not four); keyed on other fields, a rule
/// of the same name still takes its own packets' keys (the client's
/// requests in INPUT and the gateway's to the client in OUTPUT each have a
/// burst of their own), and a later rule of the name takes the first
/// one's mode, rate and burst, as the kernel's table of that name does.
#[test]
fn hashlimit_rules_of_one_name_share_its_buckets() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/min              --hashlimit-burst 2 --hashlimit-name shared -j ACCEPT",
            "-A INPUT -p icmp --icmp-type echo-request -s 10.99.1.0/24 -m hashlimit              --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-name shared -j ACCEPT",
            "-A INPUT -p icmp --icmp-type echo-request -j DROP",
        ],
    );
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 6, Duration::from_millis(800)).unwrap();
    assert_eq!(answered, 2, "one bucket of two for both rules");
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-F",
            "-A INPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/min              --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name keyed -j ACCEPT",
            "-A INPUT -p icmp --icmp-type echo-request -j DROP",
            "-A OUTPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/min              --hashlimit-burst 3 --hashlimit-mode dstip --hashlimit-name keyed -j ACCEPT",
            "-A OUTPUT -p icmp --icmp-type echo-request -j DROP",
        ],
    );
    let inbound = ping_burst(&lab.client, GATEWAY_LAN_V4, 5, Duration::from_millis(800)).unwrap();
    let outbound = ping_burst(&lab.gateway, CLIENT_V4, 5, Duration::from_millis(800)).unwrap();
    assert_eq!((inbound, outbound), (3, 3), "a burst of three each way");
    // The first rule of a name makes its table: a later rule of the name
    // with another mode and burst draws on the same bucket of four.
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-F",
            "-A INPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/min \
             --hashlimit-burst 4 --hashlimit-name first -j ACCEPT",
            "-A INPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/min \
             --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name first -j ACCEPT",
            "-A INPUT -p icmp --icmp-type echo-request -j DROP",
        ],
    );
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 6, Duration::from_millis(800)).unwrap();
    assert_eq!(answered, 4, "the first rule's bucket of four");
}

/// `--hashlimit-rate-match` runs in the kernel's xt_hashlimit: a key
/// matches while its count in the current sampling interval is within the
/// burst (and the last interval kept to the rate). Of ten echo requests in
/// one 60-second interval five match: the one that makes the key's entry
/// (xt_hashlimit counts from the next), then a burst of four; iptables-nft's
/// rule lets the same five through.
#[test]
fn hashlimit_rate_match_counts_each_interval() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p icmp -m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 4 \
             --hashlimit-mode srcip --hashlimit-name sampled --hashlimit-rate-match \
             --hashlimit-rate-interval 60 -j ACCEPT",
            "-A INPUT -p icmp -j DROP",
        ],
    );
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 10, Duration::from_millis(800)).unwrap();
    assert_eq!(
        answered, 5,
        "the first request and the burst of one interval"
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-L", "INPUT"]);
    assert!(
        listing.contains(
            "limit: up to 1/min burst 4 mode srcip htable-expire 1000 rate-match rate-interval 60"
        ),
        "{listing}"
    );
}

/// A hashlimit keyed on ports for packets without any (ICMP) runs in the
/// kernel's xt_hashlimit, which keys them on port 0, as iptables does:
/// the burst of 2 lets two of five echo requests through.
#[test]
fn hashlimit_on_ports_of_portless_packets_keys_them_on_port_zero() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p icmp -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 \
             --hashlimit-mode srcip,dstport --hashlimit-name icmpports -j ACCEPT",
            "-A INPUT -p icmp -j DROP",
        ],
    );
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 5, Duration::from_millis(800)).unwrap();
    assert_eq!(answered, 2);
}

/// A rule whose text is longer than a rule's user data holds (its tail is
/// kept after the verdict) still acts and counts, and lists whole.
#[test]
fn rules_with_long_texts_act_and_list_whole() {
    let Some(lab) = gateway_lab() else { return };
    let note = "drop-pings-from-the-lab-client-".repeat(8);
    let rule = format!("-A INPUT -s {CLIENT_V4} -p icmp -m comment --comment {note} -j DROP");
    assert!(rule.len() > 253);
    iptables_all(&lab.gateway, "iptables", &[&rule]);
    assert!(!ping(&lab.client, GATEWAY_LAN_V4).unwrap());
    let listing = moat_ok(&lab.gateway, &["iptables", "-S", "INPUT"]);
    assert!(
        listing.contains(&format!("--comment {note} -j DROP")),
        "{listing}"
    );
    let counted = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(packets_of(&counted, "INPUT", &note) >= 1, "{counted}");
}

/// `-s ADDR/MASK` with a mask that is not a prefix compares the masked
/// source: the client 10.99.1.2 under 255.255.0.255 is 10.99.0.2.
#[test]
fn non_prefix_masks_compare_the_masked_address() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-A INPUT -p icmp -s 10.99.0.3/255.255.0.255 -j DROP"],
    );
    assert!(
        ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "10.99.0.3 is another host"
    );
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-I INPUT -p icmp -s 10.99.0.2/255.255.0.255 -j DROP"],
    );
    assert!(
        !ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "the client, masked"
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-S", "INPUT"]);
    assert!(
        listing.contains("-A INPUT -s 10.99.0.2/255.255.0.255 -p icmp -j DROP"),
        "{listing}"
    );
}

/// Seed 002's connlimit: the connection over the limit is reset.
#[test]
fn connlimit_resets_the_connection_over_the_limit() {
    let Some(lab) = gateway_lab() else { return };
    let server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 80).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-mask 32 -j REJECT --reject-with tcp-reset"],
    );
    let summary = tcp_connect_many(&lab.client, GATEWAY_LAN_V4, 80, 4).unwrap();
    assert_eq!(summary.connected(), 2, "{summary:?}");
    assert_eq!(summary.refused(), 2, "{summary:?}");
    assert!(server.accepted() <= 2);
}

/// The same connlimit rule in two chains counts apart, as each iptables
/// rule keeps its own table: two connections held to port 80 through one
/// chain leave port 81's limit untouched (both rules once filled one set).
#[test]
fn one_connlimit_rule_in_two_chains_counts_apart() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = servers(&lab.gateway, GATEWAY_LAN_V4, &[80, 81]);
    let limit = "-p tcp --syn -m connlimit --connlimit-above 2 -j REJECT --reject-with tcp-reset";
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-N WEB",
            "-N ALT",
            "-A INPUT -p tcp --dport 80 -j WEB",
            "-A INPUT -p tcp --dport 81 -j ALT",
            &format!("-A WEB {limit}"),
            &format!("-A ALT {limit}"),
        ],
    );
    let web = std::net::SocketAddr::from((GATEWAY_LAN_V4, 80));
    let held: Vec<std::net::TcpStream> = lab
        .client
        .run(|| {
            (0..2)
                .map(|_| std::net::TcpStream::connect_timeout(&web, Duration::from_secs(3)))
                .collect::<Result<_, _>>()
        })
        .unwrap()
        .unwrap();
    let alt = tcp_connect_many(&lab.client, GATEWAY_LAN_V4, 81, 3).unwrap();
    assert_eq!(alt.connected(), 2, "{alt:?}");
    assert_eq!(alt.refused(), 1, "{alt:?}");
    drop(held);
}
