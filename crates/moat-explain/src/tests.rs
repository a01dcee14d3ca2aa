//! Explanations of small rulesets written as iptables-save text.

use std::net::IpAddr;

use moat_iptables::save::{restore, RestoreOptions, SaveFile};
use moat_model::{Family, Hook, Table};

use crate::{explain, HostView, LocalAddr, Outcome, PacketSpec, Route, Routing, RuleResult};

fn tables(text: &str) -> Vec<Table> {
    let file = SaveFile::parse(text).expect("save text parses");
    let states = restore(&file, Family::Ipv4, RestoreOptions::default(), |_| {
        Err(String::new())
    });
    states
        .expect("restores")
        .iter()
        .map(|s| s.to_table())
        .collect()
}

/// A filter table: INPUT with `policy`, FORWARD and OUTPUT accepting, and
/// `rules` (lines of iptables-save, user chains declared among them).
fn filter_input(policy: &str, rules: &str) -> Vec<Table> {
    tables(&format!(
        "*filter\n:INPUT {policy} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n"
    ))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A gateway: eth0 outside (89.232.33.123), eth1 inside (192.168.1.1/24).
fn gateway() -> HostView {
    let addr = |iface: &str, a: &str| LocalAddr {
        iface: iface.into(),
        addr: ip(a),
        broadcast: None,
    };
    let route = |dest: &str, iface: &str| Route {
        dest: dest.parse().expect("net"),
        iface: iface.into(),
    };
    HostView {
        addresses: vec![addr("eth0", "89.232.33.123"), addr("eth1", "192.168.1.1")],
        routes: vec![route("0.0.0.0/0", "eth0"), route("192.168.1.0/24", "eth1")],
        ..HostView::default()
    }
}

fn tcp_in(iface: &str, src: &str, dst: &str, dport: u16) -> PacketSpec {
    PacketSpec {
        source_port: Some(40000),
        destination_port: Some(dport),
        ..PacketSpec::arriving(iface, ip(src), ip(dst), 6)
    }
}

const SEED_004: &str = "*nat
:PREROUTING DROP [0:0]
:OUTPUT DROP [0:0]
:POSTROUTING DROP [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
-A PREROUTING -i eth0 -p tcp --dport 7070 -j DNAT --to-destination 192.168.1.43:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state NEW -m tcp -p tcp --dport 22 -j ACCEPT
-A INPUT -m state --state NEW -m tcp -p tcp --dport 7070 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -p icmp -j ACCEPT
-A FORWARD -i lo -j ACCEPT
-A FORWARD -m state --state NEW -m tcp -p tcp -d 192.168.1.43 --dport 80 -j ACCEPT
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
";

#[test]
fn seed_004_port_forward_is_dnatted_and_forwarded_but_the_nat_drop_policy_ends_it() {
    let packet = tcp_in("eth0", "198.51.100.7", "89.232.33.123", 7070);
    let e = explain(&tables(SEED_004), &packet, &gateway());
    assert_eq!(e.paths.len(), 1, "{e}");
    let path = &e.paths[0];
    assert_eq!(path.packet.destination, ip("192.168.1.43"));
    assert_eq!(path.packet.destination_port, Some(80));
    let text = e.to_string();
    assert!(
        text.contains("destination 89.232.33.123:7070 -> 192.168.1.43:80"),
        "{text}"
    );
    assert!(text.contains("routing: forwarded out eth1"), "{text}");
    assert!(text.contains("FORWARD     filter FORWARD rule 4"), "{text}");
    let by = path.verdict.by.as_ref().expect("a policy decides");
    assert_eq!(path.verdict.outcome, Outcome::Drop, "{text}");
    assert_eq!(
        (by.table, by.chain.as_str(), by.rule),
        ("nat", "POSTROUTING", None)
    );

    let fixed = SEED_004.replacen(":POSTROUTING DROP", ":POSTROUTING ACCEPT", 1);
    let e = explain(&tables(&fixed), &packet, &gateway());
    let v = &e.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Accept, "{e}");
    let by = v.by.as_ref().expect("a rule accepts");
    assert_eq!(
        (by.table, by.chain.as_str(), by.rule),
        ("filter", "FORWARD", Some(4))
    );
    assert_eq!(
        v.routing,
        Some(Routing::Forward {
            iface: "eth1".into()
        })
    );
    assert!(e.accepted_everywhere());
}

#[test]
fn seed_004_drops_new_connections_to_the_gateway_in_nat_until_its_policies_accept() {
    let ssh = tcp_in("eth0", "198.51.100.7", "89.232.33.123", 22);
    let e = explain(&tables(SEED_004), &ssh, &gateway());
    let v = &e.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Drop, "{e}");
    let by = v.by.as_ref().expect("a policy decides");
    assert_eq!(
        (by.table, by.chain.as_str(), by.rule),
        ("nat", "PREROUTING", None)
    );

    let t = tables(&SEED_004.replace(" DROP [0:0]\n:OUTPUT DROP", " ACCEPT [0:0]\n:OUTPUT ACCEPT"));
    let ssh = explain(
        &t,
        &tcp_in("eth0", "198.51.100.7", "89.232.33.123", 22),
        &gateway(),
    );
    assert_eq!(ssh.paths[0].verdict.routing, Some(Routing::Local), "{ssh}");
    assert_eq!(
        ssh.paths[0].verdict.by.as_ref().and_then(|b| b.rule),
        Some(4)
    );
    let other = explain(
        &t,
        &tcp_in("eth0", "198.51.100.7", "89.232.33.123", 25),
        &gateway(),
    );
    let v = &other.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Reject, "{other}");
    assert_eq!(v.by.as_ref().and_then(|b| b.rule), Some(6));
}

