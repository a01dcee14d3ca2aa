//! Each example in examples/ applied with `moat apply` to the lab gateway,
//! with real traffic (issue 5).
//!
//! In the lab the client namespace stands for the Internet (it reaches the
//! gateway on `lan0`, 10.99.1.1) and the server namespace for the inside
//! network (`wan0`, 10.99.2.0/24, hosts .2, .3 and .4), so the examples'
//! interface names and addresses are swapped for those.

mod config_common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use config_common::{example, moat_ok, packets_of, Scratch};
use moat_testnet::topology::{
    CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_WAN_V4, SERVER_EXTRA_V4, SERVER_V4,
};
use moat_testnet::{
    ping, require_root_or_skip, tcp_connect, tcp_connect_many, TcpOutcome, TcpServer, Topology,
};

/// Seed 000: masquerade for the LAN, the 6881 port forward, hairpin NAT, logged drops.
#[test]
fn home_gateway_forwards_6881_with_hairpin_and_masquerades() {
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let s = Scratch::new();
    let cfg = example(
        "home-gateway.toml",
        &[
            ("\"eth0\"", "\"lan0\""),
            ("\"eth1\"", "\"wan0\""),
            ("192.168.1.0/24", "10.99.2.0/24"),
            ("192.168.1.100", "10.99.2.2"),
        ],
    );
    let file = s.file("moat.toml", &cfg);
    moat_ok(&lab.gateway, &s, &["apply", file.to_str().unwrap()]);

    let torrent = TcpServer::start(&lab.server, SERVER_V4, 6881).unwrap();
    // From the Internet to the public address: forwarded, the client's address kept.
    let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V4, 6881).unwrap();
    assert_eq!(
        outcome,
        TcpOutcome::Connected {
            banner: "10.99.2.2:6881".into()
        }
    );
    assert_eq!(
        torrent.last_peer().map(|p| p.ip()),
        Some(IpAddr::from(CLIENT_V4))
    );
    // Hairpin: an inside host uses the public address and is answered through the gateway.
    let outcome = tcp_connect(&lab.server, GATEWAY_LAN_V4, 6881).unwrap();
    assert_eq!(
        outcome,
        TcpOutcome::Connected {
            banner: "10.99.2.2:6881".into()
        }
    );
    assert_eq!(
        torrent.last_peer().map(|p| p.ip()),
        Some(IpAddr::from(GATEWAY_WAN_V4)),
        "hairpin traffic is masqueraded"
    );
    // Masquerade: the LAN reaches the Internet with the gateway's address.
    let internet = TcpServer::start(&lab.client, CLIENT_V4, 8000).unwrap();
    assert!(tcp_connect(&lab.server, CLIENT_V4, 8000)
        .unwrap()
        .is_connected());
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
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let s = Scratch::new();
    let cfg = example(
        "home-gateway.toml",
        &[
            ("\"eth0\"", "\"lan0\""),
            ("\"eth1\"", "\"wan0\""),
            ("192.168.1.0/24", "10.99.2.0/24"),
            ("192.168.1.100", "10.99.2.2"),
            ("from = \"wan\"", "from = \"wan\"\nhairpin = false"),
        ],
    );
    let file = s.file("moat.toml", &cfg);
    moat_ok(&lab.gateway, &s, &["apply", file.to_str().unwrap()]);
    let _torrent = TcpServer::start(&lab.server, SERVER_V4, 6881).unwrap();
    assert!(tcp_connect(&lab.client, GATEWAY_LAN_V4, 6881)
        .unwrap()
        .is_connected());
    assert!(!tcp_connect(&lab.server, GATEWAY_LAN_V4, 6881)
        .unwrap()
        .is_connected());
}

/// Seed 003: stateful server, trusted inside interface, redirect 26 -> 25, DNAT 221 -> inside:22.
#[test]
fn stateful_server_opens_only_its_services_to_the_outside() {
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let s = Scratch::new();
    let cfg = example(
        "stateful-server.toml",
        &[
            ("\"eth0\"", "\"lan0\""),
            ("192.168.125.22:22", "10.99.2.2:22"),
        ],
    );
    let file = s.file("moat.toml", &cfg);
    moat_ok(&lab.gateway, &s, &["apply", file.to_str().unwrap()]);
    let any = IpAddr::from(Ipv4Addr::UNSPECIFIED);
    let _ssh = TcpServer::start(&lab.gateway, any, 22).unwrap();
    let _http = TcpServer::start(&lab.gateway, any, 80).unwrap();
    let _smtp = TcpServer::start(&lab.gateway, any, 25).unwrap();
    let _other = TcpServer::start(&lab.gateway, any, 8080).unwrap();
    let _inside = TcpServer::start(&lab.server, SERVER_V4, 22).unwrap();
    assert!(tcp_connect(&lab.client, GATEWAY_LAN_V4, 22)
        .unwrap()
        .is_connected());
    assert!(tcp_connect(&lab.client, GATEWAY_LAN_V4, 80)
        .unwrap()
        .is_connected());
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 8080).unwrap(),
        TcpOutcome::TimedOut
    );
    assert!(
        tcp_connect(&lab.server, GATEWAY_WAN_V4, 8080)
            .unwrap()
            .is_connected(),
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

fn backend_counts(lab: &Topology, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V4, 80).unwrap();
        let banner = outcome
            .banner()
            .unwrap_or_else(|| panic!("not connected: {outcome:?}"))
            .to_string();
        *counts.entry(banner).or_insert(0) += 1;
    }
    counts
}

/// Seed 002: three containers behind one address, round-robin with weights 1:1:2 — exact shares.
#[test]
fn balancer_round_robin_shares_come_out_as_written() {
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let s = Scratch::new();
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
    let file = s.file("moat.toml", &cfg);
    moat_ok(&lab.gateway, &s, &["apply", file.to_str().unwrap()]);
    let _servers: Vec<TcpServer> = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]]
        .into_iter()
        .map(|a| TcpServer::start(&lab.server, a, 8080).unwrap())
        .collect();
    let counts = backend_counts(&lab, 40);
    assert_eq!(counts.get("10.99.2.2:8080"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("10.99.2.3:8080"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("10.99.2.4:8080"), Some(&20), "{counts:?}");
}

/// Weighted random balancing: 2:1:1 over 400 connections lands near 50/25/25.
#[test]
fn balancer_random_weights_give_the_written_shares() {
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let s = Scratch::new();
    let file = s.file(
        "moat.toml",
        "[[balance]]\nport = 80\naddress = \"10.99.1.1\"\nbackends = [\n  { to = \"10.99.2.2:8080\", weight = 2 },\n  { to = \"10.99.2.3:8080\" },\n  { to = \"10.99.2.4:8080\" },\n]\n",
    );
    moat_ok(&lab.gateway, &s, &["apply", file.to_str().unwrap()]);
    let _servers: Vec<TcpServer> = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]]
        .into_iter()
        .map(|a| TcpServer::start(&lab.server, a, 8080).unwrap())
        .collect();
    let n = 400;
    let counts = backend_counts(&lab, n);
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
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let s = Scratch::new();
    let file = s.file("moat.toml", &example("anti-dos-web.toml", &[]));
    moat_ok(&lab.gateway, &s, &["apply", file.to_str().unwrap()]);
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
