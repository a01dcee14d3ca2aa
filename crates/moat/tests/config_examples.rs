//! Each example in examples/ applied with `moat apply` to the lab gateway,
//! with real traffic (issue 5).
//!
//! In the lab the client namespace stands for the Internet (it reaches the
//! gateway on `lan0`, 10.99.1.1) and the server namespace for the inside
//! network (`wan0`, 10.99.2.0/24, hosts .2, .3 and .4), so the examples'
//! interface names and addresses are swapped for those.

mod common;
mod config_common;

use std::net::{IpAddr, Ipv4Addr};

use common::{backend_shares, backends, connects, packets_of, servers, source_seen};
use config_common::{apply_toml, config_lab, example, moat_ok};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_WAN_V4, SERVER_V4};
use moat_testnet::{ping, tcp_connect, tcp_connect_many, TcpOutcome, TcpServer};

/// examples/home-gateway.toml in the lab, with `more` swaps after the lab's names.
fn home_gateway(more: &[(&str, &str)]) -> String {
    let mut swaps = vec![
        ("\"eth0\"", "\"lan0\""),
        ("\"eth1\"", "\"wan0\""),
        ("192.168.1.0/24", "10.99.2.0/24"),
        ("192.168.1.100", "10.99.2.2"),
    ];
    swaps.extend_from_slice(more);
    example("home-gateway.toml", &swaps)
}

/// Seed 000: masquerade for the LAN, the 6881 port forward, hairpin NAT, logged drops.
#[test]
fn home_gateway_forwards_6881_with_hairpin_and_masquerades() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(&lab.gateway, &s, &home_gateway(&[]));

    let torrent = TcpServer::start(&lab.server, SERVER_V4, 6881).unwrap();
    // From the Internet to the public address: forwarded, the client's address kept.
    assert_eq!(
        source_seen(
            &torrent,
            &lab.client,
            GATEWAY_LAN_V4,
            6881,
            "10.99.2.2:6881"
        ),
        Some(IpAddr::from(CLIENT_V4))
    );
    // Hairpin: an inside host uses the public address and is answered through the gateway.
    assert_eq!(
        source_seen(
            &torrent,
            &lab.server,
            GATEWAY_LAN_V4,
            6881,
            "10.99.2.2:6881"
        ),
        Some(IpAddr::from(GATEWAY_WAN_V4)),
        "hairpin traffic is masqueraded"
    );
    // Masquerade: the LAN reaches the Internet with the gateway's address.
    let internet = TcpServer::start(&lab.client, CLIENT_V4, 8000).unwrap();
    assert!(connects(&lab.server, CLIENT_V4, 8000));
    assert_eq!(
        internet.last_peer().map(|p| p.ip()),
        Some(IpAddr::from(GATEWAY_LAN_V4))
    );
    // Nothing else gets in from the Internet, and the drop is logged.
    let _gw = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 6882).unwrap();
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 6882).unwrap(),
        TcpOutcome::TimedOut
    );
    assert_eq!(
        tcp_connect(&lab.client, SERVER_V4, 6881).unwrap(),
        TcpOutcome::TimedOut,
        "no forwarding from outside"
    );
    let filter = moat_ok(&lab.gateway, &s, &["iptables", "-v", "-n", "-L"]);
    assert!(packets_of(&filter, "INPUT", "moat drop:") >= 1, "{filter}");
    assert!(
        packets_of(&filter, "FORWARD", "moat: port forward bittorrent") >= 2,
        "{filter}"
    );
    // What moat.toml produced is visible to the iptables front-end, counters included.
    let nat = moat_ok(
        &lab.gateway,
        &s,
        &["iptables", "-t", "nat", "-v", "-n", "-L"],
    );
    assert!(packets_of(&nat, "PREROUTING", "to:10.99.2.2") >= 1, "{nat}");
    assert!(
        packets_of(&nat, "POSTROUTING", "moat: hairpin bittorrent") >= 1,
        "{nat}"
    );
}

/// The same forward with `hairpin = false`: inside hosts cannot use the public address.
#[test]
fn without_hairpin_inside_hosts_cannot_use_the_public_address() {
    let Some((lab, s)) = config_lab() else { return };
    let cfg = home_gateway(&[("from = \"wan\"", "from = \"wan\"\nhairpin = false")]);
    apply_toml(&lab.gateway, &s, &cfg);
    let _torrent = TcpServer::start(&lab.server, SERVER_V4, 6881).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 6881));
    assert!(!connects(&lab.server, GATEWAY_LAN_V4, 6881));
}

