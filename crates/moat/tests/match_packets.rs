//! Match extensions end to end with real packets: rules added with
//! `moat iptables` in a namespace, tested with traffic that should and
//! should not match.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{gateway_lab, iptables_all, moat_ok, packets_of, restore, servers, text};
use moat_testnet::topology::{CLIENT_IF, GATEWAY_LAN_IF, GATEWAY_LAN_V4, GATEWAY_LAN_V6};
use moat_testnet::{ping, ping_sized, Netns};
use socket2::{Domain, Socket, Type};

/// Opens a TCP connection to `addr:port` from `ns` as user and group
/// `uid` (bash's `/dev/tcp`), and says whether it was established.
fn connects_as(ns: &Netns, uid: u32, addr: &str, port: u16) -> bool {
    let id = uid.to_string();
    let script = format!("exec 3<>/dev/tcp/{addr}/{port}");
    let out = ns
        .exec(&[
            "timeout",
            "5",
            "setpriv",
            "--reuid",
            &id,
            "--regid",
            &id,
            "--clear-groups",
            "bash",
            "-c",
            &script,
        ])
        .expect("run bash in the namespace");
    if !out.status.success() {
        eprintln!("uid {uid}: {}", text(&out.stderr));
    }
    out.status.success()
}

/// Opens a TCP connection from `ns` to `addr:80` with the TOS byte (IPv4)
/// or traffic class (IPv6) `tos`, and says whether it was established.
fn connects_with_tos(ns: &Netns, addr: IpAddr, tos: u32) -> bool {
    ns.run(move || {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let socket = Socket::new(domain, Type::STREAM, None).expect("socket");
        if addr.is_ipv4() {
            socket.set_tos_v4(tos).expect("IP_TOS");
        } else {
            socket.set_tclass_v6(tos).expect("IPV6_TCLASS");
        }
        let to = SocketAddr::new(addr, 80).into();
        socket.connect_timeout(&to, Duration::from_secs(5)).is_ok()
    })
    .expect("run in the namespace")
}

/// `-m dscp` and `-m tos` in OUTPUT: a connection whose packets carry DSCP
/// EF (TOS byte 0xb8) is dropped as it leaves, one with TOS 0 passes, in
/// IPv4 and in IPv6 (where the traffic class straddles two header bytes).
#[test]
fn dscp_and_tos_drop_marked_traffic() {
    let Some(lab) = gateway_lab() else { return };
    let _web = servers(&lab.gateway, GATEWAY_LAN_V4, &[80]);
    let _web6 = servers(&lab.gateway, GATEWAY_LAN_V6, &[80]);
    let (v4, v6) = (IpAddr::from(GATEWAY_LAN_V4), IpAddr::from(GATEWAY_LAN_V6));
    assert!(connects_with_tos(&lab.client, v4, 0xb8), "open before");
    iptables_all(
        &lab.client,
        "iptables",
        &["-A OUTPUT -p tcp -m dscp --dscp-class EF -j DROP"],
    );
    iptables_all(
        &lab.client,
        "ip6tables",
        &["-A OUTPUT -p tcp -m tos --tos 0xb8/0xfc -j DROP"],
    );
    assert!(connects_with_tos(&lab.client, v4, 0), "TOS 0 passes");
    assert!(
        connects_with_tos(&lab.client, v6, 0x20),
        "class 0x20 passes"
    );
    assert!(!connects_with_tos(&lab.client, v4, 0xb8), "EF is dropped");
    assert!(!connects_with_tos(&lab.client, v6, 0xb9), "0xb9 is dropped");
    let listing = moat_ok(&lab.client, &["iptables", "-vnL", "OUTPUT"]);
    assert!(
        packets_of(&listing, "OUTPUT", "DSCP match 0x2e") >= 1,
        "{listing}"
    );
    let listing = moat_ok(&lab.client, &["ip6tables", "-vnL", "OUTPUT"]);
    assert!(
        packets_of(&listing, "OUTPUT", "tos match0xb8/0xfc") >= 1,
        "{listing}"
    );
}

