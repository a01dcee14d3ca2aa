//! NAT, port forwarding and load balancing with real traffic (issue 4).
//!
//! In the lab the client stands for the Internet: it reaches the gateway's
//! public address on `lan0` (10.99.1.1); the server namespace stands for the
//! inside hosts (10.99.2.2, .3, .4).

mod common;

use std::net::IpAddr;

use common::{
    backend_shares, backends, connects, gateway_lab, iptables_all, moat_advised, moat_err, moat_ok,
    packets_of, source_seen, text, words,
};
use moat_testnet::topology::{
    CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_LAN_V6, GATEWAY_WAN_V4, SERVER_V4, SERVER_V6,
};
use moat_testnet::{
    require_root_or_skip, tcp_connect, TcpOutcome, TcpServer, Topology, TopologyOptions,
};

/// The gateway lab without the server's route back, so only NAT answers reach the client.
fn lab_without_route_back() -> Option<Topology> {
    require_root_or_skip().then(|| {
        Topology::gateway_with(TopologyOptions {
            server_route_back: false,
        })
        .unwrap()
    })
}

/// Seed 000: TCP 6881 forwarded to an inside host, FORWARD policy DROP with a NEW rule and a stateful accept.
#[test]
fn seed_000_port_forward_through_a_stateful_forward_chain() {
    let Some(lab) = gateway_lab() else { return };
    let inside = TcpServer::start(&lab.server, SERVER_V4, 6881).unwrap();
    let _closed = TcpServer::start(&lab.server, SERVER_V4, 6882).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-P FORWARD DROP",
            "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A FORWARD -d 10.99.2.2 -i lan0 -o wan0 -p tcp --dport 6881 -m conntrack --ctstate NEW -j ACCEPT",
            "-t nat -A PREROUTING -p tcp --dport 6881 -j DNAT --to 10.99.2.2:6881",
            "-t nat -A PREROUTING -p tcp --dport 6882 -j DNAT --to 10.99.2.2:6882",
        ],
    );
    assert_eq!(
        source_seen(&inside, &lab.client, GATEWAY_LAN_V4, 6881, "10.99.2.2:6881"),
        Some(IpAddr::from(CLIENT_V4))
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 6882).unwrap(),
        TcpOutcome::TimedOut,
        "not allowed in FORWARD"
    );
    let nat = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "nat", "-vnL", "PREROUTING"],
    );
    assert!(nat.contains("to:10.99.2.2:6881"), "{nat}");
    assert!(packets_of(&nat, "PREROUTING", "dpt:6881") >= 1, "{nat}");
    let s = moat_ok(&lab.gateway, &["iptables", "-t", "nat", "-S", "PREROUTING"]);
    assert!(
        s.contains(
            "-A PREROUTING -p tcp -m tcp --dport 6881 -j DNAT --to-destination 10.99.2.2:6881"
        ),
        "{s}"
    );
}

/// Seed 001: 20443 -> 443 and 2080 -> 80 on the public address.
#[test]
fn seed_001_forwards_to_other_ports() {
    let Some(lab) = gateway_lab() else { return };
    let _https = TcpServer::start(&lab.server, SERVER_V4, 443).unwrap();
    let _http = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t nat -I PREROUTING -p tcp -d 10.99.1.1 --dport 20443 -j DNAT --to-destination 10.99.2.2:443",
            "-t nat -I PREROUTING -p tcp -d 10.99.1.1 --dport 2080 -j DNAT --to-destination 10.99.2.2:80",
            "-I FORWARD -i lan0 -m state -d 10.99.2.0/24 --state NEW,RELATED,ESTABLISHED -j ACCEPT",
        ],
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 20443)
            .unwrap()
            .banner(),
        Some("10.99.2.2:443")
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 2080)
            .unwrap()
            .banner(),
        Some("10.99.2.2:80")
    );
}

/// MASQUERADE: a server with no route back sees the gateway's address; SNAT picks the given one.
#[test]
fn masquerade_and_snat_rewrite_the_source() {
    let Some(lab) = lab_without_route_back() else {
        return;
    };
    let server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    assert_eq!(
        tcp_connect(&lab.client, SERVER_V4, 80).unwrap(),
        TcpOutcome::TimedOut,
        "no route back yet"
    );
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t nat -A POSTROUTING -o wan0 -j MASQUERADE"],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    assert_eq!(
        server.last_peer().map(|p| p.ip()),
        Some(IpAddr::from(GATEWAY_WAN_V4))
    );

    lab.gateway
        .ip(&["addr", "add", "10.99.2.254/24", "dev", "wan0"])
        .unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t nat -I POSTROUTING -p tcp --dport 80 -j SNAT --to 10.99.2.254"],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    assert_eq!(
        server.last_peer().map(|p| p.ip().to_string()),
        Some("10.99.2.254".to_string())
    );
    let nat = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "nat", "-vnL", "POSTROUTING"],
    );
    assert!(packets_of(&nat, "POSTROUTING", "MASQUERADE") >= 1, "{nat}");
    assert!(
        packets_of(&nat, "POSTROUTING", "to:10.99.2.254") >= 1,
        "{nat}"
    );
}

