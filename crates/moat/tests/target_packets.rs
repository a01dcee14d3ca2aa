//! Targets that rewrite, queue or trace packets (TCPMSS, NETMAP, NFQUEUE,
//! TTL, HL, DSCP, TOS, ECN, TPROXY, TRACE, CONNSECMARK), with real traffic
//! through the client / gateway / server lab: what the server receives
//! shows the rewrite.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{
    arrivals, connects, connects_quickly, count_arrivals, gateway_lab, iptables_all, moat_ok, text,
};
use moat_testnet::topology::{CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6};
use moat_testnet::{tcp_connect, Netns, QueueReader, TcpServer, Topology};

/// The MTU of the gateway's link to the server, below the lab's 1500.
const SMALL_MTU: &str = "1280";

/// Connects the client to `addr:port` on the server through the gateway and
/// returns the maximum segment size of the server's accepted socket: the
/// MSS the client's SYN announced as it reached the server (less the TCP
/// options each segment carries), as the server's own link allows 1500.
fn server_mss(lab: &Topology, addr: IpAddr, port: u16) -> u32 {
    let listener = lab
        .server
        .run(|| TcpListener::bind((addr, port)))
        .unwrap()
        .expect("listen on the server");
    let target = SocketAddr::new(addr, port);
    let _client = lab
        .client
        .run(|| TcpStream::connect_timeout(&target, Duration::from_secs(5)))
        .unwrap()
        .expect("the client connects through the gateway");
    let (conn, _) = listener.accept().expect("accept");
    socket2::SockRef::from(&conn).tcp_mss().expect("TCP_MAXSEG")
}

/// TCPMSS --clamp-mss-to-pmtu lowers the SYN's MSS to the gateway's small
/// outgoing MTU (1280 less 40 bytes of IPv4 or 60 of IPv6 and TCP headers);
/// --set-mss writes the given value.
#[test]
fn tcpmss_clamps_the_syn_to_the_outgoing_mtu() {
    let Some(lab) = gateway_lab() else { return };
    lab.gateway
        .ip(&["link", "set", "wan0", "mtu", SMALL_MTU])
        .unwrap();
    let v4 = IpAddr::from(SERVER_V4);
    let v6 = IpAddr::from(SERVER_V6);
    assert!(server_mss(&lab, v4, 8001) > 1400, "no clamping yet");
    assert!(server_mss(&lab, v6, 8001) > 1400, "no clamping yet");

    let clamp = "-t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu";
    iptables_all(&lab.gateway, "iptables", &[clamp]);
    iptables_all(&lab.gateway, "ip6tables", &[clamp]);
    let mss = server_mss(&lab, v4, 8002);
    assert!(mss <= 1240 && mss > 1200, "IPv4 MSS {mss}");
    let mss = server_mss(&lab, v6, 8002);
    assert!(mss <= 1220 && mss > 1180, "IPv6 MSS {mss}");
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "mangle", "-S", "FORWARD"]);
    assert!(
        listing.contains(
            "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu"
        ),
        "{listing}"
    );

    let set = "-t mangle -I FORWARD -p tcp --syn -j TCPMSS --set-mss 1000";
    iptables_all(&lab.gateway, "iptables", &[set]);
    let mss = server_mss(&lab, v4, 8003);
    assert!(mss <= 1000 && mss > 960, "IPv4 MSS {mss}");
}

/// NETMAP at PREROUTING maps the client's 10.77.0.0/24 onto the server
/// network (10.77.0.2 reaches 10.99.2.2); at POSTROUTING it maps the
/// client network 10.99.1.0/24 onto 10.55.1.0/24, so the server sees the
/// client 10.99.1.2 as 10.55.1.2.
#[test]
fn netmap_maps_whole_networks_keeping_the_host_part() {
    let Some(lab) = gateway_lab() else { return };
    lab.client
        .ip(&["route", "add", "10.77.0.0/24", "via", "10.99.1.1"])
        .unwrap();
    lab.server
        .ip(&["route", "add", "10.55.1.0/24", "via", "10.99.2.1"])
        .unwrap();
    let server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    let mapped = Ipv4Addr::new(10, 77, 0, 2);
    assert!(
        !tcp_connect(&lab.client, mapped, 80).unwrap().is_connected(),
        "nothing answers 10.77.0.2 before the mapping"
    );
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t nat -A PREROUTING -d 10.77.0.0/24 -j NETMAP --to 10.99.2.0/24",
            "-t nat -A POSTROUTING -s 10.99.1.0/24 -o wan0 -j NETMAP --to 10.55.1.0/24",
        ],
    );
    assert_eq!(
        tcp_connect(&lab.client, mapped, 80).unwrap().banner(),
        Some("10.99.2.2:80")
    );
    assert_eq!(
        server.last_peer().map(|p| p.ip()),
        Some(IpAddr::from(Ipv4Addr::new(10, 55, 1, 2)))
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "nat", "-S"]);
    assert!(
        listing.contains("-A POSTROUTING -s 10.99.1.0/24 -o wan0 -j NETMAP --to 10.55.1.0/24"),
        "{listing}"
    );
}

