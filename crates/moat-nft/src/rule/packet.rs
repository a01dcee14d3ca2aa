//! Matches on the packet's own headers and metadata: protocol, interfaces,
//! fragments, TCP flags, ICMP types, MAC address, mark, link type, length,
//! TTL and hop limit, DS field, the CPU handling it, interface groups,
//! routing realm, the route back to the source.

use std::collections::HashSet;

use moat_model::{Compare, Family, Iface, PacketType, TcpFlags, XtExtension, XtLayout};
use nftables::expr::{Expression, Fib, FibFlag, FibResult, MetaKey, NamedExpression};
use nftables::stmt::{Operator, Statement};

use super::addr::{field, Side};
use super::build::{
    and, anon_set, cmp, concat, eq, masked, meta, network_bits, never, num, payload, range, text,
    GREATER, LESS,
};
use super::xt;
use super::{refuse, CompileError};

/// The longest interface name the kernel keeps (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// `-p PROTO`: `meta l4proto PROTO`. Protocol 0 (`-p all`) matches every
/// packet, negated or not, as in iptables.
pub(super) fn protocol(proto: u8, negate: bool) -> Vec<Statement<'static>> {
    if proto == 0 {
        return Vec::new();
    }
    vec![eq(meta(MetaKey::L4proto), num(proto.into()), negate)]
}

/// `-i NAME`: `iifname "NAME"` (`"eth*"` for `eth+`).
pub(super) fn in_interface(
    iface: &Iface,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    interface(MetaKey::Iifname, iface, negate, family)
}

/// `-o NAME`: `oifname "NAME"`.
pub(super) fn out_interface(
    iface: &Iface,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    interface(MetaKey::Oifname, iface, negate, family)
}

fn interface(
    key: MetaKey,
    iface: &Iface,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let name = &iface.name;
    if name.len() > IFNAME_MAX {
        return refuse(format!(
            "interface name {name:?} is longer than {IFNAME_MAX} characters"
        ));
    }
    if iface.wildcard && name.is_empty() {
        // `-i +` matches every packet; `! -i +` none.
        return Ok(if negate {
            vec![never(family)]
        } else {
            Vec::new()
        });
    }
    let pattern = if iface.wildcard {
        format!("{name}*")
    } else if let Some(stem) = name.strip_suffix('*') {
        // A literal trailing star, not nft's wildcard.
        format!("{stem}\\*")
    } else {
        name.clone()
    };
    Ok(vec![eq(meta(key), text(pattern), negate)])
}

/// `-f`: a second or later IPv4 fragment, `ip frag-off & 0x1fff != 0`.
pub(super) fn fragment(
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if family == Family::Ipv6 {
        return refuse("the fragment match (-f) exists only for IPv4");
    }
    let offset = and(payload("ip", "frag-off"), num(0x1fff));
    Ok(vec![eq(offset, num(0), !negate)])
}

/// `--tcp-flags MASK SET`: `tcp flags & MASK == SET`.
pub(super) fn tcp_flags(flags: TcpFlags, negate: bool) -> Vec<Statement<'static>> {
    let examined = and(payload("tcp", "flags"), num(flags.mask.into()));
    vec![eq(examined, num(flags.set.into()), negate)]
}

/// `--icmp-type TYPE[/CODE]`; type 255 is iptables' `any`.
pub(super) fn icmp(
    kind: u8,
    code: Option<u8>,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if family != Family::Ipv4 {
        return refuse("ICMP type matches exist only for IPv4 (use ICMPv6 types in IPv6 tables)");
    }
    if kind == 255 && negate {
        // Negated, iptables' `any` matches nothing.
        return Ok(vec![never(family)]);
    }
    // xt_icmp reads no later fragment's data (nf_tables would read the
    // fragment's first bytes as the header): such a packet matches no type
    // test, negated or not.
    let mut stmts = fragment(true, family)?;
    if kind == 255 {
        // Any ICMP packet whose header can be read.
        stmts.push(eq(payload("icmp", "type"), range(num(0), num(255)), false));
    } else {
        stmts.extend(type_code("icmp", kind, code, negate));
    }
    Ok(stmts)
}

