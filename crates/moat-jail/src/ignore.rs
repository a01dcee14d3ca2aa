//! Addresses a jail never bans: `ignoreip` (addresses, networks, DNS
//! names) and, with `ignoreself`, this host's own addresses.

use std::net::{IpAddr, ToSocketAddrs};

use ipnet::IpNet;

/// Why an address was not banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// It is one of this host's addresses.
    OwnAddress,
    /// It is in `ignoreip` (the entry that holds it).
    Listed(String),
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::OwnAddress => write!(f, "it is an address of this host (ignoreself)"),
            IgnoreReason::Listed(entry) => write!(f, "ignoreip holds it ({entry})"),
        }
    }
}

/// An `ignoreip` entry that is neither an address, a network nor a host name.
#[derive(Debug, thiserror::Error)]
#[error("ignoreip entry {0:?} is not an address, a network (a.b.c.d/n) or a host name")]
pub struct BadIgnoreEntry(pub String);

/// What a jail never bans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreList {
    nets: Vec<(IpNet, String)>,
    names: Vec<String>,
    resolved: Vec<(IpAddr, String)>,
    own: Vec<IpAddr>,
    ignore_self: bool,
}

impl IgnoreList {
    /// Reads `ignoreip` entries; host names are kept to be resolved by
    /// [`IgnoreList::refresh`].
    pub fn new<S: AsRef<str>>(entries: &[S], ignore_self: bool) -> Result<Self, BadIgnoreEntry> {
        let mut list = IgnoreList {
            ignore_self,
            ..IgnoreList::default()
        };
        for entry in entries.iter().map(AsRef::as_ref) {
            if let Some(net) = parse_net(entry) {
                list.nets.push((net.trunc(), entry.to_string()));
            } else if let Ok(addr) = entry.parse::<IpAddr>() {
                list.nets.push((IpNet::from(addr), entry.to_string()));
            } else if is_host_name(entry) {
                list.names.push(entry.to_string());
            } else {
                return Err(BadIgnoreEntry(entry.to_string()));
            }
        }
        Ok(list)
    }

    /// Resolves the host names and reads this host's addresses again (at
    /// start and on reload). Returns the names that did not resolve.
    pub fn refresh(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        self.resolved.clear();
        for name in &self.names {
            match (name.as_str(), 0).to_socket_addrs() {
                Ok(addrs) => self.resolved.extend(addrs.map(|a| (a.ip(), name.clone()))),
                Err(_) => failed.push(name.clone()),
            }
        }
        self.own = if self.ignore_self {
            own_addresses()
        } else {
            Vec::new()
        };
        failed
    }

    /// Why `addr` must not be banned, if it must not.
    pub fn reason(&self, addr: IpAddr) -> Option<IgnoreReason> {
        let addr = canonical(addr);
        if self.ignore_self && (addr.is_loopback() || self.own.contains(&addr)) {
            return Some(IgnoreReason::OwnAddress);
        }
        if let Some((_, entry)) = self.nets.iter().find(|(n, _)| n.contains(&addr)) {
            return Some(IgnoreReason::Listed(entry.clone()));
        }
        self.resolved
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, name)| IgnoreReason::Listed(name.clone()))
    }

    /// Why a whole network must not be banned: when it holds an address
    /// that must not be.
    pub fn reason_for_net(&self, net: IpNet) -> Option<IgnoreReason> {
        if self.ignore_self && self.own.iter().any(|a| net.contains(a) && !a.is_loopback()) {
            return Some(IgnoreReason::OwnAddress);
        }
        if let Some((_, entry)) = self
            .nets
            .iter()
            .find(|(n, _)| n.contains(&net) || net.contains(n))
        {
            return Some(IgnoreReason::Listed(entry.clone()));
        }
        self.resolved
            .iter()
            .find(|(a, _)| net.contains(a))
            .map(|(_, name)| IgnoreReason::Listed(name.clone()))
    }
}

/// A network as `ignoreip` writes it: `a.b.c.d/len`, `a.b.c.d/m.m.m.m`
/// (a dotted mask) or an IPv6 `addr/len`.
fn parse_net(entry: &str) -> Option<IpNet> {
    if let Ok(net) = entry.parse::<IpNet>() {
        return Some(net);
    }
    let (addr, mask) = entry.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len = ipnet::ipv4_mask_to_prefix(mask.parse().ok()?).ok()?;
    IpNet::new(IpAddr::V4(addr), len).ok()
}

/// IPv4-mapped IPv6 addresses are their IPv4 address.
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        })
}

fn own_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|list| list.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_every_kind() {
        let mut list =
            IgnoreList::new(&["127.0.0.1", "192.168.1.0/24", "localhost"], false).unwrap();
        list.refresh();
        assert_eq!(
            list.reason("192.168.1.172".parse().unwrap()),
            Some(IgnoreReason::Listed("192.168.1.0/24".into()))
        );
        assert_eq!(
            list.reason("127.0.0.1".parse().unwrap()),
            Some(IgnoreReason::Listed("127.0.0.1".into()))
        );
        assert_eq!(list.reason("203.0.113.9".parse().unwrap()), None);
        assert_eq!(
            list.reason("::ffff:192.168.1.9".parse().unwrap()),
            Some(IgnoreReason::Listed("192.168.1.0/24".into()))
        );
    }

    #[test]
    fn dotted_masks_are_networks() {
        let list = IgnoreList::new(&["10.0.0.0/255.0.0.0"], false).unwrap();
        assert!(list.reason("10.200.1.1".parse().unwrap()).is_some());
        assert!(IgnoreList::new(&["10.0.0.0/255.0.255.0"], false).is_err());
    }

    #[test]
    fn bad_entries_are_named() {
        let err = IgnoreList::new(&["10.0.0.0/33"], false).unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"));
    }

    #[test]
    fn own_addresses_with_ignoreself() {
        let mut list = IgnoreList::new::<&str>(&[], true).unwrap();
        list.refresh();
        assert_eq!(
            list.reason("127.0.0.1".parse().unwrap()),
            Some(IgnoreReason::OwnAddress)
        );
        assert_eq!(
            list.reason("::1".parse().unwrap()),
            Some(IgnoreReason::OwnAddress)
        );
        let mut off = IgnoreList::new::<&str>(&[], false).unwrap();
        off.refresh();
        assert_eq!(off.reason("127.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn a_prefix_holding_a_listed_address_is_ignored() {
        let list = IgnoreList::new(&["2001:db8::5"], false).unwrap();
        assert!(list
            .reason_for_net("2001:db8::/64".parse().unwrap())
            .is_some());
        assert!(list
            .reason_for_net("2001:db8:1::/64".parse().unwrap())
            .is_none());
    }
}
