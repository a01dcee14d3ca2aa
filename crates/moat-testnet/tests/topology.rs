//! End-to-end tests of the lab itself: real namespaces, real traffic, no
//! firewall unless a test loads one into its own gateway namespace.
//!
//! Every test skips (printing why) when not root or without `ip netns`,
//! and fails instead when CI=true.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use moat_testnet::topology::{
    CLIENT_V4, CLIENT_V6, GATEWAY_WAN_V4, GATEWAY_WAN_V6, SERVER_EXTRA_V4, SERVER_EXTRA_V6,
    SERVER_V4, SERVER_V6,
};
use moat_testnet::{
    cleanup_stale, ping, ping_burst, ping_outcome, require_root_or_skip, tcp_connect,
    tcp_connect_many, tcp_connect_timeout, udp_burst, udp_exchange, udp_exchange_timeout, Netns,
    PingOutcome, TcpOutcome, TcpServer, Topology, TopologyOptions, UdpEcho, UdpOutcome,
    Unreachable,
};

const SHORT: Duration = Duration::from_millis(300);

fn lab() -> Option<Topology> {
    require_root_or_skip().then(|| Topology::gateway().expect("building the topology"))
}

fn nft_available() -> bool {
    let ok = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("nft not installed: skipping the nft part of this test");
    }
    ok
}

fn exists(ns_name: &str) -> bool {
    Path::new("/run/netns").join(ns_name).exists()
}

fn connected(banner: impl ToString) -> TcpOutcome {
    TcpOutcome::Connected {
        banner: banner.to_string(),
    }
}

#[test]
fn tcp_reaches_server_over_v4_and_v6_and_server_sees_client() {
    let Some(lab) = lab() else { return };
    for (server_ip, client_ip) in [
        (IpAddr::from(SERVER_V4), IpAddr::from(CLIENT_V4)),
        (SERVER_V6.into(), CLIENT_V6.into()),
    ] {
        let server = TcpServer::start(&lab.server, server_ip, 8080).unwrap();
        let outcome = tcp_connect(&lab.client, server_ip, 8080).unwrap();
        assert_eq!(outcome, connected(SocketAddr::new(server_ip, 8080)));
        let peer = server.last_peer().expect("server recorded the connection");
        assert_eq!(peer.ip(), client_ip);
        assert_eq!(server.accepted(), 1);
    }
}

#[test]
fn extra_server_addresses_answer_with_their_own_banner() {
    let Some(lab) = lab() else { return };
    let any4 = TcpServer::start(&lab.server, IpAddr::from([0u8; 4]), 80).unwrap();
    let any6 = TcpServer::start(&lab.server, IpAddr::from(SERVER_EXTRA_V6[1]), 80).unwrap();
    for ip in SERVER_EXTRA_V4 {
        let outcome = tcp_connect(&lab.client, ip, 80).unwrap();
        assert_eq!(outcome, connected(format!("{ip}:80")));
    }
    let outcome = tcp_connect(&lab.client, SERVER_EXTRA_V6[1], 80).unwrap();
    assert_eq!(outcome, connected(format!("[{}]:80", SERVER_EXTRA_V6[1])));
    assert_eq!(any4.accepted(), 2);
    assert_eq!(any6.accepted(), 1);
}

#[test]
fn udp_and_ping_work_over_v4_and_v6() {
    let Some(lab) = lab() else { return };
    for (server_ip, client_ip) in [
        (IpAddr::from(SERVER_V4), IpAddr::from(CLIENT_V4)),
        (SERVER_V6.into(), CLIENT_V6.into()),
    ] {
        let echo = UdpEcho::start(&lab.server, server_ip, 5353).unwrap();
        let outcome = udp_exchange(&lab.client, server_ip, 5353).unwrap();
        assert_eq!(
            outcome,
            UdpOutcome::Reply {
                reply: SocketAddr::new(server_ip, 5353).to_string()
            }
        );
        assert_eq!(echo.last_peer().map(|p| p.ip()), Some(client_ip));
        assert!(ping(&lab.client, server_ip).unwrap(), "ping {server_ip}");
        assert!(ping(&lab.server, client_ip).unwrap(), "ping {client_ip}");
    }
}