/// `--icmpv6-type TYPE[/CODE]`.
pub(super) fn icmpv6(
    kind: u8,
    code: Option<u8>,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if family != Family::Ipv6 {
        return refuse("ICMPv6 type matches exist only for IPv6");
    }
    if negate {
        return Ok(vec![icmp6_xt(kind, code)]);
    }
    Ok(type_code("icmpv6", kind, code, negate))
}

/// `! --icmpv6-type TYPE[/CODE]` in the kernel's ip6t_icmp6, as iptables-nft
/// runs it: nf_tables reads a later fragment's "ICMPv6 header" from the
/// start of its IPv6 header (the kernel knows no transport header there),
/// so a negated native test would take every later fragment of an ICMPv6
/// message (a large ping) for another type; ip6t_icmp6 matches none. (A
/// positive test never meets its type there: the IPv6 header's first
/// byte, 0x6_, is no ICMPv6 type in use.)
fn icmp6_xt(kind: u8, code: Option<u8>) -> Statement<'static> {
    /// ip6t_icmp's `invflags` bit for a negated test.
    const IP6T_ICMP_INV: u8 = 0x01;
    let (low, high) = code.map_or((0, 0xff), |c| (c, c));
    let mut info = XtLayout::new();
    info.u8(kind).u8(low).u8(high).u8(IP6T_ICMP_INV);
    let code_text = code.map(|c| format!("/{c}")).unwrap_or_default();
    xt::statement(&XtExtension::new(
        "icmp6",
        0,
        info.finish(),
        format!("-m icmp6 ! --icmpv6-type {kind}{code_text}"),
    ))
}

/// `PROTO type T [PROTO code C]`; negated with a code, the pair is compared
/// as one value so that the rule matches unless both are equal.
fn type_code(
    protocol: &'static str,
    kind: u8,
    code: Option<u8>,
    negate: bool,
) -> Vec<Statement<'static>> {
    let ty = payload(protocol, "type");
    match code {
        None => vec![eq(ty, num(kind.into()), negate)],
        Some(code) if !negate => vec![
            eq(ty, num(kind.into()), false),
            eq(payload(protocol, "code"), num(code.into()), false),
        ],
        Some(code) => {
            let pair = concat(vec![ty, payload(protocol, "code")]);
            let value = concat(vec![num(kind.into()), num(code.into())]);
            vec![cmp(pair, Operator::NEQ, anon_set(vec![value]))]
        }
    }
}

/// `-m mac --mac-source MAC`: `ether saddr MAC`.
pub(super) fn source_mac(mac: &[u8; 6], negate: bool) -> Vec<Statement<'static>> {
    let text_mac = moat_model::addr_text::mac_text(mac);
    vec![eq(payload("ether", "saddr"), text(text_mac), negate)]
}

/// `-m mark --mark VALUE/MASK`: `meta mark & MASK == VALUE`.
pub(super) fn mark(value: u32, mask: u32, negate: bool) -> Vec<Statement<'static>> {
    vec![eq(masked(meta(MetaKey::Mark), mask), num(value), negate)]
}

/// `-m pkttype --pkt-type TYPE`: `meta pkttype TYPE`.
pub(super) fn packet_type(kind: PacketType, negate: bool) -> Vec<Statement<'static>> {
    let value = match kind {
        PacketType::Unicast => text("host"),
        PacketType::Broadcast => text("broadcast"),
        PacketType::Multicast => text("multicast"),
        // nft has no name for PACKET_OTHERHOST.
        PacketType::OtherHost => num(3),
    };
    vec![eq(meta(MetaKey::Pkttype), value, negate)]
}

/// `-m length --length MIN:MAX`: the IP length header field (IPv4 total
/// length; IPv6 payload length plus the 40-byte header, as iptables counts).
pub(super) fn length(min: u16, max: u16, negate: bool, family: Family) -> Vec<Statement<'static>> {
    let (field, header) = match family {
        Family::Ipv4 => (payload("ip", "length"), 0),
        Family::Ipv6 => (payload("ip6", "length"), 40),
    };
    if min > max || max < header {
        // No packet has such a length.
        return if negate {
            Vec::new()
        } else {
            vec![never(family)]
        };
    }
    let (lo, hi) = (min.saturating_sub(header), max - header);
    let right = if lo == hi {
        num(lo.into())
    } else {
        range(num(lo.into()), num(hi.into()))
    };
    vec![eq(field, right, negate)]
}