/// Seed 003: stateful server, trusted inside interface, redirect 26 -> 25, DNAT 221 -> inside:22.
#[test]
fn stateful_server_opens_only_its_services_to_the_outside() {
    let Some((lab, s)) = config_lab() else { return };
    let cfg = example(
        "stateful-server.toml",
        &[
            ("\"eth0\"", "\"lan0\""),
            ("192.168.125.22:22", "10.99.2.2:22"),
        ],
    );
    apply_toml(&lab.gateway, &s, &cfg);
    let _ssh_http_smtp_other = servers(&lab.gateway, Ipv4Addr::UNSPECIFIED, &[22, 80, 25, 8080]);
    let _inside = TcpServer::start(&lab.server, SERVER_V4, 22).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 22));
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 80));
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 8080).unwrap(),
        TcpOutcome::TimedOut
    );
    assert!(
        connects(&lab.server, GATEWAY_WAN_V4, 8080),
        "the inside interface is trusted"
    );
    assert!(
        ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "ICMP is answered"
    );
    let banner = tcp_connect(&lab.client, GATEWAY_LAN_V4, 26).unwrap();
    assert!(
        banner.banner().is_some_and(|b| b.ends_with(":25")),
        "{banner:?}"
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 221)
            .unwrap()
            .banner(),
        Some("10.99.2.2:22")
    );
    assert_eq!(
        tcp_connect(&lab.client, SERVER_V4, 22).unwrap(),
        TcpOutcome::TimedOut,
        "nothing else is forwarded"
    );
}

/// Seed 002: three containers behind one address, round-robin with weights 1:1:2 — exact shares.
#[test]
fn balancer_round_robin_shares_come_out_as_written() {
    let Some((lab, s)) = config_lab() else { return };
    let cfg = example(
        "balancer.toml",
        &[
            ("192.168.0.4", "10.99.1.1"),
            ("10.10.7.14", "10.99.2.2"),
            ("10.10.7.15", "10.99.2.3"),
            ("10.10.7.16", "10.99.2.4"),
            ("192.168.0.0/24", "10.99.1.0/24"),
            ("10.10.7.0/24", "10.99.2.0/24"),
            ("\"docker0\"", "\"wan0\""),
            ("\"eth0\"", "\"lan0\""),
        ],
    );
    apply_toml(&lab.gateway, &s, &cfg);
    let _servers = backends(&lab, 8080);
    let counts = backend_shares(&lab, 40);
    assert_eq!(counts.get("10.99.2.2:8080"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("10.99.2.3:8080"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("10.99.2.4:8080"), Some(&20), "{counts:?}");
}

/// Weighted random balancing: 2:1:1 over 400 connections lands near 50/25/25.
#[test]
fn balancer_random_weights_give_the_written_shares() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(
        &lab.gateway,
        &s,
        "[[balance]]\nport = 80\naddress = \"10.99.1.1\"\nbackends = [\n  { to = \"10.99.2.2:8080\", weight = 2 },\n  { to = \"10.99.2.3:8080\" },\n  { to = \"10.99.2.4:8080\" },\n]\n",
    );
    let _servers = backends(&lab, 8080);
    let n = 400;
    let counts = backend_shares(&lab, n);
    assert!(
        counts.keys().all(|b| b.ends_with(":8080")),
        "not connected: {counts:?}"
    );
    let share = |b: &str| *counts.get(b).unwrap_or(&0) as f64 / n as f64;
    // Binomial standard deviation at n = 400 is at most 2.5 %; allow about 3.5 sigma.
    assert!((share("10.99.2.2:8080") - 0.50).abs() < 0.09, "{counts:?}");
    assert!((share("10.99.2.3:8080") - 0.25).abs() < 0.08, "{counts:?}");
    assert!((share("10.99.2.4:8080") - 0.25).abs() < 0.08, "{counts:?}");
}

/// Seed 002's anti-DoS web server: a noisy client is held to 15 connections
/// while another client is unaffected; new connections are logged.
#[test]
fn anti_dos_limits_one_noisy_client_and_not_another() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(&lab.gateway, &s, &example("anti-dos-web.toml", &[]));
    let _web = TcpServer::start(&lab.gateway, IpAddr::from(Ipv4Addr::UNSPECIFIED), 80).unwrap();
    let (noisy, quiet) = std::thread::scope(|sc| {
        let noisy = sc.spawn(|| tcp_connect_many(&lab.client, GATEWAY_LAN_V4, 80, 25).unwrap());
        let quiet = sc.spawn(|| tcp_connect_many(&lab.server, GATEWAY_WAN_V4, 80, 10).unwrap());
        (noisy.join().unwrap(), quiet.join().unwrap())
    });
    assert_eq!(noisy.connected(), 15, "{noisy:?}");
    assert_eq!(noisy.refused(), 10, "{noisy:?}");
    assert_eq!(quiet.connected(), 10, "{quiet:?}");
    let listing = moat_ok(&lab.gateway, &s, &["iptables", "-v", "-n", "-L", "INPUT"]);
    // Logged up to the log rate limit's burst (20), never more.
    assert_eq!(packets_of(&listing, "INPUT", "web new:"), 20, "{listing}");
    assert!(
        packets_of(&listing, "INPUT", "#conn src/32 > 15") >= 10,
        "{listing}"
    );
}
