//! Matches against an inline set, `left == { a, b-c, d/len }` or `!=`: nft
//! loads the field into register 1 and looks it up in an anonymous set
//! ([`AnonSet`]) declared before the rule. Only fields whose set
//! declaration this driver knows are lowered: transport ports, IPv6
//! addresses, route types and the interface of a route back.

use moat_model::Family;
use nftables::expr::{Expression, NamedExpression, Payload, SetItem};
use nftables::stmt::Match;

use super::super::anon_set::{AnonSet, Key, ANON_SET_NAME};
use super::super::expr::NlExpr;
use super::fields::{self, Field, Kind, Load};
use super::values;
use crate::netlink::consts::*;

/// The key nft declares for a set of `left`'s values, `field` being what
/// `left` loads.
pub(super) fn key(left: &Expression<'_>, field: &Field) -> Option<Key> {
    if let Load::Fib(result, flags) = field.load {
        let ty = match result {
            NFT_FIB_RESULT_ADDRTYPE => TYPE_FIB_ADDRTYPE,
            NFT_FIB_RESULT_OIF => TYPE_IFINDEX,
            _ => return None,
        };
        return Some(Key {
            ty,
            len: 4,
            big_endian: false,
            expr: UDATA_EXPR_FIB,
            data: [result, flags],
        });
    }
    let Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) = left else {
        return None;
    };
    let port = |desc| {
        let index = match p.field.as_ref() {
            "sport" => 1,
            "dport" => 2,
            _ => return None,
        };
        Some(Key {
            ty: TYPE_INET_SERVICE,
            len: 2,
            big_endian: true,
            expr: UDATA_EXPR_PAYLOAD,
            data: [desc, index],
        })
    };
    let icmp = |desc, types: [u32; 2]| {
        let (index, ty) = match p.field.as_ref() {
            "type" => (1, types[0]),
            "code" => (2, types[1]),
            _ => return None,
        };
        Some(Key {
            ty,
            len: 1,
            big_endian: true,
            expr: UDATA_EXPR_PAYLOAD,
            data: [desc, index],
        })
    };
    match p.protocol.as_ref() {
        "icmp" => icmp(PROTO_DESC_ICMP, [TYPE_ICMP_TYPE, TYPE_ICMP_CODE]),
        "icmpv6" => icmp(PROTO_DESC_ICMPV6, [TYPE_ICMP6_TYPE, TYPE_ICMPV6_CODE]),
        "tcp" => port(PROTO_DESC_TCP),
        "udp" => port(PROTO_DESC_UDP),
        "udplite" => port(PROTO_DESC_UDPLITE),
        "sctp" => port(PROTO_DESC_SCTP),
        "dccp" => port(PROTO_DESC_DCCP),
        "ip6" if field.kind == Kind::Ipv6 => {
            let index = match p.field.as_ref() {
                "saddr" => 8,
                "daddr" => 9,
                _ => return None,
            };
            Some(Key {
                ty: TYPE_IP6ADDR,
                len: 16,
                big_endian: true,
                expr: UDATA_EXPR_PAYLOAD,
                data: [PROTO_DESC_IP6, index],
            })
        }
        _ => None,
    }
}

/// Whether a set element is one value (not a range or a prefix).
fn single(e: &Expression<'_>) -> bool {
    matches!(e, Expression::Number(_) | Expression::String(_))
}

/// A lookup in a named set of addresses, `ip saddr @blocklist.bad` (or
/// `!=`), as a block list's rule makes it: the field it loads and the
/// lookup, whose batch ID the encoder fills in.
pub(super) fn named_lookup(m: &Match<'_>, family: Family) -> Option<(Field, NlExpr)> {
    let invert = super::lookup_negated(m.op)?;
    let Expression::String(name) = &m.right else {
        return None;
    };
    let set = name
        .strip_prefix('@')
        .filter(|n| !n.is_empty() && !n.contains('\0'))?;
    let field = fields::field(&m.left, family)?;
    if field.high_nibble || !matches!(field.kind, Kind::Ipv4 | Kind::Ipv6) {
        return None;
    }
    let lookup = NlExpr::SetLookup {
        set: set.to_string(),
        set_id: None,
        invert,
    };
    Some((field, lookup))
}

/// An element as an inclusive range of `kind` (a value is one of its own).
pub(super) fn range(kind: Kind, item: &Expression<'_>) -> Option<(Vec<u8>, Vec<u8>)> {
    match item {
        Expression::Range(r) => {
            let [lo, hi] = &r.range;
            Some((values::constant(kind, lo)?, values::constant(kind, hi)?))
        }
        Expression::Named(NamedExpression::Prefix(p)) => {
            let (net, mask) = values::prefix(kind, &p.addr, p.len)?;
            let last = net.iter().zip(&mask).map(|(n, m)| n | !m).collect();
            Some((net, last))
        }
        _ => {
            let value = values::constant(kind, item)?;
            Some((value.clone(), value))
        }
    }
}