/// NFQUEUE with no program reading the queue: with --queue-bypass the
/// connection gets through, without it the SYN is dropped; with a reader
/// that accepts them, the packets go on.
#[test]
fn nfqueue_without_a_reader_drops_unless_bypassed() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-A FORWARD -p tcp --dport 80 -j NFQUEUE --queue-num 7 --queue-bypass"],
    );
    assert!(connects(&lab.client, SERVER_V4, 80), "bypassed");
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-R FORWARD 1 -p tcp --dport 80 -j NFQUEUE --queue-num 7"],
    );
    assert!(!connects(&lab.client, SERVER_V4, 80), "queued to no reader");
    // A userspace program reading the queue decides: this one accepts.
    let reader = QueueReader::start(&lab.gateway, 7).unwrap();
    assert!(
        connects(&lab.client, SERVER_V4, 80),
        "accepted by the reader"
    );
    assert!(reader.accepted() >= 2, "{}", reader.accepted());
}

/// CONNMARK copies with masks that mix both marks (multi-WAN routers'
/// `--save-mark --mask 0xff`) run in the kernel's xt_CONNMARK: the
/// connection keeps the packet mark's low byte, its other bits untouched.
#[test]
fn connmark_saves_the_masked_bits_of_the_packet_mark() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t mangle -A PREROUTING -i lan0 -p tcp --dport 80 -j CONNMARK --set-mark 0x5500",
            "-t mangle -A PREROUTING -i lan0 -p tcp --dport 80 -j MARK --set-mark 0x1234",
            "-t mangle -A PREROUTING -i lan0 -p tcp --dport 80 -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff",
        ],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    let out = lab
        .gateway
        .exec(&["conntrack", "-L", "-p", "tcp", "--dport", "80"])
        .unwrap();
    let entries = text(&out.stdout);
    // (0x5500 & ~0xff) ^ (0x1234 & 0xff) = 0x5534
    assert!(entries.contains("mark=21812"), "{entries}");
}

/// Security marks on the gateway, in an nft table `sec` of its own: every
/// packet from the client gets security mark 7 (after conntrack, before
/// moat's mangle table), and what the server sends back is counted after
/// the mangle table when it carries security mark 7 (copied into the
/// packet mark to be compared, which nft allows). nft's own syntax writes
/// neither, so this is its JSON. Without SELinux nothing else sets them.
fn secmarks_on_gateway(gateway: &Netns) {
    let ip = |field: &str, addr: Ipv4Addr| {
        serde_json::json!({"match": {"op": "==",
            "left": {"payload": {"protocol": "ip", "field": field}}, "right": addr.to_string()}})
    };
    let chain = |name: &str, hook: &str, prio: i32| {
        serde_json::json!({"add": {"chain": {"family": "ip", "table": "sec", "name": name,
            "type": "filter", "hook": hook, "prio": prio, "policy": "accept"}}})
    };
    let rule = |chain: &str, expr: serde_json::Value| serde_json::json!({"add": {"rule": {"family": "ip", "table": "sec", "chain": chain, "expr": expr}}});
    let meta = |key: &str| serde_json::json!({"meta": {"key": key}});
    let doc = serde_json::json!({"nftables": [
        {"add": {"table": {"family": "ip", "name": "sec"}}},
        chain("pre", "prerouting", -160),
        chain("fwd", "forward", 0),
        rule("pre", serde_json::json!([ip("saddr", CLIENT_V4),
            {"mangle": {"key": meta("secmark"), "value": 7}}])),
        rule("fwd", serde_json::json!([ip("saddr", SERVER_V4),
            {"mangle": {"key": meta("mark"), "value": meta("secmark")}},
            {"match": {"op": "==", "left": meta("mark"), "right": 7}},
            {"counter": {"packets": 0, "bytes": 0}}])),
    ]});
    gateway
        .exec_input(&["nft", "-j", "-f", "-"], &doc.to_string())
        .unwrap();
}

