//! Address translation, expected as `nft --debug=netlink` shows nft 1.0.6
//! writing the same statements (data in wire order).

use std::collections::HashSet;

use moat_model::{Action, Family, Match, NatTarget, PortRange};
use nftables::expr::{Expression, MetaKey, NamedExpression, Range};
use nftables::stmt::{Match as NftMatch, NATFamily, NATFlag, Operator, Statement, NAT};

use super::lower_rule;
use super::tests::{lowered, tcp, v4, COUNTER, L4};

fn target(
    addrs: Option<(&str, &str)>,
    ports: Option<(u16, u16)>,
    random: bool,
    persistent: bool,
) -> NatTarget {
    NatTarget {
        addrs: addrs.map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())),
        ports: ports.map(|(first, last)| PortRange { first, last }),
        random,
        port_base: None,
        fully_random: false,
        persistent,
    }
}

fn udp() -> Match {
    Match::Protocol {
        proto: 17,
        negate: false,
    }
}

#[test]
fn dnat_loads_address_then_port() {
    let dnat = Action::Dnat(target(
        Some(("10.0.0.1", "10.0.0.1")),
        Some((8080, 8080)),
        false,
        false,
    ));
    // ICMP takes ports as a transport protocol does (the kernel maps its
    // query id).
    for (proto, cmp) in [(6, "cmp 0 06"), (1, "cmp 0 01")] {
        let protocol = Match::Protocol {
            proto,
            negate: false,
        };
        assert_eq!(
            v4(vec![protocol], dnat.clone()),
            [
                L4,
                cmp,
                COUNTER,
                "immediate reg 1 0a000001",
                "immediate reg 2 1f90",
                "nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2"
            ]
        );
    }
    let address = Action::Dnat(target(Some(("10.0.0.1", "10.0.0.1")), None, false, false));
    assert_eq!(
        v4(vec![], address),
        [
            COUNTER,
            "immediate reg 1 0a000001",
            "nat dnat ip addr_min reg 1"
        ]
    );
    let port = Action::Dnat(target(None, Some((8443, 8443)), false, false));
    assert_eq!(
        v4(vec![tcp()], port)[3..],
        [
            "immediate reg 1 20fb",
            "nat dnat ip proto_min reg 1 flags 0x2"
        ]
    );
}

#[test]
fn ranges_take_a_register_for_each_end_and_flags_add_up() {
    let dnat = Action::Dnat(target(
        Some(("10.0.0.1", "10.0.0.9")),
        Some((1000, 2000)),
        true,
        true,
    ));
    assert_eq!(
        v4(vec![udp()], dnat)[3..],
        [
            "immediate reg 1 0a000001",
            "immediate reg 2 0a000009",
            "immediate reg 3 03e8",
            "immediate reg 4 07d0",
            "nat dnat ip addr_min reg 1 addr_max reg 2 proto_min reg 3 proto_max reg 4 flags 0xe"
        ]
    );
    let v6 = lowered(
        Family::Ipv6,
        vec![],
        Action::Snat(target(
            Some(("2001:db8::1", "2001:db8::9")),
            None,
            false,
            true,
        )),
    )
    .unwrap();
    assert_eq!(
        v6,
        [
            COUNTER,
            "immediate reg 1 20010db8000000000000000000000001",
            "immediate reg 2 20010db8000000000000000000000009",
            "nat snat ip6 addr_min reg 1 addr_max reg 2 flags 0x8"
        ]
    );
    let snat = Action::Snat(target(Some(("192.0.2.7", "192.0.2.7")), None, true, true));
    assert_eq!(v4(vec![], snat)[2], "nat snat ip addr_min reg 1 flags 0xc");
}

#[test]
fn masquerade_and_redirect_take_only_ports() {
    let masquerade = |ports: Option<(u16, u16)>, random| Action::Masquerade {
        ports: ports.map(|(first, last)| PortRange { first, last }),
        random,
        fully_random: false,
    };
    assert_eq!(v4(vec![], masquerade(None, false)), [COUNTER, "masq"]);
    assert_eq!(
        v4(vec![], masquerade(None, true)),
        [COUNTER, "masq flags 0x4"]
    );
    assert_eq!(
        v4(vec![tcp()], masquerade(Some((1024, 2047)), false))[3..],
        [
            "immediate reg 1 0400",
            "immediate reg 2 07ff",
            "masq proto_min reg 1 proto_max reg 2 flags 0x2"
        ]
    );
    let redirect = |ports: Option<(u16, u16)>, random| Action::Redirect {
        ports: ports.map(|(first, last)| PortRange { first, last }),
        random,
    };
    assert_eq!(
        v4(vec![tcp()], redirect(Some((3128, 3128)), false))[3..],
        ["immediate reg 1 0c38", "redir proto_min reg 1 flags 0x2"]
    );
    assert_eq!(v4(vec![], redirect(None, false)), [COUNTER, "redir"]);
    assert_eq!(v4(vec![], redirect(None, true))[1], "redir flags 0x4");
}

fn l4proto_tcp() -> Statement<'static> {
    Statement::Match(NftMatch {
        left: Expression::Named(NamedExpression::Meta(nftables::expr::Meta {
            key: MetaKey::L4proto,
        })),
        right: Expression::Number(6),
        op: Operator::EQ,
    })
}

fn text(s: &str) -> Expression<'static> {
    Expression::String(s.to_string().into())
}

fn range(lo: Expression<'static>, hi: Expression<'static>) -> Expression<'static> {
    Expression::Range(Box::new(Range { range: [lo, hi] }))
}

fn nat(addr: Option<Expression<'static>>, port: Option<Expression<'static>>) -> NAT<'static> {
    NAT {
        addr,
        family: None,
        port,
        flags: None,
    }
}

