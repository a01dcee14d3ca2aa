//! How bans are laid out in the kernel.
//!
//! ```text
//! table inet moat_ban {                       # comment "moat bans from jails (moat bans)"
//!     set sshd.v4 { type ipv4_addr; flags timeout; comment "moat jail sshd: IPv4 addresses"; }
//!     set sshd.v6 { type ipv6_addr; flags timeout; comment "moat jail sshd: IPv6 addresses"; }
//!     set sshd.v6net { type ipv6_addr; flags timeout; comment "moat jail sshd: IPv6 /64 networks"; }
//!     set sshd.ports { type inet_service; flags interval; comment "moat jail sshd: ports";
//!                      elements = { 22, 2222-2223 } }
//!     chain input {   # hook input priority -200, policy accept
//!         ip saddr @sshd.v4 meta l4proto tcp tcp dport @sshd.ports counter reject with tcp reset comment "moat jail sshd: tcp ports reject"
//!         ip6 saddr @sshd.v6 meta l4proto tcp tcp dport @sshd.ports counter reject with tcp reset comment "..."
//!         ip6 saddr & ffff:ffff:ffff:ffff:: @sshd.v6net meta l4proto tcp tcp dport @sshd.ports counter reject with tcp reset comment "..."
//!         ip saddr @recidive.v4 counter reject comment "moat jail recidive: all reject"
//!         ...
//!     }
//!     chain forward { the same rules }   # hook forward priority -200, policy accept
//! }
//! ```
//!
//! One table holds every jail's bans, so bans never touch moat's iptables
//! tables, its block lists or anyone else's tables. A ban is one element
//! of a set with a per-element timeout: the time left of the ban (none for
//! a permanent ban), so the kernel lifts it by itself, and it outlives the
//! daemon (a stop, a crash, an upgrade). Adding a ban is one
//! `NFT_MSG_NEWSETELEM` message: no rule changes, no dump.
//!
//! **Sets.** Per jail: `JAIL.v4` and `JAIL.v6` hold banned addresses
//! (hash sets, `flags timeout`). A jail that bans IPv6 by prefix
//! ([`JailScope::v6_prefix`]) has `JAIL.v6net` too: it holds the network
//! address of each banned `/P` network, and its rules mask the packet's
//! source address to `/P` before the lookup (`ip6 saddr & mask`). That
//! masked lookup is a hash lookup like the others, needs one element per
//! ban like the others (an interval set would need two, an interval end
//! each), and cannot fail on overlapping networks; the price is one prefix
//! length per jail, which is what the option means. The prefix length is in
//! the set's comment; a jail whose prefix changes gets a new set (its
//! elements go; the daemon restores bans from its store). A jail that closes
//! certain ports has `JAIL.ports` (`inet_service`, `flags interval`): single
//! ports and ranges, refilled in place when the ports change.
//!
//! **Rules.** Per jail, per address set and per protocol, in both base
//! chains: the address lookup comes first, so a packet from an address
//! no jail bans costs one hash lookup per jail and address family; then
//! `meta l4proto` and the port lookup; then a counter and the verdict. The
//! scope of a jail ([`JailScope`]) is one protocol (`tcp`, `udp`, `sctp`)
//! or all three (with ports: a rule each), with or without ports, or
//! `all` traffic. With [`JailScope::reject`] the verdict is what fail2ban
//! does by default (`REJECT`): `reject with tcp reset` for TCP rules, so a
//! client's connection fails at once (and an open one is cut), otherwise
//! `reject with icmpx port-unreachable` (ICMP or ICMPv6 port unreachable,
//! as fail2ban's default `icmp-port-unreachable`); without it, `drop`.
//! Each rule's comment names its jail, protocol, ports and verdict
//! (`moat jail sshd: tcp ports reject`), so the kernel alone tells which
//! jails exist and what they close ([`BanTable::jails`](crate::BanTable::jails)).
//!
//! **Chains.** `input` (bans of traffic to this host) and `forward` (to
//! hosts behind it: a jail may watch the log of a service the gateway
//! forwards to), filter chains at priority -200 with policy accept: before
//! moat's (and iptables') mangle (-150) and filter (0) chains, so a banned
//! packet never reaches the firewall's rules or counters — and before an
//! `accept` of established connections there, so a ban also ends a
//! connection that is open, as fail2ban's rule at the top of INPUT does. A
//! reject or drop is final whatever the order of tables, so the priority
//! is about cost and counters: it is the block lists' priority too, and
//! between the two tables the order does not matter. Conntrack has seen
//! the packet at prerouting (-200) already; a rejected first packet leaves
//! an unconfirmed entry the kernel drops with it.
//!
//! **Timeouts.** The kernel takes element timeouts up to just under 2^64
//! nanoseconds (213,503 days, about 584 years: Linux 6.18 refuses more with
//! ERANGE); moat caps a timeout at [`MAX_TIMEOUT`] (100 years), which the
//! ban store's end time does not need: a ban that long is permanent for
//! every practical purpose, and the daemon restores the remaining time from
//! the store at each start anyway.
//!
//! **Banning again.** An address banned again must get the new timeout.
//! Linux 6.18 gives an element that is added again (`NFT_MSG_NEWSETELEM`
//! without `NLM_F_EXCL`) the new timeout, also from timed to permanent and
//! back; older kernels keep the old one (`nft add element` of an existing
//! element then changes nothing). A [`BanTable`](crate::BanTable) finds out
//! once which kind of kernel it has, by trying on a scratch set (`_probe`,
//! removed again). Then a ban is one `NFT_MSG_NEWSETELEM` message in one
//! transaction, new or not; on an older kernel it is an add (so the element
//! exists), a delete and an add, in one transaction. An exclusive add
//! (`NLM_F_EXCL`) that falls back to delete-and-add on EEXIST would make a
//! new ban one message on every kernel, but a refused transaction costs the
//! kernel an RCU grace period (about 10 ms here) against 15 µs for a ban.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::{IpNet, Ipv6Net};
use moat_model::Hook;

