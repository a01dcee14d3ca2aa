//! The packet a user describes.

use std::net::IpAddr;
use std::str::FromStr;

use moat_model::{ConnStates, Family};
use serde::Serialize;

use crate::error::SpecError;

/// The connection-tracking state the packet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnState {
    /// It opens a connection.
    New,
    /// It belongs to a connection that has seen traffic both ways.
    Established,
    /// It opens a connection related to an existing one.
    Related,
    /// It fits no connection.
    Invalid,
}

impl ConnState {
    /// The state as a [`ConnStates`] bit.
    pub fn bit(self) -> u8 {
        match self {
            ConnState::New => ConnStates::NEW,
            ConnState::Established => ConnStates::ESTABLISHED,
            ConnState::Related => ConnStates::RELATED,
            ConnState::Invalid => ConnStates::INVALID,
        }
    }
}

/// `new`, `established`, `related` or `invalid` (any case).
impl FromStr for ConnState {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "new" => Ok(ConnState::New),
            "established" => Ok(ConnState::Established),
            "related" => Ok(ConnState::Related),
            "invalid" => Ok(ConnState::Invalid),
            _ => Err(SpecError::State(s.to_string())),
        }
    }
}

/// A protocol by name (`tcp`, `udp`, `icmp`, `icmpv6`, ...) or number.
pub fn parse_protocol(s: &str) -> Result<u8, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        "icmpv6" | "ipv6-icmp" => Ok(58),
        "sctp" => Ok(132),
        "gre" => Ok(47),
        "esp" => Ok(50),
        other => other
            .parse()
            .map_err(|_| SpecError::Protocol(s.to_string())),
    }
}

/// An ICMP type with an optional code: `8`, `3/3`, or a common name
/// (`echo-request`, `echo-reply`, `destination-unreachable`, ...).
/// The code is 0 when not given.
pub fn parse_icmp_type(s: &str, protocol: u8) -> Result<(u8, u8), SpecError> {
    let bad = || SpecError::IcmpType(s.to_string());
    let (kind, code) = match s.split_once('/') {
        Some((k, c)) => (k, Some(c.parse::<u8>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let v6 = protocol == 58;
    let kind = match (kind, v6) {
        ("echo-request", false) => 8,
        ("echo-reply", false) => 0,
        ("destination-unreachable", false) => 3,
        ("time-exceeded", false) => 11,
        ("echo-request", true) => 128,
        ("echo-reply", true) => 129,
        ("destination-unreachable", true) => 1,
        ("time-exceeded", true) => 3,
        ("neighbour-solicitation" | "neighbor-solicitation", true) => 135,
        ("neighbour-advertisement" | "neighbor-advertisement", true) => 136,
        (n, _) => n.parse().map_err(|_| bad())?,
    };
    Ok((kind, code.unwrap_or(0)))
}

/// A packet, as a user describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketSpec {
    /// The interface it arrives on; `None` for a packet this host sends.
    pub in_iface: Option<String>,
    /// The interface it leaves through (when `None`, or for an arriving
    /// packet, the routing decision is used when the host knows a route).
    pub out_iface: Option<String>,
    /// Source address; for a packet this host sends, `None` takes the
    /// outgoing interface's address.
    pub source: Option<IpAddr>,
    /// Destination address.
    pub destination: IpAddr,
    /// Layer-4 protocol number.
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP); `None` makes `--sport` matches depend.
    pub source_port: Option<u16>,
    /// Destination port.
    pub destination_port: Option<u16>,
    /// ICMP or ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// TCP flags; `None` takes SYN for a new connection and ACK otherwise.
    pub tcp_flags: Option<u8>,
    /// Connection-tracking state.
    pub state: ConnState,
    /// The packet mark it starts with.
    pub mark: u32,
    /// The IP length, header included; `None` makes length matches depend.
    pub length: Option<u16>,
    /// Named sets (ipset / `-m set`) the packet is known to be in (`true`)
    /// or not in (`false`); matches on other sets depend.
    pub sets: Vec<(String, bool)>,
}

impl PacketSpec {
    /// A new-connection packet of `protocol` to `destination` arriving on `in_iface`.
    pub fn arriving(in_iface: &str, source: IpAddr, destination: IpAddr, protocol: u8) -> Self {
        PacketSpec {
            in_iface: Some(in_iface.to_string()),
            out_iface: None,
            source: Some(source),
            destination,
            protocol,
            source_port: None,
            destination_port: None,
            icmp: None,
            tcp_flags: None,
            state: ConnState::New,
            mark: 0,
            length: None,
            sets: Vec::new(),
        }
    }

    /// Whether this host sends the packet (no input interface).
    pub fn is_local(&self) -> bool {
        self.in_iface.is_none()
    }

    /// The packet's family, from its destination.
    pub fn family(&self) -> Family {
        match self.destination {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Whether the description makes sense: a source for an arriving
    /// packet, addresses of one family, ports only for protocols that have them,
    /// an ICMP type only for ICMP.
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(src) = self.source {
            if src.is_ipv4() != self.destination.is_ipv4() {
                return Err(SpecError::MixedFamilies(src, self.destination));
            }
        } else if !self.is_local() {
            return Err(SpecError::NoSource);
        }
        let has_ports = matches!(self.protocol, 6 | 17 | 132 | 33 | 136);
        if !has_ports && (self.source_port.is_some() || self.destination_port.is_some()) {
            return Err(SpecError::PortsWithout(self.protocol));
        }
        let icmp = match self.destination {
            IpAddr::V4(_) => 1,
            IpAddr::V6(_) => 58,
        };
        if self.icmp.is_some() && self.protocol != icmp {
            return Err(SpecError::IcmpWithout(self.protocol));
        }
        if self.tcp_flags.is_some() && self.protocol != 6 {
            return Err(SpecError::FlagsWithout(self.protocol));
        }
        Ok(())
    }

    /// The TCP flags the packet carries: as given, or SYN for a new
    /// connection and ACK for the others (`None` for other protocols, and
    /// for an invalid packet without given flags).
    pub fn flags(&self) -> Option<u8> {
        if self.protocol != 6 {
            return None;
        }
        self.tcp_flags.or(match self.state {
            ConnState::New => Some(0x02),
            ConnState::Established | ConnState::Related => Some(0x10),
            ConnState::Invalid => None,
        })
    }
}
