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
}

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

    /// The first address of `family` on `iface`.
    pub fn address_of(&self, iface: &str, family: Family) -> Option<IpAddr> {
        self.addresses
            .iter()
            .filter(|a| a.iface == iface)
            .map(|a| a.addr)
            .find(|a| a.is_ipv4() == (family == Family::Ipv4))
    }
}