/// `-m owner --uid-owner nobody -j DROP` in OUTPUT: the connection of a
/// program running as nobody is dropped as it leaves, root's passes.
#[test]
fn owner_drops_one_users_traffic_in_output() {
    let Some(lab) = gateway_lab() else { return };
    let _web = servers(&lab.gateway, GATEWAY_LAN_V4, &[80]);
    let addr = GATEWAY_LAN_V4.to_string();
    assert!(connects_as(&lab.client, 65534, &addr, 80), "open before");
    iptables_all(
        &lab.client,
        "iptables",
        &["-A OUTPUT -m owner --uid-owner nobody -j DROP"],
    );
    assert!(connects_as(&lab.client, 0, &addr, 80), "root passes");
    assert!(
        !connects_as(&lab.client, 65534, &addr, 80),
        "nobody is dropped"
    );
    let listing = moat_ok(&lab.client, &["iptables", "-vnL", "OUTPUT"]);
    assert!(
        packets_of(&listing, "OUTPUT", "owner UID match 65534") >= 1,
        "{listing}"
    );
    let saved = moat_ok(&lab.client, &["iptables", "-S", "OUTPUT"]);
    assert!(
        saved.contains("-A OUTPUT -m owner --uid-owner 65534 -j DROP"),
        "{saved}"
    );
}

/// `--socket-exists` as xt_owner has it: the gateway's echo replies and
/// resets, sent from the kernel's own sockets (which have no file), leave
/// through `-m owner --socket-exists -j ACCEPT` before a final DROP, and
/// `! --socket-exists` does not count them.
#[test]
fn socket_exists_counts_the_kernels_own_sockets() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A OUTPUT -m owner ! --socket-exists",
            "-A OUTPUT -m owner --socket-exists -j ACCEPT",
            "-A OUTPUT -j DROP",
        ],
    );
    assert!(
        ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "the echo reply leaves"
    );
    let reset =
        moat_testnet::tcp_connect_timeout(&lab.client, GATEWAY_LAN_V4, 81, Duration::from_secs(2))
            .unwrap();
    assert!(
        matches!(reset, moat_testnet::TcpOutcome::Refused),
        "a closed port answers with a reset: {reset:?}"
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "OUTPUT"]);
    assert_eq!(
        packets_of(&listing, "OUTPUT", "! owner socket exists"),
        0,
        "{listing}"
    );
}

/// `-m ttl` and `-m hl` in INPUT: the client's pings arrive with TTL / hop
/// limit 64; a rule on 64 drops them, one on "below 64" lets them pass.
#[test]
fn ttl_and_hop_limit_decide_on_the_arriving_value() {
    let Some(lab) = gateway_lab() else { return };
    assert!(ping(&lab.client, GATEWAY_LAN_V4).unwrap());
    assert!(ping(&lab.client, GATEWAY_LAN_V6).unwrap());
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-A INPUT -p icmp -m ttl --ttl-lt 64 -j DROP"],
    );
    iptables_all(
        &lab.gateway,
        "ip6tables",
        &["-A INPUT -p icmpv6 -m hl --hl-lt 64 -j DROP"],
    );
    assert!(
        ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "TTL 64 is not below 64"
    );
    assert!(
        ping(&lab.client, GATEWAY_LAN_V6).unwrap(),
        "hop limit 64 passes"
    );
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-I INPUT -p icmp -m ttl --ttl-gt 63 -j DROP"],
    );
    iptables_all(
        &lab.gateway,
        "ip6tables",
        &["-I INPUT -p icmpv6 -m hl --hl-eq 64 -j DROP"],
    );
    assert!(
        !ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "TTL 64 is dropped"
    );
    assert!(
        !ping(&lab.client, GATEWAY_LAN_V6).unwrap(),
        "hop limit 64 is dropped"
    );
    let v4 = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(packets_of(&v4, "INPUT", "TTL match TTL > 63") >= 1, "{v4}");
    assert_eq!(packets_of(&v4, "INPUT", "TTL match TTL < 64"), 0, "{v4}");
    let v6 = moat_ok(&lab.gateway, &["ip6tables", "-vnL", "INPUT"]);
    assert!(packets_of(&v6, "INPUT", "HL match HL == 64") >= 1, "{v6}");
}

/// The byte counter (second column) of the first `-vnL` line of `listing`
/// that contains `needle`.
fn bytes_of(listing: &str, needle: &str) -> u64 {
    let line = listing
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in\n{listing}"));
    let bytes = line.split_whitespace().nth(1).expect("bytes column");
    bytes.parse().unwrap_or_else(|_| panic!("{line}"))
}

