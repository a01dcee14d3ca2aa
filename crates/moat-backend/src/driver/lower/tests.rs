//! The expressions expected here are what `nft --debug=netlink` shows nft
//! 1.0.6 writing for the same statements (data in wire order).

use moat_model::{
    Action, ConnStates, Family, Iface, Match, PortRange, Rate, RateUnit, RejectKind, Rule, Stage,
    StatisticMode, TcpFlags, TtlOp,
};
use moat_nft::rule::{compile_rule, RuleContext};
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField};
use nftables::stmt::{Match as NftMatch, Operator, Statement};

use super::super::anon_set::{AnonSet, Key};
use super::{cmp_op, lower_rule};
use crate::netlink::consts::*;

/// The expressions of a rule of `matches` and `action` in a table of `family`.
pub(super) fn lowered(
    family: Family,
    matches: Vec<Match>,
    action: Action,
) -> Result<Vec<String>, String> {
    let rule = Rule {
        matches,
        ..Rule::new(action)
    };
    let ctx = RuleContext {
        family,
        stage: Stage::Filter,
        table: "t".into(),
    };
    let compiled = compile_rule(&rule, "INPUT", &ctx).map_err(|e| e.to_string())?;
    Ok(lower_rule(&compiled.stmts, family)?
        .exprs
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// [`lowered`] in an IPv4 table, which must succeed.
pub(super) fn v4(matches: Vec<Match>, action: Action) -> Vec<String> {
    lowered(Family::Ipv4, matches, action).unwrap()
}

/// `-p tcp`.
pub(super) fn tcp() -> Match {
    Match::Protocol {
        proto: 6,
        negate: false,
    }
}

fn ports(first: u16, last: u16) -> Vec<PortRange> {
    vec![PortRange { first, last }]
}

pub(super) const L4: &str = "meta load 16";
pub(super) const COUNTER: &str = "counter 0 0";
pub(super) const ACCEPT: &str = "verdict 1 ";

#[test]
fn protocol_and_port_need_no_second_protocol_test() {
    let m = vec![
        tcp(),
        Match::DestPort {
            proto: 6,
            ports: ports(22, 22),
            negate: false,
        },
    ];
    assert_eq!(
        v4(m, Action::Accept),
        [
            L4,
            "cmp 0 06",
            "payload 2b @ transport + 2",
            "cmp 0 0016",
            COUNTER,
            ACCEPT
        ]
    );
}

#[test]
fn a_port_alone_gets_the_protocol_test_nft_adds() {
    let m = vec![Match::DestPort {
        proto: 17,
        ports: ports(53, 53),
        negate: true,
    }];
    assert_eq!(
        v4(m, Action::Drop),
        [
            L4,
            "cmp 0 11",
            "payload 2b @ transport + 2",
            "cmp 1 0035",
            COUNTER,
            "verdict 0 "
        ]
    );
}

#[test]
fn source_and_destination_ports_merge_like_nft() {
    for negate in [false, true] {
        let m = vec![
            tcp(),
            Match::SourcePort {
                proto: 6,
                ports: ports(22, 22),
                negate,
            },
            Match::DestPort {
                proto: 6,
                ports: ports(23, 23),
                negate,
            },
        ];
        let op = if negate {
            "cmp 1 00160017"
        } else {
            "cmp 0 00160017"
        };
        assert_eq!(
            v4(m, Action::Continue),
            [L4, "cmp 0 06", "payload 4b @ transport + 0", op, COUNTER]
        );
    }
    let mixed = vec![
        tcp(),
        Match::SourcePort {
            proto: 6,
            ports: ports(22, 22),
            negate: false,
        },
        Match::DestPort {
            proto: 6,
            ports: ports(23, 23),
            negate: true,
        },
    ];
    assert_eq!(v4(mixed, Action::Continue).len(), 7);
}

#[test]
fn port_ranges_compare_twice_or_use_a_negated_range() {
    let m = vec![
        tcp(),
        Match::SourcePort {
            proto: 6,
            ports: ports(1000, 2000),
            negate: false,
        },
    ];
    assert_eq!(
        v4(m, Action::Continue)[2..5],
        ["payload 2b @ transport + 0", "cmp 5 03e8", "cmp 3 07d0"]
    );
    let m = vec![
        tcp(),
        Match::SourcePort {
            proto: 6,
            ports: ports(1000, 2000),
            negate: true,
        },
    ];
    assert_eq!(v4(m, Action::Continue)[3], "range 1 03e8 07d0");
}

#[test]
fn prefixes_load_only_whole_bytes_else_mask() {
    let m = vec![
        Match::SourceNet {
            net: "10.0.0.0/8".parse().unwrap(),
            negate: false,
        },
        Match::DestNet {
            net: "1.2.3.4/32".parse().unwrap(),
            negate: true,
        },
        Match::SourceNet {
            net: "10.0.0.0/7".parse().unwrap(),
            negate: false,
        },
    ];
    assert_eq!(
        v4(m, Action::Continue),
        [
            "payload 1b @ network + 12",
            "cmp 0 0a",
            "payload 4b @ network + 16",
            "cmp 1 01020304",
            "payload 4b @ network + 12",
            "bitwise & fe000000 ^ 00000000",
            "cmp 0 0a000000",
            COUNTER
        ]
    );
    let v6 = lowered(
        Family::Ipv6,
        vec![Match::SourceNet {
            net: "2001:db8::/32".parse().unwrap(),
            negate: true,
        }],
        Action::Continue,
    )
    .unwrap();
    assert_eq!(v6, ["payload 4b @ network + 8", "cmp 1 20010db8", COUNTER]);
}

#[test]
fn interfaces_exact_and_wildcard() {
    let m = vec![
        Match::InInterface {
            iface: Iface {
                name: "eth".into(),
                wildcard: true,
            },
            negate: false,
        },
        Match::OutInterface {
            iface: Iface {
                name: "lo".into(),
                wildcard: false,
            },
            negate: true,
        },
    ];
    assert_eq!(
        v4(m, Action::Continue),
        [
            "meta load 6",
            "cmp 0 657468",
            "meta load 7",
            "cmp 1 6c6f0000000000000000000000000000",
            COUNTER
        ]
    );
}

#[test]
fn icmp_type_and_code_merge_like_nft() {
    let m = vec![Match::Icmp {
        kind: 3,
        code: Some(1),
        negate: false,
    }];
    // First, not a later fragment, whose data xt_icmp never reads.
    let first_fragment = [
        "payload 2b @ network + 6",
        "bitwise & 1fff ^ 0000",
        "cmp 0 0000",
    ];
    assert_eq!(
        v4(m, Action::Continue),
        [
            &first_fragment[..],
            &[
                L4,
                "cmp 0 01",
                "payload 2b @ transport + 0",
                "cmp 0 0301",
                COUNTER,
            ],
        ]
        .concat()
    );
    let any = vec![Match::Icmp {
        kind: 255,
        code: None,
        negate: false,
    }];
    assert_eq!(v4(any, Action::Continue)[6..8], ["cmp 5 00", "cmp 3 ff"]);
    // A negated type and code: the pair, in registers 1 and 9, is not in a
    // set of one.
    let pair = vec![Match::Icmp {
        kind: 3,
        code: Some(1),
        negate: true,
    }];
    assert_eq!(
        v4(pair, Action::Continue)[3..8],
        [
            L4,
            "cmp 0 01",
            "payload 1b @ transport + 0",
            "payload 1b @ transport + 1 => reg 9",
            LOOKUP_INV
        ]
    );
}

#[test]
fn conntrack_state_is_a_bit_test_in_host_order() {
    let states = ConnStates(ConnStates::ESTABLISHED | ConnStates::RELATED);
    let m = vec![Match::ConnState {
        states,
        negate: false,
    }];
    let mask: String = 6u32
        .to_ne_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        v4(m, Action::Accept),
        [
            "ct load 0",
            &format!("bitwise & {mask} ^ 00000000"),
            "cmp 1 00000000",
            COUNTER,
            ACCEPT
        ]
    );
}

#[test]
fn tcp_flags_limit_and_reject() {
    let m = vec![
        tcp(),
        Match::TcpFlags {
            flags: TcpFlags {
                mask: 0x17,
                set: 0x02,
            },
            negate: false,
        },
        Match::Limit {
            rate: Rate {
                count: 3,
                unit: RateUnit::Minute,
            },
            burst: 5,
            over: false,
        },
    ];
    assert_eq!(
        v4(m, Action::Reject(RejectKind::TcpReset)),
        [
            L4,
            "cmp 0 06",
            "payload 1b @ transport + 13",
            "bitwise & 17 ^ 00",
            "cmp 0 02",
            "limit 3/60s burst 5 inv false",
            COUNTER,
            "reject 1 None"
        ]
    );
}

#[test]
fn never_matching_tests_read_the_version_nibble() {
    let m = vec![Match::SourceNet {
        net: "0.0.0.0/0".parse().unwrap(),
        negate: true,
    }];
    assert_eq!(
        v4(m, Action::Continue),
        [
            "payload 1b @ network + 0",
            "bitwise & f0 ^ 00",
            "cmp 1 40",
            COUNTER
        ]
    );
}

#[test]
fn what_the_driver_does_not_write_is_refused_with_its_statement() {
    // moat never compiles a match on the packet's IPsec state.
    let secpath = Expression::Named(NamedExpression::Meta(Meta {
        key: MetaKey::Secpath,
    }));
    let err = lower_rule(&[compare(secpath, Operator::EQ, 1)], Family::Ipv4).unwrap_err();
    assert!(err.contains("\"secpath\""), "{err}");
}

#[test]
fn either_port_is_a_lookup_of_the_port_pair_in_a_concatenated_set() {
    // `--ports 1,3,...,31` (more than xt_multiport's 15 slots, as only
    // moat.toml gives): the pair's fields in registers 1 and 9, as nft
    // loads them.
    let multiport = vec![
        tcp(),
        Match::AnyPort {
            proto: 6,
            ports: (0..16)
                .map(|i| PortRange {
                    first: 1 + 2 * i,
                    last: 1 + 2 * i,
                })
                .collect(),
            negate: true,
        },
    ];
    assert_eq!(
        lowered(Family::Ipv4, multiport, Action::Accept).unwrap()[..5],
        [
            "meta load 16",
            "cmp 0 06",
            "payload 2b @ transport + 0",
            "payload 2b @ transport + 2 => reg 9",
            "lookup reg 1 set __set%d 0x1"
        ]
    );
}

fn statistic(mode: StatisticMode, negate: bool) -> Match {
    Match::Statistic { mode, negate }
}

pub(super) fn host_word(n: u32) -> String {
    n.to_ne_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn random_sampling_compares_the_big_endian_random_number() {
    let m = vec![statistic(
        StatisticMode::Random { probability: 0.25 },
        false,
    )];
    assert_eq!(
        v4(m, Action::Accept),
        ["meta load 24", "cmp 2 40000000", COUNTER, ACCEPT]
    );
    let m = vec![statistic(StatisticMode::Random { probability: 0.5 }, true)];
    assert_eq!(v4(m, Action::Drop)[..2], ["meta load 24", "cmp 5 80000000"]);
}

#[test]
fn nth_compares_the_rule_counter_in_host_order() {
    let nth = |packet, negate| vec![statistic(StatisticMode::Nth { every: 3, packet }, negate)];
    assert_eq!(
        v4(nth(0, false), Action::Accept),
        [
            "numgen inc mod 3 offset 0",
            &format!("cmp 0 {}", host_word(0)),
            COUNTER,
            ACCEPT
        ]
    );
    assert_eq!(
        v4(nth(2, true), Action::Accept)[1],
        format!("cmp 1 {}", host_word(2))
    );
}

#[test]
fn ordering_operators_follow_their_json_spelling() {
    let cases = [
        (Operator::EQ, "==", NFT_CMP_EQ),
        (Operator::NEQ, "!=", NFT_CMP_NEQ),
        (Operator::GT, "<", NFT_CMP_LT),
        (Operator::LT, ">", NFT_CMP_GT),
        (Operator::LEQ, "<=", NFT_CMP_LTE),
        (Operator::GEQ, ">=", NFT_CMP_GTE),
    ];
    for (op, json, cmp) in cases {
        assert_eq!(serde_json::to_value(op).unwrap(), json);
        assert_eq!(cmp_op(op), Some(cmp), "{json}");
    }
    assert_eq!(cmp_op(Operator::IN), None);
}

fn compare(left: Expression<'static>, op: Operator, n: u32) -> Statement<'static> {
    Statement::Match(NftMatch {
        left,
        right: Expression::Number(n),
        op,
    })
}

fn tcp_port(field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "tcp".into(),
            field: field.into(),
        },
    )))
}

