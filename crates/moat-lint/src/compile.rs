//! Turns a rule's matches into the set of packets it matches.
//!
//! The result over-approximates: matches that cannot be decided from the
//! packet alone (rate limits, sets, statistic, ...) are left out, and the
//! rule is marked inexact. An exact rule matches precisely its boxes; an
//! inexact one matches some subset of them.

use std::net::IpAddr;

use ipnet::IpNet;
use moat_model::{ConnStates, Family, Match, PortRange};

use crate::ifaces::Ifaces;
use crate::space::{Cube, CubeList, Dim, Domain, Ranges, NO_MAC};

/// Packet fields a chain may change while a packet walks it, so matches on
/// them cannot be compared between rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mutations {
    /// The packet mark.
    pub mark: bool,
    /// The connection mark.
    pub connmark: bool,
    /// The connection-tracking state.
    pub ctstate: bool,
}

impl Mutations {
    /// The fields changed by either.
    pub fn union(self, other: Mutations) -> Mutations {
        Mutations {
            mark: self.mark || other.mark,
            connmark: self.connmark || other.connmark,
            ctstate: self.ctstate || other.ctstate,
        }
    }
}

/// The packets a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// A superset of the packets the rule matches.
    pub cubes: CubeList,
    /// Whether `cubes` is exactly the packets the rule matches.
    pub exact: bool,
}

/// Everything needed to compile the rules of one family.
#[derive(Debug, Clone)]
pub struct Compiler<'a> {
    /// The family's value domains.
    pub domain: Domain,
    /// The family's interface classes.
    pub ifaces: &'a Ifaces,
    family: Family,
}

enum Atom {
    Set(Vec<Cube>),
    Unknown,
}

fn one(dim: Dim, values: Ranges) -> Atom {
    Atom::Set(vec![Cube::with(dim, values)])
}

impl<'a> Compiler<'a> {
    /// A compiler for `family`'s rules with the given interface classes.
    pub fn new(family: Family, ifaces: &'a Ifaces) -> Self {
        let addr_max = match family {
            Family::Ipv4 => u128::from(u32::MAX),
            Family::Ipv6 => u128::MAX,
        };
        Compiler {
            domain: Domain {
                addr_max,
                iface_max: ifaces.max(),
            },
            ifaces,
            family,
        }
    }

    /// The value of `addr` in this family's address dimension.
    pub fn addr(&self, addr: IpAddr) -> Option<u128> {
        match (self.family, addr) {
            (Family::Ipv4, IpAddr::V4(a)) => Some(u128::from(u32::from(a))),
            (Family::Ipv6, IpAddr::V6(a)) => Some(u128::from(a)),
            _ => None,
        }
    }

    /// The packets `matches` selects, in a chain that may change `mutations`.
    pub fn space(&self, matches: &[Match], mutations: Mutations) -> Space {
        let mut cubes = vec![Cube::all()];
        let mut exact = true;
        for m in matches {
            match self.atom(m, mutations) {
                Atom::Unknown => exact = false,
                Atom::Set(set) => {
                    let mut next = Vec::with_capacity(cubes.len() * set.len());
                    for a in &cubes {
                        next.extend(set.iter().filter_map(|b| a.intersect(b)));
                    }
                    cubes = next;
                }
            }
        }
        Space {
            cubes: CubeList::from_cubes(cubes),
            exact,
        }
    }

    fn negated(&self, dim: Dim, values: Ranges, negate: bool) -> Ranges {
        if negate {
            values.complement(self.domain.max(dim))
        } else {
            values
        }
    }

    fn net(&self, dim: Dim, net: &IpNet, negate: bool) -> Atom {
        match (self.addr(net.network()), self.addr(net.broadcast())) {
            (Some(lo), Some(hi)) => one(dim, self.negated(dim, Ranges::span(lo, hi), negate)),
            _ => Atom::Unknown,
        }
    }

    fn range(&self, dim: Dim, from: IpAddr, to: IpAddr, negate: bool) -> Atom {
        match (self.addr(from), self.addr(to)) {
            (Some(lo), Some(hi)) => one(dim, self.negated(dim, Ranges::span(lo, hi), negate)),
            _ => Atom::Unknown,
        }
    }

