//! Port matches: `--sport`, `--dport` and multiport's `--ports`.

use moat_model::{Family, PortRange, XtExtension, XtLayout};
use nftables::expr::Expression;
use nftables::stmt::{Operator, Statement};

use super::build::{anon_set, cmp, concat, eq, never, num, payload, range, value_or_range};
use super::{refuse, xt, CompileError};

/// The nft protocol name of a protocol with ports, or None.
pub(super) fn port_protocol(proto: u8) -> Option<&'static str> {
    match proto {
        6 => Some("tcp"),
        17 => Some("udp"),
        33 => Some("dccp"),
        132 => Some("sctp"),
        136 => Some("udplite"),
        _ => None,
    }
}

fn protocol_name(proto: u8) -> Result<&'static str, CompileError> {
    port_protocol(proto).map_or_else(
        || {
            refuse(format!(
                "protocol {proto} has no ports (ports exist for tcp, udp, dccp, sctp and udplite)"
            ))
        },
        Ok,
    )
}

/// The ranges sorted, with overlapping and adjacent ones joined.
fn normalize(ports: &[PortRange]) -> Result<Vec<(u16, u16)>, CompileError> {
    let mut ranges = Vec::with_capacity(ports.len());
    for r in ports {
        if r.first > r.last {
            return refuse(format!("port range {}:{} is backwards", r.first, r.last));
        }
        ranges.push((r.first, r.last));
    }
    ranges.sort_unstable();
    let mut joined: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match joined.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => joined.push((lo, hi)),
        }
    }
    if joined.is_empty() {
        return refuse("port match with no ports");
    }
    Ok(joined)
}

fn range_expr((lo, hi): (u16, u16)) -> Expression<'static> {
    value_or_range(lo.into(), hi.into())
}

/// One port or range as is; several as an anonymous set.
fn ports_expr(ranges: Vec<(u16, u16)>) -> Expression<'static> {
    if let [one] = ranges[..] {
        range_expr(one)
    } else {
        anon_set(ranges.into_iter().map(range_expr).collect())
    }
}

/// The ports of a list xt_multiport tests (`XT_MULTIPORT_*`).
#[derive(Debug, Clone, Copy)]
enum Which {
    Source = 0,
    Destination = 1,
    Either = 2,
}

/// Port slots xt_multiport has (a range takes two).
const MULTIPORT_SLOTS: usize = 15;

/// Whether normalized `ranges` are a list xt_multiport takes: several, in
/// at most its 15 slots.
fn fits_multiport(ranges: &[(u16, u16)]) -> bool {
    let slots: usize = ranges
        .iter()
        .map(|(lo, hi)| 1 + usize::from(lo != hi))
        .sum();
    ranges.len() > 1 && slots <= MULTIPORT_SLOTS
}

/// Whether a list of `ports` is written as the kernel's xt_multiport, which
/// only the netlink driver sends.
pub(super) fn is_multiport(ports: &[PortRange]) -> bool {
    normalize(ports).is_ok_and(|ranges| fits_multiport(&ranges))
}

/// A list of several ports as the kernel's xt_multiport (revision 1), as
/// iptables-nft writes `-m multiport`. nf_tables would need an anonymous
/// set per rule, and the kernel names, binds and looks up each one by
/// walking every set of the table and the whole transaction: a restore
/// with hundreds of such rules took twice iptables-nft's time.
fn multiport(which: Which, ranges: &[(u16, u16)], negate: bool) -> Statement<'static> {
    let mut ports = Vec::with_capacity(MULTIPORT_SLOTS);
    let mut range_starts = Vec::with_capacity(MULTIPORT_SLOTS);
    for &(lo, hi) in ranges {
        ports.push(lo);
        range_starts.push(u8::from(lo != hi));
        if lo != hi {
            ports.push(hi);
            range_starts.push(0);
        }
    }
    let mut info = XtLayout::new();
    info.u8(which as u8).u8(ports.len() as u8);
    for slot in 0..MULTIPORT_SLOTS {
        info.u16(ports.get(slot).copied().unwrap_or(0));
    }
    info.bytes(&range_starts, MULTIPORT_SLOTS)
        .u8(u8::from(negate));
    xt::statement(&XtExtension::new(
        "multiport",
        1,
        info.finish(),
        "-m multiport",
    ))
}