#[test]
fn ordered_compares_are_neither_merged_nor_written_for_host_order_fields() {
    let ports = [
        compare(tcp_port("sport"), Operator::GT, 5),
        compare(tcp_port("dport"), Operator::GT, 6),
    ];
    assert_eq!(
        lower_rule(&ports, Family::Ipv4)
            .unwrap()
            .exprs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            L4,
            "cmp 0 06",
            "payload 2b @ transport + 0",
            "cmp 2 0005",
            "payload 2b @ transport + 2",
            "cmp 2 0006"
        ]
    );
    let mark = Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Mark }));
    let lowered = lower_rule(&[compare(mark, Operator::GEQ, 5)], Family::Ipv4).unwrap();
    let shown: Vec<String> = lowered.exprs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "meta load 3",
            "byteorder reg 1 = hton(reg 1, 4, 4)",
            "cmp 5 00000005"
        ]
    );
}

/// `-m addrtype`: source and destination types, negated or not, limited to
/// an interface or not.
fn addrtype(
    src: Option<(u16, bool)>,
    dst: Option<(u16, bool)>,
    limit_iface_in: bool,
    limit_iface_out: bool,
) -> Vec<Match> {
    let types = |spec: Option<(u16, bool)>| spec.map(|(t, n)| (moat_model::AddrTypes(t), n));
    vec![Match::AddrType {
        src: types(src),
        dst: types(dst),
        limit_iface_in,
        limit_iface_out,
    }]
}