#[test]
fn user_chain_return_goes_back_to_the_caller() {
    let t = filter_input(
        "DROP",
        ":ZONE - [0:0]
-A INPUT -i eth0 -j ZONE
-A INPUT -p tcp --dport 22 -j ACCEPT
-A ZONE -s 10.0.0.0/8 -j RETURN
-A ZONE -j DROP
",
    );
    let inside = explain(
        &t,
        &tcp_in("eth0", "10.1.2.3", "89.232.33.123", 22),
        &gateway(),
    );
    let v = &inside.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Accept, "{inside}");
    assert_eq!(
        v.by.as_ref().map(|b| (b.chain.as_str(), b.rule)),
        Some(("INPUT", Some(2)))
    );
    let text = inside.to_string();
    assert!(
        text.contains("filter ZONE rule 1: -A ZONE -s 10.0.0.0/8 -j RETURN"),
        "{text}"
    );

    let outside = explain(
        &t,
        &tcp_in("eth0", "203.0.113.9", "89.232.33.123", 22),
        &gateway(),
    );
    let v = &outside.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Drop, "{outside}");
    assert_eq!(
        v.by.as_ref().map(|b| (b.chain.as_str(), b.rule)),
        Some(("ZONE", Some(2)))
    );
    let verbose = format!("{outside:#}");
    assert!(
        verbose.contains("-s 10.0.0.0/8 does not match: source is 203.0.113.9"),
        "{verbose}"
    );
}

#[test]
fn an_earlier_rule_shadows_a_later_one() {
    let t = filter_input(
        "ACCEPT",
        "-A INPUT -p tcp -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\n",
    );
    let e = explain(
        &t,
        &tcp_in("eth1", "192.168.1.9", "192.168.1.1", 80),
        &gateway(),
    );
    let v = &e.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Drop, "{e}");
    assert_eq!(v.by.as_ref().and_then(|b| b.rule), Some(1));
    let examined = e.paths[0]
        .steps
        .iter()
        .filter(|s| matches!(s, crate::Event::Rule { .. }))
        .count();
    assert_eq!(examined, 1, "rule 2 is never reached: {e}");
}

#[test]
fn a_limit_match_depends_and_both_outcomes_are_reported() {
    let t = filter_input(
        "DROP",
        "-A INPUT -p tcp --dport 22 -m limit --limit 3/min -j ACCEPT\n",
    );
    let e = explain(
        &t,
        &tcp_in("eth0", "203.0.113.9", "89.232.33.123", 22),
        &gateway(),
    );
    assert_eq!(e.paths.len(), 2, "{e}");
    assert_eq!(e.paths[0].verdict.outcome, Outcome::Accept, "{e}");
    assert_eq!(e.paths[1].verdict.outcome, Outcome::Drop);
    assert!(e.paths[0].conditions[0].starts_with("if -m limit"), "{e}");
    assert!(e.paths[1].conditions[0].ends_with("does not match"), "{e}");
    assert!(matches!(
        e.paths[0].steps[1],
        crate::Event::Rule {
            result: RuleResult::Depends { matched: true },
            ..
        }
    ));
    assert!(!e.accepted_everywhere());
    assert!(e
        .to_string()
        .contains("result: dropped or rejected on 1 of 2 paths"));
}

#[test]
fn a_limited_log_rule_does_not_split_the_path() {
    let t = filter_input("DROP", "-A INPUT -m limit --limit 3/min -j LOG\n");
    let e = explain(
        &t,
        &tcp_in("eth0", "203.0.113.9", "89.232.33.123", 22),
        &gateway(),
    );
    assert_eq!(e.paths.len(), 1, "{e}");
    assert!(
        e.to_string().contains("either way the packet goes on"),
        "{e}"
    );
}

