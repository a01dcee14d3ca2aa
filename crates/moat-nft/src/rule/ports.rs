//! Port matches: `--sport`, `--dport` and multiport's `--ports`.

use moat_model::{Family, PortRange};
use nftables::expr::Expression;
use nftables::stmt::{Operator, Statement};

use super::build::{anon_set, cmp, concat, eq, never, num, payload, range, value_or_range};
use super::{refuse, CompileError};

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

/// `--sport`: `tcp sport 22`, `udp sport { 53, 1000-2000 }`, ...
pub(super) fn source(
    proto: u8,
    ports: &[PortRange],
    negate: bool,
) -> Result<Vec<Statement<'static>>, CompileError> {
    port(proto, "sport", ports, negate)
}

/// `--dport`: `tcp dport 22`, ...
pub(super) fn dest(
    proto: u8,
    ports: &[PortRange],
    negate: bool,
) -> Result<Vec<Statement<'static>>, CompileError> {
    port(proto, "dport", ports, negate)
}

fn port(
    proto: u8,
    field: &'static str,
    ports: &[PortRange],
    negate: bool,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let name = protocol_name(proto)?;
    let ranges = normalize(ports)?;
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

    #[test]
    fn single_range_and_list() {
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
            Match::DestPort {
                proto: 132,
                ports: vec![pr(80, 80), pr(20, 30), pr(25, 40), pr(41, 41)],
                negate: false,
            },
        ];
        assert_eq!(
            matches_json(&ms, v4()),
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
                {"match": {"op": "!=", "left": {"payload": {"protocol": "udp", "field": "sport"}},
                    "right": {"range": [1000, 2000]}}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "sctp", "field": "dport"}},
                    "right": {"set": [{"range": [20, 41]}, 80]}}},
            ])
        );
    }

    #[test]
    fn any_port_is_one_interval_set_lookup() {
        let m = Match::AnyPort {
            proto: 6,
            ports: vec![pr(22, 22), pr(80, 90)],
            negate: true,
        };
        let all = json!({"range": [0, 65535]});
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "!=",
            "left": {"concat": [{"payload": {"protocol": "tcp", "field": "sport"}},
                                {"payload": {"protocol": "tcp", "field": "dport"}}]},
            "right": {"set": [
                {"concat": [22, all]}, {"concat": [all, 22]},
                {"concat": [{"range": [80, 90]}, all]}, {"concat": [all, {"range": [80, 90]}]},
            ]}}}])
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
                ports: vec![pr(9, 1)],
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
}
