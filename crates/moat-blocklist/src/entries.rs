//! Addresses and networks read from list files, merged into the sorted,
//! non-overlapping ranges an interval set holds.
//!
//! Networks are aggregated with `ipnet`'s [`IpNet::aggregate`] (duplicates
//! and overlaps disappear, neighbours that form a larger network are
//! joined); the resulting networks are then read as address ranges and
//! adjacent ranges joined, so one interval stands for a run of networks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use moat_backend::netlink::IntervalKey;

/// A line of a list that is not an address, network or range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {text:?} is not an IP address, network (1.2.3.0/24) or range (1.2.3.4-1.2.3.9)")]
pub struct ParseError {
    /// The file (or other source) the line came from.
    pub origin: String,
    /// The line number, from 1.
    pub line: usize,
    /// The offending text, comments removed.
    pub text: String,
}

/// Addresses as sorted, non-overlapping, non-adjacent inclusive ranges,
/// per family: what one list's two interval sets hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entries {
    /// IPv4 ranges.
    pub v4: Vec<(u32, u32)>,
    /// IPv6 ranges.
    pub v6: Vec<(u128, u128)>,
}

/// What parsing a list found, besides the entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Address, network and range lines read.
    pub lines: usize,
}

impl Entries {
    /// Merges networks (in any order, overlapping or not) into ranges.
    pub fn from_networks(nets: &[IpNet]) -> Entries {
        let mut v4: Vec<Ipv4Net> = Vec::new();
        let mut v6: Vec<Ipv6Net> = Vec::new();
        for net in nets {
            match net.trunc() {
                IpNet::V4(n) => v4.push(n),
                IpNet::V6(n) => v6.push(n),
            }
        }
        Entries {
            v4: join_adjacent(
                Ipv4Net::aggregate(&v4)
                    .iter()
                    .map(|n| (u32::from(n.network()), u32::from(n.broadcast()))),
            ),
            v6: join_adjacent(
                Ipv6Net::aggregate(&v6)
                    .iter()
                    .map(|n| (u128::from(n.network()), u128::from(n.broadcast()))),
            ),
        }
    }

    /// Parses list text: one address, network or range per line; `#` and
    /// `;` start comments; blank lines are skipped. Host bits of a network
    /// are ignored (`1.2.3.4/24` is `1.2.3.0/24`), as iptables does.
    ///
    /// Any other line is an error naming `origin` and the line number, and
    /// nothing is returned: a list is loaded whole or not at all.
    pub fn parse(text: &str, origin: &str) -> Result<(Entries, ParseStats), ParseError> {
        let mut nets = Vec::new();
        let mut stats = ParseStats::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split(['#', ';']).next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let error = || ParseError {
                origin: origin.to_string(),
                line: index + 1,
                text: line.to_string(),
            };
            parse_item(line, &mut nets).ok_or_else(error)?;
            stats.lines += 1;
        }
        Ok((Entries::from_networks(&nets), stats))
    }

    /// Reads and parses a list file (see [`Entries::parse`]).
    pub fn read_file(path: &Path) -> Result<(Entries, ParseStats), crate::BlocklistError> {
        let text = std::fs::read_to_string(path).map_err(|error| crate::BlocklistError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(Entries::parse(&text, &path.display().to_string())?)
    }

    /// Whether there are no addresses at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Ranges in both families.
    pub fn range_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Every address in `self` or `other`.
    pub fn union(&self, other: &Entries) -> Entries {
        Entries {
            v4: union(&self.v4, &other.v4),
            v6: union(&self.v6, &other.v6),
        }
    }

    /// Every address in any of `lists`, merged once.
    pub fn union_all<'a>(lists: impl IntoIterator<Item = &'a Entries>) -> Entries {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for e in lists {
            v4.extend_from_slice(&e.v4);
            v6.extend_from_slice(&e.v6);
        }
        v4.sort_unstable();
        v6.sort_unstable();
        Entries {
            v4: join_adjacent(v4),
            v6: join_adjacent(v6),
        }
    }

    /// The addresses of `self` that are not in `other`.
    pub fn minus(&self, other: &Entries) -> Entries {
        Entries {
            v4: minus(&self.v4, &other.v4),
            v6: minus(&self.v6, &other.v6),
        }
    }

    /// Whether `addr` is in one of the ranges.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => contains(&self.v4, u32::from(a)),
            IpAddr::V6(a) => contains(&self.v6, u128::from(a)),
        }
    }

    /// The ranges as the fewest CIDR networks, IPv4 first.
    pub fn networks(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(a, b) in &self.v4 {
            out.extend(Ipv4Subnets::new(Ipv4Addr::from(a), Ipv4Addr::from(b), 0).map(IpNet::V4));
        }
        for &(a, b) in &self.v6 {
            out.extend(Ipv6Subnets::new(Ipv6Addr::from(a), Ipv6Addr::from(b), 0).map(IpNet::V6));
        }
        out
    }
}

/// Parses one address, network or `a-b` range into networks.
fn parse_item(item: &str, nets: &mut Vec<IpNet>) -> Option<()> {
    if item.contains('/') {
        nets.push(IpNet::from_str(item).ok()?);
        return Some(());
    }
    if let Some((a, b)) = item.split_once('-') {
        match (
            IpAddr::from_str(a.trim()).ok()?,
            IpAddr::from_str(b.trim()).ok()?,
        ) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {
                nets.extend(Ipv4Subnets::new(a, b, 0).map(IpNet::V4))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {
                nets.extend(Ipv6Subnets::new(a, b, 0).map(IpNet::V6))
            }
            _ => return None,
        }
        return Some(());
    }
    nets.push(IpNet::from(IpAddr::from_str(item).ok()?));
    Some(())
}