#[test]
fn closed_ports_are_refused() {
    let Some(lab) = lab() else { return };
    for ip in [IpAddr::from(SERVER_V4), SERVER_V6.into()] {
        assert_eq!(
            tcp_connect(&lab.client, ip, 9).unwrap(),
            TcpOutcome::Refused
        );
        assert_eq!(
            udp_exchange(&lab.client, ip, 9).unwrap(),
            UdpOutcome::PortUnreachable
        );
    }
}

#[test]
fn forwarding_is_enabled_only_in_the_gateway() {
    let Some(lab) = lab() else { return };
    let get = |ns: &Netns, key| ns.read_sysctl(key).unwrap();
    assert_eq!(get(&lab.gateway, "net.ipv4.ip_forward"), "1");
    assert_eq!(get(&lab.gateway, "net.ipv6.conf.all.forwarding"), "1");
    for ns in [&lab.client, &lab.server] {
        assert_eq!(get(ns, "net.ipv4.ip_forward"), "0");
        assert_eq!(get(ns, "net.ipv6.conf.all.forwarding"), "0");
    }
    let addrs = lab.client.exec_ok(&["ip", "-br", "addr"]).unwrap();
    assert!(addrs.contains("10.99.1.2/24"), "{addrs}");
    assert!(addrs.contains("fd99:1::2/64"), "{addrs}");
    let routes = lab.server.ip(&["-6", "route", "show", "default"]).unwrap();
    assert!(routes.contains("via fd99:2::1"), "{routes}");
}

#[test]
fn without_route_back_only_masquerade_gets_through() {
    if !require_root_or_skip() {
        return;
    }
    let lab = Topology::gateway_with(TopologyOptions {
        server_route_back: false,
    })
    .unwrap();
    let server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    let server6 = TcpServer::start(&lab.server, SERVER_V6, 80).unwrap();
    assert!(lab
        .server
        .ip(&["route", "show", "default"])
        .unwrap()
        .is_empty());
    // The gateway itself is on the server's network.
    assert!(ping(&lab.gateway, SERVER_V4).unwrap());
    assert!(ping(&lab.gateway, SERVER_V6).unwrap());
    for ip in [IpAddr::from(SERVER_V4), SERVER_V6.into()] {
        assert_eq!(
            tcp_connect_timeout(&lab.client, ip, 80, SHORT).unwrap(),
            TcpOutcome::TimedOut
        );
        assert!(!ping(&lab.client, ip).unwrap());
    }
    if !nft_available() {
        return;
    }
    lab.gateway
        .exec_ok(&[
            "nft",
            "add table inet nat; \
             add chain inet nat post { type nat hook postrouting priority srcnat; }; \
             add rule inet nat post oifname wan0 masquerade",
        ])
        .unwrap();
    for (ip, seen) in [
        (IpAddr::from(SERVER_V4), IpAddr::from(GATEWAY_WAN_V4)),
        (SERVER_V6.into(), GATEWAY_WAN_V6.into()),
    ] {
        let outcome = tcp_connect(&lab.client, ip, 80).unwrap();
        assert_eq!(outcome, connected(SocketAddr::new(ip, 80)));
        let srv = if ip.is_ipv4() { &server } else { &server6 };
        assert_eq!(srv.last_peer().unwrap().ip(), seen);
    }
}

#[test]
fn namespaces_are_deleted_on_drop_and_on_panic() {
    let Some(lab) = lab() else { return };
    let names: Vec<String> = lab.all().iter().map(|ns| ns.name().to_owned()).collect();
    assert!(names.iter().all(|n| exists(n)));
    assert!(names[0].starts_with(&format!("moat-{}-", std::process::id())));
    assert!(names[0].ends_with("-client"));
    drop(lab);
    assert!(names.iter().all(|n| !exists(n)), "{names:?} still exist");

    let result = std::panic::catch_unwind(|| {
        let lab = Topology::gateway().unwrap();
        let names: Vec<String> = lab.all().iter().map(|ns| ns.name().to_owned()).collect();
        std::panic::panic_any(names);
    });
    let names = result.unwrap_err().downcast::<Vec<String>>().unwrap();
    assert!(names.iter().all(|n| !exists(n)), "{names:?} still exist");
}