/// Seed 002: DNAT to 127.0.0.1:8080 (needs route_localnet, which moat names) and REDIRECT 26 -> 25 (seed 003).
#[test]
fn dnat_to_loopback_and_redirect() {
    let Some(lab) = gateway_lab() else { return };
    let _local = TcpServer::start(&lab.gateway, std::net::Ipv4Addr::LOCALHOST, 8080).unwrap();
    let _smtp = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 25).unwrap();
    let out = moat_advised(
        &lab.gateway,
        &words(
            "iptables",
            "-t nat -I PREROUTING -d 10.99.1.1 -p tcp --dport 80 -j DNAT --to 127.0.0.1:8080",
        ),
    );
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("route_localnet"),
        "moat names the sysctl"
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 80).unwrap(),
        TcpOutcome::TimedOut,
        "martian without route_localnet"
    );
    lab.gateway
        .sysctl("net.ipv4.conf.lan0.route_localnet", "1")
        .unwrap();
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 80)
            .unwrap()
            .banner(),
        Some("127.0.0.1:8080")
    );

    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t nat -I PREROUTING -p tcp --dport 26 -j REDIRECT --to-ports 25"],
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 26)
            .unwrap()
            .banner(),
        Some("10.99.1.1:25")
    );
}

/// Seed 002: OUTPUT DNAT sends the host's own connections to loopback on to another host.
#[test]
fn output_dnat_from_loopback_to_another_host() {
    let Some(lab) = gateway_lab() else { return };
    let _web = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    lab.gateway
        .sysctl("net.ipv4.conf.wan0.route_localnet", "1")
        .unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t nat -I OUTPUT -o lo -p tcp -s 127.0.0.1 --dport 80 -j DNAT --to 10.99.2.2:80",
            "-t nat -A POSTROUTING -o wan0 -j MASQUERADE",
        ],
    );
    let outcome = tcp_connect(&lab.gateway, std::net::Ipv4Addr::LOCALHOST, 80).unwrap();
    assert_eq!(outcome.banner(), Some("10.99.2.2:80"));
}

/// Seed 002's random balancer: 0.33, then 0.5, then the rest: about a third each.
#[test]
fn random_balancer_splits_connections_in_thirds() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = backends(&lab, 8080);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A PREROUTING -t nat -p tcp -d 10.99.1.1 --dport 80 -m statistic --mode random --probability 0.33 -j DNAT --to-destination 10.99.2.2:8080",
            "-A PREROUTING -t nat -p tcp -d 10.99.1.1 --dport 80 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.99.2.3:8080",
            "-A PREROUTING -t nat -p tcp -d 10.99.1.1 --dport 80 -j DNAT --to-destination 10.99.2.4:8080",
        ],
    );
    let n = 450;
    let shares = backend_shares(&lab, n);
    assert_eq!(shares.values().sum::<usize>(), n);
    for backend in ["10.99.2.2:8080", "10.99.2.3:8080", "10.99.2.4:8080"] {
        let got = shares.get(backend).copied().unwrap_or(0);
        // Binomial(450, 1/3): mean 150, sd 10; 90..210 is six standard deviations.
        assert!(
            (90..=210).contains(&got),
            "{backend} got {got} of {n}: {shares:?}"
        );
    }
    let nat = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "nat", "-nL", "PREROUTING"],
    );
    assert!(
        nat.contains("statistic mode random probability 0.33"),
        "{nat}"
    );
}

/// Seed 002's round robin: every 3rd, then every 2nd, then the rest: exactly equal shares.
#[test]
fn nth_balancer_gives_exactly_equal_shares() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = backends(&lab, 8080);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A PREROUTING -t nat -p tcp -d 10.99.1.1 --dport 80 -m statistic --mode nth --every 3 --packet 0 -j DNAT --to-destination 10.99.2.2:8080",
            "-A PREROUTING -t nat -p tcp -d 10.99.1.1 --dport 80 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.99.2.3:8080",
            "-A PREROUTING -t nat -p tcp -d 10.99.1.1 --dport 80 -j DNAT --to-destination 10.99.2.4:8080",
        ],
    );
    let shares = backend_shares(&lab, 300);
    for backend in ["10.99.2.2:8080", "10.99.2.3:8080", "10.99.2.4:8080"] {
        assert_eq!(shares.get(backend).copied(), Some(100), "{shares:?}");
    }
}