/// `-m quota --quota 1000` in INPUT in front of a reset: connections to
/// port 80 are accepted until their packets have used up the 1000 bytes,
/// then every one is reset; the quota rule counted at most 1000 bytes, and
/// less than one more packet short of them; a restore of the saved
/// ruleset fills it again.
#[test]
fn quota_lets_traffic_through_until_it_is_used_up() {
    let Some(lab) = gateway_lab() else { return };
    let _web = servers(&lab.gateway, GATEWAY_LAN_V4, &[80]);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p tcp --dport 80 -m quota --quota 1000 -j ACCEPT",
            "-A INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset",
        ],
    );
    let addr = GATEWAY_LAN_V4.to_string();
    assert!(connects_as(&lab.client, 0, &addr, 80), "within the quota");
    let passed = (0..40)
        .take_while(|_| connects_as(&lab.client, 0, &addr, 80))
        .count();
    assert!(passed < 40, "the quota never ran out");
    for _ in 0..3 {
        assert!(!connects_as(&lab.client, 0, &addr, 80), "used up for good");
    }
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    let counted = bytes_of(&listing, "quota: 1000 bytes");
    // A TCP segment without data here is 52 or 60 bytes long.
    assert!((1000 - 60..=1000).contains(&counted), "{listing}");
    // iptables-restore writes every rule of its file again, so restoring
    // the saved ruleset, counters and all, fills the quota again; moat
    // leaves other unchanged rules in the kernel as they are.
    let saved = moat_ok(&lab.gateway, &["iptables-save", "-c"]);
    let out = restore(&lab.gateway, "iptables-restore", &["-c"], &saved);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        connects_as(&lab.client, 0, &addr, 80),
        "a restore renews the quota"
    );
}

/// `-m connbytes` in INPUT, counting rules only: the first two packets each
/// connection sends (SYN and the handshake's ACK) are its packets 1 and 2
/// in the original direction; whatever it sends later (at least its FIN)
/// is packet 3 or more.
#[test]
fn connbytes_counts_each_connections_packets() {
    let Some(lab) = gateway_lab() else { return };
    let _web = servers(&lab.gateway, GATEWAY_LAN_V4, &[80]);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p tcp --dport 80 -m connbytes --connbytes 1:2 --connbytes-dir original --connbytes-mode packets",
            "-A INPUT -p tcp --dport 80 -m connbytes --connbytes 3 --connbytes-dir original --connbytes-mode packets",
            "-A INPUT -p tcp --dport 80 -m connbytes ! --connbytes 1:2 --connbytes-dir original --connbytes-mode packets",
        ],
    );
    let addr = GATEWAY_LAN_V4.to_string();
    let connections = 3;
    for _ in 0..connections {
        assert!(connects_as(&lab.client, 0, &addr, 80));
    }
    // Let the closing packets arrive: read until the later rule saw them.
    let later = |listing: &str| packets_of(listing, "INPUT", "connbytes 3 connbytes mode");
    let mut listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    for _ in 0..50 {
        if later(&listing) >= connections {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    }
    let first_two = packets_of(&listing, "INPUT", " connbytes 1:2 connbytes mode");
    assert_eq!(first_two, 2 * connections, "{listing}");
    assert!(later(&listing) >= connections, "{listing}");
    let outside = packets_of(&listing, "INPUT", "! connbytes 1:2");
    assert_eq!(outside, later(&listing), "{listing}");
}

/// `-m devgroup --src-group 5` in INPUT: connections arriving on the LAN
/// interface are reset while it is in group 5, and pass once it is moved
/// to group 6.
#[test]
fn devgroup_follows_the_interface_group() {
    let Some(lab) = gateway_lab() else { return };
    let _web = servers(&lab.gateway, GATEWAY_LAN_V4, &[80]);
    let group = |n: &str| {
        lab.gateway
            .ip(&["link", "set", "dev", GATEWAY_LAN_IF, "group", n])
            .expect("set the interface group");
    };
    group("5");
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-A INPUT -p tcp --dport 80 -m devgroup --src-group 5 -j REJECT --reject-with tcp-reset"],
    );
    let addr = GATEWAY_LAN_V4.to_string();
    assert!(!connects_as(&lab.client, 0, &addr, 80), "group 5 is reset");
    group("6");
    assert!(connects_as(&lab.client, 0, &addr, 80), "group 6 passes");
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(
        packets_of(&listing, "INPUT", "src-group 0x5") >= 1,
        "{listing}"
    );
}

