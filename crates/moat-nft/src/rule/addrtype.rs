//! `-m addrtype`: the routing type of the source or destination address,
//! through nf_tables' `fib` lookups (`fib daddr type local`).

use std::collections::HashSet;

use moat_model::{AddrTypes, Family};
use nftables::expr::{Expression, Fib, FibFlag, FibResult, NamedExpression, Prefix};
use nftables::stmt::Statement;

use super::addr::{self, Side};
use super::build::{anon_set, eq, never, num, text};
use super::{refuse, CompileError};

/// Route types (`RTN_*`), the values of nft's `fib ... type`. They are
/// written as numbers: nft 1.0.6 has no names for throw, nat and xresolve.
const RTN_LOCAL: u32 = 2;
const RTN_ANYCAST: u32 = 4;
const RTN_BLACKHOLE: u32 = 6;
const RTN_UNREACHABLE: u32 = 7;
const RTN_PROHIBIT: u32 = 8;
const RTN_THROW: u32 = 9;

const UNSPEC: u16 = 1;
const UNICAST: u16 = 2;
const LOCAL: u16 = 4;
const ANYCAST: u16 = 16;
const MULTICAST: u16 = 32;
const UNREACHABLE: u16 = 128;

/// The types ip6tables accepts.
const IPV6_TYPES: u16 = UNSPEC | UNICAST | LOCAL | ANYCAST | MULTICAST | UNREACHABLE;

/// Compiles an address-type match: the source test, then the destination test.
pub(super) fn compile(
    src: Option<(AddrTypes, bool)>,
    dst: Option<(AddrTypes, bool)>,
    limit_iface_in: bool,
    limit_iface_out: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let dev = match (limit_iface_in, limit_iface_out) {
        (true, true) => return refuse(
            "an address-type match can be limited to the input or the output interface, not both",
        ),
        (true, false) => Some(FibFlag::Iif),
        (false, true) => Some(FibFlag::Oif),
        (false, false) => None,
    };
    let mut stmts = Vec::new();
    for (side, spec) in [(Side::Source, src), (Side::Dest, dst)] {
        let Some((types, negate)) = spec else {
            continue;
        };
        let lookup = Lookup { side, dev };
        stmts.extend(match family {
            Family::Ipv4 => ipv4(lookup, types.0, negate),
            Family::Ipv6 => ipv6(lookup, types.0, negate)?,
        });
    }
    Ok(stmts)
}

/// Which address is looked up, and on which interface.
#[derive(Clone, Copy)]
struct Lookup {
    side: Side,
    dev: Option<FibFlag>,
}

impl Lookup {
    /// `fib saddr type`, `fib daddr . iif type`, ...
    fn fib_type(self) -> Expression<'static> {
        let mut flags = HashSet::new();
        flags.insert(match self.side {
            Side::Source => FibFlag::Saddr,
            Side::Dest => FibFlag::Daddr,
        });
        flags.extend(self.dev);
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags,
        }))
    }
}

/// One route type, or an anonymous set of several.
fn one_of(types: &[u32]) -> Expression<'static> {
    match types {
        [one] => num(*one),
        _ => anon_set(types.iter().copied().map(num).collect()),
    }
}

/// IPv4: the kernel's address type of the address (on the interface) is one
/// of the listed types; nft's fib type is the very same lookup.
/// The model's bit for route type `rtn` is `1 << rtn` (RTN_UNSPEC to RTN_XRESOLVE).
fn ipv4(lookup: Lookup, types: u16, negate: bool) -> Vec<Statement<'static>> {
    let listed: Vec<u32> = (0..12).filter(|rtn| types & (1 << rtn) != 0).collect();
    if listed.is_empty() {
        // No type listed: iptables matches nothing, negated everything.
        return if negate {
            Vec::new()
        } else {
            vec![never(Family::Ipv4)]
        };
    }
    vec![eq(lookup.fib_type(), one_of(&listed), negate)]
}

