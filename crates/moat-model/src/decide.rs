//! Deciding one match against what is known of a packet.
//!
//! Shared by the lock-out guard's conservative evaluator ([`crate::eval`])
//! and the packet explainer: each match is decided as yes, no, or "maybe"
//! when the packet's description does not say (a rate limit, an unknown
//! interface, a mark nobody gave).

use std::net::IpAddr;

use crate::matches::{AddrTypes, ConnStates, Iface, Match, PortRange};

/// The answer to "does this match hold?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// It certainly holds.
    Yes,
    /// It certainly does not.
    No,
    /// It cannot be decided from what is known of the packet.
    Maybe,
}

impl Tri {
    /// `Yes` for true, `No` for false.
    pub fn of(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }

    /// The opposite answer when `negate` is set (`Maybe` stays `Maybe`).
    pub fn negate_if(self, negate: bool) -> Tri {
        match (self, negate) {
            (Tri::Yes, true) => Tri::No,
            (Tri::No, true) => Tri::Yes,
            (t, _) => t,
        }
    }
}

/// What is known of a packet; `None` fields are unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// Layer-4 protocol number (6 tcp, 17 udp, ...).
    pub protocol: u8,
    /// Source address.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// Source port, for TCP, UDP, SCTP and DCCP.
    pub source_port: Option<u16>,
    /// Destination port.
    pub destination_port: Option<u16>,
    /// The interface it arrived on.
    pub in_iface: Option<&'a str>,
    /// The interface it leaves through.
    pub out_iface: Option<&'a str>,
    /// Its connection-tracking state, one of the [`ConnStates`] bits.
    pub state: u8,
    /// Whether its connection's addresses were translated so far: the
    /// [`ConnStates::SNAT`] and [`ConnStates::DNAT`] bits.
    pub nat_status: Option<u8>,
    /// Its TCP flags.
    pub tcp_flags: Option<u8>,
    /// Its ICMP or ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// Its packet mark.
    pub mark: Option<u32>,
    /// Its connection's mark.
    pub conn_mark: Option<u32>,
    /// Its IP length, header included.
    pub length: Option<u16>,
    /// The routing type of its source address, as an [`AddrTypes`] bit.
    pub source_type: Option<u16>,
    /// The routing type of its destination address.
    pub destination_type: Option<u16>,
    /// Named sets whose membership is known: (name, whether the packet's
    /// addresses are in it). Sets not listed make `-m set` matches depend.
    pub sets: &'a [(String, bool)],
}

/// Whether every match in `matches` holds: `No` as soon as one does not.
pub fn all(matches: &[Match], facts: &Facts<'_>) -> Tri {
    let mut result = Tri::Yes;
    for m in matches {
        match one(m, facts) {
            Tri::No => return Tri::No,
            Tri::Maybe => result = Tri::Maybe,
            Tri::Yes => {}
        }
    }
    result
}