/// Joins sorted, non-overlapping ranges that touch.
fn join_adjacent<K: IntervalKey>(ranges: impl IntoIterator<Item = (K, K)>) -> Vec<(K, K)> {
    let mut out: Vec<(K, K)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if last.1 >= a || last.1.succ() == Some(a) => {
                if b > last.1 {
                    last.1 = b;
                }
            }
            _ => out.push((a, b)),
        }
    }
    out
}

/// The union of two sorted range lists.
pub(crate) fn union<K: IntervalKey>(a: &[(K, K)], b: &[(K, K)]) -> Vec<(K, K)> {
    let mut all: Vec<(K, K)> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    join_adjacent(all)
}

/// The ranges of `a` minus those of `b` (both sorted, non-overlapping).
pub(crate) fn minus<K: IntervalKey>(a: &[(K, K)], b: &[(K, K)]) -> Vec<(K, K)> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &(start, end) in a {
        let mut cur = Some(start);
        while j < b.len() && b[j].1 < start {
            j += 1;
        }
        let mut k = j;
        while let Some(from) = cur {
            if k >= b.len() || b[k].0 > end {
                out.push((from, end));
                break;
            }
            let (cut_start, cut_end) = b[k];
            if cut_start > from {
                // `cut_start > from >= 0`, so it has a predecessor.
                if let Some(before) = cut_start.pred() {
                    out.push((from, before));
                }
            }
            cur = if cut_end >= end { None } else { cut_end.succ() };
            k += 1;
        }
    }
    out
}

fn contains<K: IntervalKey>(ranges: &[(K, K)], key: K) -> bool {
    let i = ranges.partition_point(|r| r.1 < key);
    ranges.get(i).is_some_and(|r| r.0 <= key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: &str) -> u32 {
        u32::from(Ipv4Addr::from_str(a).unwrap())
    }

    #[test]
    fn parses_merges_and_joins() {
        let text = "# a list\n10.0.1.0/24\n10.0.0.0/24 ; spamhaus style\n10.0.0.0/24\n10.0.0.7\n\n10.0.2.0/23 # joins\n\
                    2001:db8::/32\n2001:db8:1::/48\n192.168.1.5/24\n1.2.3.4-1.2.3.9\n";
        let (e, stats) = Entries::parse(text, "t").unwrap();
        assert_eq!(stats.lines, 9);
        assert_eq!(
            e.v4,
            vec![
                (v4("1.2.3.4"), v4("1.2.3.9")),
                (v4("10.0.0.0"), v4("10.0.3.255")),
                (v4("192.168.1.0"), v4("192.168.1.255"))
            ]
        );
        assert_eq!(e.v6.len(), 1);
        assert!(e.contains("10.0.3.1".parse().unwrap()));
        assert!(!e.contains("10.0.4.0".parse().unwrap()));
        assert!(e.contains("2001:db8:ffff::1".parse().unwrap()));
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let err = Entries::parse("10.0.0.0/8\n\nnot-an-address # x\n", "lists/x.txt").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(
            err.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["lists/x.txt", "3"]
        );
        assert!(Entries::parse("10.0.0.0/33\n", "x").is_err());
        assert!(Entries::parse("10.0.0.9-10.0.0.1\n", "x").is_err());
        assert!(Entries::parse("10.0.0.1 10.0.0.2\n", "x").is_err());
        assert!(Entries::parse("10.0.0.1-::1\n", "x").is_err());
    }

    #[test]
    fn whole_space_and_edges() {
        let (e, _) = Entries::parse("0.0.0.0/0\n::/0\n", "x").unwrap();
        assert_eq!(e.v4, vec![(0, u32::MAX)]);
        assert_eq!(e.v6, vec![(0, u128::MAX)]);
        let (hole, _) = Entries::parse("0.0.0.0/32\n255.255.255.255\n10.0.0.0/8\n", "x").unwrap();
        assert_eq!(
            e.minus(&hole).v4,
            vec![
                (1, v4("9.255.255.255")),
                (v4("11.0.0.0"), v4("255.255.255.254"))
            ]
        );
    }

    #[test]
    fn minus_and_union() {
        let a = vec![(10u32, 20), (30, 40), (50, 60)];
        let b = vec![(0u32, 10), (15, 16), (20, 35), (60, 70)];
        assert_eq!(minus(&a, &b), vec![(11, 14), (17, 19), (36, 40), (50, 59)]);
        assert_eq!(minus(&a, &[]), a);
        assert_eq!(minus(&[], &b), vec![]);
        assert_eq!(union(&a, &b), vec![(0, 40), (50, 70)]);
        assert_eq!(union(&[(1u32, 1)], &[(2, 2)]), vec![(1, 2)]);
        let x = Entries {
            v4: a.clone(),
            v6: vec![],
        };
        let y = Entries {
            v4: b.clone(),
            v6: vec![(5, 9)],
        };
        assert_eq!(Entries::union_all([&x, &y]), x.union(&y));
    }

    #[test]
    fn networks_round_trip() {
        let (e, _) = Entries::parse("10.0.0.0/24\n10.0.1.0/25\n2001:db8::/64\n", "x").unwrap();
        let nets: Vec<String> = e.networks().iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/24", "10.0.1.0/25", "2001:db8::/64"]);
    }
}
