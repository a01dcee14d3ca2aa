//! Jail actions: the firewall ones (iptables*, nftables*, firewallcmd-*, shorewall, ufw, ...)
//! become what moat's ban closes (ports and protocol, or all traffic); the others
//! (sendmail*, mail*, reporting services) are kept as references for the caller to judge.

use crate::error::{ConfError, Location, Warning};
use crate::services;
use std::collections::BTreeMap;

/// One action as written in a jail: `iptables-multiport[port="ssh", protocol=tcp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    /// The action's name (its action.d file without `.conf`).
    pub name: String,
    /// Its options.
    pub options: BTreeMap<String, String>,
    /// Where the jail's `action` value was written.
    pub at: Location,
}

/// The transport protocol a ban closes ports for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// UDP-Lite.
    Udplite,
    /// SCTP.
    Sctp,
    /// Every protocol with ports (several were named, or `all`).
    All,
}

/// An inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port (equal to `first` for a single port).
    pub last: u16,
}

/// What a jail's ban blocks for a banned address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanScope {
    /// The protocol of `ports`.
    pub protocol: Protocol,
    /// The ports closed (sorted, merged); empty when `all`.
    pub ports: Vec<PortRange>,
    /// All traffic from the address, whatever protocol and port.
    pub all: bool,
}

/// How an action blocks, by name (and its `type`/`actiontype` option).
enum Kind {
    /// Closes the given ports (defaults when the action names none).
    Ports { default_port: &'static str },
    /// Blocks everything from the address.
    All,
}

/// The blocking behaviour of action `name`, if it is a firewall action.
fn kind(name: &str, options: &BTreeMap<String, String>) -> Option<Kind> {
    let all_types = options.get("type").is_some_and(|t| t == "allports")
        || options.get("actiontype").is_some_and(|t| t == "<allports>");
    let ports = |default_port| {
        Some(if all_types {
            Kind::All
        } else {
            Kind::Ports { default_port }
        })
    };
    if name.ends_with("-allports") {
        return Some(Kind::All);
    }
    match name {
        "iptables"
        | "iptables-multiport"
        | "iptables-multiport-log"
        | "iptables-new"
        | "iptables-xt_recent-echo"
        | "iptables-ipset"
        | "iptables-ipset-proto4"
        | "iptables-ipset-proto6"
        | "nftables"
        | "nftables-multiport"
        | "pf" => ports("ssh"),
        "firewallcmd-multiport"
        | "firewallcmd-new"
        | "firewallcmd-ipset"
        | "firewallcmd-rich-rules"
        | "firewallcmd-rich-logging" => ports("1:65535"),
        "shorewall"
        | "shorewall-ipset-proto6"
        | "ufw"
        | "route"
        | "hostsdeny"
        | "apf"
        | "ipfilter"
        | "ipfw"
        | "bsd-ipfw"
        | "npf"
        | "osx-afctl"
        | "osx-ipfw" => Some(Kind::All),
        _ => None,
    }
}

/// Parses a port list as fail2ban jails write it: names (/etc/services) or numbers, ranges
/// `a:b` or `a-b`, separated by `,` or blanks; sorted and merged.
pub fn parse_ports(text: &str) -> Result<Vec<PortRange>, String> {
    let mut out = Vec::new();
    for item in text.split([',', ' ', '\t', '\n']).filter(|s| !s.is_empty()) {
        let (a, b) = item
            .split_once(':')
            .or_else(|| {
                item.split_once('-').filter(|(a, b)| {
                    !a.is_empty() && !b.is_empty() && services::port(item).is_none()
                })
            })
            .unwrap_or((item, item));
        let p = |s: &str| {
            services::port(s).ok_or_else(|| {
                format!(
                    "port `{s}` is neither a number (0-65535) nor a service name in /etc/services"
                )
            })
        };
        let (first, last) = (p(a)?, p(b)?);
        if first > last {
            return Err(format!("port range `{item}` runs backwards"));
        }
        out.push(PortRange { first, last });
    }
    if out.is_empty() {
        return Err("no port given".to_string());
    }
    out.sort();
    let mut merged: Vec<PortRange> = Vec::new();
    for r in out {
        match merged.last_mut() {
            Some(m) if u32::from(r.first) <= u32::from(m.last) + 1 => m.last = m.last.max(r.last),
            _ => merged.push(r),
        }
    }
    Ok(merged)
}

/// Parses a protocol list (`tcp`, `udp`, `tcp,udp`, `all`).
fn parse_protocol(text: &str) -> Result<Protocol, String> {
    let mut found = Vec::new();
    for p in text.split([',', ' ']).filter(|s| !s.is_empty()) {
        let proto = match p.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "udplite" => Protocol::Udplite,
            "sctp" => Protocol::Sctp,
            "all" => Protocol::All,
            _ => {
                return Err(format!(
                    "protocol `{p}`: expected tcp, udp, udplite, sctp or all"
                ))
            }
        };
        if !found.contains(&proto) {
            found.push(proto);
        }
    }
    match found.as_slice() {
        [] => Err("no protocol given".to_string()),
        [one] => Ok(*one),
        _ => Ok(Protocol::All),
    }
}