/// Whether the match `m` holds for the packet.
pub fn one(m: &Match, p: &Facts<'_>) -> Tri {
    match m {
        Match::Protocol { proto, negate } => Tri::of(*proto == p.protocol).negate_if(*negate),
        Match::SourceNet { net, negate } => Tri::of(net.contains(&p.source)).negate_if(*negate),
        Match::DestNet { net, negate } => Tri::of(net.contains(&p.destination)).negate_if(*negate),
        Match::AddrMask {
            side,
            addr,
            mask,
            negate,
        } => {
            let seen = side.pick(p.source, p.destination);
            Tri::of(masked_addr(seen, *mask) == Some(*addr)).negate_if(*negate)
        }
        Match::SourceRange { from, to, negate } => {
            Tri::of(in_range(*from, *to, p.source)).negate_if(*negate)
        }
        Match::DestRange { from, to, negate } => {
            Tri::of(in_range(*from, *to, p.destination)).negate_if(*negate)
        }
        Match::InInterface { iface, negate } => iface_matches(iface, p.in_iface).negate_if(*negate),
        Match::OutInterface { iface, negate } => {
            iface_matches(iface, p.out_iface).negate_if(*negate)
        }
        Match::Fragment { negate } => Tri::of(*negate),
        Match::SourcePort {
            proto,
            ports,
            negate,
        } => ports_match(*proto, ports, p.source_port, *negate, p),
        Match::DestPort {
            proto,
            ports,
            negate,
        } => ports_match(*proto, ports, p.destination_port, *negate, p),
        Match::AnyPort {
            proto,
            ports,
            negate,
        } => {
            if p.protocol != *proto {
                return Tri::No;
            }
            let either = match (
                in_ranges(ports, p.source_port),
                in_ranges(ports, p.destination_port),
            ) {
                (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
                (Tri::No, Tri::No) => Tri::No,
                _ => Tri::Maybe,
            };
            either.negate_if(*negate)
        }
        Match::TcpFlags { flags, negate } => {
            if p.protocol != 6 {
                return Tri::No;
            }
            match p.tcp_flags {
                Some(f) => Tri::of(f & flags.mask == flags.set).negate_if(*negate),
                None => Tri::Maybe,
            }
        }
        Match::Icmp { kind, code, negate } => icmp_matches(1, *kind, *code, *negate, p),
        Match::Icmpv6 { kind, code, negate } => icmp_matches(58, *kind, *code, *negate, p),
        Match::ConnState { states, negate } => {
            let nat_bits = states.0 & !ConnStates::PACKET_STATES;
            let found = if states.0 & p.state != 0 {
                Tri::Yes
            } else {
                match (nat_bits, p.nat_status) {
                    (0, _) => Tri::No,
                    (bits, Some(status)) => Tri::of(bits & status != 0),
                    (_, None) => Tri::Maybe,
                }
            };
            found.negate_if(*negate)
        }
        Match::ConnProto { proto, negate } => Tri::of(*proto == p.protocol).negate_if(*negate),
        Match::Mark {
            value,
            mask,
            negate,
        } => masked(p.mark, *value, *mask).negate_if(*negate),
        Match::ConnMark {
            value,
            mask,
            negate,
        } => masked(p.conn_mark, *value, *mask).negate_if(*negate),
        Match::Length { min, max, negate } => match p.length {
            Some(len) => Tri::of(*min <= len && len <= *max).negate_if(*negate),
            None => Tri::Maybe,
        },
        Match::AddrType {
            src,
            dst,
            limit_iface_in,
            limit_iface_out,
        } => {
            if *limit_iface_in || *limit_iface_out {
                return Tri::Maybe;
            }
            match (
                addr_type(*src, p.source_type),
                addr_type(*dst, p.destination_type),
            ) {
                (Tri::No, _) | (_, Tri::No) => Tri::No,
                (Tri::Yes, Tri::Yes) => Tri::Yes,
                _ => Tri::Maybe,
            }
        }
        Match::InSet { name, negate, .. } => match p.sets.iter().find(|(n, _)| n == name) {
            Some((_, member)) => Tri::of(*member).negate_if(*negate),
            None => Tri::Maybe,
        },
        Match::Comment { .. } => Tri::Yes,
        // The packet's description names no sending socket.
        Match::SocketUid { .. } | Match::SocketGid { .. } => Tri::Maybe,
        // Nor its TTL, hop limit or DS field.
        Match::HopLimit { .. } | Match::DsField { .. } => Tri::Maybe,
        // How much of a quota is left is the kernel's to know.
        Match::Quota { .. } => Tri::Maybe,
        // Nor is its connection's traffic so far described.
        Match::ConnBytes { .. } => Tri::Maybe,
        // Which CPU handles a packet is not the packet's own property.
        Match::Cpu { .. } => Tri::Maybe,
        // Nor are the interfaces' groups or the route's realm.
        Match::DeviceGroup { .. } | Match::Realm { .. } => Tri::Maybe,
        // Nor is the route back to the source.
        Match::RpFilter { .. } => Tri::Maybe,
        _ => Tri::Maybe,
    }
}

fn addr_type(wanted: Option<(AddrTypes, bool)>, known: Option<u16>) -> Tri {
    match (wanted, known) {
        (None, _) => Tri::Yes,
        (Some((types, negate)), Some(bit)) => Tri::of(types.0 & bit != 0).negate_if(negate),
        (Some(_), None) => Tri::Maybe,
    }
}

fn masked(known: Option<u32>, value: u32, mask: u32) -> Tri {
    match known {
        Some(v) => Tri::of(v & mask == value),
        None => Tri::Maybe,
    }
}

fn icmp_matches(proto: u8, kind: u8, code: Option<u8>, negate: bool, p: &Facts<'_>) -> Tri {
    if p.protocol != proto {
        return Tri::No;
    }
    if proto == 1 && kind == 255 {
        return Tri::Yes.negate_if(negate);
    }
    match p.icmp {
        Some((t, c)) => Tri::of(t == kind && code.is_none_or(|want| want == c)).negate_if(negate),
        None => Tri::Maybe,
    }
}

fn iface_matches(iface: &Iface, name: Option<&str>) -> Tri {
    match name {
        None => Tri::Maybe,
        Some(n) if iface.wildcard => Tri::of(n.starts_with(&iface.name)),
        Some(n) => Tri::of(n == iface.name),
    }
}

fn in_ranges(ranges: &[PortRange], port: Option<u16>) -> Tri {
    match port {
        None => Tri::Maybe,
        Some(p) => Tri::of(ranges.iter().any(|r| r.first <= p && p <= r.last)),
    }
}

fn in_range(from: IpAddr, to: IpAddr, addr: IpAddr) -> bool {
    match (from, to, addr) {
        (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => a <= x && x <= b,
        (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => a <= x && x <= b,
        _ => false,
    }
}

fn ports_match(
    proto: u8,
    ranges: &[PortRange],
    port: Option<u16>,
    negate: bool,
    packet: &Facts<'_>,
) -> Tri {
    if packet.protocol != proto {
        return Tri::No;
    }
    in_ranges(ranges, port).negate_if(negate)
}

/// `addr & mask`, when both are of one family.
fn masked_addr(addr: IpAddr, mask: IpAddr) -> Option<IpAddr> {
    match (addr, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => Some(IpAddr::V4((u32::from(a) & u32::from(m)).into())),
        (IpAddr::V6(a), IpAddr::V6(m)) => Some(IpAddr::V6((u128::from(a) & u128::from(m)).into())),
        _ => None,
    }
}