#[test]
fn branching_stops_at_the_path_limit() {
    let rules: String = (0..10)
        .map(|_| "-A INPUT -m limit --limit 3/min -j MARK --set-mark 1\n")
        .collect();
    let t = filter_input("ACCEPT", &rules);
    let e = explain(
        &t,
        &tcp_in("eth0", "203.0.113.9", "89.232.33.123", 22),
        &gateway(),
    );
    assert!(e.capped);
    assert_eq!(e.paths.len(), crate::MAX_PATHS);
}

#[test]
fn a_locally_sent_packet_passes_output_with_its_mark_and_postrouting() {
    let t = tables(
        "*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -p udp --dport 53 -j MARK --set-mark 0x7
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A OUTPUT -m mark --mark 0x7 -o eth0 -j ACCEPT
COMMIT
",
    );
    let packet = PacketSpec {
        in_iface: None,
        out_iface: Some("eth0".into()),
        source: None,
        destination_port: Some(53),
        ..PacketSpec::arriving("-", ip("0.0.0.0"), ip("9.9.9.9"), 17)
    };
    packet.validate().expect("a valid description");
    let e = explain(&t, &packet, &gateway());
    let path = &e.paths[0];
    assert_eq!(path.verdict.outcome, Outcome::Accept, "{e}");
    let by = path.verdict.by.as_ref().expect("a rule accepts");
    assert_eq!(
        (by.hook, by.chain.as_str(), by.rule),
        (Hook::Output, "OUTPUT", Some(1))
    );
    assert_eq!(path.packet.mark, Some(7));
    assert_eq!(path.packet.source, ip("89.232.33.123"));
    assert_eq!(
        path.verdict.routing,
        Some(Routing::Send {
            iface: "eth0".into()
        })
    );

    let unmarked = PacketSpec {
        destination_port: Some(54),
        ..packet
    };
    let e = explain(&t, &unmarked, &gateway());
    assert_eq!(e.paths[0].verdict.outcome, Outcome::Drop, "{e}");
}

#[test]
fn established_packets_skip_nat_and_json_names_the_steps() {
    let t = tables(SEED_004);
    let packet = PacketSpec {
        state: crate::ConnState::Established,
        ..tcp_in("eth0", "198.51.100.7", "89.232.33.123", 7070)
    };
    let e = explain(&t, &packet, &gateway());
    assert_eq!(
        e.paths[0].packet.destination_port,
        Some(7070),
        "no DNAT: {e}"
    );
    assert_eq!(e.paths[0].verdict.by.as_ref().and_then(|b| b.rule), Some(1));
    let json = serde_json::to_value(&e).expect("serializes");
    assert_eq!(json["paths"][0]["verdict"]["outcome"], "ACCEPT");
    assert_eq!(json["paths"][0]["steps"][0]["step"], "skip");
    assert_eq!(json["spec"]["state"], "established");
}

#[test]
fn bad_descriptions_are_refused() {
    let mut p = PacketSpec::arriving("eth0", ip("10.0.0.1"), ip("fd00::1"), 6);
    assert!(p.validate().is_err());
    p.destination = ip("10.0.0.2");
    p.protocol = 1;
    p.destination_port = Some(80);
    assert!(p.validate().is_err());
    assert!(crate::parse_protocol("tcpp").is_err());
    assert_eq!(crate::parse_icmp_type("3/3", 1), Ok((3, 3)));
    assert_eq!(crate::parse_icmp_type("echo-request", 58), Ok((128, 0)));
    assert!("sometimes".parse::<crate::ConnState>().is_err());
}

#[test]
fn address_types_are_decided_from_the_host() {
    let t = tables(
        "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 -j DNAT --to-destination 192.168.1.43
COMMIT
",
    );
    let local = explain(
        &t,
        &tcp_in("eth0", "198.51.100.7", "89.232.33.123", 8080),
        &gateway(),
    );
    assert_eq!(local.paths.len(), 1, "{local}");
    assert_eq!(
        local.paths[0].packet.destination,
        ip("192.168.1.43"),
        "{local}"
    );
    let passing = explain(
        &t,
        &tcp_in("eth1", "192.168.1.9", "198.51.100.7", 8080),
        &gateway(),
    );
    assert_eq!(
        passing.paths[0].packet.destination,
        ip("198.51.100.7"),
        "{passing}"
    );
    let verbose = format!("{passing:#}");
    assert!(
        verbose.contains("-m addrtype --dst-type LOCAL does not match: source type is UNICAST, destination type is UNICAST"),
        "{verbose}"
    );
}

