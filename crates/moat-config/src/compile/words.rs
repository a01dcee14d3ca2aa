//! Building iptables rule words, and the zone and port fragments rules share.

use std::net::IpAddr;

use ipnet::IpNet;
use moat_model::{Family, PortRange};

use crate::model::{Proto, Zone};

/// Words of one rule, in the order iptables prints them.
pub(crate) type Words = Vec<String>;

/// `words` as owned strings.
pub(crate) fn w(words: &[&str]) -> Words {
    words.iter().map(|s| s.to_string()).collect()
}

/// Joins fragments into one rule.
pub(crate) fn join(parts: &[&[String]]) -> Words {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

/// The `-m comment` fragment moat tags its rules with.
pub(crate) fn comment(intent: &str) -> Words {
    vec![
        "-m".into(),
        "comment".into(),
        "--comment".into(),
        format!("moat: {intent}"),
    ]
}

/// The ICMP protocol name of `family`.
pub(crate) fn icmp_proto(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "icmp",
        Family::Ipv6 => "ipv6-icmp",
    }
}

/// The full prefix length of `family`.
pub(crate) fn host_mask(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "32",
        Family::Ipv6 => "128",
    }
}

fn range_text(r: &PortRange) -> String {
    if r.first == r.last {
        r.first.to_string()
    } else {
        format!("{}:{}", r.first, r.last)
    }
}

/// `-p PROTO [-m PROTO --dport P | -m multiport --dports ...]`, split so each rule
/// has at most 15 ports (a range counts twice), as multiport allows.
pub(crate) fn ports(proto: Proto, ranges: &[PortRange]) -> Vec<Words> {
    let p = proto.name();
    match ranges {
        [] => vec![w(&["-p", p])],
        [one] => vec![w(&["-p", p, "-m", p, "--dport", &range_text(one)])],
        many => {
            let mut out = Vec::new();
            let mut chunk: Vec<String> = Vec::new();
            let mut used = 0;
            for r in many {
                let cost = if r.first == r.last { 1 } else { 2 };
                if used + cost > 15 {
                    out.push(std::mem::take(&mut chunk));
                    used = 0;
                }
                chunk.push(range_text(r));
                used += cost;
            }
            out.push(chunk);
            out.into_iter()
                .map(|c| w(&["-p", p, "-m", "multiport", "--dports", &c.join(",")]))
                .collect()
        }
    }
}

/// The alternatives that match packets coming from `zone` in `family`
/// (`-i IF` and/or `-s NET`); empty when nothing of the zone exists in
/// `family` (see [`zone_match`]).
pub(crate) fn zone_in(zone: &Zone, family: Family) -> Vec<Words> {
    zone_match(zone, family, "-i", "-s", &[])
}

/// [`zone_in`] for packets whose source is also in one of `sources` (of
/// `family`; any source when empty): a zone network pairs with each source
/// that overlaps it, narrowed to the overlap, and one that overlaps none
/// matches nothing.
pub(crate) fn zone_in_from(zone: &Zone, family: Family, sources: &[IpNet]) -> Vec<Words> {
    zone_match(zone, family, "-i", "-s", sources)
}

/// The alternatives that match packets going to `zone` in `family` (`-o IF` and/or `-d NET`).
pub(crate) fn zone_out(zone: &Zone, family: Family) -> Vec<Words> {
    zone_match(zone, family, "-o", "-d", &[])
}