const LOCAL: u16 = 4;

#[test]
fn an_address_type_is_a_fib_lookup_compared_in_host_order() {
    let local = format!("cmp 0 {}", host_word(2));
    assert_eq!(
        v4(
            addrtype(None, Some((LOCAL, false)), false, false),
            Action::Accept
        ),
        [
            "fib flags 0x2 result 3 => reg 1",
            local.as_str(),
            COUNTER,
            ACCEPT
        ]
    );
    assert_eq!(
        v4(
            addrtype(Some((LOCAL, false)), Some((LOCAL, true)), true, false),
            Action::Accept
        ),
        [
            "fib flags 0x9 result 3 => reg 1",
            local.as_str(),
            "fib flags 0xa result 3 => reg 1",
            &format!("cmp 1 {}", host_word(2)),
            COUNTER,
            ACCEPT
        ]
    );
    // BROADCAST, behind `. oif`.
    assert_eq!(
        v4(
            addrtype(None, Some((8, false)), false, true),
            Action::Accept
        )[..2],
        [
            "fib flags 0x12 result 3 => reg 1",
            &format!("cmp 0 {}", host_word(3))
        ]
    );
    let v6 = |src, dst| lowered(Family::Ipv6, addrtype(src, dst, false, false), Action::Drop);
    assert_eq!(
        v6(Some((LOCAL, true)), None).unwrap()[..2],
        [
            "fib flags 0x1 result 3 => reg 1",
            &format!("cmp 1 {}", host_word(2))
        ]
    );
    // IPv6 MULTICAST is a test of the address, LOCAL a route lookup.
    assert_eq!(
        v6(None, Some((32 | LOCAL, false))).unwrap()[..4],
        [
            "payload 1b @ network + 24",
            "cmp 0 ff",
            "fib flags 0x2 result 3 => reg 1",
            local.as_str()
        ]
    );
}

