//! The packet as it travels: the description with every rewrite so far.

use std::net::IpAddr;

use moat_model::decide::Facts;
use moat_model::ConnStates;
use serde::Serialize;

use crate::host::HostView;
use crate::packet::PacketSpec;

/// The packet at one point of its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flight {
    /// Layer-4 protocol number.
    pub protocol: u8,
    /// Source address.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// Source port.
    pub source_port: Option<u16>,
    /// Destination port.
    pub destination_port: Option<u16>,
    /// Input interface.
    pub in_iface: Option<String>,
    /// Output interface, once routed.
    pub out_iface: Option<String>,
    /// Connection-tracking state bit.
    #[serde(skip)]
    pub state: u8,
    /// The connection's SNAT and DNAT status bits, when known (none yet for
    /// a new connection; unknown for an existing one).
    #[serde(skip)]
    pub nat_status: Option<u8>,
    /// TCP flags.
    #[serde(skip)]
    pub tcp_flags: Option<u8>,
    /// ICMP type and code.
    #[serde(skip)]
    pub icmp: Option<(u8, u8)>,
    /// Packet mark (`None` once it depends on an unknown connection mark).
    pub mark: Option<u32>,
    /// Connection mark (known to be 0 for a new connection).
    pub conn_mark: Option<u32>,
    /// IP length.
    #[serde(skip)]
    pub length: Option<u16>,
    /// Whether the connection's address translation was already decided
    /// (a packet this host sent to itself, coming back in on `lo`).
    #[serde(skip)]
    pub nat_decided: bool,
    /// The set memberships the description gives.
    #[serde(skip)]
    pub sets: Vec<(String, bool)>,
}

impl Flight {
    /// The packet as described, before any hook.
    pub fn start(spec: &PacketSpec, host: &HostView) -> Flight {
        let out = spec.out_iface.clone();
        let source = spec.source.unwrap_or_else(|| {
            out.as_deref()
                .or_else(|| host.route(spec.destination))
                .and_then(|i| host.address_of(i, spec.family()))
                .unwrap_or(match spec.destination {
                    IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                })
        });
        Flight {
            protocol: spec.protocol,
            source,
            destination: spec.destination,
            source_port: spec.source_port,
            destination_port: spec.destination_port,
            in_iface: spec.in_iface.clone(),
            out_iface: if spec.is_local() { out } else { None },
            state: spec.state.bit(),
            nat_status: (spec.state.bit() == ConnStates::NEW).then_some(0),
            tcp_flags: spec.flags(),
            icmp: spec.icmp,
            mark: Some(spec.mark),
            conn_mark: (spec.state.bit() == ConnStates::NEW).then_some(0),
            length: spec.length,
            nat_decided: false,
            sets: spec.sets.clone(),
        }
    }

    /// What the match decider may use (address types from `host`).
    pub fn facts(&self, host: &HostView) -> Facts<'_> {
        Facts {
            protocol: self.protocol,
            source: self.source,
            destination: self.destination,
            source_port: self.source_port,
            destination_port: self.destination_port,
            in_iface: self.in_iface.as_deref(),
            out_iface: self.out_iface.as_deref(),
            state: self.state,
            nat_status: self.nat_status,
            tcp_flags: self.tcp_flags,
            icmp: self.icmp,
            mark: self.mark,
            conn_mark: self.conn_mark,
            length: self.length,
            source_type: Some(host.addr_type(self.source)),
            destination_type: Some(host.addr_type(self.destination)),
            sets: &self.sets,
        }
    }

    /// Whether address translation still applies (the first packet of a tracked connection).
    pub fn is_new(&self) -> bool {
        self.state & ConnStates::NEW != 0
    }

    /// `10.0.0.1:80` (or just the address without a port).
    pub fn endpoint(addr: IpAddr, port: Option<u16>) -> String {
        match (addr, port) {
            (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        }
    }
}
