//! Matches nft writes with an inline (anonymous) set: multiport lists,
//! several address types, IPv6 address classes.

use moat_model::{Action, Family, Match, PortRange, Rule};

use super::{addrtype, proto, rule, Dev, ANYCAST, BROADCAST, LOCAL, UNICAST, UNREACHABLE};

/// Port ranges from `(first, last)` pairs, and ports 40000, 40002, ...
/// beyond xt_multiport's 15 slots: a shorter list is the kernel's
/// xt_multiport, which nft cannot write; a longer one an anonymous set.
pub fn ranges(pairs: &[(u16, u16)]) -> Vec<PortRange> {
    let padding = (0..16).map(|i| (40000 + 2 * i, 40000 + 2 * i));
    pairs
        .iter()
        .copied()
        .chain(padding)
        .map(|(first, last)| PortRange { first, last })
        .collect()
}

fn dports(p: u8, pairs: &[(u16, u16)], negate: bool) -> Match {
    Match::DestPort {
        proto: p,
        ports: ranges(pairs),
        negate,
    }
}

fn sports(p: u8, pairs: &[(u16, u16)], negate: bool) -> Match {
    Match::SourcePort {
        proto: p,
        ports: ranges(pairs),
        negate,
    }
}

/// The route types of several address types, per family.
fn several_types(family: Family) -> (u16, &'static str) {
    match family {
        Family::Ipv4 => (LOCAL | BROADCAST, "LOCAL,BROADCAST"),
        Family::Ipv6 => (LOCAL | ANYCAST, "LOCAL,ANYCAST"),
    }
}

/// Filter-table rules whose matches are set lookups.
pub fn filter_rules(family: Family) -> Vec<Rule> {
    let (types, shown) = several_types(family);
    let mut rules = vec![
        rule(
            vec![proto(6), dports(6, &[(80, 80), (443, 443)], false)],
            Action::Accept,
            "-p tcp -m multiport --dports 80,443 -j ACCEPT",
        ),
        rule(
            vec![
                proto(17),
                sports(17, &[(53, 53), (67, 68), (65000, 65535)], false),
            ],
            Action::Accept,
            "-p udp -m multiport --sports 53,67:68,65000:65535 -j ACCEPT",
        ),
        rule(
            vec![proto(6), dports(6, &[(22, 22), (1000, 2000)], true)],
            Action::Drop,
            "-p tcp -m multiport ! --dports 22,1000:2000 -j DROP",
        ),
        rule(
            vec![proto(6), dports(6, &[(0, 10), (20, 20)], false)],
            Action::Accept,
            "-p tcp -m multiport --dports 0:10,20 -j ACCEPT",
        ),
        rule(
            vec![
                proto(6),
                sports(6, &[(1024, 65535)], false),
                dports(6, &[(25, 25), (587, 587)], true),
            ],
            Action::Accept,
            "-p tcp --sport 1024: -m multiport ! --dports 25,587",
        ),
        rule(
            vec![proto(132), dports(132, &[(1, 1), (3, 3)], false)],
            Action::Accept,
            "-p sctp -m multiport --dports 1,3",
        ),
        rule(
            vec![proto(33), sports(33, &[(5, 6), (9, 9)], false)],
            Action::Accept,
            "-p dccp -m multiport --sports 5:6,9",
        ),
        rule(
            vec![addrtype(None, Some((types, false)), Dev::Any)],
            Action::Accept,
            &format!("-m addrtype --dst-type {shown} -j ACCEPT"),
        ),
        rule(
            vec![addrtype(Some((types, true)), None, Dev::In)],
            Action::Drop,
            &format!("-m addrtype ! --src-type {shown} --limit-iface-in -j DROP"),
        ),
    ];
    if family == Family::Ipv6 {
        rules.extend([
            rule(
                vec![addrtype(None, Some((UNICAST, false)), Dev::Any)],
                Action::Accept,
                "-m addrtype --dst-type UNICAST -j ACCEPT",
            ),
            rule(
                vec![addrtype(Some((UNICAST, true)), None, Dev::Any)],
                Action::Drop,
                "-m addrtype ! --src-type UNICAST -j DROP",
            ),
            rule(
                vec![addrtype(None, Some((UNREACHABLE, false)), Dev::Any)],
                Action::Drop,
                "-m addrtype --dst-type UNREACHABLE -j DROP",
            ),
        ]);
    }
    rules
}

/// Nat PREROUTING rules whose matches are set lookups, translating to `to`.
pub fn nat_rules(family: Family, to: Action) -> Vec<Rule> {
    let (types, shown) = several_types(family);
    vec![
        rule(
            vec![
                proto(6),
                dports(6, &[(8080, 8081), (8443, 8443)], false),
                addrtype(None, Some((types, false)), Dev::Any),
            ],
            to,
            &format!("-p tcp -m multiport --dports 8080:8081,8443 -m addrtype --dst-type {shown} -j DNAT"),
        ),
        rule(
            vec![proto(17), dports(17, &[(500, 500), (4500, 4500)], true)],
            Action::Return,
            "-p udp -m multiport ! --dports 500,4500 -j RETURN",
        ),
    ]
}