#[test]
fn a_fib_lookup_is_sent_as_nft_sends_it() {
    use super::super::expr::NlExpr;
    use crate::netlink::wire::{be_u32, Attrs, Writer};
    let mut w = Writer::default();
    NlExpr::Fib {
        reg: NFT_REG_1,
        result: NFT_FIB_RESULT_ADDRTYPE,
        flags: NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF,
    }
    .write(&mut w);
    let buf = w.into_bytes();
    let (_, elem) = Attrs(&buf).next().unwrap();
    let data = Attrs(Attrs(elem).get(NFTA_EXPR_DATA).unwrap());
    // nft 1.0.6 (`--debug=mnl`): flags, result, destination register.
    let sent: Vec<_> = data.map(|(kind, value)| (kind, be_u32(value))).collect();
    assert_eq!(
        sent,
        [
            (NFTA_FIB_FLAGS, Some(9)),
            (NFTA_FIB_RESULT, Some(3)),
            (NFTA_FIB_DREG, Some(NFT_REG_1))
        ]
    );
}

/// The expressions and anonymous sets of a rule of `matches` that accepts.
fn with_sets(family: Family, matches: Vec<Match>) -> (Vec<String>, Vec<AnonSet>) {
    action_with_sets(family, matches, Action::Accept)
}