/// A packet belongs to a zone when both its interfaces and its networks
/// of the packet's family fit; a zone with interfaces but no network of
/// `family` takes that family's packets by interface alone (the loader
/// warns: an IPv6 prefix a home LAN is delegated cannot be written down).
fn zone_match(
    zone: &Zone,
    family: Family,
    iface_opt: &str,
    net_opt: &str,
    within: &[IpNet],
) -> Vec<Words> {
    let nets = zone.networks_of(family);
    if zone.interfaces.is_empty() && nets.is_empty() {
        return Vec::new();
    }
    let nets = narrowed(&nets, within);
    if nets.is_empty() {
        return Vec::new();
    }
    let ifaces: Vec<Option<&String>> = if zone.interfaces.is_empty() {
        vec![None]
    } else {
        zone.interfaces.iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for i in &ifaces {
        for n in &nets {
            let mut words = Vec::new();
            if let Some(n) = n {
                words.extend([net_opt.to_string(), n.to_string()]);
            }
            if let Some(i) = i {
                words.extend([iface_opt.to_string(), i.to_string()]);
            }
            out.push(words);
        }
    }
    out
}

/// The networks a rule tests: the zone's `nets` (any address when none)
/// within `within` (no bound when empty), each pair that overlaps as its
/// smaller network; empty when nothing overlaps.
fn narrowed(nets: &[IpNet], within: &[IpNet]) -> Vec<Option<IpNet>> {
    match (nets, within) {
        ([], []) => vec![None],
        (nets, []) => nets.iter().copied().map(Some).collect(),
        ([], within) => within.iter().copied().map(Some).collect(),
        (nets, within) => {
            let mut out = Vec::new();
            for n in nets {
                for s in within {
                    let overlap = if n.contains(s) {
                        Some(*s)
                    } else if s.contains(n) {
                        Some(*n)
                    } else {
                        None
                    };
                    if let Some(o) = overlap.filter(|o| !out.contains(&Some(*o))) {
                        out.push(Some(o));
                    }
                }
            }
            out
        }
    }
}

/// An address with an optional port, as DNAT's `--to-destination` takes it.
pub(crate) fn nat_target(addr: IpAddr, port: Option<String>) -> String {
    match (addr, port) {
        (IpAddr::V4(a), Some(p)) => format!("{a}:{p}"),
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, None) => a.to_string(),
    }
}

/// The text of a port range for DNAT targets (`a-b`).
pub(crate) fn nat_ports(r: &PortRange) -> String {
    if r.first == r.last {
        r.first.to_string()
    } else {
        format!("{}-{}", r.first, r.last)
    }
}

/// The text of a port range for `--dport` (`a:b`).
pub(crate) fn dport_text(r: &PortRange) -> String {
    range_text(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Verdict;

    fn zone(ifaces: &[&str], nets: &[&str]) -> Zone {
        Zone {
            name: "z".into(),
            interfaces: ifaces.iter().map(|s| s.to_string()).collect(),
            networks: nets.iter().map(|s| s.parse().unwrap()).collect(),
            input: Verdict::Drop,
            masquerade: false,
            masquerade_ipv6: false,
            snat: None,
            span: 0..0,
        }
    }

    #[test]
    fn zone_alternatives_cross_interfaces_and_networks() {
        let z = zone(&["eth1", "eth2"], &["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(
            zone_in(&z, Family::Ipv4),
            vec![
                w(&["-s", "10.0.0.0/8", "-i", "eth1"]),
                w(&["-s", "10.0.0.0/8", "-i", "eth2"])
            ]
        );
        assert_eq!(
            zone_out(&z, Family::Ipv6)[0],
            w(&["-d", "fd00::/8", "-o", "eth1"])
        );
        let only_v4 = zone(&[], &["10.0.0.0/8"]);
        assert!(zone_in(&only_v4, Family::Ipv6).is_empty());
        // Networks limit the family they name; the other goes by interface.
        let lan_v4 = zone(&["lan0"], &["192.168.1.0/24"]);
        assert_eq!(zone_in(&lan_v4, Family::Ipv6), vec![w(&["-i", "lan0"])]);
    }

    #[test]
    fn sources_narrow_a_zones_networks_to_their_overlap() {
        let z = zone(&["lan0"], &["10.66.1.0/24", "fd66:1::/64"]);
        let sources: Vec<IpNet> = ["10.66.1.2/32", "10.0.0.0/8", "192.0.2.0/24"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            zone_in_from(&z, Family::Ipv4, &sources),
            vec![
                w(&["-s", "10.66.1.2/32", "-i", "lan0"]),
                w(&["-s", "10.66.1.0/24", "-i", "lan0"])
            ]
        );
        let outside: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        assert!(zone_in_from(&z, Family::Ipv4, &outside).is_empty());
        let no_nets = zone(&["lan0"], &[]);
        assert_eq!(
            zone_in_from(&no_nets, Family::Ipv4, &outside),
            vec![w(&["-s", "192.0.2.0/24", "-i", "lan0"])]
        );
    }

    #[test]
    fn multiport_chunks_hold_fifteen() {
        let many: Vec<PortRange> = (1..=20).map(|p| PortRange { first: p, last: p }).collect();
        let rules = ports(Proto::Tcp, &many);
        assert_eq!(rules.len(), 2);
        assert!(rules[0].last().unwrap().ends_with(",15"));
        assert_eq!(
            ports(Proto::Udp, &many[..1])[0],
            w(&["-p", "udp", "-m", "udp", "--dport", "1"])
        );
    }
}
