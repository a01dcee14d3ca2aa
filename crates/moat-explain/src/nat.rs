//! Address translation: what DNAT, REDIRECT, SNAT and MASQUERADE do to the packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use moat_model::{Action, ConnStates, Family, NatSide, NatTarget, PortRange};

use crate::flight::Flight;
use crate::host::HostView;

/// Rewrites `flight` as `action` does and says what changed, e.g.
/// `destination 10.0.0.1:80 -> 10.0.0.9:8080`; `None` for other actions.
/// From an address or port range, the first is taken (the kernel picks one).
pub fn apply(action: &Action, flight: &mut Flight, host: &HostView) -> Option<String> {
    let family = match flight.destination {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    };
    match action {
        Action::Dnat(t) => {
            let addr = t.addrs.map(|(a, _)| a);
            Some(rewrite_dest(flight, addr, t.ports) + &range_note(t))
        }
        Action::Redirect { ports, .. } => {
            let addr = match flight.in_iface.as_deref() {
                Some(i) => host.address_of(i, family),
                None => Some(loopback(family)),
            };
            Some(rewrite_dest(flight, addr, *ports))
        }
        Action::Snat(t) => {
            let addr = t.addrs.map(|(a, _)| a);
            Some(rewrite_source(flight, addr, t.ports) + &range_note(t))
        }
        Action::Masquerade { ports, .. } => {
            let iface = flight.out_iface.clone();
            let addr = iface.as_deref().and_then(|i| host.address_of(i, family));
            let mut change = rewrite_source(flight, addr, *ports);
            if addr.is_none() {
                let iface = iface.unwrap_or_else(|| "the output interface".into());
                change.push_str(&format!(" (to the address of {iface}, not known here)"));
            }
            Some(change)
        }
        Action::Netmap { to, side } => {
            let address = match side {
                NatSide::Destination => flight.destination,
                NatSide::Source => flight.source,
            };
            let mapped = map_into(address, *to)?;
            Some(match side {
                NatSide::Destination => rewrite_dest(flight, Some(mapped), None),
                NatSide::Source => rewrite_source(flight, Some(mapped), None),
            })
        }
        _ => None,
    }
}

/// `address` with its network part replaced by network `to`'s (NETMAP).
fn map_into(address: IpAddr, to: IpNet) -> Option<IpAddr> {
    Some(match (address, to.network(), to.netmask()) {
        (IpAddr::V4(a), IpAddr::V4(net), IpAddr::V4(mask)) => {
            let mask = u32::from(mask);
            IpAddr::V4(Ipv4Addr::from((u32::from(a) & !mask) | u32::from(net)))
        }
        (IpAddr::V6(a), IpAddr::V6(net), IpAddr::V6(mask)) => {
            let mask = u128::from(mask);
            IpAddr::V6(Ipv6Addr::from((u128::from(a) & !mask) | u128::from(net)))
        }
        _ => return None,
    })
}

fn loopback(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

fn range_note(t: &NatTarget) -> String {
    let addrs = t.addrs.filter(|(a, b)| a != b);
    let ports = t.ports.filter(|p| p.first != p.last);
    match (addrs, ports) {
        (None, None) => String::new(),
        _ => " (the first of the range; the kernel may pick another)".into(),
    }
}

fn rewrite_dest(flight: &mut Flight, addr: Option<IpAddr>, ports: Option<PortRange>) -> String {
    let Flight {
        destination,
        destination_port,
        nat_status,
        ..
    } = flight;
    let (change, changed) = rewrite("destination", destination, destination_port, addr, ports);
    mark_translated(nat_status, changed, ConnStates::DNAT);
    change
}

fn rewrite_source(flight: &mut Flight, addr: Option<IpAddr>, ports: Option<PortRange>) -> String {
    let Flight {
        source,
        source_port,
        nat_status,
        ..
    } = flight;
    let (change, changed) = rewrite("source", source, source_port, addr, ports);
    mark_translated(nat_status, changed, ConnStates::SNAT);
    change
}

/// The kernel records a translation in the connection's status only when
/// it changed the address or port.
fn mark_translated(status: &mut Option<u8>, changed: bool, bit: u8) {
    if let (Some(s), true) = (status.as_mut(), changed) {
        *s |= bit;
    }
}

/// Sets an address (and a port the packet has); says what changed and
/// whether anything did.
fn rewrite(
    what: &str,
    addr: &mut IpAddr,
    port: &mut Option<u16>,
    new_addr: Option<IpAddr>,
    ports: Option<PortRange>,
) -> (String, bool) {
    let old = (*addr, *port);
    let before = Flight::endpoint(*addr, *port);
    if let Some(a) = new_addr {
        *addr = a;
    }
    if let (Some(p), Some(_)) = (ports, *port) {
        *port = Some(p.first);
    }
    let after = Flight::endpoint(*addr, *port);
    (format!("{what} {before} -> {after}"), old != (*addr, *port))
}