/// IPv6 through the same code paths: DNAT and masquerade.
#[test]
fn ipv6_dnat_and_masquerade() {
    let Some(lab) = lab_without_route_back() else {
        return;
    };
    let server = TcpServer::start(&lab.server, SERVER_V6, 8080).unwrap();
    iptables_all(
        &lab.gateway,
        "ip6tables",
        &[
            "-t nat -A PREROUTING -d fd99:1::1 -p tcp --dport 80 -j DNAT --to-destination [fd99:2::2]:8080",
            "-t nat -A POSTROUTING -o wan0 -j MASQUERADE",
        ],
    );
    let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V6, 80).unwrap();
    assert_eq!(outcome.banner(), Some("[fd99:2::2]:8080"));
    assert_eq!(
        server.last_peer().map(|p| p.ip().to_string()),
        Some("fd99:2::1".to_string())
    );
    let s = moat_ok(&lab.gateway, &["ip6tables", "-t", "nat", "-S"]);
    assert!(s.contains("-A PREROUTING -d fd99:1::1/128 -p tcp -m tcp --dport 80 -j DNAT --to-destination [fd99:2::2]:8080"), "{s}");
}

/// Pointed errors for NAT mistakes; nothing changes.
#[test]
fn nat_mistakes_get_pointed_errors() {
    if !require_root_or_skip() {
        return;
    }
    let ns = moat_testnet::Netns::new("naterr").unwrap();
    let cases: &[(&str, &str)] = &[
        ("-t nat -A PREROUTING -j MASQUERADE", "POSTROUTING"),
        (
            "-t nat -A POSTROUTING -p tcp -j DNAT --to-destination 10.0.0.1",
            "PREROUTING",
        ),
        ("-A FORWARD -j DNAT --to-destination 10.0.0.1", "nat"),
        ("-t nat -A PREROUTING -j DNAT", "--to-destination"),
        (
            "-t nat -A PREROUTING -m statistic --mode random --probability 1.5 -j ACCEPT",
            "1.5",
        ),
        (
            "-t nat -A PREROUTING -m statistic --mode nth --every 0 -j ACCEPT",
            "--every",
        ),
        ("-t nat -A PREROUTING -j REDIRECT --to-ports 25", "-p tcp"),
    ];
    for (args, needle) in cases {
        let stderr = moat_err(&ns, &words("iptables", args));
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in: {stderr}"
        );
    }
    assert_eq!(moat_ok(&ns, &["iptables-save"]), "");
}

/// The server port each of `ports` on the gateway reaches.
fn reached(lab: &Topology, ports: &[u16]) -> Vec<Option<String>> {
    ports
        .iter()
        .map(|&port| {
            tcp_connect(&lab.client, GATEWAY_LAN_V4, port)
                .unwrap()
                .banner()
                .map(str::to_string)
        })
        .collect()
}

/// A DNAT port shift (`80-82/7000`, podman's port ranges) maps each port
/// the rule matches one by one, as the kernel's xt_nat maps it for
/// iptables-nft: the same connections reach the same server ports, the
/// multiport list wrapping around the range as xt_nat's arithmetic does.
#[test]
fn dnat_port_shifts_map_ports_as_xt_nat_does() {
    let Some(lab) = gateway_lab() else { return };
    let _servers: Vec<TcpServer> = [80, 81, 82]
        .into_iter()
        .map(|port| TcpServer::start(&lab.server, SERVER_V4, port).unwrap())
        .collect();
    let rules = [
        "-t nat -A PREROUTING -p tcp --dport 7000:7002 -j DNAT --to-destination 10.99.2.2:80-82/7000",
        "-t nat -A PREROUTING -p tcp -m multiport --dports 100,200:201 -j DNAT --to-destination 10.99.2.2:80-82/7000",
    ];
    let ports = [7000, 7001, 7002, 100, 200, 201];
    iptables_all(&lab.gateway, "iptables", &rules);
    let by_moat = reached(&lab, &ports);
    let expected: Vec<Option<String>> = [80, 81, 82, 81, 82, 80]
        .iter()
        .map(|p| Some(format!("{SERVER_V4}:{p}")))
        .collect();
    assert_eq!(by_moat, expected);
    moat_ok(&lab.gateway, &["iptables", "-t", "nat", "-F"]);
    for rule in rules {
        let out = lab.gateway.exec(&words("iptables-nft", rule)).unwrap();
        assert!(out.status.success(), "{rule}: {}", text(&out.stderr));
    }
    assert_eq!(reached(&lab, &ports), by_moat, "xt_nat under iptables-nft");
}