/// `-m ttl` / `-m hl`: `ip ttl < 5`, `ip6 hoplimit != 64`, ... (`< 0` and
/// `> 255` are kept: the kernel compares them, and they never hold, as in
/// iptables).
pub(super) fn hop_limit(how: Compare, value: u8, family: Family) -> Vec<Statement<'static>> {
    let field = match family {
        Family::Ipv4 => payload("ip", "ttl"),
        Family::Ipv6 => payload("ip6", "hoplimit"),
    };
    let op = match how {
        Compare::Equal => Operator::EQ,
        Compare::NotEqual => Operator::NEQ,
        Compare::Less => LESS,
        Compare::Greater => GREATER,
    };
    vec![cmp(field, op, num(value.into()))]
}

/// `-m tos` / `-m dscp`: `DS field & mask == value`, on the raw header
/// bits, which is also how nft writes `ip dscp` and `ip6 dscp`: the TOS
/// byte `@nh,8,8`; in IPv6 the traffic class is bits 4-11, so `@nh,0,16`
/// with mask and value shifted left by four.
pub(super) fn ds_field(
    value: u8,
    mask: u8,
    negate: bool,
    family: Family,
) -> Vec<Statement<'static>> {
    let stmt = match family {
        Family::Ipv4 if mask == u8::MAX => eq(network_bits(8, 8), num(value.into()), negate),
        Family::Ipv4 => eq(
            and(network_bits(8, 8), num(mask.into())),
            num(value.into()),
            negate,
        ),
        Family::Ipv6 => eq(
            and(network_bits(0, 16), num(u32::from(mask) << 4)),
            num(u32::from(value) << 4),
            negate,
        ),
    };
    vec![stmt]
}

/// `-m cpu --cpu N`: `meta cpu N`.
pub(super) fn cpu(cpu: u32, negate: bool) -> Vec<Statement<'static>> {
    vec![eq(meta(MetaKey::Cpu), num(cpu), negate)]
}

/// The route type of this host's own addresses (RTN_LOCAL).
const ROUTE_LOCAL: u32 = 2;
/// The last route type the kernel has (RTN_XRESOLVE).
const ROUTE_LAST: u32 = 11;

/// `-m rpfilter`: `fib saddr [. mark] [. iif] oif` names an interface when
/// the source routes back (through the incoming one unless `loose`), and is
/// `0` when it does not (`--invert`), as iptables-translate writes it.
///
/// With `--accept-local` a source that is this host's own address passes
/// too, which takes a second lookup, of its route type, and one test of
/// both: the pair `oif . type` is in `{ 0 . 0-1, 0 . 3-11 }` (no route back
/// and not local) exactly when the packet fails. The kernel's xt_rpfilter
/// takes an IPv4 address only when it is the incoming interface's own (so
/// the type is looked up on that interface unless `loose`), and any of the
/// host's IPv6 addresses.
///
/// An IPv6 packet from the unspecified address `::` (duplicate address
/// detection, multicast listener reports) always passes, as in ip6t_rpfilter
/// (the forward path drops what it cannot route): its source joins the
/// tested tuple, and the failing elements hold every other source.
pub(super) fn reverse_path(
    loose: bool,
    valid_mark: bool,
    accept_local: bool,
    negate: bool,
    family: Family,
) -> Vec<Statement<'static>> {
    let mut flags = HashSet::from([FibFlag::Saddr]);
    if valid_mark {
        flags.insert(FibFlag::Mark);
    }
    if !loose {
        flags.insert(FibFlag::Iif);
    }
    let route_back = Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Oif,
        flags,
    }));
    let op = if negate { Operator::EQ } else { Operator::NEQ };
    // The sources a failing IPv6 packet may have: all but `::`.
    let specified = range(text("::1"), text("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    if !accept_local {
        if family == Family::Ipv6 {
            let failing = anon_set(vec![concat(vec![num(0), specified])]);
            let tested = concat(vec![route_back, field(Side::Source, family)]);
            return vec![cmp(tested, op, failing)];
        }
        return vec![eq(route_back, num(0), !negate)];
    }
    let mut type_flags = HashSet::from([FibFlag::Saddr]);
    if !loose && family == Family::Ipv4 {
        type_flags.insert(FibFlag::Iif);
    }
    let route_type = Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Type,
        flags: type_flags,
    }));
    let mut tested = vec![route_back, route_type];
    let mut failing = vec![
        vec![num(0), range(num(0), num(ROUTE_LOCAL - 1))],
        vec![num(0), range(num(ROUTE_LOCAL + 1), num(ROUTE_LAST))],
    ];
    if family == Family::Ipv6 {
        tested.push(field(Side::Source, family));
        for element in &mut failing {
            element.push(specified.clone());
        }
    }
    let failing = anon_set(failing.into_iter().map(concat).collect());
    vec![cmp(concat(tested), op, failing)]
}