/// The packets from the server that reached the gateway's forward hook
/// with security mark 7 (see [`secmarks_on_gateway`]).
fn marked_replies(gateway: &Netns) -> u64 {
    let table = gateway
        .exec_ok(&["nft", "list", "table", "ip", "sec"])
        .unwrap();
    let rest = table.split("counter packets ").nth(1).expect("the counter");
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// CONNSECMARK --save gives the client's connection the security mark of
/// its packets, and --restore gives it back to the server's replies, which
/// carry none: with only --restore the replies stay unmarked, with --save
/// before it they are marked.
#[test]
fn connsecmark_copies_security_marks_through_the_connection() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    secmarks_on_gateway(&lab.gateway);
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t mangle -A PREROUTING -j CONNSECMARK --restore"],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    assert_eq!(
        marked_replies(&lab.gateway),
        0,
        "the connection has no mark to restore"
    );
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t mangle -I PREROUTING -j CONNSECMARK --save"],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    let marked = marked_replies(&lab.gateway);
    assert!(
        marked >= 2,
        "SYN-ACK and more carry the connection's mark: {marked}"
    );
    let listing = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "mangle", "-S", "PREROUTING"],
    );
    assert!(
        listing.contains(
            "-A PREROUTING -j CONNSECMARK --save\n-A PREROUTING -j CONNSECMARK --restore"
        ),
        "{listing}"
    );
}

/// A counter on the server of the TCP packets to port `port` that match
/// `test` (nft syntax, e.g. `ip ttl 33`), in a table of its own.
fn count_on_server(lab: &Topology, family: &str, port: u16, tests: &[&str]) {
    let tests: Vec<String> = tests
        .iter()
        .map(|t| format!("tcp dport {port} {t}"))
        .collect();
    count_arrivals(&lab.server, family, &tests);
}

/// The packet counts of the server's `seen` table, in rule order.
fn server_counts(lab: &Topology, family: &str) -> Vec<u64> {
    arrivals(&lab.server, family)
}

/// What the server counts (nft tests per family) matches no packet of a
/// connection through the gateway until the gateway gets `rules` (mangle
/// rules per family), then at least two, and connections still complete
/// (the checksums stay right).
fn rewrites_reach_the_server(lab: &Topology, seen: [&[&str]; 2], rules: [&[&str]; 2]) {
    let _v4 = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    let _v6 = TcpServer::start(&lab.server, SERVER_V6, 80).unwrap();
    let families = [
        ("ip", "iptables", IpAddr::from(SERVER_V4)),
        ("ip6", "ip6tables", IpAddr::from(SERVER_V6)),
    ];
    for ((family, _, server), tests) in families.iter().zip(seen) {
        count_on_server(lab, family, 80, tests);
        assert!(connects(&lab.client, *server, 80));
        let counts = server_counts(lab, family);
        assert!(
            counts.iter().all(|&n| n == 0),
            "nothing rewritten yet: {counts:?}"
        );
    }
    for ((_, program, _), lines) in families.iter().zip(rules) {
        iptables_all(&lab.gateway, program, lines);
    }
    for (family, _, server) in families {
        assert!(connects(&lab.client, server, 80), "checksums stay right");
        let counts = server_counts(lab, family);
        assert!(counts.iter().all(|&n| n >= 2), "{family}: {counts:?}");
    }
}