use crate::BanError;

/// The table that holds every jail's bans.
pub const TABLE: &str = "moat_ban";
/// Comment of the table.
pub const TABLE_COMMENT: &str = "moat bans from jails (moat bans)";
/// Priority of the base chains (see the module documentation).
pub const PRIORITY: i32 = -200;
/// Prefix of every comment moat puts on a jail's sets and rules.
pub const COMMENT_PREFIX: &str = "moat jail ";
/// Longest jail name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest timeout moat gives an element (100 years; see the module
/// documentation).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The base chains of [`TABLE`]: every jail's rules are in both.
pub const CHAINS: [(&str, Hook); 2] = [("input", Hook::Input), ("forward", Hook::Forward)];

/// A port range as nft and listings write it: `22` or `1000-2000`.
pub fn port_range_text((first, last): (u16, u16)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// Which transport protocol a jail closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
    /// TCP, UDP and SCTP (without ports: every packet).
    All,
}

impl Protocol {
    /// The protocols a rule is needed for: one, or all three for [`Protocol::All`].
    fn each(self) -> &'static [Protocol] {
        match self {
            Protocol::Tcp => &[Protocol::Tcp],
            Protocol::Udp => &[Protocol::Udp],
            Protocol::Sctp => &[Protocol::Sctp],
            Protocol::All => &[Protocol::Tcp, Protocol::Udp, Protocol::Sctp],
        }
    }

    /// The word nft and fail2ban use: `tcp`, `udp`, `sctp`, `all`.
    pub fn word(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
            Protocol::All => "all",
        }
    }

    /// The IP protocol number (`meta l4proto`); `None` for [`Protocol::All`].
    pub fn number(self) -> Option<u8> {
        match self {
            Protocol::Tcp => Some(6),
            Protocol::Udp => Some(17),
            Protocol::Sctp => Some(132),
            Protocol::All => None,
        }
    }

    fn from_word(word: &str) -> Option<Protocol> {
        [Protocol::Tcp, Protocol::Udp, Protocol::Sctp, Protocol::All]
            .into_iter()
            .find(|p| p.word() == word)
    }
}

