//! IP addresses: networks, ranges, prefix masks and named-set lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use moat_model::{Family, SetMatchOptions, SetSide};
use nftables::expr::{Expression, NamedExpression, Prefix};
use nftables::schema::SetType;
use nftables::stmt::Statement;

use super::build::{and, eq, never, payload, range as range_expr, set_ref, text};
use super::{refuse, CompileError};
use crate::layout::blocklist_set_name;

/// Which address of the packet a match looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The source address.
    Source,
    /// The destination address.
    Dest,
}

impl From<SetSide> for Side {
    fn from(side: SetSide) -> Self {
        match side {
            SetSide::Source => Side::Source,
            SetSide::Destination => Side::Dest,
        }
    }
}

/// The longest prefix of `family` (32 or 128).
pub(super) fn max_prefix(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

/// The set key type of an address of `family`.
pub(super) fn addr_type(family: Family) -> SetType {
    match family {
        Family::Ipv4 => SetType::Ipv4Addr,
        Family::Ipv6 => SetType::Ipv6Addr,
    }
}

/// Refuses an address of the other family.
pub(super) fn check_family(addr: IpAddr, family: Family) -> Result<(), CompileError> {
    match (addr, family) {
        (IpAddr::V4(_), Family::Ipv4) | (IpAddr::V6(_), Family::Ipv6) => Ok(()),
        _ => refuse(format!(
            "address {addr} is not an {} address (the rule is in an {0} table)",
            family.name()
        )),
    }
}

/// The packet's address on `side`: `ip saddr`, `ip6 daddr`, ...
pub(super) fn field(side: Side, family: Family) -> Expression<'static> {
    let protocol = match family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    let field = match side {
        Side::Source => "saddr",
        Side::Dest => "daddr",
    };
    payload(protocol, field)
}

/// `net` as the right side of a match: a plain address for a host, else a prefix.
/// None for a zero-length prefix, which every address is in.
pub(super) fn net_expr(
    net: &IpNet,
    family: Family,
) -> Result<Option<Expression<'static>>, CompileError> {
    check_family(net.addr(), family)?;
    let net = net.trunc();
    let addr = text(moat_model::addr_text::ip_text(net.addr()));
    Ok(match net.prefix_len() {
        0 => None,
        len if len == net.max_prefix_len() => Some(addr),
        len => Some(Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr),
            len: len.into(),
        }))),
    })
}

/// `expr` compared with `net` (`ip saddr 10.0.0.0/8`); a zero-length prefix
/// matches every packet, so negated it matches none, as in iptables.
pub(super) fn in_net(
    expr: Expression<'static>,
    net: &IpNet,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    Ok(match net_expr(net, family)? {
        Some(right) => vec![eq(expr, right, negate)],
        None if negate => vec![never(family)],
        None => Vec::new(),
    })
}

/// `-s`/`-d`: the packet's address on `side` is in `net`.
pub(super) fn net(
    side: Side,
    net: &IpNet,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    in_net(field(side, family), net, negate, family)
}

/// `-s ADDR/MASK` with a mask that is not a prefix: `ip saddr &
/// 255.0.255.0 == 10.0.0.0`, as iptables-nft writes it.
pub(super) fn masked_eq(
    side: SetSide,
    addr: IpAddr,
    mask: IpAddr,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    check_family(addr, family)?;
    check_family(mask, family)?;
    let left = and(
        field(side.pick(Side::Source, Side::Dest), family),
        text(mask.to_string()),
    );
    Ok(vec![eq(left, text(addr.to_string()), negate)])
}

/// `-m iprange`: the packet's address on `side` lies in `from..=to`.
pub(super) fn range(
    side: Side,
    from: IpAddr,
    to: IpAddr,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    check_family(from, family)?;
    check_family(to, family)?;
    if from > to {
        // iptables accepts the rule; no address is in the range.
        return Ok(if negate {
            Vec::new()
        } else {
            vec![never(family)]
        });
    }
    let right = if from == to {
        text(from.to_string())
    } else {
        range_expr(text(from.to_string()), text(to.to_string()))
    };
    Ok(vec![eq(field(side, family), right, negate)])
}

/// The netmask of a `prefix`-bit prefix of `family`.
fn netmask(prefix: u8, family: Family) -> Result<IpAddr, CompileError> {
    let max = max_prefix(family);
    if prefix > max {
        return refuse(format!(
            "prefix length /{prefix} is longer than an {} address",
            family.name()
        ));
    }
    Ok(match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(
            u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0),
        )),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(
            u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0),
        )),
    })
}