/// A connection port test with no protocol before it runs in the kernel's
/// xt_conntrack (nft reads connection ports only after a protocol test):
/// it stops connections to its port and lets the next port's through.
#[test]
fn conntrack_ports_without_a_protocol_match_any_tracked_connection() {
    let Some(lab) = gateway_lab() else { return };
    let _open = servers(&lab.gateway, GATEWAY_LAN_V4, &[9400, 9401]);
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-A INPUT -m conntrack --ctorigdstport 9400 --ctdir ORIGINAL -j DROP"],
    );
    assert!(!common::connects(&lab.client, GATEWAY_LAN_V4, 9400));
    assert!(common::connects(&lab.client, GATEWAY_LAN_V4, 9401));
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(
        packets_of(&listing, "INPUT", "ctorigdstport 9400") >= 1,
        "{listing}"
    );
}

/// An SCTP packet to port 9 holding one chunk of `kind` with `flags`.
fn sctp_packet(kind: u8, flags: u8) -> Vec<u8> {
    let mut packet = vec![0x30, 0x39, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0];
    packet.extend_from_slice(&[kind, flags, 0, 20]);
    packet.extend_from_slice(&[0; 16]);
    packet
}

/// A DCCP packet to port 9 of packet type `kind` (extended sequence
/// numbers, a 16-byte header).
fn dccp_packet(kind: u8) -> Vec<u8> {
    let mut packet = vec![0x30, 0x39, 0, 9, 4, 0, 0, 0, (kind << 1) | 1, 0, 0, 0];
    packet.extend_from_slice(&[0; 4]);
    packet
}

/// sctp's `--chunk-types` and dccp's `--dccp-types` run in the kernel's
/// xt_sctp and xt_dccp: each counts the crafted packets it should.
#[test]
fn sctp_chunks_and_dccp_types_count_the_packets_that_hold_them() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p sctp --chunk-types any INIT",
            "-A INPUT -p sctp --chunk-types only DATA:B",
            "-A INPUT -p dccp --dccp-types REQUEST",
            "-A INPUT -p dccp ! --dccp-types REQUEST,RESPONSE",
        ],
    );
    let gateway = GATEWAY_LAN_V4;
    // INIT; DATA beginning a message; DATA ending one.
    for (kind, flags) in [(1, 0), (0, 0x02), (0, 0x01)] {
        common::send_raw(&lab.client, 132, gateway, &sctp_packet(kind, flags));
    }
    // REQUEST; DATA.
    for kind in [0, 2] {
        common::send_raw(&lab.client, 33, gateway, &dccp_packet(kind));
    }
    std::thread::sleep(Duration::from_millis(200));
    let listing = moat_ok(&lab.gateway, &["iptables", "-vL", "INPUT"]);
    for needle in [
        "sctp any INIT",
        "sctp only DATA:B",
        "dccp REQUEST",
        "dccp ! REQUEST,RESPONSE",
    ] {
        assert_eq!(
            packets_of(&listing, "INPUT", needle),
            1,
            "{needle}\n{listing}"
        );
    }
}

/// `-j RATEEST` feeds an estimator in mangle INPUT and `-m rateest` in
/// filter INPUT counts the echo requests that arrive while the estimate is
/// over 20 packets a second: not the first of a first burst (nothing was
/// measured before it; the estimator may take a sample during the burst),
/// some of the bursts that follow it a few estimator intervals later.
#[test]
fn rateest_matches_once_the_estimator_has_measured_the_rate() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t mangle -A INPUT -p icmp -j RATEEST --rateest-name pings \
             --rateest-interval 250ms --rateest-ewmalog 500ms",
            "-A INPUT -p icmp -m rateest --rateest pings --rateest-pps 20 --rateest-gt",
        ],
    );
    let counted = || {
        let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
        packets_of(&listing, "INPUT", "rateest match pings pps gt 20")
    };
    let burst = || {
        let answered =
            moat_testnet::ping_burst(&lab.client, GATEWAY_LAN_V4, 50, Duration::from_secs(2))
                .unwrap();
        assert_eq!(answered, 50, "the rules only count");
    };
    burst();
    let first = counted();
    assert!(
        first < 50,
        "{first}: no rate was measured before the first burst"
    );
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        burst();
    }
    let later = counted() - first;
    assert!((1..=200).contains(&later), "{later} of 200 later requests");
}

