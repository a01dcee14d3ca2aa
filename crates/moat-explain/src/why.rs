//! Why a rule did not match, and what an undecided rule depends on.

use moat_model::decide::{self, Facts, Tri};
use moat_model::describe::{addr_type_names, match_text, proto_name};
use moat_model::{ConnStates, Match};

use crate::flight::Flight;

/// The first match of `matches` that does not hold, and the packet's value
/// it was tested against: `-s 10.0.0.0/8 does not match: source is 203.0.113.9`.
pub fn failed(matches: &[Match], facts: &Facts<'_>) -> Option<String> {
    let m = matches.iter().find(|m| decide::one(m, facts) == Tri::No)?;
    let seen = packet_value(m, facts);
    Some(format!("{} does not match: {seen}", match_text(m)))
}

/// The matches of `matches` that cannot be decided, in iptables spelling
/// (`-m limit --limit 3/min and -m recent`).
pub fn undecided(matches: &[Match], facts: &Facts<'_>) -> String {
    matches
        .iter()
        .filter(|m| decide::one(m, facts) == Tri::Maybe)
        .map(match_text)
        .collect::<Vec<_>>()
        .join(" and ")
}

fn or_none<T: std::fmt::Display>(what: &str, v: Option<T>) -> String {
    match v {
        Some(v) => format!("{what} is {v}"),
        None => format!("the packet has no {what}"),
    }
}

fn packet_value(m: &Match, p: &Facts<'_>) -> String {
    let protocol = format!("protocol is {}", proto_name(p.protocol));
    let proto_of = |proto: u8| p.protocol != proto;
    match m {
        Match::Protocol { .. } | Match::ConnProto { .. } => protocol,
        Match::SourceNet { .. } | Match::SourceRange { .. } => format!("source is {}", p.source),
        Match::DestNet { .. } | Match::DestRange { .. } => {
            format!("destination is {}", p.destination)
        }
        Match::InInterface { .. } => or_none("input interface", p.in_iface),
        Match::OutInterface { .. } => or_none("output interface", p.out_iface),
        Match::SourcePort { proto, .. }
        | Match::DestPort { proto, .. }
        | Match::AnyPort { proto, .. }
            if proto_of(*proto) =>
        {
            protocol
        }
        Match::SourcePort { .. } => or_none("source port", p.source_port),
        Match::DestPort { .. } => or_none("destination port", p.destination_port),
        Match::AnyPort { .. } => format!(
            "ports are {}",
            Flight::endpoint(p.source, p.source_port)
                + " -> "
                + &Flight::endpoint(p.destination, p.destination_port)
        ),
        Match::TcpFlags { .. } if proto_of(6) => protocol,
        Match::TcpFlags { .. } => or_none("TCP flags", p.tcp_flags.map(|f| format!("{f:#04x}"))),
        Match::Icmp { .. } if proto_of(1) => protocol,
        Match::Icmpv6 { .. } if proto_of(58) => protocol,
        Match::Icmp { .. } | Match::Icmpv6 { .. } => {
            or_none("ICMP type/code", p.icmp.map(|(t, c)| format!("{t}/{c}")))
        }
        Match::ConnState { .. } => format!("state is {}", state_name(p.state)),
        Match::Mark { .. } => or_none("mark", p.mark.map(|v| format!("{v:#x}"))),
        Match::ConnMark { .. } => {
            or_none("connection mark", p.conn_mark.map(|v| format!("{v:#x}")))
        }
        Match::Length { .. } => or_none("length", p.length),
        Match::Fragment { .. } => "the packet is not a fragment".into(),
        Match::InSet { name, .. } => match p.sets.iter().find(|(n, _)| n == name) {
            Some((_, true)) => format!("the packet is in set {name}"),
            _ => format!("the packet is not in set {name}"),
        },
        Match::AddrType { .. } => {
            let name = |t: Option<u16>| t.map_or("unknown".into(), addr_type_names);
            format!(
                "source type is {}, destination type is {}",
                name(p.source_type),
                name(p.destination_type)
            )
        }
        Match::SocketUid { .. } | Match::SocketGid { .. } => {
            "the packet's sending socket is not known".into()
        }
        Match::HopLimit { .. } => "the packet's TTL or hop limit is not known".into(),
        Match::DsField { .. } => "the packet's TOS / traffic class is not known".into(),
        Match::Quota { .. } => "how much of the quota is left is not known".into(),
        Match::ConnBytes { .. } => "the connection's traffic so far is not known".into(),
        Match::Cpu { .. } => "the CPU that handles the packet is not known".into(),
        Match::DeviceGroup { .. } => "the interface's group is not known".into(),
        Match::Realm { .. } => "the route's realm is not known".into(),
        Match::RpFilter { .. } => "the route back to the source is not known".into(),
        _ => "the packet does not fit".into(),
    }
}

fn state_name(bit: u8) -> &'static str {
    match bit {
        ConnStates::NEW => "NEW",
        ConnStates::ESTABLISHED => "ESTABLISHED",
        ConnStates::RELATED => "RELATED",
        ConnStates::INVALID => "INVALID",
        _ => "UNTRACKED",
    }
}