/// A rule's expressions, and the anonymous sets and maps it declares.
fn action_with_sets(
    family: Family,
    matches: Vec<Match>,
    action: Action,
) -> (Vec<String>, Vec<AnonSet>) {
    let rule = Rule {
        matches,
        ..Rule::new(action)
    };
    let ctx = RuleContext {
        family,
        stage: Stage::Filter,
        table: "t".into(),
    };
    let compiled = compile_rule(&rule, "INPUT", &ctx).unwrap();
    let lowered = lower_rule(&compiled.stmts, family).unwrap();
    let exprs = lowered.exprs.iter().map(ToString::to_string).collect();
    (exprs, lowered.sets)
}

fn port_key(desc: u32, index: u32) -> Key {
    Key {
        ty: TYPE_INET_SERVICE,
        len: 2,
        big_endian: true,
        expr: UDATA_EXPR_PAYLOAD,
        data: [desc, index],
    }
}

fn port_bytes(p: u16) -> Vec<u8> {
    p.to_be_bytes().to_vec()
}

const LOOKUP: &str = "lookup reg 1 set __set%d";
const LOOKUP_INV: &str = "lookup reg 1 set __set%d 0x1";

/// A port list longer than xt_multiport's 15 slots (moat.toml's) is a set.
#[test]
fn a_long_port_list_is_a_set_lookup() {
    // `pairs`, then `count` ranges `width` wide from `base`, `step` apart.
    let ports = |pairs: &[(u16, u16)], count: u16, base: u16, step: u16, width: u16| {
        let spread = (0..count).map(|i| (base + step * i, base + step * i + width));
        pairs
            .iter()
            .copied()
            .chain(spread)
            .map(|(first, last)| PortRange { first, last })
            .collect::<Vec<_>>()
    };
    let dports = vec![
        tcp(),
        Match::DestPort {
            proto: 6,
            ports: ports(&[(443, 443), (80, 80)], 14, 8000, 2, 0),
            negate: false,
        },
    ];
    let (exprs, sets) = with_sets(Family::Ipv4, dports);
    assert_eq!(
        exprs,
        [
            L4,
            "cmp 0 06",
            "payload 2b @ transport + 2",
            LOOKUP,
            COUNTER,
            ACCEPT
        ]
    );
    let expected = AnonSet::values(
        port_key(PROTO_DESC_TCP, 2),
        [80, 443]
            .into_iter()
            .chain((0..14).map(|i| 8000 + 2 * i))
            .map(port_bytes)
            .collect(),
    );
    assert_eq!(sets, [expected.unwrap()]);

    // A range makes it an interval set; `!` inverts the lookup; a port
    // alone gets the protocol test nft adds.
    let sports = vec![Match::SourcePort {
        proto: 17,
        ports: ports(&[(53, 53), (1000, 2000)], 7, 3000, 10, 5),
        negate: true,
    }];
    let (exprs, sets) = with_sets(Family::Ipv6, sports);
    assert_eq!(
        exprs[..4],
        [L4, "cmp 0 11", "payload 2b @ transport + 0", LOOKUP_INV]
    );
    let expected = AnonSet::intervals(
        port_key(PROTO_DESC_UDP, 1),
        [(53, 53), (1000, 2000)]
            .into_iter()
            .chain((0..7).map(|i| (3000 + 10 * i, 3005 + 10 * i)))
            .map(|(first, last)| (port_bytes(first), port_bytes(last)))
            .collect(),
    );
    assert_eq!(sets, [expected.unwrap()]);
}