/// TTL --ttl-set, HL --hl-set and DSCP rewrite the packets the gateway
/// forwards: the server counts them arriving with the new values.
#[test]
fn ttl_hl_and_dscp_rewrite_forwarded_packets() {
    let Some(lab) = gateway_lab() else { return };
    rewrites_reach_the_server(
        &lab,
        [
            &["ip ttl 33", "ip dscp 0x0a"],
            &["ip6 hoplimit 7", "ip6 dscp 0x2e"],
        ],
        [
            &[
                "-t mangle -A POSTROUTING -o wan0 -j TTL --ttl-set 33",
                "-t mangle -A POSTROUTING -o wan0 -j DSCP --set-dscp-class AF11",
            ],
            &[
                "-t mangle -A POSTROUTING -o wan0 -j HL --hl-set 7",
                "-t mangle -A POSTROUTING -o wan0 -j DSCP --set-dscp 46",
            ],
        ],
    );
}

/// TTL --ttl-dec, HL --hl-inc (mapped value by value, as nf_tables
/// cannot count) and TOS changes that keep part of the byte (the symbolic
/// `Minimize-Delay` is 0x10/0x3f, then `--or-tos`/`--xor-tos` flip bits)
/// rewrite forwarded packets, and the IPv4 header checksum stays right.
#[test]
fn ttl_steps_and_partial_tos_changes_rewrite_forwarded_packets() {
    let Some(lab) = gateway_lab() else { return };
    // Sent with 64, forwarded with 63: lowered by 10, raised by 100.
    rewrites_reach_the_server(
        &lab,
        [
            &["ip ttl 53", "ip dscp 0x24"],
            &["ip6 hoplimit 163", "ip6 dscp 0x1a"],
        ],
        [
            &[
                "-t mangle -A POSTROUTING -o wan0 -j TTL --ttl-dec 10",
                "-t mangle -A POSTROUTING -o wan0 -j TOS --set-tos Minimize-Delay",
                "-t mangle -A POSTROUTING -o wan0 -j TOS --or-tos 0x80",
            ],
            &[
                "-t mangle -A POSTROUTING -o wan0 -j HL --hl-inc 100",
                "-t mangle -A POSTROUTING -o wan0 -j TOS --set-tos 0x28/0x3f",
                "-t mangle -A POSTROUTING -o wan0 -j TOS --xor-tos 0x40",
            ],
        ],
    );
    let rules = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "mangle", "-S", "POSTROUTING"],
    );
    assert!(
        rules.contains("-j TTL --ttl-dec 10") && rules.contains("-j TOS --set-tos 0x10/0x3f"),
        "{rules}"
    );
}

/// ECN --ecn-tcp-remove clears a forwarded SYN's ECE and CWR flags (the
/// client asks for ECN), so the server sees a plain SYN; --ecn-ip-ect sets
/// the IPv4 codepoint of every packet, and the checksums stay right.
#[test]
fn ecn_removes_tcp_flags_and_sets_the_codepoint() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    lab.client
        .exec_ok(&["sysctl", "-qw", "net.ipv4.tcp_ecn=1"])
        .unwrap();
    count_on_server(
        &lab,
        "ip",
        80,
        &[
            "tcp flags & (ecn | cwr) == ecn | cwr",
            "tcp flags & (ecn | cwr) == 0 ip ecn ect0",
        ],
    );
    assert!(connects(&lab.client, SERVER_V4, 80));
    let [asked, plain] = server_counts(&lab, "ip")[..] else {
        panic!("two counters")
    };
    assert!(
        asked >= 1 && plain == 0,
        "the client asks for ECN: {asked} {plain}"
    );

    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t mangle -A POSTROUTING -o wan0 -p tcp -j ECN --ecn-tcp-remove",
            "-t mangle -A POSTROUTING -o wan0 -j ECN --ecn-ip-ect 2",
        ],
    );
    assert!(connects(&lab.client, SERVER_V4, 80), "checksums stay right");
    let counts = server_counts(&lab, "ip");
    assert_eq!(counts[0], asked, "no SYN asks for ECN any more");
    assert!(counts[1] >= 2, "plain flags and ECT(0): {counts:?}");
}