    fn atom(&self, m: &Match, mutations: Mutations) -> Atom {
        match m {
            Match::Protocol { proto, negate } => one(
                Dim::Proto,
                self.negated(Dim::Proto, Ranges::single(u128::from(*proto)), *negate),
            ),
            Match::SourceNet { net, negate } => self.net(Dim::Src, net, *negate),
            Match::DestNet { net, negate } => self.net(Dim::Dst, net, *negate),
            Match::SourceRange { from, to, negate } => self.range(Dim::Src, *from, *to, *negate),
            Match::DestRange { from, to, negate } => self.range(Dim::Dst, *from, *to, *negate),
            Match::InInterface { iface, negate } => one(
                Dim::Iif,
                self.negated(Dim::Iif, self.ifaces.classes(iface), *negate),
            ),
            Match::OutInterface { iface, negate } => one(
                Dim::Oif,
                self.negated(Dim::Oif, self.ifaces.classes(iface), *negate),
            ),
            Match::Fragment { negate } => one(Dim::Fragment, Ranges::single(u128::from(!*negate))),
            Match::SourcePort {
                proto,
                ports,
                negate,
            } => port_atom(*proto, &[Dim::Sport], ports, *negate),
            Match::DestPort {
                proto,
                ports,
                negate,
            } => port_atom(*proto, &[Dim::Dport], ports, *negate),
            Match::AnyPort {
                proto,
                ports,
                negate,
            } => port_atom(*proto, &[Dim::Sport, Dim::Dport], ports, *negate),
            Match::TcpFlags { flags, negate } => {
                let values = Ranges::from_intervals(
                    (0..=255u8)
                        .filter(|v| (v & flags.mask == flags.set) != *negate)
                        .map(|v| (u128::from(v), u128::from(v))),
                );
                let mut c = Cube::with(Dim::Proto, Ranges::single(6));
                c.set(Dim::TcpFlags, Some(values));
                Atom::Set(vec![c])
            }
            Match::Icmp { kind, code, negate } => icmp_atom(1, *kind, *code, *negate, true),
            Match::Icmpv6 { kind, code, negate } => icmp_atom(58, *kind, *code, *negate, false),
            Match::ConnState { states, negate } => {
                if mutations.ctstate || states.0 & !ConnStates::PACKET_STATES != 0 {
                    return Atom::Unknown;
                }
                let values = Ranges::from_intervals(
                    (0..5u8)
                        .filter(|i| states.0 & (1 << i) != 0)
                        .map(|i| (u128::from(i), u128::from(i))),
                );
                one(Dim::CtState, self.negated(Dim::CtState, values, *negate))
            }
            Match::Mark {
                value,
                mask,
                negate,
            } if !mutations.mark => mark_atom(Dim::Mark, *value, *mask, *negate),
            Match::ConnMark {
                value,
                mask,
                negate,
            } if !mutations.connmark => mark_atom(Dim::ConnMark, *value, *mask, *negate),
            Match::Length { min, max, negate } => one(
                Dim::Length,
                self.negated(
                    Dim::Length,
                    Ranges::span(u128::from(*min), u128::from(*max)),
                    *negate,
                ),
            ),
            Match::PacketType { kind, negate } => {
                let v = match kind {
                    moat_model::PacketType::Unicast => 0,
                    moat_model::PacketType::Broadcast => 1,
                    moat_model::PacketType::Multicast => 2,
                    moat_model::PacketType::OtherHost => 3,
                };
                one(
                    Dim::PktType,
                    self.negated(Dim::PktType, Ranges::single(v), *negate),
                )
            }
            Match::SourceMac { mac, negate } => {
                let v = mac.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
                let values = Ranges::single(v);
                let values = if *negate {
                    values.complement(NO_MAC - 1)
                } else {
                    values
                };
                one(Dim::Mac, values)
            }
            Match::Comment { .. } => Atom::Set(vec![Cube::all()]),
            // The sending socket is no dimension of the packet space.
            Match::SocketUid { .. } | Match::SocketGid { .. } => Atom::Unknown,
            // Nor are the TTL, hop limit and DS field.
            Match::HopLimit { .. } | Match::DsField { .. } => Atom::Unknown,
            // A quota matches depending on the traffic before.
            Match::Quota { .. } => Atom::Unknown,
            // And neither are a connection's counters or the CPU.
            Match::ConnBytes { .. } | Match::Cpu { .. } => Atom::Unknown,
            // Interfaces are classes of names, not of groups.
            Match::DeviceGroup { .. } | Match::Realm { .. } => Atom::Unknown,
            // Nor is the route back to the source.
            Match::RpFilter { .. } => Atom::Unknown,
            _ => Atom::Unknown,
        }
    }
}

fn port_set(ports: &[PortRange]) -> Ranges {
    Ranges::from_intervals(
        ports
            .iter()
            .map(|p| (u128::from(p.first), u128::from(p.last))),
    )
}

/// `--sport`/`--dport`/`--ports`: the protocol, and the port(s) in (or, negated,
/// all outside) `ports`; packets without ports never match either way.
fn port_atom(proto: u8, dims: &[Dim], ports: &[PortRange], negate: bool) -> Atom {
    let set = port_set(ports);
    let base = Cube::with(Dim::Proto, Ranges::single(u128::from(proto)));
    let with = |c: &Cube, dim: Dim, values: Ranges| {
        let mut c = c.clone();
        c.set(dim, Some(values));
        c
    };
    if negate {
        let outside = set.complement(65535);
        let cube = dims.iter().fold(base, |c, &d| with(&c, d, outside.clone()));
        Atom::Set(vec![cube])
    } else {
        Atom::Set(dims.iter().map(|&d| with(&base, d, set.clone())).collect())
    }
}