/// The packet's address on `side` masked to `prefix` bits (`ip saddr & 255.255.255.0`).
pub(super) fn masked_addr(
    side: Side,
    prefix: u8,
    family: Family,
) -> Result<Expression<'static>, CompileError> {
    let mask = netmask(prefix, family)?;
    Ok(if prefix == max_prefix(family) {
        field(side, family)
    } else {
        and(field(side, family), text(mask.to_string()))
    })
}

/// `-m set --match-set NAME src|dst`: the packet's source or destination
/// address is in moat block list `NAME`, whose copy in the rule's table is
/// the set [`blocklist_set_name`] (declared by whoever applies the rule).
/// Block lists hold addresses, so exactly one side is looked up, and keep
/// no counters, so the ipset options are refused.
pub(super) fn in_set(
    name: &str,
    sides: &[SetSide],
    negate: bool,
    options: &SetMatchOptions,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if name.is_empty() {
        return refuse("set match with an empty set name");
    }
    if *options != SetMatchOptions::default() {
        return refuse(format!(
            "--match-set {name}:{} works on an ipset; moat block list {name} keeps no counters \
             or nomatch elements",
            options.text(false)
        ));
    }
    let side = match sides {
        [one] => *one,
        [] => return refuse(format!("set match on {name:?} names no address to look up")),
        _ => {
            return refuse(format!(
                "--match-set {name}: moat's sets are block lists of addresses, so give one flag (src or dst), not {}",
                sides.len()
            ))
        }
    };
    Ok(vec![eq(
        field(side.into(), family),
        set_ref(&blocklist_set_name(name)),
        negate,
    )])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{compile_json, matches_json, v4, v6};
    use super::*;
    use moat_model::{Action, Match, Rule};

    #[test]
    fn source_net_is_a_prefix_and_host_is_an_address() {
        let m = Match::SourceNet {
            net: "10.1.2.3/8".parse().unwrap(),
            negate: false,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "==",
                "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}}])
        );
        let m = Match::DestNet {
            net: "2001:db8::1/128".parse().unwrap(),
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v6()),
            json!([{"match": {"op": "!=",
                "left": {"payload": {"protocol": "ip6", "field": "daddr"}},
                "right": "2001:db8::1"}}])
        );
    }

    #[test]
    fn zero_prefix_matches_all_and_negated_matches_none() {
        let any = |negate| Match::SourceNet {
            net: "0.0.0.0/0".parse().unwrap(),
            negate,
        };
        assert_eq!(matches_json(&[any(false)], v4()), json!([]));
        assert_eq!(
            matches_json(&[any(true)], v4()),
            json!([{"match": {"op": "!=",
                "left": {"payload": {"protocol": "ip", "field": "version"}}, "right": 4}}])
        );
    }

    #[test]
    fn address_of_the_other_family_is_refused() {
        let rule = Rule {
            matches: vec![Match::SourceNet {
                net: "2001:db8::/32".parse().unwrap(),
                negate: false,
            }],
            ..Rule::new(Action::Accept)
        };
        let err = compile_json(&rule, v4()).unwrap_err();
        assert!(err.0.contains("not an IPv4 address"), "{err}");
    }

    #[test]
    fn ranges_and_masks() {
        let m = Match::DestRange {
            from: "1.2.3.4".parse().unwrap(),
            to: "1.2.3.9".parse().unwrap(),
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "!=",
                "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                "right": {"range": ["1.2.3.4", "1.2.3.9"]}}}])
        );
        assert_eq!(
            serde_json::to_value(masked_addr(Side::Source, 24, Family::Ipv4).unwrap()).unwrap(),
            json!({"&": [{"payload": {"protocol": "ip", "field": "saddr"}}, "255.255.255.0"]})
        );
        assert_eq!(
            serde_json::to_value(masked_addr(Side::Dest, 64, Family::Ipv6).unwrap()).unwrap(),
            json!({"&": [{"payload": {"protocol": "ip6", "field": "daddr"}}, "ffff:ffff:ffff:ffff::"]})
        );
        assert!(masked_addr(Side::Dest, 33, Family::Ipv4).is_err());
    }

    #[test]
    fn set_lookup_uses_the_block_list_copy() {
        let m = Match::InSet {
            name: "bad".into(),
            sides: vec![SetSide::Destination],
            negate: true,
            options: Default::default(),
        };
        assert_eq!(
            matches_json(&[m], v6()),
            json!([{"match": {"op": "!=",
                "left": {"payload": {"protocol": "ip6", "field": "daddr"}},
                "right": "@blocklist.bad"}}])
        );
        let pairs = Rule {
            matches: vec![Match::InSet {
                name: "pairs".into(),
                sides: vec![SetSide::Source, SetSide::Destination],
                negate: false,
                options: Default::default(),
            }],
            ..Rule::new(Action::Accept)
        };
        let err = compile_json(&pairs, v4()).unwrap_err();
        assert!(err.0.contains("give one flag"), "{err}");
    }
}