/// What a jail's bans close, and how: the kernel side of a jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailScope {
    /// The jail's name (see [`check_name`]).
    pub name: String,
    /// The protocol closed (ignored with `all`).
    pub protocol: Protocol,
    /// Closed destination ports, as inclusive ranges (a single port is
    /// `(p, p)`); empty: every port of the protocol. Ignored with `all`.
    pub ports: Vec<(u16, u16)>,
    /// Close all traffic from a banned address (fail2ban's `*-allports`).
    pub all: bool,
    /// Ban IPv6 addresses by their network of this prefix length (1-127):
    /// `Some(64)` bans the whole /64 an address is in. `None`: single addresses.
    pub v6_prefix: Option<u8>,
    /// Reject (TCP reset or ICMP port unreachable) rather than drop.
    pub reject: bool,
}

impl JailScope {
    /// Checks the name, the ports and the prefix length.
    pub fn check(&self) -> Result<(), BanError> {
        check_name(&self.name)?;
        let bad = |message: String| BanError::BadScope {
            jail: self.name.clone(),
            message,
        };
        if let Some(&(first, last)) = self.ports.iter().find(|(a, b)| a > b) {
            return Err(bad(format!("port range {first}-{last} runs backwards")));
        }
        if let Some(p) = self.v6_prefix.filter(|p| !(1..=127).contains(p)) {
            return Err(bad(format!(
                "IPv6 prefix length /{p} is out of range (1-127)"
            )));
        }
        Ok(())
    }

    /// Whether every packet from a banned address is closed: `all`, or all
    /// protocols without ports.
    pub fn closes_everything(&self) -> bool {
        self.all || (self.protocol == Protocol::All && self.ports.is_empty())
    }

    /// The ports as sorted, merged ranges (overlapping and adjacent ranges
    /// joined); empty when the jail closes every port.
    pub fn port_ranges(&self) -> Vec<(u16, u16)> {
        if self.closes_everything() {
            return Vec::new();
        }
        merge_ranges(self.ports.clone())
    }

    /// What a ban of `addr` by this jail puts in the kernel: the address
    /// itself, or for a jail that bans IPv6 by prefix, the `/P` network it
    /// is in. Refused: a network other than that (a jail bans addresses, or
    /// IPv6 networks of its prefix length).
    pub fn target(&self, addr: IpNet) -> Result<IpNet, BanError> {
        let refuse = |why: &'static str| BanError::BadAddress {
            jail: self.name.clone(),
            addr,
            why,
        };
        match (addr, self.v6_prefix) {
            (IpNet::V4(net), _) if net.prefix_len() == 32 => Ok(addr),
            (IpNet::V4(_), _) => Err(refuse("a jail bans single IPv4 addresses")),
            (IpNet::V6(net), None) if net.prefix_len() == 128 => Ok(addr),
            (IpNet::V6(_), None) => Err(refuse(
                "this jail bans single IPv6 addresses (it has no IPv6 prefix length)",
            )),
            (IpNet::V6(net), Some(p)) if net.prefix_len() >= p => Ok(IpNet::V6(
                Ipv6Net::new(net.addr(), p)
                    .map_err(|_| refuse("bad prefix"))?
                    .trunc(),
            )),
            (IpNet::V6(_), Some(_)) => Err(refuse(
                "the network is larger than the jail's IPv6 prefix length",
            )),
        }
    }

    /// Where a ban of `addr` goes in the kernel: the set and its key.
    pub(crate) fn slot(&self, addr: IpNet) -> Result<(AddrSet, IpAddr), BanError> {
        let target = self.target(addr)?;
        let set = match target {
            IpNet::V4(_) => AddrSet::V4,
            IpNet::V6(net) if net.prefix_len() == 128 && self.v6_prefix.is_none() => AddrSet::V6,
            IpNet::V6(_) => AddrSet::V6Net,
        };
        Ok((set, target.addr()))
    }

    /// The address sets this jail has.
    pub(crate) fn addr_sets(&self) -> Vec<AddrSet> {
        let mut sets = vec![AddrSet::V4, AddrSet::V6];
        if self.v6_prefix.is_some() {
            sets.push(AddrSet::V6Net);
        }
        sets
    }

    /// The rules this jail needs in each base chain, in order.
    pub(crate) fn rules(&self) -> Vec<RuleSpec> {
        let ports = !self.port_ranges().is_empty();
        let protocols: Vec<Option<Protocol>> = if self.closes_everything() {
            vec![None]
        } else {
            self.protocol.each().iter().copied().map(Some).collect()
        };
        let mut out = Vec::new();
        for set in self.addr_sets() {
            for &protocol in &protocols {
                out.push(RuleSpec {
                    set,
                    protocol,
                    ports,
                    reject: self.reject,
                    prefix: self.v6_prefix.filter(|_| set == AddrSet::V6Net),
                });
            }
        }
        out
    }
}

