//! What the daemon's jobs and `moat block` keep in sets: block lists
//! (entries and drops), bans by jail, balanced services' backends.

use std::collections::BTreeMap;

use moat_balance::control::ServiceStatus;
use moat_balance::health::State;
use moat_ban::KernelBan;
use moat_blocklist::ListInfo;

use crate::exposition::{Exposition, Kind};

/// Adds the block lists: ranges per family, IPv4 addresses, drops.
pub fn add_blocklists(e: &mut Exposition, lists: &[ListInfo]) {
    for l in lists {
        let name = l.name.as_str();
        for (family, ranges) in [("ipv4", l.ranges_v4), ("ipv6", l.ranges_v6)] {
            e.sample(
                "moat_blocklist_ranges",
                "Address ranges in a block list (moat block list's sizes).",
                Kind::Gauge,
                &[("list", name), ("family", family)],
                ranges as f64,
            );
        }
        e.sample(
            "moat_blocklist_ipv4_addresses",
            "IPv4 addresses a block list covers.",
            Kind::Gauge,
            &[("list", name)],
            l.addresses_v4 as f64,
        );
        e.sample(
            "moat_blocklist_dropped_packets_total",
            "Packets a block list's rules dropped.",
            Kind::Counter,
            &[("list", name)],
            l.packets as f64,
        );
        e.sample(
            "moat_blocklist_dropped_bytes_total",
            "Bytes a block list's rules dropped.",
            Kind::Counter,
            &[("list", name)],
            l.bytes as f64,
        );
    }
}

/// Adds the bans in the kernel, by jail (`jails` names every jail, so a
/// jail without bans shows 0).
pub fn add_bans(e: &mut Exposition, jails: &[String], bans: &[KernelBan]) {
    let mut by_jail: BTreeMap<&str, usize> = jails.iter().map(|j| (j.as_str(), 0)).collect();
    for b in bans {
        *by_jail.entry(b.jail.as_str()).or_default() += 1;
    }
    for (jail, n) in by_jail {
        e.sample(
            "moat_bans",
            "Addresses (or IPv6 networks) banned now, by jail (moat bans).",
            Kind::Gauge,
            &[("jail", jail)],
            n as f64,
        );
    }
}

/// Adds the balanced services' backends as the daemon sees them.
pub fn add_balance(e: &mut Exposition, services: &[ServiceStatus]) {
    for s in services {
        for b in &s.backends {
            let labels = [("service", s.name.as_str()), ("backend", b.addr.as_str())];
            let up = if b.state == State::Up { 1.0 } else { 0.0 };
            e.sample(
                "moat_backend_up",
                "Whether a balanced service's backend passes its health checks.",
                Kind::Gauge,
                &labels,
                up,
            );
            e.sample(
                "moat_backend_in_rotation",
                "Whether a backend takes new connections now.",
                Kind::Gauge,
                &labels,
                if b.in_rotation { 1.0 } else { 0.0 },
            );
            e.sample(
                "moat_backend_new_connections_total",
                "New connections the balancer sent to a backend.",
                Kind::Counter,
                &labels,
                b.new_connections as f64,
            );
            e.sample(
                "moat_backend_check_failures_total",
                "Health checks of a backend that failed since the daemon started.",
                Kind::Counter,
                &labels,
                b.failures as f64,
            );
        }
    }
}