/// The scope of one action: `None` for an action that does not block (mail, reports).
/// `jail_port` is the jail's own `port`, used only to warn when the action ignores it.
pub(crate) fn scope(
    action: &ActionRef,
    jail_port: Option<&str>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<BanScope>, ConfError> {
    let Some(kind) = kind(&action.name, &action.options) else {
        return Ok(None);
    };
    let default_port = match kind {
        Kind::All => {
            return Ok(Some(BanScope {
                protocol: Protocol::All,
                ports: Vec::new(),
                all: true,
            }))
        }
        Kind::Ports { default_port } => default_port,
    };
    let port = match action.options.get("port") {
        Some(p) => p.as_str(),
        None => {
            if let Some(jp) = jail_port.filter(|jp| *jp != default_port) {
                warnings.push(action.at.warning(format!(
                    "action `{}` is given no port, so fail2ban (and moat) close its default port {default_port}, not the jail's port = {jp}; write {}[port=\"{jp}\"] to close that",
                    action.name, action.name
                )));
            }
            default_port
        }
    };
    let protocol = action.options.get("protocol").map_or("tcp", String::as_str);
    let what = |m: String| action.at.error(format!("action `{}`: {m}", action.name));
    let ports = parse_ports(port).map_err(what)?;
    let protocol = parse_protocol(protocol).map_err(what)?;
    Ok(Some(BanScope {
        protocol,
        ports,
        all: false,
    }))
}

/// One scope covering several: all traffic if any is, else the union of ports (protocols
/// merged to `All` when they differ).
pub(crate) fn merge(scopes: Vec<BanScope>) -> Option<BanScope> {
    let mut it = scopes.into_iter();
    let mut acc = it.next()?;
    for s in it {
        if acc.all || s.all {
            acc = BanScope {
                protocol: Protocol::All,
                ports: Vec::new(),
                all: true,
            };
            continue;
        }
        if acc.protocol != s.protocol {
            acc.protocol = Protocol::All;
        }
        let mut ports = acc.ports;
        ports.extend(s.ports);
        ports.sort();
        let mut merged: Vec<PortRange> = Vec::new();
        for r in ports {
            match merged.last_mut() {
                Some(m) if u32::from(r.first) <= u32::from(m.last) + 1 => {
                    m.last = m.last.max(r.last)
                }
                _ => merged.push(r),
            }
        }
        acc.ports = merged;
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(name: &str, opts: &[(&str, &str)]) -> ActionRef {
        ActionRef {
            name: name.to_string(),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            at: Location::new("jail.conf", 3),
        }
    }

    fn r(first: u16, last: u16) -> PortRange {
        PortRange { first, last }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_ports("ssh").unwrap(), vec![r(22, 22)]);
        assert_eq!(
            parse_ports("http,https").unwrap(),
            vec![r(80, 80), r(443, 443)]
        );
        assert_eq!(
            parse_ports("1000:2000, 1500-2500").unwrap(),
            vec![r(1000, 2500)]
        );
        assert_eq!(parse_ports("80,443,3128,8080").unwrap().len(), 4);
        assert_eq!(parse_ports("ftp-data").unwrap(), vec![r(20, 20)]);
        assert!(parse_ports("nosuch").is_err());
        assert!(parse_ports("20:10").is_err());
    }

    #[test]
    fn scopes() {
        let mut w = Vec::new();
        let s = scope(
            &act("iptables", &[("port", "ssh"), ("protocol", "tcp")]),
            None,
            &mut w,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.protocol, s.ports, s.all),
            (Protocol::Tcp, vec![r(22, 22)], false)
        );
        let s = scope(&act("iptables-allports", &[]), None, &mut w)
            .unwrap()
            .unwrap();
        assert!(s.all);
        let s = scope(&act("nftables", &[("type", "allports")]), None, &mut w)
            .unwrap()
            .unwrap();
        assert!(s.all);
        let s = scope(&act("iptables-multiport", &[]), Some("http"), &mut w)
            .unwrap()
            .unwrap();
        assert_eq!(s.ports, vec![r(22, 22)]);
        assert_eq!(w.len(), 1, "{w:?}");
        let s = scope(&act("iptables", &[("protocol", "tcp,udp")]), None, &mut w)
            .unwrap()
            .unwrap();
        assert_eq!(s.protocol, Protocol::All);
        assert!(scope(&act("sendmail-whois", &[]), None, &mut w)
            .unwrap()
            .is_none());
        assert!(scope(&act("iptables", &[("port", "x y")]), None, &mut w).is_err());
    }

    #[test]
    fn merging() {
        let a = BanScope {
            protocol: Protocol::Tcp,
            ports: vec![r(22, 22)],
            all: false,
        };
        let b = BanScope {
            protocol: Protocol::Udp,
            ports: vec![r(53, 53)],
            all: false,
        };
        let m = merge(vec![a.clone(), b]).unwrap();
        assert_eq!((m.protocol, m.ports.len()), (Protocol::All, 2));
        assert_eq!(merge(vec![a.clone()]).unwrap(), a);
        assert!(merge(vec![]).is_none());
    }
}
