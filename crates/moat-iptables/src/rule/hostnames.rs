//! Names for addresses, both ways, as the C library's file lookups give
//! them: the host name `/etc/hosts` gives an address (else, IPv4, the
//! network name `/etc/networks` gives it), which `iptables -L` without `-n`
//! shows; and the addresses a name in a rule stands for (`-s localhost`).
//! moat never asks DNS, so an address only a PTR record names stays a
//! number, and a name only DNS knows is refused.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use moat_model::Family;

use super::values::address_part;

/// The two files, read once.
struct NameFiles {
    hosts: Vec<(IpAddr, Vec<String>)>,
    networks: Vec<(u32, String)>,
}

fn files() -> &'static NameFiles {
    static FILES: OnceLock<NameFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let read = |path| std::fs::read_to_string(path).unwrap_or_default();
        NameFiles {
            hosts: hosts(&read("/etc/hosts")),
            networks: networks(&read("/etc/networks")),
        }
    })
}

/// The name of `addr`: its first host name, else its network's name.
pub(crate) fn name_of(addr: IpAddr) -> Option<&'static str> {
    let files = files();
    let host = files.hosts.iter().find(|(a, _)| *a == addr);
    let network = || match addr {
        IpAddr::V4(v4) => files.networks.iter().find(|(n, _)| *n == u32::from(v4)),
        IpAddr::V6(_) => None,
    };
    host.and_then(|(_, names)| names.first().map(String::as_str))
        .or_else(|| network().map(|(_, name)| name.as_str()))
}

/// The addresses of `family` that `/etc/hosts` gives host `name` (or an
/// alias; case does not matter): one for each line naming it, in the
/// file's order, as the C library's resolver returns them.
pub(crate) fn host_addresses(name: &str, family: Family) -> Vec<IpAddr> {
    files()
        .hosts
        .iter()
        .filter(|(addr, names)| {
            addr.is_ipv4() == (family == Family::Ipv4)
                && names.iter().any(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|&(addr, _)| addr)
        .collect()
}

/// The network `/etc/networks` calls `name`.
fn network_address(name: &str) -> Option<Ipv4Addr> {
    files()
        .networks
        .iter()
        .find(|(_, n)| n == name)
        .map(|&(number, _)| Ipv4Addr::from(number))
}

/// The addresses `name` stands for in iptables' own address reader (`-s`,
/// `-d`, policy's tunnel ends): a network of `/etc/networks` (IPv4) is one
/// address and comes first, else the host's addresses (see
/// [`host_addresses`]).
pub(crate) fn named_addresses(name: &str, family: Family) -> Vec<IpAddr> {
    match family {
        Family::Ipv4 => match network_address(name) {
            Some(network) => vec![IpAddr::V4(network)],
            None => host_addresses(name, family),
        },
        Family::Ipv6 => host_addresses(name, family),
    }
}

/// The words of a line before its `#` comment.
fn words(line: &str) -> std::str::SplitWhitespace<'_> {
    line.split('#').next().unwrap_or("").split_whitespace()
}

/// `ADDRESS NAME [ALIASES]` lines: each address with its name and aliases.
fn hosts(text: &str) -> Vec<(IpAddr, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let mut words = words(line);
            let addr = words.next()?.parse().ok()?;
            let names: Vec<String> = words.map(str::to_string).collect();
            (!names.is_empty()).then_some((addr, names))
        })
        .collect()
}

/// `NAME NUMBER [ALIASES]` lines: each network number with its name.
fn networks(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = words(line);
            let name = words.next()?;
            Some((inet_network(words.next()?)?, name.to_string()))
        })
        .collect()
}

/// A network number as C's `inet_network` reads it: up to four dotted
/// parts (decimal, `0x` hexadecimal or `0` octal, each at most 255), each
/// shifting the ones before it up a byte, so `127.0.0.0` is 0x7f000000 and
/// `127` is 0x7f.
fn inet_network(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    parts.iter().try_fold(0u32, |acc, part| {
        Some(acc << 8 | u32::from(address_part(part)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_give_the_first_name_of_the_first_line() {
        let table = hosts(
            "# comment\n127.0.0.1\tlocalhost\n127.0.0.1 other\n::1 localhost ip6-localhost\nbogus line\n",
        );
        let first = table
            .iter()
            .find(|(a, _)| *a == IpAddr::from([127, 0, 0, 1]));
        assert_eq!(first.map(|(_, n)| n[0].as_str()), Some("localhost"));
        assert_eq!(table.len(), 3);
        assert_eq!(table[2].1, ["localhost", "ip6-localhost"]);
    }

    #[test]
    fn networks_read_numbers_as_inet_network_does() {
        let table = networks(
            "default 0.0.0.0\nloopback 127.0.0.0\nlink-local 169.254.0.0 # zeroconf\nclassa 10\n",
        );
        assert_eq!(
            table,
            [
                (0, "default".to_string()),
                (0x7f00_0000, "loopback".to_string()),
                (0xa9fe_0000, "link-local".to_string()),
                (10, "classa".to_string()),
            ]
        );
        assert_eq!(inet_network("0x7f.010.0.1"), Some(0x7f08_0001));
        assert_eq!(inet_network("256.0.0.0"), None);
        assert_eq!(inet_network("1.2.3.4.5"), None);
    }
}