#[test]
fn several_address_types_are_a_set_lookup_of_route_types() {
    let fib_key = |flags| Key {
        ty: TYPE_FIB_ADDRTYPE,
        len: 4,
        big_endian: false,
        expr: UDATA_EXPR_FIB,
        data: [NFT_FIB_RESULT_ADDRTYPE, flags],
    };
    let host = |types: &[u32]| types.iter().map(|t| t.to_ne_bytes().to_vec()).collect();
    let (exprs, sets) = with_sets(
        Family::Ipv4,
        addrtype(Some((LOCAL | 8, true)), None, true, false),
    );
    assert_eq!(exprs[..2], ["fib flags 0x9 result 3 => reg 1", LOOKUP_INV]);
    let expected = AnonSet::values(fib_key(NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF), host(&[2, 3]));
    assert_eq!(sets, [expected.unwrap()]);
    // ip6tables' UNREACHABLE is any failed route lookup: four route types,
    // in the order moat lists them.
    let (exprs, sets) = with_sets(
        Family::Ipv6,
        addrtype(None, Some((128, false)), false, false),
    );
    assert_eq!(exprs[..2], ["fib flags 0x2 result 3 => reg 1", LOOKUP]);
    let expected = AnonSet::values(fib_key(NFTA_FIB_F_DADDR), host(&[7, 6, 8, 9]));
    assert_eq!(sets, [expected.unwrap()]);
}

#[test]
fn ipv6_unicast_is_a_lookup_of_the_other_classes() {
    let (exprs, sets) = with_sets(Family::Ipv6, addrtype(None, Some((2, false)), false, false));
    assert_eq!(exprs[..2], ["payload 16b @ network + 24", LOOKUP_INV]);
    let addr = |text: &str| {
        text.parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec()
    };
    let key = Key {
        ty: TYPE_IP6ADDR,
        len: 16,
        big_endian: true,
        expr: UDATA_EXPR_PAYLOAD,
        data: [PROTO_DESC_IP6, 9],
    };
    let expected = AnonSet::intervals(
        key,
        vec![
            (addr("::"), addr("::")),
            (addr("::ffff:0:0"), addr("::ffff:ffff:ffff")),
            (
                addr("ff00::"),
                addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ),
        ],
    );
    assert_eq!(sets, [expected.unwrap()]);
}

// `ip6 hoplimit set ip6 hoplimit map { ... }` as nft 1.0.6 writes it (see
// anon_set.rs); the IPv4 TTL the same way at its offset, with the header
// checksum (nft refuses that one).
#[test]
fn hop_count_steps_are_a_lookup_in_an_inline_map() {
    let (exprs, maps) = action_with_sets(Family::Ipv6, vec![], Action::HopLimit(TtlOp::Dec(5)));
    assert_eq!(
        exprs,
        [
            COUNTER,
            "payload 1b @ network + 7",
            "lookup reg 1 set __map%d dreg 1",
            "payload write 1b @ network + 7 csum_type 0 csum_off 0"
        ]
    );
    let pairs = (0..=255u8)
        .map(|old| (vec![old], vec![old.saturating_sub(5)]))
        .collect();
    assert_eq!(maps, [super::rewrite::byte_map(pairs).unwrap()]);
    assert_eq!(maps[0].name(), "__map%d");

    let (exprs, maps) = action_with_sets(Family::Ipv4, vec![], Action::Ttl(TtlOp::Inc(1)));
    assert_eq!(exprs[1], "payload 1b @ network + 8");
    assert_eq!(
        exprs[3],
        "payload write 1b @ network + 8 csum_type 1 csum_off 10"
    );
    assert_eq!(maps.len(), 1);
}