fn prefix(addr: &str, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text(addr.to_string())),
        len,
    }))
}

/// IPv6 follows ip6tables: MULTICAST, UNICAST and UNSPEC are classes of the
/// address itself, and all listed ones must hold; LOCAL, ANYCAST and
/// UNREACHABLE come from a route lookup, and one of them must hold.
/// ip6tables reports every failed route lookup as UNREACHABLE, where nft
/// tells blackhole, prohibit and throw routes apart, so those count too.
fn ipv6(lookup: Lookup, types: u16, negate: bool) -> Result<Vec<Statement<'static>>, CompileError> {
    if types & !IPV6_TYPES != 0 {
        return refuse(
            "IPv6 address types are UNSPEC, UNICAST, LOCAL, ANYCAST, MULTICAST and UNREACHABLE \
             (ip6tables refuses the others)",
        );
    }
    let addr = || addr::field(lookup.side, Family::Ipv6);
    // Each test as (left, right, negated).
    let mut tests = Vec::new();
    if types & MULTICAST != 0 {
        tests.push((addr(), prefix("ff00::", 8), false));
    }
    if types & UNICAST != 0 {
        // The kernel's unicast class: all but ::, IPv4-mapped and multicast.
        let not_unicast = anon_set(vec![
            text("::"),
            prefix("::ffff:0:0", 96),
            prefix("ff00::", 8),
        ]);
        tests.push((addr(), not_unicast, true));
    }
    if types & UNSPEC != 0 {
        tests.push((addr(), text("::"), false));
    }
    let mut routes = Vec::new();
    if types & LOCAL != 0 {
        routes.push(RTN_LOCAL);
    }
    if types & ANYCAST != 0 {
        routes.push(RTN_ANYCAST);
    }
    if types & UNREACHABLE != 0 {
        routes.extend([RTN_UNREACHABLE, RTN_BLACKHOLE, RTN_PROHIBIT, RTN_THROW]);
    }
    if !routes.is_empty() {
        tests.push((lookup.fib_type(), one_of(&routes), false));
    }
    match (tests.len(), negate) {
        // ip6tables' empty type list holds for every address.
        (0, false) => Ok(Vec::new()),
        (0, true) => Ok(vec![never(Family::Ipv6)]),
        (_, false) => Ok(tests.into_iter().map(|(l, r, neg)| eq(l, r, neg)).collect()),
        (1, true) => Ok(tests
            .into_iter()
            .map(|(l, r, neg)| eq(l, r, !neg))
            .collect()),
        _ => refuse(
            "a negated IPv6 address-type match of several conditions means \"not all of them\", \
             which one nf_tables rule cannot test",
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{canonical, matches_json, v4, v6};
    use moat_model::{AddrTypes, Match};

    #[test]
    fn ipv4_types_are_fib_lookups() {
        let m = Match::AddrType {
            src: Some((AddrTypes(4), false)),
            dst: Some((AddrTypes(4 | 8), true)),
            limit_iface_in: true,
            limit_iface_out: false,
        };
        assert_eq!(
            canonical(matches_json(&[m], v4())),
            json!([
                {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["iif", "saddr"]}},
                    "right": 2}},
                {"match": {"op": "!=", "left": {"fib": {"result": "type", "flags": ["daddr", "iif"]}},
                    "right": {"set": [2, 3]}}},
            ])
        );
    }

    #[test]
    fn ipv6_classes_are_address_tests() {
        let m = Match::AddrType {
            src: None,
            dst: Some((AddrTypes(32 | 4), false)),
            limit_iface_in: false,
            limit_iface_out: false,
        };
        assert_eq!(
            canonical(matches_json(&[m], v6())),
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}},
                    "right": {"prefix": {"addr": "ff00::", "len": 8}}}},
                {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                    "right": 2}},
            ])
        );
    }
}
