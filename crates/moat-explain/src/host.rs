//! What the explainer knows of the host: its addresses and routes.

use std::net::IpAddr;

use ipnet::IpNet;
use moat_model::Family;
use serde::Serialize;

/// An address of one of the host's interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalAddr {
    /// The interface.
    pub iface: String,
    /// The address.
    pub addr: IpAddr,
    /// Its network's broadcast address (IPv4), if it has one.
    pub broadcast: Option<IpAddr>,
}

// `-m addrtype` bits (see `moat_model::AddrTypes`).
const UNICAST: u16 = 2;
const LOCAL: u16 = 4;
const BROADCAST: u16 = 8;
const MULTICAST: u16 = 32;
const UNREACHABLE: u16 = 128;

/// A route: destinations in `dest` leave through `iface`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The destinations (`0.0.0.0/0` for a default route).
    pub dest: IpNet,
    /// The outgoing interface.
    pub iface: String,
}

/// The host's addresses and routing table, for the routing decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostView {
    /// Every address of every interface.
    pub addresses: Vec<LocalAddr>,
    /// The routes (main table).
    pub routes: Vec<Route>,
    /// Whether the host forwards IPv4 (`net.ipv4.ip_forward`); unknown counts as yes.
    pub ipv4_forwarding: Option<bool>,
    /// Whether the host forwards IPv6 (`net.ipv6.conf.all.forwarding`).
    pub ipv6_forwarding: Option<bool>,
}

impl HostView {
    /// Whether `addr` belongs to this host (loopback included).
    pub fn is_local(&self, addr: IpAddr) -> bool {
        addr.is_loopback() || self.addresses.iter().any(|a| a.addr == addr)
    }

    /// The interface a packet to `dest` leaves through: the longest
    /// matching route, or `lo` for a local address.
    pub fn route(&self, dest: IpAddr) -> Option<&str> {
        if self.is_local(dest) {
            return Some("lo");
        }
        self.routes
            .iter()
            .filter(|r| r.dest.contains(&dest))
            .max_by_key(|r| r.dest.prefix_len())
            .map(|r| r.iface.as_str())
    }

    /// The routing type of `addr` as an `-m addrtype` bit: LOCAL for the
    /// host's own, BROADCAST and MULTICAST, UNICAST when a route leads
    /// there, else UNREACHABLE.
    pub fn addr_type(&self, addr: IpAddr) -> u16 {
        let broadcast = match addr {
            IpAddr::V4(v4) => v4.is_broadcast(),
            IpAddr::V6(_) => false,
        } || self.addresses.iter().any(|a| a.broadcast == Some(addr));
        if self.is_local(addr) {
            LOCAL
        } else if broadcast {
            BROADCAST
        } else if addr.is_multicast() {
            MULTICAST
        } else if self.route(addr).is_some() {
            UNICAST
        } else {
            UNREACHABLE
        }
    }

    /// Whether the host routes packets of `family` through (unknown: yes).
    pub fn forwards(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.ipv4_forwarding,
            Family::Ipv6 => self.ipv6_forwarding,
        }
        .unwrap_or(true)
    }

    /// The first address of `family` on `iface`.
    pub fn address_of(&self, iface: &str, family: Family) -> Option<IpAddr> {
        self.addresses
            .iter()
            .filter(|a| a.iface == iface)
            .map(|a| a.addr)
            .find(|a| a.is_ipv4() == (family == Family::Ipv4))
    }
}