/// `-m devgroup`: `meta iifgroup & mask == value` (`oifgroup` for the
/// output interface).
pub(super) fn device_group(
    output: bool,
    value: u32,
    mask: u32,
    negate: bool,
) -> Vec<Statement<'static>> {
    let key = if output {
        MetaKey::Oifgroup
    } else {
        MetaKey::Iifgroup
    };
    vec![eq(masked(meta(key), mask), num(value), negate)]
}

/// `-m realm`: `meta rtclassid & mask == value`.
pub(super) fn realm(value: u32, mask: u32, negate: bool) -> Vec<Statement<'static>> {
    vec![eq(
        masked(meta(MetaKey::Rtclassid), mask),
        num(value),
        negate,
    )]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{compile_json, matches_json, v4, v6};
    use moat_model::{Action, Compare, Iface, Match, PacketType, Rule, TcpFlags};

    fn iface(name: &str, wildcard: bool) -> Iface {
        Iface {
            name: name.into(),
            wildcard,
        }
    }

    #[test]
    fn protocol_and_interfaces() {
        let ms = [
            Match::Protocol {
                proto: 6,
                negate: false,
            },
            Match::InInterface {
                iface: iface("eth", true),
                negate: false,
            },
            Match::OutInterface {
                iface: iface("lo", false),
                negate: true,
            },
        ];
        assert_eq!(
            matches_json(&ms, v4()),
            json!([
                {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 6}},
                {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth*"}},
                {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "lo"}},
            ])
        );
    }

    #[test]
    fn protocol_all_and_any_interface_match_everything() {
        let ms = [
            Match::Protocol {
                proto: 0,
                negate: true,
            },
            Match::InInterface {
                iface: iface("", true),
                negate: false,
            },
        ];
        assert_eq!(matches_json(&ms, v4()), json!([]));
    }

    #[test]
    fn fragment_is_ipv4_only() {
        let m = Match::Fragment { negate: false };
        assert_eq!(
            matches_json(std::slice::from_ref(&m), v4()),
            json!([{"match": {"op": "!=",
                "left": {"&": [{"payload": {"protocol": "ip", "field": "frag-off"}}, 8191]},
                "right": 0}}])
        );
        let rule = Rule {
            matches: vec![m],
            ..Rule::new(Action::Accept)
        };
        assert!(compile_json(&rule, v6()).is_err());
    }

    #[test]
    fn tcp_flags_mask_and_set() {
        let m = Match::TcpFlags {
            flags: TcpFlags {
                mask: 0x17,
                set: 0x02,
            },
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "!=",
                "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, 23]},
                "right": 2}}])
        );
    }

    #[test]
    fn icmp_type_code_and_negated_pair() {
        let m = Match::Icmp {
            kind: 3,
            code: Some(1),
            negate: false,
        };
        let first_fragment = json!({"match": {"op": "==",
            "left": {"&": [{"payload": {"protocol": "ip", "field": "frag-off"}}, 0x1fff]},
            "right": 0}});
        assert_eq!(
            matches_json(&[m], v4()),
            json!([
                first_fragment,
                {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": 3}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "code"}}, "right": 1}},
            ])
        );
        let m = Match::Icmp {
            kind: 3,
            code: Some(1),
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([first_fragment, {"match": {"op": "!=",
                "left": {"concat": [{"payload": {"protocol": "icmp", "field": "type"}},
                                    {"payload": {"protocol": "icmp", "field": "code"}}]},
                "right": {"set": [{"concat": [3, 1]}]}}}])
        );
        // Negated in IPv6, ip6t_icmp6: type 1, codes 4 to 4, inverted.
        let m = Match::Icmpv6 {
            kind: 1,
            code: Some(4),
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v6()),
            json!([{"xt": {"type": "match", "name": "icmp6", "rev": 0,
                "info": "0104040100000000"}}])
        );
    }

    #[test]
    fn icmp_any_reads_the_header() {
        let m = Match::Icmp {
            kind: 255,
            code: None,
            negate: false,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([
                {"match": {"op": "==",
                    "left": {"&": [{"payload": {"protocol": "ip", "field": "frag-off"}}, 0x1fff]},
                    "right": 0}},
                {"match": {"op": "==",
                    "left": {"payload": {"protocol": "icmp", "field": "type"}},
                    "right": {"range": [0, 255]}}}
            ])
        );
    }

    #[test]
    fn mac_mark_pkttype() {
        let ms = [
            Match::SourceMac {
                mac: [0, 0x11, 0x22, 0xaa, 0xbb, 0xcc],
                negate: false,
            },
            Match::Mark {
                value: 1,
                mask: 0xff,
                negate: false,
            },
            Match::Mark {
                value: 5,
                mask: u32::MAX,
                negate: true,
            },
            Match::PacketType {
                kind: PacketType::Unicast,
                negate: false,
            },
        ];
        assert_eq!(
            matches_json(&ms, v4()),
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "saddr"}}, "right": "00:11:22:aa:bb:cc"}},
                {"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 255]}, "right": 1}},
                {"match": {"op": "!=", "left": {"meta": {"key": "mark"}}, "right": 5}},
                {"match": {"op": "==", "left": {"meta": {"key": "pkttype"}}, "right": "host"}},
            ])
        );
    }

    #[test]
    fn ipv6_length_counts_the_header() {
        let m = Match::Length {
            min: 100,
            max: 200,
            negate: false,
        };
        assert_eq!(
            matches_json(std::slice::from_ref(&m), v6()),
            json!([{"match": {"op": "==",
                "left": {"payload": {"protocol": "ip6", "field": "length"}},
                "right": {"range": [60, 160]}}}])
        );
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "==",
                "left": {"payload": {"protocol": "ip", "field": "length"}},
                "right": {"range": [100, 200]}}}])
        );
    }

    #[test]
    fn ttl_and_hop_limit() {
        let lt = Match::HopLimit {
            cmp: Compare::Less,
            value: 5,
        };
        assert_eq!(
            matches_json(std::slice::from_ref(&lt), v4()),
            json!([{"match": {"op": "<", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 5}}])
        );
        let ne = Match::HopLimit {
            cmp: Compare::NotEqual,
            value: 64,
        };
        assert_eq!(
            matches_json(&[ne], v6()),
            json!([{"match": {"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "hoplimit"}}, "right": 64}}])
        );
        let gt = Match::HopLimit {
            cmp: Compare::Greater,
            value: 200,
        };
        assert_eq!(
            matches_json(&[gt], v4()),
            json!([{"match": {"op": ">", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 200}}])
        );
    }

    #[test]
    fn ds_field_reads_the_raw_header_bits() {
        let dscp = Match::DsField {
            value: 0x2e << 2,
            mask: 0xfc,
            negate: false,
        };
        let raw = |offset: u32, len: u32| json!({"payload": {"base": "nh", "offset": offset, "len": len}});
        assert_eq!(
            matches_json(std::slice::from_ref(&dscp), v4()),
            json!([{"match": {"op": "==", "left": {"&": [raw(8, 8), 0xfc]}, "right": 0xb8}}])
        );
        assert_eq!(
            matches_json(&[dscp], v6()),
            json!([{"match": {"op": "==", "left": {"&": [raw(0, 16), 0xfc0]}, "right": 0xb80}}])
        );
        let tos = Match::DsField {
            value: 0x10,
            mask: 0xff,
            negate: true,
        };
        assert_eq!(
            matches_json(&[tos], v4()),
            json!([{"match": {"op": "!=", "left": raw(8, 8), "right": 0x10}}])
        );
    }
}