/// `--tcp-option` runs in the kernel's xt_tcp: a connection's SYN carries
/// an MSS option (kind 2), never an MD5 signature (kind 19), so `!
/// --tcp-option 19` matches every packet of the connection.
#[test]
fn tcp_option_tests_see_the_syns_options() {
    let Some(lab) = gateway_lab() else { return };
    let _web = servers(&lab.gateway, GATEWAY_LAN_V4, &[80]);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p tcp --dport 80 --syn --tcp-option 2",
            "-A INPUT -p tcp --dport 80 --syn ! --tcp-option 2",
            "-A INPUT -p tcp --dport 80 --tcp-option 19",
            "-A INPUT -p tcp --dport 80 ! --tcp-option 19",
        ],
    );
    assert!(common::connects(&lab.client, GATEWAY_LAN_V4, 80));
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    let counts = common::packet_counts(&listing, "option=");
    assert_eq!(counts[..3], [1, 0, 0], "{listing}");
    assert!(counts[3] >= 2, "SYN and ACK at least: {listing}");
}

/// `-m mac --mac-source` (MAC filtering on a LAN): the gateway drops the
/// pings of the client's MAC address and of nothing else; `!` turns it
/// round. Written with a change that also holds a rule only moat's netlink
/// driver writes (a partial TOS change), as real routers' files are.
#[test]
fn mac_source_drops_one_hosts_packets() {
    let Some(lab) = gateway_lab() else { return };
    let client_mac = lab
        .client
        .exec_ok(&["cat", &format!("/sys/class/net/{CLIENT_IF}/address")])
        .unwrap();
    let client_mac = client_mac.trim();
    let other_mac = "02:00:00:00:00:99";
    let pings = || ping(&lab.client, GATEWAY_LAN_V4).unwrap();
    assert!(pings(), "no rule yet");
    let rules = |mac: &str, negate: &str| {
        [
            "-t mangle -F".to_string(),
            "-F".to_string(),
            "-t mangle -A PREROUTING -p tcp -j TOS --set-tos 0x10/0x3f".to_string(),
            format!("-A INPUT -p icmp -m mac {negate}--mac-source {mac} -j DROP"),
        ]
    };
    for (mac, negate, dropped) in [
        (client_mac, "", true),
        (other_mac, "", false),
        (other_mac, "! ", true),
        (client_mac, "! ", false),
    ] {
        let lines = rules(mac, negate);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        iptables_all(&lab.gateway, "iptables", &lines);
        assert_eq!(!pings(), dropped, "{negate}--mac-source {mac}");
    }
}

/// Whether a TCP connection from `ns`, from local port `from`, to
/// `addr:port` is established within a second.
fn connects_from_port(ns: &Netns, from: u16, addr: IpAddr, port: u16) -> bool {
    ns.run(|| {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), from).into())?;
        let to = SocketAddr::new(addr, port).into();
        Ok::<bool, std::io::Error>(socket.connect_timeout(&to, Duration::from_secs(1)).is_ok())
    })
    .unwrap()
    .unwrap()
}

/// `-m multiport --dports` and `--sports` lists with ranges, plain and
/// negated (the kernel's xt_multiport, as with iptables-nft): only the
/// connections whose port is (or is not) listed are dropped.
#[test]
fn multiport_lists_match_the_listed_ports() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = servers(&lab.gateway, GATEWAY_LAN_V4, &[5000, 6001, 7000]);
    let gateway = IpAddr::from(GATEWAY_LAN_V4);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p tcp -m multiport --dports 5000,6000:6001 -j DROP",
            "-A INPUT -p tcp -m multiport --sports 40100,40200:40300 -j DROP",
        ],
    );
    assert!(!connects_from_port(&lab.client, 40001, gateway, 5000));
    assert!(!connects_from_port(&lab.client, 40002, gateway, 6001));
    assert!(connects_from_port(&lab.client, 40003, gateway, 7000));
    assert!(!connects_from_port(&lab.client, 40250, gateway, 7000));
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-F INPUT",
            "-A INPUT -p tcp -m multiport ! --dports 7000,7001 -j DROP",
        ],
    );
    assert!(connects_from_port(&lab.client, 40004, gateway, 7000));
    assert!(!connects_from_port(&lab.client, 40005, gateway, 5000));
}