#[test]
fn a_packet_to_this_host_comes_back_in_on_lo_and_forwarding_off_drops() {
    let t = filter_input("DROP", "-A INPUT -i lo -p tcp --dport 5432 -j ACCEPT\n");
    let to_self = |dport: u16| PacketSpec {
        in_iface: None,
        out_iface: None,
        source: None,
        destination_port: Some(dport),
        ..PacketSpec::arriving("-", ip("0.0.0.0"), ip("127.0.0.1"), 6)
    };
    let host = gateway();
    let mut packet = to_self(5432);
    packet.validate().expect("a packet this host sends");
    let e = explain(&t, &packet, &host);
    let v = &e.paths[0].verdict;
    assert_eq!(v.outcome, Outcome::Accept, "{e}");
    assert_eq!(
        v.by.as_ref().map(|b| (b.hook, b.rule)),
        Some((Hook::Input, Some(1)))
    );
    packet.destination_port = Some(5433);
    assert_eq!(
        explain(&t, &packet, &host).paths[0].verdict.outcome,
        Outcome::Drop
    );

    let off = HostView {
        ipv4_forwarding: Some(false),
        ..gateway()
    };
    let through = tcp_in("eth1", "192.168.1.9", "198.51.100.7", 443);
    let e = explain(&t, &through, &off);
    assert_eq!(e.paths[0].verdict.outcome, Outcome::Drop, "{e}");
    assert!(e.to_string().contains("does not forward"), "{e}");
}

#[test]
fn a_set_match_depends_unless_the_set_is_given() {
    let t = filter_input("ACCEPT", "-A INPUT -m set --match-set banned src -j DROP\n");
    let packet = tcp_in("eth0", "203.0.113.9", "89.232.33.123", 22);
    assert_eq!(explain(&t, &packet, &gateway()).paths.len(), 2);
    let banned = PacketSpec {
        sets: vec![("banned".into(), true)],
        ..packet.clone()
    };
    let e = explain(&t, &banned, &gateway());
    assert_eq!(
        (e.paths.len(), e.paths[0].verdict.outcome),
        (1, Outcome::Drop),
        "{e}"
    );
    let free = PacketSpec {
        sets: vec![("banned".into(), false)],
        ..packet
    };
    let e = explain(&t, &free, &gateway());
    assert_eq!(
        (e.paths.len(), e.paths[0].verdict.outcome),
        (1, Outcome::Accept),
        "{e}"
    );
    assert!(
        format!("{e:#}").contains("the packet is not in set banned"),
        "{e:#}"
    );
}

#[test]
fn ctstate_dnat_is_known_once_the_destination_was_translated() {
    let t = tables(&format!(
        "{}*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT
COMMIT
",
        SEED_004
            .split("*filter")
            .next()
            .expect("the nat part")
            .replace("DROP", "ACCEPT")
    ));
    let e = explain(
        &t,
        &tcp_in("eth0", "198.51.100.7", "89.232.33.123", 7070),
        &gateway(),
    );
    assert_eq!(e.paths.len(), 1, "{e}");
    let by = e.paths[0]
        .verdict
        .by
        .as_ref()
        .map(|b| (b.chain.as_str(), b.rule));
    assert_eq!(by, Some(("FORWARD", Some(1))), "{e}");
    let plain = explain(
        &t,
        &tcp_in("eth0", "198.51.100.7", "192.168.1.43", 80),
        &gateway(),
    );
    assert_eq!(plain.paths.len(), 1, "{plain}");
    let by = plain.paths[0]
        .verdict
        .by
        .as_ref()
        .map(|b| (b.chain.as_str(), b.rule));
    assert_eq!(by, Some(("FORWARD", None)), "{plain}");
}

#[test]
fn a_queued_packet_may_be_accepted_or_dropped_by_the_reading_program() {
    let t = filter_input(
        "ACCEPT",
        "-A INPUT -p tcp --dport 22 -j NFQUEUE --queue-num 3\n",
    );
    let e = explain(
        &t,
        &tcp_in("eth0", "203.0.113.9", "89.232.33.123", 22),
        &gateway(),
    );
    assert_eq!(e.paths.len(), 2, "{e}");
    assert_eq!(e.paths[0].verdict.outcome, Outcome::Accept, "{e}");
    assert_eq!(e.paths[1].verdict.outcome, Outcome::Drop, "{e}");
    assert_eq!(
        e.paths[0].conditions,
        ["if the program reading queue 3 accepts it"],
        "{e}"
    );
    assert_eq!(
        e.paths[1].conditions,
        ["if the program reading queue 3 drops it (or no program reads it)"],
        "{e}"
    );
}

#[test]
fn netmap_keeps_the_host_part() {
    let t = tables(
        "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.77.0.0/24 -j NETMAP --to 192.168.1.0/24
COMMIT
",
    );
    let e = explain(
        &t,
        &tcp_in("eth0", "203.0.113.9", "10.77.0.43", 80),
        &gateway(),
    );
    assert!(
        e.to_string().contains("10.77.0.43:80 -> 192.168.1.43:80"),
        "{e}"
    );
}