/// A match against an inline set: the field it loads, the set, and
/// whether it is negated. None when it is not one, or not one this driver
/// writes.
pub(super) fn lookup(m: &Match<'_>, family: Family) -> Option<(Field, AnonSet, bool)> {
    let invert = super::lookup_negated(m.op)?;
    let Expression::Named(NamedExpression::Set(items)) = &m.right else {
        return None;
    };
    let field = fields::field(&m.left, family)?;
    if field.high_nibble {
        return None;
    }
    let key = key(&m.left, &field)?;
    let items = items
        .iter()
        .map(|item| match item {
            SetItem::Element(e) => Some(e),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    if items.len() < 2 {
        // nft writes a set of one element as a plain compare.
        return None;
    }
    let set = if items.iter().all(|e| single(e)) {
        let values = items
            .iter()
            .map(|e| values::constant(field.kind, e))
            .collect::<Option<Vec<_>>>()?;
        AnonSet::values(key, values)?
    } else {
        let ranges = items
            .iter()
            .map(|e| range(field.kind, e))
            .collect::<Option<Vec<_>>>()?;
        AnonSet::intervals(key, ranges)?
    };
    Some((field, set, invert))
}

/// A lookup of a concatenation of fields in an inline set of ranges, as
/// nft writes multiport's `--ports` (`tcp sport . tcp dport { 22 . 0-65535,
/// 0-65535 . 22 }`) and rpfilter's `--accept-local` (`fib saddr . iif oif .
/// fib saddr . iif type { 0 . 0-1, 0 . 3-11 }`): each field loaded into the
/// next 32-bit register from register 1 (a host-order one then turned to
/// network order, since the set compares bytes), and a concatenated interval
/// set. Returns the loads (the negated lookup last when the match is `!=`),
/// the layer-4 protocol the fields need, and the set.
pub(super) fn concat_lookup(
    m: &Match<'_>,
    family: Family,
) -> Option<(Vec<NlExpr>, Option<u8>, AnonSet)> {
    let invert = super::lookup_negated(m.op)?;
    let Expression::Named(NamedExpression::Concat(parts)) = &m.left else {
        return None;
    };
    let Expression::Named(NamedExpression::Set(items)) = &m.right else {
        return None;
    };
    let fields = parts
        .iter()
        .map(|p| fields::field(p, family).filter(|f| !f.high_nibble))
        .collect::<Option<Vec<Field>>>()?;
    let l4 = fields.first()?.l4;
    if fields.iter().any(|f| f.l4 != l4) {
        return None;
    }
    let keys = parts
        .iter()
        .zip(&fields)
        .map(|(p, f)| {
            let key = key(p, f)?;
            // Host-order fields reach the set in network order.
            Some(Key {
                big_endian: true,
                ..key
            })
        })
        .collect::<Option<Vec<Key>>>()?;
    let elements = items
        .iter()
        .map(|item| match item {
            SetItem::Element(Expression::Named(NamedExpression::Concat(values)))
                if values.len() == fields.len() =>
            {
                Some(values)
            }
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let set = if elements.iter().all(|values| values.iter().all(single)) {
        if fields.iter().any(|f| matches!(f.kind, Kind::Host(_))) {
            // nft 1.0.6 would not turn such fields to network order here.
            return None;
        }
        let values = elements
            .iter()
            .map(|values| {
                values
                    .iter()
                    .zip(&fields)
                    .map(|(v, f)| network_order_range(f.kind, v).map(|(value, _)| value))
                    .collect::<Option<Vec<_>>>()
            })
            .collect::<Option<Vec<_>>>()?;
        AnonSet::concat_values(keys, values)?
    } else {
        let ranges = elements
            .iter()
            .map(|values| {
                values
                    .iter()
                    .zip(&fields)
                    .map(|(v, f)| network_order_range(f.kind, v))
                    .collect::<Option<Vec<_>>>()
            })
            .collect::<Option<Vec<_>>>()?;
        AnonSet::concat_intervals(keys, ranges)?
    };
    let mut loads = Vec::with_capacity(2 * fields.len() + 1);
    for (i, field) in fields.iter().enumerate() {
        let reg = match i {
            0 => NFT_REG_1,
            n => NFT_REG32_00 + u32::try_from(n).ok()?,
        };
        loads.push(field.load.expr_into(reg)?);
        if let Kind::Host(len) = field.kind {
            let len = u32::try_from(len).ok()?;
            loads.push(NlExpr::Byteorder {
                reg,
                op: NFT_BYTEORDER_HTON,
                len,
                size: len,
            });
        }
    }
    loads.push(NlExpr::SetLookup {
        set: ANON_SET_NAME.to_string(),
        set_id: None,
        invert,
    });
    Some((loads, l4, set))
}

/// An element's range of `kind` in network order, as a concatenated
/// interval set holds every field.
fn network_order_range(kind: Kind, item: &Expression<'_>) -> Option<(Vec<u8>, Vec<u8>)> {
    let Kind::Host(_) = kind else {
        return range(kind, item);
    };
    let swap = |e: &Expression<'_>| values::swapped(kind, e);
    match item {
        Expression::Range(r) => {
            let [lo, hi] = &r.range;
            Some((swap(lo)?, swap(hi)?))
        }
        Expression::Named(_) => None,
        _ => {
            let value = swap(item)?;
            Some((value.clone(), value))
        }
    }
}