/// A transparent TCP listener on the gateway's port 3128 (every address
/// of `v6`'s family): what TPROXY hands connections to.
fn transparent_listener(gateway: &Netns, v6: bool) -> TcpListener {
    use socket2::{Domain, Socket, Type};
    gateway
        .run(|| {
            let (domain, any): (Domain, IpAddr) = if v6 {
                (Domain::IPV6, Ipv6Addr::UNSPECIFIED.into())
            } else {
                (Domain::IPV4, Ipv4Addr::UNSPECIFIED.into())
            };
            let socket = Socket::new(domain, Type::STREAM, None)?;
            if v6 {
                socket.set_only_v6(true)?;
                socket.set_ip_transparent_v6(true)?;
            } else {
                socket.set_ip_transparent_v4(true)?;
            }
            socket.set_reuse_address(true)?;
            socket.bind(&SocketAddr::new(any, 3128).into())?;
            socket.listen(8)?;
            socket.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(TcpListener::from(socket))
        })
        .unwrap()
        .expect("a transparent listener on the gateway")
}

/// TPROXY hands a forwarded connection to a transparent listener on the
/// gateway without changing its addresses (the listener's connection is
/// to the server's address and port), marks it for the policy route that
/// delivers it locally, and drops it when no socket takes it, as
/// xt_TPROXY does (nf_tables' own tproxy would let it go on to the server).
#[test]
fn tproxy_hands_connections_to_a_transparent_listener_or_drops_them() {
    let Some(lab) = gateway_lab() else { return };
    let _v4 = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    let _v6 = TcpServer::start(&lab.server, SERVER_V6, 80).unwrap();
    assert!(connects(&lab.client, SERVER_V4, 80), "the server answers");
    assert!(connects(&lab.client, SERVER_V6, 80), "the server answers");
    for ip in [&["-4"][..], &["-6"][..]] {
        let routes = [
            &["rule", "add", "fwmark", "1", "lookup", "100"][..],
            &[
                "route", "add", "local", "default", "dev", "lo", "table", "100",
            ][..],
        ];
        for args in routes {
            lab.gateway.ip(&[ip, args].concat()).unwrap();
        }
    }
    let tproxy =
        "-t mangle -A PREROUTING -p tcp --dport 80 -j TPROXY --on-port 3128 --tproxy-mark 0x1/0x1";
    iptables_all(&lab.gateway, "iptables", &[tproxy]);
    iptables_all(&lab.gateway, "ip6tables", &[tproxy]);
    assert!(
        !connects_quickly(&lab.client, SERVER_V4, 80),
        "no socket takes it: dropped"
    );
    assert!(
        !connects_quickly(&lab.client, SERVER_V6, 80),
        "no socket takes it: dropped"
    );

    for (v6, server, client) in [
        (false, IpAddr::from(SERVER_V4), IpAddr::from(CLIENT_V4)),
        (true, IpAddr::from(SERVER_V6), IpAddr::from(CLIENT_V6)),
    ] {
        let listener = transparent_listener(&lab.gateway, v6);
        assert!(connects(&lab.client, server, 80), "the proxy answers");
        let (conn, peer) = listener.accept().expect("the proxy got the connection");
        assert_eq!(conn.local_addr().unwrap(), SocketAddr::new(server, 80));
        assert_eq!(peer.ip(), client);
    }
    let rules = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "mangle", "-S", "PREROUTING"],
    );
    assert!(
        rules.contains("-j TPROXY --on-port 3128 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1"),
        "{rules}"
    );
}

/// What `nft monitor trace` on the gateway reports while the client makes
/// a few connections to the server's port 80 (the monitor runs for two
/// seconds; the connections start once it is listening).
fn traces_of_connections(lab: &Topology) -> String {
    std::thread::scope(|s| {
        let monitor = s.spawn(|| {
            lab.gateway
                .exec(&[
                    "timeout", "-s", "INT", "2", "stdbuf", "-oL", "nft", "monitor", "trace",
                ])
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..3 {
            connects(&lab.client, SERVER_V4, 80);
        }
        text(&monitor.join().unwrap().stdout)
    })
}

/// TRACE in the raw table makes nf_tables report the packets it takes
/// (`nft monitor trace`); without it nothing is reported.
#[test]
fn trace_reports_the_packets_it_takes() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t raw -A PREROUTING -p udp -j ACCEPT"],
    );
    assert!(
        !traces_of_connections(&lab).contains("trace id"),
        "no trace without TRACE"
    );
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t raw -A PREROUTING -p tcp --dport 80 -j TRACE"],
    );
    let traces = traces_of_connections(&lab);
    assert!(
        traces.contains("trace id") && traces.contains("tcp dport 80"),
        "{traces}"
    );
}