/// `-m multiport --ports` (either port listed) drops connections to a
/// listed port and connections from one, and nothing else; written with
/// a change that also holds a rule only moat's netlink driver writes.
#[test]
fn multiport_ports_match_either_port() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = servers(&lab.gateway, GATEWAY_LAN_V4, &[5000, 7000]);
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t mangle -A PREROUTING -p tcp -j TOS --set-tos 0x10/0x3f",
            "-A INPUT -p tcp -m multiport --ports 5000,6000:6001 -j DROP",
        ],
    );
    let gateway = IpAddr::from(GATEWAY_LAN_V4);
    assert!(
        !connects_from_port(&lab.client, 40001, gateway, 5000),
        "to a listed port"
    );
    assert!(
        connects_from_port(&lab.client, 40002, gateway, 7000),
        "neither port listed"
    );
    assert!(
        !connects_from_port(&lab.client, 6001, gateway, 7000),
        "from a listed port"
    );
}

/// What iptables takes although it can match nothing, counted with real
/// UDP packets arriving at the gateway: a udp port range that runs
/// backwards holds no port (negated, every port), `! -i +` no interface,
/// and a plain `-i +` every one.
#[test]
fn ranges_and_interfaces_that_match_nothing_count_nothing() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-A INPUT -p udp --dport 3000:2000 -m comment --comment backwards",
            "-A INPUT -p udp ! --dport 3000:2000 -m comment --comment not-backwards",
            "-A INPUT ! -i + -p udp -m comment --comment no-interface",
            "-A INPUT -i + -p udp -m comment --comment any-interface",
        ],
    );
    let to = SocketAddr::new(IpAddr::V4(GATEWAY_LAN_V4), 2500);
    lab.client
        .run(|| {
            let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            for _ in 0..5 {
                sock.send_to(b"moat", to).unwrap();
            }
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    let count = |comment: &str| packets_of(&listing, "INPUT", &format!("/* {comment} */"));
    assert_eq!(count("backwards"), 0, "{listing}");
    assert_eq!(count("not-backwards"), 5, "{listing}");
    assert_eq!(count("no-interface"), 0, "{listing}");
    assert_eq!(count("any-interface"), 5, "{listing}");
}

/// ICMP type tests never match a later fragment, negated or not, as
/// xt_icmp and ip6t_icmp6 have it: a 3,000-byte ping, fragmented by its
/// sender, gets through `! --icmp-type echo-request -j DROP` in the raw
/// table's PREROUTING (before reassembly) and `! --icmpv6-type
/// echo-request -j DROP` in INPUT (IPv6 without conntrack sees each
/// fragment), and the DROP rules count none of its fragments.
#[test]
fn icmp_type_tests_let_a_large_pings_later_fragments_pass() {
    let Some(lab) = gateway_lab() else { return };
    iptables_all(
        &lab.gateway,
        "iptables",
        &["-t raw -A PREROUTING -p icmp ! --icmp-type echo-request -j DROP"],
    );
    iptables_all(
        &lab.gateway,
        "ip6tables",
        &[
            "-A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT",
            "-A INPUT -p ipv6-icmp --icmpv6-type neighbour-advertisement -j ACCEPT",
            "-A INPUT -p ipv6-icmp ! --icmpv6-type echo-request -j DROP",
        ],
    );
    assert!(
        ping_sized(&lab.client, GATEWAY_LAN_V4, 3000).unwrap(),
        "IPv4"
    );
    assert!(
        ping_sized(&lab.client, GATEWAY_LAN_V6, 3000).unwrap(),
        "IPv6"
    );
    let raw = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "raw", "-vnL", "PREROUTING"],
    );
    assert_eq!(packets_of(&raw, "PREROUTING", "!type 8"), 0, "{raw}");
    let input = moat_ok(&lab.gateway, &["ip6tables", "-vnL", "INPUT"]);
    assert_eq!(packets_of(&input, "INPUT", "!type 128"), 0, "{input}");
}