fn icmp_atom(proto: u8, kind: u8, code: Option<u8>, negate: bool, any_type_255: bool) -> Atom {
    let values = if kind == 255 && any_type_255 {
        Ranges::span(0, 65535)
    } else {
        let t = u128::from(kind) * 256;
        match code {
            Some(c) => Ranges::single(t + u128::from(c)),
            None => Ranges::span(t, t + 255),
        }
    };
    let values = if negate {
        values.complement(65535)
    } else {
        values
    };
    let mut c = Cube::with(Dim::Proto, Ranges::single(u128::from(proto)));
    c.set(Dim::Icmp, Some(values));
    Atom::Set(vec![c])
}

/// `mark & mask == value`: one interval when the mask is a run of high bits
/// (which covers exact marks), otherwise undecided.
fn mark_atom(dim: Dim, value: u32, mask: u32, negate: bool) -> Atom {
    let max = u128::from(u32::MAX);
    let values = if value & !mask != 0 {
        Ranges::empty()
    } else if mask.leading_ones() + mask.trailing_zeros() == 32 || mask == 0 {
        Ranges::span(u128::from(value), u128::from(value | !mask))
    } else {
        return Atom::Unknown;
    };
    one(
        dim,
        if negate {
            values.complement(max)
        } else {
            values
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{dport, parse_matches};

    fn compile(text: &str) -> Space {
        let ifaces = Ifaces::default();
        let c = Compiler::new(Family::Ipv4, &ifaces);
        c.space(&parse_matches(text), Mutations::default())
    }

    #[test]
    fn plain_matches_are_exact_boxes() {
        let s = compile("-s 10.0.0.0/8 -p tcp --dport 22");
        assert!(s.exact);
        assert_eq!(s.cubes.cubes().len(), 1);
        let c = &s.cubes.cubes()[0];
        assert_eq!(
            c.get(Dim::Src),
            Some(&Ranges::span(0x0a00_0000, 0x0aff_ffff))
        );
        assert_eq!(c.get(Dim::Dport), Some(&Ranges::single(22)));
        assert_eq!(c.get(Dim::Proto), Some(&Ranges::single(6)));
    }

    #[test]
    fn negation_complements_only_the_port() {
        let s = compile("-p tcp ! --dport 22");
        let c = &s.cubes.cubes()[0];
        assert_eq!(c.get(Dim::Proto), Some(&Ranges::single(6)));
        assert_eq!(
            c.get(Dim::Dport),
            Some(&Ranges::from_intervals([(0, 21), (23, 65535)]))
        );
    }

    #[test]
    fn undecidable_matches_make_the_rule_inexact() {
        let s = compile("-p tcp -m limit --limit 5/min");
        assert!(!s.exact);
        assert_eq!(s.cubes, compile("-p tcp").cubes);
        let mut m = parse_matches("-m mark --mark 0x1");
        assert!(compile("-m mark --mark 0x1").exact);
        let ifaces = Ifaces::default();
        let c = Compiler::new(Family::Ipv4, &ifaces);
        let muts = Mutations {
            mark: true,
            ..Mutations::default()
        };
        assert!(!c.space(&m, muts).exact);
        m.push(dport(80));
        assert!(!c.space(&m, muts).exact);
    }

    #[test]
    fn multiport_either_side_is_two_boxes_and_contradictions_are_empty() {
        assert_eq!(
            compile("-p tcp -m multiport --ports 80")
                .cubes
                .cubes()
                .len(),
            2
        );
        let ifaces = Ifaces::default();
        let c = Compiler::new(Family::Ipv4, &ifaces);
        let mut m = parse_matches("-p udp");
        m.push(dport(80));
        assert!(c.space(&m, Mutations::default()).cubes.is_empty());
        assert!(
            compile("-s 10.0.0.0/8 -m iprange ! --src-range 10.0.0.0-10.255.255.255")
                .cubes
                .is_empty()
        );
    }

    #[test]
    fn a_mac_and_its_negation_leave_packets_without_one() {
        let mac = compile("-m mac --mac-source 00:11:22:33:44:55");
        let not = compile("-m mac ! --mac-source 00:11:22:33:44:55");
        let ifaces = Ifaces::default();
        let c = Compiler::new(Family::Ipv4, &ifaces);
        let rest = CubeList::from_cubes(vec![Cube::all()])
            .subtract(&mac.cubes, &c.domain, 8)
            .and_then(|r| r.subtract(&not.cubes, &c.domain, 8));
        assert_eq!(rest.map(|r| r.is_empty()), Some(false));
        let host = compile("-m pkttype --pkt-type host");
        let others = compile("-m pkttype ! --pkt-type host");
        let rest = CubeList::from_cubes(vec![Cube::all()])
            .subtract(&host.cubes, &c.domain, 8)
            .and_then(|r| r.subtract(&others.cubes, &c.domain, 8));
        assert_eq!(rest.map(|r| r.is_empty()), Some(true));
    }

    #[test]
    fn masks_of_high_bits_are_intervals() {
        assert!(matches!(
            mark_atom(Dim::Mark, 0x100, 0xff00, false),
            Atom::Unknown
        ));
        let Atom::Set(c) = mark_atom(Dim::Mark, 0x1_0000, 0xffff_0000, false) else {
            panic!("high mask is decidable");
        };
        assert_eq!(c[0].get(Dim::Mark), Some(&Ranges::span(0x1_0000, 0x1_ffff)));
    }
}