#[test]
fn parallel_topologies_do_not_clash() {
    if !require_root_or_skip() {
        return;
    }
    let labs: Vec<Topology> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(Topology::gateway)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let mut names: Vec<&str> = labs
        .iter()
        .flat_map(|l| l.all().map(|ns| ns.name()))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 9);
    for lab in &labs {
        let _server = TcpServer::start(&lab.server, SERVER_V4, 22).unwrap();
        assert!(tcp_connect(&lab.client, SERVER_V4, 22)
            .unwrap()
            .is_connected());
    }
}

#[test]
fn many_connections_are_held_open_together() {
    let Some(lab) = lab() else { return };
    let server = TcpServer::start(&lab.server, SERVER_V4, 443).unwrap();
    let summary = tcp_connect_many(&lab.client, SERVER_V4, 443, 8).unwrap();
    assert_eq!(summary.connected(), 8, "{summary:?}");
    assert_eq!(server.accepted(), 8);
    let closed = tcp_connect_many(&lab.client, SERVER_V4, 444, 3).unwrap();
    assert_eq!(closed.refused(), 3, "{closed:?}");
    // The client closed everything; the server notices soon after.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.open_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.open_connections(), 0);
}

#[test]
fn bursts_are_counted() {
    let Some(lab) = lab() else { return };
    let echo = UdpEcho::start(&lab.server, SERVER_V6, 7).unwrap();
    assert_eq!(udp_burst(&lab.client, SERVER_V6, 7, 20).unwrap(), 20);
    let deadline = Instant::now() + Duration::from_secs(1);
    while echo.received() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(echo.received(), 20);
    assert_eq!(ping_burst(&lab.client, SERVER_V4, 10, SHORT).unwrap(), 10);
    assert_eq!(ping_burst(&lab.client, SERVER_V6, 10, SHORT).unwrap(), 10);
}

/// Routes of type unreachable / prohibit / blackhole in the gateway produce
/// ICMP errors (or silence). The kernel lets a router send only 5 such
/// route errors to one source, then 1 per second (`net.ipv4.route.
/// error_cost`, not settable per namespace), so IPv4 is probed sparingly.
#[test]
fn icmp_errors_from_routes_are_classified() {
    let Some(lab) = lab() else { return };
    for route in [
        "unreachable 10.99.3.0/24",
        "prohibit 10.99.4.0/24",
        "blackhole 10.99.5.0/24",
        "unreachable fd99:3::/64",
        "prohibit fd99:4::/64",
        "blackhole fd99:5::/64",
    ] {
        let mut args = vec!["route", "add"];
        args.extend(route.split(' '));
        lab.gateway.ip(&args).unwrap();
    }
    let host = Unreachable::Host;
    assert_eq!(tcp("10.99.3.1", &lab), TcpOutcome::Unreachable(host));
    assert_eq!(tcp("10.99.4.1", &lab), TcpOutcome::Unreachable(host));
    assert_eq!(tcp("10.99.5.1", &lab), TcpOutcome::TimedOut);
    assert_eq!(icmp("10.99.3.1", &lab), PingOutcome::Unreachable(host));
    assert_eq!(udp("10.99.4.1", &lab), UdpOutcome::Unreachable(host));
    for (ip, want) in [
        ("fd99:3::1", Some(Unreachable::Network)),
        ("fd99:4::1", Some(Unreachable::Prohibited)),
        ("fd99:5::1", None),
    ] {
        let tcp_want = want.map_or(TcpOutcome::TimedOut, TcpOutcome::Unreachable);
        assert_eq!(tcp(ip, &lab), tcp_want, "tcp {ip}");
        let udp_want = want.map_or(UdpOutcome::TimedOut, UdpOutcome::Unreachable);
        assert_eq!(udp(ip, &lab), udp_want, "udp {ip}");
        let ping_want = want.map_or(PingOutcome::TimedOut, PingOutcome::Unreachable);
        assert_eq!(icmp(ip, &lab), ping_want, "ping {ip}");
    }
}

fn tcp(ip: &str, lab: &Topology) -> TcpOutcome {
    tcp_connect_timeout(&lab.client, ip.parse::<IpAddr>().unwrap(), 80, SHORT).unwrap()
}

fn udp(ip: &str, lab: &Topology) -> UdpOutcome {
    udp_exchange_timeout(&lab.client, ip.parse::<IpAddr>().unwrap(), 53, SHORT).unwrap()
}