fn strings(stmts: &[Statement<'_>], family: Family) -> Result<Vec<String>, String> {
    lower_rule(stmts, family).map(|l| l.exprs.iter().map(ToString::to_string).collect())
}

#[test]
fn fully_random_and_a_matching_family_are_written() {
    let mut n = nat(Some(text("10.0.0.1")), Some(Expression::Number(80)));
    n.flags = Some(HashSet::from([NATFlag::FullyRandom]));
    n.family = Some(NATFamily::IP);
    let out = strings(&[l4proto_tcp(), Statement::SNAT(Some(n))], Family::Ipv4).unwrap();
    assert_eq!(
        out[4],
        "nat snat ip addr_min reg 1 proto_min reg 2 flags 0x12"
    );
}

#[test]
fn an_address_range_that_runs_backwards_is_written_as_iptables_keeps_it() {
    let dnat = Action::Dnat(target(Some(("10.0.0.9", "10.0.0.1")), None, false, false));
    assert_eq!(
        v4(vec![], dnat)[1..],
        [
            "immediate reg 1 0a000009",
            "immediate reg 2 0a000001",
            "nat dnat ip addr_min reg 1 addr_max reg 2"
        ]
    );
}

#[test]
fn what_nft_would_refuse_is_left_to_nft() {
    let refused = |stmts: Vec<Statement<'static>>, family| {
        let result = strings(&stmts, family);
        assert!(result.is_err(), "{result:?}");
    };
    let port = || Some(Expression::Number(80));
    // Ports without a transport protocol.
    refused(
        vec![Statement::DNAT(Some(nat(Some(text("10.0.0.1")), port())))],
        Family::Ipv4,
    );
    refused(
        vec![Statement::Masquerade(Some(nat(None, port())))],
        Family::Ipv4,
    );
    // Backwards port ranges.
    let ports = range(Expression::Number(90), Expression::Number(80));
    refused(
        vec![
            l4proto_tcp(),
            Statement::Redirect(Some(nat(None, Some(ports)))),
        ],
        Family::Ipv4,
    );
    // Addresses of the other family, nothing to translate to, an address
    // for masquerade.
    refused(
        vec![Statement::SNAT(Some(nat(Some(text("2001:db8::1")), None)))],
        Family::Ipv4,
    );
    let mut other = nat(Some(text("2001:db8::1")), None);
    other.family = Some(NATFamily::IP);
    refused(vec![Statement::SNAT(Some(other))], Family::Ipv6);
    refused(vec![Statement::SNAT(Some(nat(None, None)))], Family::Ipv4);
    refused(vec![Statement::DNAT(None)], Family::Ipv4);
    refused(
        vec![Statement::Masquerade(Some(nat(
            Some(text("10.0.0.1")),
            None,
        )))],
        Family::Ipv4,
    );
}

/// The rule of a port map of tcp forwards from `wan0`, in a table of `family`.
fn port_map_rule(family: Family) -> Result<Vec<String>, String> {
    let map = moat_nft::portmap::PortMap {
        name: "portmap.ab".into(),
        proto: 6,
        common: vec![Match::InInterface {
            iface: moat_model::Iface {
                name: "wan0".into(),
                wildcard: false,
            },
            negate: false,
        }],
        members: Vec::new(),
    };
    let ctx = moat_nft::rule::RuleContext {
        family,
        stage: moat_model::Stage::Nat,
        table: "moat_nat".into(),
    };
    let compiled =
        moat_nft::portmap::compile(&map, "PREROUTING", &ctx).map_err(|e| e.to_string())?;
    strings(&compiled.stmts, family)
}

#[test]
fn a_port_map_looks_the_address_and_the_port_up_by_destination_port() {
    let expected = |family| {
        vec![
            "meta load 6".to_string(),
            "cmp 0 77616e30000000000000000000000000".into(),
            L4.into(),
            "cmp 0 06".into(),
            "payload 2b @ transport + 2".into(),
            "lookup reg 1 set portmap.ab dreg 1".into(),
            "payload 2b @ transport + 2 => reg 2".into(),
            "lookup reg 2 set portmap.ab.ports dreg 2".into(),
            format!("nat dnat {family} addr_min reg 1 proto_min reg 2 flags 0x2"),
        ]
    };
    assert_eq!(port_map_rule(Family::Ipv4).unwrap(), expected("ip"));
    assert_eq!(port_map_rule(Family::Ipv6).unwrap(), expected("ip6"));
}

#[test]
fn a_map_lookup_needs_a_named_map_and_its_key_protocol() {
    let lookup = |key: &str, data: &str| {
        Expression::Named(NamedExpression::Map(Box::new(nftables::expr::Map {
            key: Expression::Named(NamedExpression::Payload(
                nftables::expr::Payload::PayloadField(nftables::expr::PayloadField {
                    protocol: key.to_string().into(),
                    field: "dport".into(),
                }),
            )),
            data: text(data),
        })))
    };
    let dnat = |addr| Statement::DNAT(Some(nat(Some(addr), None)));
    assert!(strings(&[l4proto_tcp(), dnat(lookup("tcp", "@m"))], Family::Ipv4).is_ok());
    // The key's protocol is not established, or the map is not named.
    assert!(strings(&[dnat(lookup("tcp", "@m"))], Family::Ipv4).is_err());
    assert!(strings(&[l4proto_tcp(), dnat(lookup("udp", "@m"))], Family::Ipv4).is_err());
    assert!(strings(&[l4proto_tcp(), dnat(lookup("tcp", "m"))], Family::Ipv4).is_err());
}