/// Sorted ranges with overlapping and adjacent ones joined.
fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (first, last) in ranges {
        match out.last_mut() {
            Some(prev) if u32::from(first) <= u32::from(prev.1) + 1 => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// One of a jail's address sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AddrSet {
    /// `JAIL.v4`: IPv4 addresses.
    V4,
    /// `JAIL.v6`: IPv6 addresses.
    V6,
    /// `JAIL.v6net`: network addresses of IPv6 prefixes.
    V6Net,
}

impl AddrSet {
    const ALL: [AddrSet; 3] = [AddrSet::V4, AddrSet::V6, AddrSet::V6Net];

    fn suffix(self) -> &'static str {
        match self {
            AddrSet::V4 => "v4",
            AddrSet::V6 => "v6",
            AddrSet::V6Net => "v6net",
        }
    }

    pub(crate) fn is_v6(self) -> bool {
        self != AddrSet::V4
    }

    /// Byte offset and length of the source address in the network header.
    pub(crate) fn source(self) -> (u32, u32) {
        if self.is_v6() {
            (8, 16)
        } else {
            (12, 4)
        }
    }

    /// The set's name for jail `jail` (`sshd.v4`).
    pub(crate) fn name(self, jail: &str) -> String {
        format!("{jail}.{}", self.suffix())
    }

    /// The set's comment; a prefix set's names its prefix length.
    pub(crate) fn comment(self, jail: &str, prefix: Option<u8>) -> String {
        let what = match (self, prefix) {
            (AddrSet::V4, _) => "IPv4 addresses".to_string(),
            (AddrSet::V6, _) => "IPv6 addresses".to_string(),
            (AddrSet::V6Net, p) => format!("IPv6 /{} networks", p.unwrap_or(0)),
        };
        format!("{COMMENT_PREFIX}{jail}: {what}")
    }
}

/// The prefix length a `JAIL.v6net` set's comment names.
pub(crate) fn prefix_of_comment(comment: &str) -> Option<u8> {
    comment
        .rsplit_once(": IPv6 /")?
        .1
        .strip_suffix(" networks")?
        .parse()
        .ok()
}

/// The jail a set of [`TABLE`] belongs to, by its name (`sshd.v4`,
/// `sshd.v6`, `sshd.v6net`, `sshd.ports`).
pub(crate) fn jail_of_set(set: &str) -> Option<&str> {
    let (jail, suffix) = set.rsplit_once('.')?;
    let known = suffix == "ports" || AddrSet::ALL.iter().any(|s| s.suffix() == suffix);
    (known && check_name(jail).is_ok()).then_some(jail)
}