/// `--sport`: `tcp sport 22`, `udp sport { 53, 1000-2000 }`, ...
pub(super) fn source(
    proto: u8,
    ports: &[PortRange],
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    port(proto, "sport", ports, negate, family)
}

/// `--dport`: `tcp dport 22`, ...
pub(super) fn dest(
    proto: u8,
    ports: &[PortRange],
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    port(proto, "dport", ports, negate, family)
}

fn port(
    proto: u8,
    field: &'static str,
    ports: &[PortRange],
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let name = protocol_name(proto)?;
    if let [r] = ports {
        if r.first > r.last {
            // A range that runs backwards (udp takes one, as iptables' does):
            // no port is in it, so it matches nothing, negated every packet
            // of the protocol.
            return Ok(vec![if negate {
                eq(
                    payload(name, field),
                    range(num(0), num(u16::MAX.into())),
                    false,
                )
            } else {
                never(family)
            }]);
        }
    }
    let ranges = normalize(ports)?;
    if fits_multiport(&ranges) {
        let which = if field == "sport" {
            Which::Source
        } else {
            Which::Destination
        };
        return Ok(vec![multiport(which, &ranges, negate)]);
    }
    Ok(vec![eq(payload(name, field), ports_expr(ranges), negate)])
}

/// `-m multiport --ports`: the source OR the destination port is listed.
///
/// One lookup of the port pair in an interval set whose elements leave the
/// other port free: `tcp sport . tcp dport { 22 . 0-65535, 0-65535 . 22 }`.
/// The pair is in the set exactly when one of the two ports is listed, and
/// negated (`!=`) when neither is.
pub(super) fn any(
    proto: u8,
    ports: &[PortRange],
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let name = protocol_name(proto)?;
    let ranges = normalize(ports)?;
    if fits_multiport(&ranges) {
        return Ok(vec![multiport(Which::Either, &ranges, negate)]);
    }
    if ranges == [(0, u16::MAX)] {
        // Every port pair is listed: any packet of the protocol whose ports
        // can be read matches, negated none.
        return Ok(if negate {
            vec![never(family)]
        } else {
            vec![eq(payload(name, "sport"), ports_expr(ranges), false)]
        });
    }
    let all = || range(num(0), num(u16::MAX.into()));
    let mut elements = Vec::with_capacity(2 * ranges.len());
    for r in ranges {
        elements.push(concat(vec![range_expr(r), all()]));
        elements.push(concat(vec![all(), range_expr(r)]));
    }
    let pair = concat(vec![payload(name, "sport"), payload(name, "dport")]);
    let op = if negate { Operator::NEQ } else { Operator::EQ };
    Ok(vec![cmp(pair, op, anon_set(elements))])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{compile_json, matches_json, v4};
    use super::*;
    use moat_model::{Action, Match, Rule};

    fn pr(first: u16, last: u16) -> PortRange {
        PortRange { first, last }
    }

    /// The statements of `ms`, and the argument bytes of each xt_multiport.
    fn multiport_infos(ms: &[Match]) -> Vec<Vec<u8>> {
        let rule = Rule {
            matches: ms.to_vec(),
            ..Rule::new(Action::Continue)
        };
        super::super::compile_rule(&rule, "INPUT", &v4())
            .unwrap()
            .stmts
            .iter()
            .filter_map(xt::parse_statement)
            .map(|x| {
                assert_eq!((x.name.as_str(), x.rev, x.target), ("multiport", 1, false));
                x.info
            })
            .collect()
    }

    /// `struct xt_multiport_v1`'s fields: flags, count, 15 ports in host
    /// order, 15 range-start flags, invert.
    fn multiport_fields(info: &[u8]) -> (u8, u8, Vec<u16>, Vec<u8>, u8) {
        assert_eq!(info.len(), 48);
        let ports = (0..15)
            .map(|i| u16::from_ne_bytes([info[2 + 2 * i], info[3 + 2 * i]]))
            .collect();
        (info[0], info[1], ports, info[32..47].to_vec(), info[47])
    }

    #[test]
    fn one_port_or_range_is_native() {
        let ms = [
            Match::DestPort {
                proto: 6,
                ports: vec![pr(22, 22)],
                negate: false,
            },
            Match::SourcePort {
                proto: 17,
                ports: vec![pr(1000, 2000)],
                negate: true,
            },
        ];
        assert_eq!(
            matches_json(&ms, v4()),
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
                {"match": {"op": "!=", "left": {"payload": {"protocol": "udp", "field": "sport"}},
                    "right": {"range": [1000, 2000]}}},
            ])
        );
    }

    /// A list is xt_multiport's, as iptables-nft writes it: ranges sorted
    /// and joined, a range in two slots with the first flagged.
    #[test]
    fn a_list_is_the_kernels_multiport() {
        let ms = [
            Match::Protocol {
                proto: 132,
                negate: false,
            },
            Match::DestPort {
                proto: 132,
                ports: vec![pr(80, 80), pr(20, 30), pr(25, 40), pr(41, 41)],
                negate: false,
            },
            Match::AnyPort {
                proto: 132,
                ports: vec![pr(22, 22), pr(7, 7)],
                negate: true,
            },
        ];
        let infos = multiport_infos(&ms);
        let mut ports = vec![20, 41, 80];
        ports.resize(15, 0);
        let mut starts = vec![1, 0, 0];
        starts.resize(15, 0);
        assert_eq!(multiport_fields(&infos[0]), (1, 3, ports, starts, 0));
        let mut either = vec![7, 22];
        either.resize(15, 0);
        assert_eq!(multiport_fields(&infos[1]), (2, 2, either, vec![0; 15], 1));
        assert!(ms
            .iter()
            .all(|m| super::super::matches::needs_netlink(m, &[])
                == !matches!(m, Match::Protocol { .. })));
    }

    /// A list longer than xt_multiport's 15 slots (moat.toml's services can
    /// name more) stays an anonymous set.
    #[test]
    fn a_long_list_is_an_anonymous_set() {
        let many: Vec<PortRange> = (1..=16).map(|p| pr(p * 2, p * 2)).collect();
        let m = Match::DestPort {
            proto: 6,
            ports: many.clone(),
            negate: false,
        };
        let set: Vec<u16> = (1..=16).map(|p| p * 2).collect();
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                "right": {"set": set}}}])
        );
        let any = Match::AnyPort {
            proto: 6,
            ports: vec![pr(2, 2), pr(4, 4), pr(100, 200)],
            negate: false,
        };
        assert_eq!(multiport_infos(&[any]).len(), 1);
        let long_any = Match::AnyPort {
            proto: 6,
            ports: (0..8).map(|i| pr(i * 10, i * 10 + 5)).collect(),
            negate: true,
        };
        let all = json!({"range": [0, 65535]});
        let json = matches_json(&[long_any], v4());
        assert_eq!(json[0]["match"]["op"], "!=");
        assert_eq!(
            json[0]["match"]["right"]["set"][1],
            json!({"concat": [all, {"range": [0, 5]}]})
        );
    }

    #[test]
    fn portless_protocol_and_backwards_range_are_refused() {
        for m in [
            Match::DestPort {
                proto: 1,
                ports: vec![pr(1, 1)],
                negate: false,
            },
            Match::DestPort {
                proto: 6,
                ports: vec![pr(9, 1), pr(20, 30)],
                negate: false,
            },
            Match::AnyPort {
                proto: 6,
                ports: vec![],
                negate: false,
            },
        ] {
            let rule = Rule {
                matches: vec![m],
                ..Rule::new(Action::Accept)
            };
            assert!(compile_json(&rule, v4()).is_err());
        }
    }

    /// One range that runs backwards (iptables' udp takes it) holds no
    /// port: the rule matches nothing, negated every packet with ports.
    #[test]
    fn one_backwards_range_matches_nothing_or_negated_everything() {
        let m = |negate| Match::SourcePort {
            proto: 17,
            ports: vec![pr(2000, 1000)],
            negate,
        };
        assert_eq!(
            matches_json(&[m(false)], v4()),
            json!([{"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "version"}},
                "right": 4}}])
        );
        assert_eq!(
            matches_json(&[m(true)], v4()),
            json!([{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "sport"}},
                "right": {"range": [0, 65535]}}}])
        );
    }
}