fn icmp(ip: &str, lab: &Topology) -> PingOutcome {
    ping_outcome(&lab.client, ip.parse::<IpAddr>().unwrap(), SHORT).unwrap()
}

/// Checks the errno table documented on `Unreachable` against the kernel,
/// with nft REJECT rules in the gateway, for TCP, UDP and ping.
#[test]
fn reject_types_map_to_documented_outcomes() {
    let Some(lab) = lab() else { return };
    if !nft_available() {
        return;
    }
    use Unreachable::{Host, Network, Prohibited, Protocol};
    // (reject statement, address, expected errno-derived outcome; None =
    // ECONNREFUSED)
    let cases: [(&str, &str, Option<Unreachable>); 11] = [
        ("icmp type port-unreachable", "10.99.2.2", None),
        ("icmp type net-unreachable", "10.99.2.2", Some(Network)),
        ("icmp type host-unreachable", "10.99.2.2", Some(Host)),
        ("icmp type prot-unreachable", "10.99.2.2", Some(Protocol)),
        ("icmp type net-prohibited", "10.99.2.2", Some(Network)),
        ("icmp type host-prohibited", "10.99.2.2", Some(Host)),
        ("icmp type admin-prohibited", "10.99.2.2", Some(Host)),
        ("icmpv6 type no-route", "fd99:2::2", Some(Network)),
        (
            "icmpv6 type admin-prohibited",
            "fd99:2::2",
            Some(Prohibited),
        ),
        ("icmpv6 type addr-unreachable", "fd99:2::2", Some(Host)),
        ("icmpv6 type port-unreachable", "fd99:2::2", None),
    ];
    let _servers = [
        TcpServer::start(&lab.server, SERVER_V4, 80).unwrap(),
        TcpServer::start(&lab.server, SERVER_V6, 80).unwrap(),
    ];
    let _echoes = [
        UdpEcho::start(&lab.server, SERVER_V4, 53).unwrap(),
        UdpEcho::start(&lab.server, SERVER_V6, 53).unwrap(),
    ];
    let load = |rule: &str| {
        let rules = format!(
            "flush ruleset
table inet f {{
    chain filter_fwd {{
        type filter hook forward priority 0;
        {rule}
    }}
}}
"
        );
        lab.gateway.exec_input(&["nft", "-f", "-"], &rules).unwrap();
    };
    for (reject, ip, want) in cases {
        let daddr = if ip.contains(':') { "ip6" } else { "ip" };
        load(&format!("{daddr} daddr {ip} reject with {reject}"));
        let (tcp_want, udp_want, ping_want) = match want {
            None => (
                TcpOutcome::Refused,
                UdpOutcome::PortUnreachable,
                PingOutcome::PortUnreachable,
            ),
            Some(u) => (
                TcpOutcome::Unreachable(u),
                UdpOutcome::Unreachable(u),
                PingOutcome::Unreachable(u),
            ),
        };
        assert_eq!(tcp(ip, &lab), tcp_want, "tcp, reject with {reject}");
        assert_eq!(udp(ip, &lab), udp_want, "udp, reject with {reject}");
        assert_eq!(icmp(ip, &lab), ping_want, "ping, reject with {reject}");
    }
    load("tcp dport 80 reject with tcp reset");
    assert_eq!(tcp("10.99.2.2", &lab), TcpOutcome::Refused);
    assert_eq!(tcp("fd99:2::2", &lab), TcpOutcome::Refused);
    load("tcp dport 80 drop");
    assert_eq!(tcp("10.99.2.2", &lab), TcpOutcome::TimedOut);
    // Without any rule everything works again.
    load("");
    assert!(tcp("10.99.2.2", &lab).is_connected());
    assert!(udp("fd99:2::2", &lab).is_reply());
}

#[test]
fn cleanup_stale_removes_namespaces_of_dead_processes() {
    if !require_root_or_skip() {
        return;
    }
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let stale = format!("moat-{dead_pid}-1-stale");
    let status = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(status.success());
    let live = Netns::new("live").unwrap();
    let removed = cleanup_stale().unwrap();
    assert!(removed.contains(&stale), "{removed:?}");
    assert!(!exists(&stale));
    assert!(exists(live.name()));
}