/// The ports set of jail `jail` (`sshd.ports`).
pub(crate) fn ports_set_name(jail: &str) -> String {
    format!("{jail}.ports")
}

/// Comment of a jail's ports set.
pub(crate) fn ports_comment(jail: &str) -> String {
    format!("{COMMENT_PREFIX}{jail}: ports")
}

/// One rule of a jail (the same in each base chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleSpec {
    /// The address set it looks the source up in.
    pub set: AddrSet,
    /// The protocol it closes; `None`: all traffic.
    pub protocol: Option<Protocol>,
    /// Whether it looks the destination port up in the jail's ports set.
    pub ports: bool,
    /// Reject rather than drop.
    pub reject: bool,
    /// The prefix length the source is masked to (for [`AddrSet::V6Net`]).
    pub prefix: Option<u8>,
}

impl RuleSpec {
    /// The rule's comment: jail, protocol (or `all`), `ports` when it
    /// looks ports up, and the verdict (`moat jail sshd: tcp ports reject`).
    pub(crate) fn comment(&self, jail: &str) -> String {
        let proto = self.protocol.map_or("all", Protocol::word);
        let ports = if self.ports { " ports" } else { "" };
        let verdict = if self.reject { "reject" } else { "drop" };
        format!("{COMMENT_PREFIX}{jail}: {proto}{ports} {verdict}")
    }
}

/// A rule's scope read back from its comment: (jail, protocol or `None`
/// for all traffic, ports, reject).
pub(crate) fn parse_rule_comment(comment: &str) -> Option<(&str, Option<Protocol>, bool, bool)> {
    let (jail, what) = comment.strip_prefix(COMMENT_PREFIX)?.rsplit_once(": ")?;
    let words: Vec<&str> = what.split(' ').collect();
    let (proto, ports, verdict) = match words.as_slice() {
        [proto, "ports", verdict] => (*proto, true, *verdict),
        [proto, verdict] => (*proto, false, *verdict),
        _ => return None,
    };
    let protocol = match Protocol::from_word(proto)? {
        Protocol::All => None,
        p => Some(p),
    };
    let reject = match verdict {
        "reject" => true,
        "drop" => false,
        _ => return None,
    };
    Some((jail, protocol, ports, reject))
}

/// The mask of an IPv6 `/prefix` in network order.
pub(crate) fn v6_mask(prefix: u8) -> [u8; 16] {
    let bits = u32::from(prefix.min(128));
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    mask.to_be_bytes()
}

/// Checks a jail name: letters, digits, `_`, `-` and `.`, starting with a
/// letter or digit, at most [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &str) -> Result<(), BanError> {
    let ok = moat_backend::netlink::is_plain_name(name, MAX_NAME_LEN, b"_-.");
    if ok {
        Ok(())
    } else {
        Err(BanError::BadJailName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jail(protocol: Protocol, ports: &[(u16, u16)], all: bool) -> JailScope {
        JailScope {
            name: "sshd".into(),
            protocol,
            ports: ports.to_vec(),
            all,
            v6_prefix: None,
            reject: true,
        }
    }

    #[test]
    fn names_and_comments_round_trip() {
        assert!(check_name("nginx-http-auth").is_ok());
        assert!(check_name("a.b_c").is_ok());
        for bad in ["", "-x", "a b", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(AddrSet::V6Net.name("a.b"), "a.b.v6net");
        assert_eq!(jail_of_set("a.b.v6net"), Some("a.b"));
        assert_eq!(jail_of_set("sshd.ports"), Some("sshd"));
        assert_eq!(jail_of_set("sshd.v5"), None);
        assert_eq!(jail_of_set("-x.v4"), None);
        let c = AddrSet::V6Net.comment("sshd", Some(56));
        assert_eq!(prefix_of_comment(&c), Some(56));
        assert_eq!(prefix_of_comment(&AddrSet::V6.comment("sshd", None)), None);
        for spec in jail(Protocol::All, &[(22, 22)], false).rules() {
            let c = spec.comment("a.b");
            assert_eq!(
                parse_rule_comment(&c),
                Some(("a.b", spec.protocol, true, true)),
                "{c}"
            );
        }
        assert_eq!(
            parse_rule_comment("moat jail x: all drop"),
            Some(("x", None, false, false))
        );
        assert_eq!(parse_rule_comment("moat jail x: tcp ports maybe"), None);
    }

    #[test]
    fn scopes_become_rules() {
        let tcp = jail(Protocol::Tcp, &[(22, 22)], false);
        let rules = tcp.rules();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].comment("sshd"), "moat jail sshd: tcp ports reject");
        assert_eq!(rules[1].set, AddrSet::V6);
        assert_eq!(jail(Protocol::All, &[(1, 2)], false).rules().len(), 6);
        let everything = jail(Protocol::All, &[], false);
        assert!(everything.closes_everything());
        assert_eq!(
            everything.rules()[0].comment("sshd"),
            "moat jail sshd: all reject"
        );
        let all = jail(Protocol::Udp, &[(53, 53)], true);
        assert!(all.port_ranges().is_empty());
        assert_eq!(all.rules().len(), 2);
        let mut prefixed = jail(Protocol::Udp, &[], false);
        prefixed.v6_prefix = Some(64);
        prefixed.reject = false;
        let rules = prefixed.rules();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[2].prefix, Some(64));
        assert_eq!(rules[2].comment("sshd"), "moat jail sshd: udp drop");
    }

    #[test]
    fn ports_are_merged_and_checked() {
        let j = jail(
            Protocol::Tcp,
            &[(80, 90), (22, 22), (85, 100), (101, 101), (443, 443)],
            false,
        );
        assert_eq!(j.port_ranges(), vec![(22, 22), (80, 101), (443, 443)]);
        assert!(j.check().is_ok());
        assert!(jail(Protocol::Tcp, &[(90, 80)], false).check().is_err());
        let mut p = jail(Protocol::Tcp, &[], false);
        p.v6_prefix = Some(128);
        assert!(p.check().is_err());
        assert_eq!(merge_ranges(vec![(0, 65535), (7, 7)]), vec![(0, 65535)]);
    }

    #[test]
    fn targets() {
        let mut j = jail(Protocol::Tcp, &[], false);
        let host: IpNet = "2001:db8:1:2:3:4:5:6/128".parse().unwrap();
        assert_eq!(j.target(host).unwrap(), host);
        assert_eq!(j.slot(host).unwrap().0, AddrSet::V6);
        assert!(j.target("2001:db8::/64".parse().unwrap()).is_err());
        assert!(j.target("10.0.0.0/8".parse().unwrap()).is_err());
        let v4: IpNet = "10.1.2.3/32".parse().unwrap();
        assert_eq!(
            j.slot(v4).unwrap(),
            (AddrSet::V4, "10.1.2.3".parse().unwrap())
        );
        j.v6_prefix = Some(64);
        assert_eq!(
            j.target(host).unwrap(),
            "2001:db8:1:2::/64".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            j.slot(host).unwrap(),
            (AddrSet::V6Net, "2001:db8:1:2::".parse().unwrap())
        );
        assert!(j.target("2001:db8::/48".parse().unwrap()).is_err());
        assert_eq!(
            j.target("2001:db8:1:2:ff::/80".parse().unwrap()).unwrap(),
            "2001:db8:1:2::/64".parse::<IpNet>().unwrap()
        );
        assert_eq!(v6_mask(64)[..8], [0xff; 8]);
        assert_eq!(v6_mask(64)[8..], [0; 8]);
        assert_eq!(v6_mask(12)[..2], [0xff, 0xf0]);
    }
}
