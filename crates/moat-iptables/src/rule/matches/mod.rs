//! Match extensions (`-m NAME`): each one's options, `-S` and `-L` text and lowering.

mod addrtype;
mod byte_rate;
mod comment;
mod connbytes;
mod connlimit;
mod conntrack;
mod cpu;
mod dccp_types;
mod devgroup;
mod dscp;
mod ecn;
mod hashlimit;
mod icmp;
mod iprange;
mod length;
mod limit;
mod mac;
mod mark;
mod multiport;
mod owner;
mod pkttype;
pub(crate) mod ports;
mod quota;
mod realm;
mod recent;
mod rpfilter;
mod sctp_chunks;
pub(crate) mod set;
mod statistic;
mod tos;
mod ttl;

use moat_model::{Family, Match};

use super::error::{fail, Res};
use super::ext::{Cx, Extension, Opt};
use super::options::OptDef;

use ports::{PortMatch, Transport};

/// One loaded match module with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MatchSpec {
    /// tcp, udp, sctp or dccp.
    Ports(PortMatch),
    /// icmp or icmp6.
    Icmp(icmp::IcmpMatch),
    /// multiport.
    Multiport(multiport::Multiport),
    /// state.
    State(conntrack::StateMatch),
    /// conntrack.
    Conntrack(conntrack::Conntrack),
    /// iprange.
    IpRange(iprange::IpRange),
    /// mac.
    Mac(mac::Mac),
    /// mark or connmark.
    Mark(mark::MarkMatch),
    /// comment.
    Comment(comment::Comment),
    /// addrtype.
    AddrType(addrtype::AddrType),
    /// pkttype.
    PktType(pkttype::PktType),
    /// length.
    Length(length::Length),
    /// limit.
    Limit(limit::Limit),
    /// hashlimit.
    HashLimit(hashlimit::HashLimit),
    /// connlimit.
    ConnLimit(connlimit::ConnLimit),
    /// recent.
    Recent(recent::Recent),
    /// set.
    Set(set::SetMatch),
    /// statistic.
    Statistic(statistic::Statistic),
    /// A module the kernel's xtables layer runs (string, physdev, ...).
    Xt(super::compat::XtMatch),
    /// owner.
    Owner(owner::Owner),
    /// ttl or hl.
    HopLimit(ttl::HopLimit),
    /// dscp.
    Dscp(dscp::Dscp),
    /// tos.
    Tos(tos::Tos),
    /// quota.
    Quota(quota::Quota),
    /// connbytes.
    ConnBytes(connbytes::ConnBytes),
    /// cpu.
    Cpu(cpu::Cpu),
    /// devgroup.
    DevGroup(devgroup::DevGroup),
    /// ecn.
    Ecn(ecn::Ecn),
    /// realm.
    Realm(realm::Realm),
    /// rpfilter.
    RpFilter(rpfilter::RpFilter),
}

/// The match modules moat understands, by the name `-m` takes.
pub(crate) const SUPPORTED: &[&str] = &[
    "tcp",
    "udp",
    "sctp",
    "dccp",
    "icmp",
    "icmp6",
    "multiport",
    "state",
    "conntrack",
    "iprange",
    "mac",
    "mark",
    "connmark",
    "comment",
    "addrtype",
    "pkttype",
    "length",
    "limit",
    "hashlimit",
    "connlimit",
    "recent",
    "set",
    "statistic",
    "helper",
    "physdev",
    "frag",
    "rt",
    "hbh",
    "dst",
    "ipv6header",
    "policy",
    "socket",
    "string",
    "owner",
    "ttl",
    "hl",
    "dscp",
    "tos",
    "quota",
    "connbytes",
    "cpu",
    "devgroup",
    "ecn",
    "realm",
    "rpfilter",
    "esp",
    "ah",
    "mh",
    "u32",
    "tcpmss",
    "time",
    "cluster",
    "cgroup",
    "connlabel",
    "bpf",
    "nfacct",
    "osf",
    "ipvs",
];

macro_rules! each {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            MatchSpec::Ports($m) => $body,
            MatchSpec::Icmp($m) => $body,
            MatchSpec::Multiport($m) => $body,
            MatchSpec::State($m) => $body,
            MatchSpec::Conntrack($m) => $body,
            MatchSpec::IpRange($m) => $body,
            MatchSpec::Mac($m) => $body,
            MatchSpec::Mark($m) => $body,
            MatchSpec::Comment($m) => $body,
            MatchSpec::AddrType($m) => $body,
            MatchSpec::PktType($m) => $body,
            MatchSpec::Length($m) => $body,
            MatchSpec::Limit($m) => $body,
            MatchSpec::HashLimit($m) => $body,
            MatchSpec::ConnLimit($m) => $body,
            MatchSpec::Recent($m) => $body,
            MatchSpec::Set($m) => $body,
            MatchSpec::Statistic($m) => $body,
            MatchSpec::Xt($m) => $body,
            MatchSpec::Owner($m) => $body,
            MatchSpec::HopLimit($m) => $body,
            MatchSpec::Dscp($m) => $body,
            MatchSpec::Tos($m) => $body,
            MatchSpec::Quota($m) => $body,
            MatchSpec::ConnBytes($m) => $body,
            MatchSpec::Cpu($m) => $body,
            MatchSpec::DevGroup($m) => $body,
            MatchSpec::Ecn($m) => $body,
            MatchSpec::Realm($m) => $body,
            MatchSpec::RpFilter($m) => $body,
        }
    };
}

impl MatchSpec {
    /// Loads match module `name` (as `-m name` does).
    pub(crate) fn load(name: &str, family: Family) -> Res<MatchSpec> {
        // iptables takes the protocol's other names for the icmp6 match.
        let name = match name {
            "icmpv6" | "ipv6-icmp" => "icmp6",
            _ => name,
        };
        if let Some(m) = super::compat::XtMatch::load(name, family) {
            return Ok(MatchSpec::Xt(m?));
        }
        Ok(match name {
            "tcp" => MatchSpec::Ports(PortMatch::new(Transport::Tcp)),
            "udp" => MatchSpec::Ports(PortMatch::new(Transport::Udp)),
            "sctp" => MatchSpec::Ports(PortMatch::new(Transport::Sctp)),
            "dccp" => MatchSpec::Ports(PortMatch::new(Transport::Dccp)),
            "icmp" if family == Family::Ipv6 => {
                return fail("-m icmp is for iptables; ip6tables uses -p icmpv6 with --icmpv6-type")
            }
            "icmp" => MatchSpec::Icmp(icmp::IcmpMatch::new(false)),
            "icmp6" if family == Family::Ipv4 => {
                return fail("-m icmp6 is for ip6tables; iptables uses -p icmp with --icmp-type")
            }
            "icmp6" => MatchSpec::Icmp(icmp::IcmpMatch::new(true)),
            "multiport" => MatchSpec::Multiport(Default::default()),
            "state" => MatchSpec::State(Default::default()),
            "conntrack" => MatchSpec::Conntrack(Default::default()),
            "iprange" => MatchSpec::IpRange(Default::default()),
            "mac" => MatchSpec::Mac(Default::default()),
            "mark" => MatchSpec::Mark(mark::MarkMatch::new(false)),
            "connmark" => MatchSpec::Mark(mark::MarkMatch::new(true)),
            "comment" => MatchSpec::Comment(Default::default()),
            "addrtype" => MatchSpec::AddrType(Default::default()),
            "pkttype" => MatchSpec::PktType(Default::default()),
            "length" => MatchSpec::Length(Default::default()),
            "limit" => MatchSpec::Limit(Default::default()),
            "hashlimit" => MatchSpec::HashLimit(Default::default()),
            "connlimit" => MatchSpec::ConnLimit(Default::default()),
            "recent" => MatchSpec::Recent(Default::default()),
            "set" => MatchSpec::Set(Default::default()),
            "statistic" => MatchSpec::Statistic(Default::default()),
            "owner" => MatchSpec::Owner(Default::default()),
            "ttl" if family == Family::Ipv6 => {
                return fail(
                    "-m ttl is for iptables; ip6tables uses -m hl with --hl-eq, --hl-lt or --hl-gt",
                )
            }
            "ttl" => MatchSpec::HopLimit(ttl::HopLimit::new(false)),
            "hl" if family == Family::Ipv4 => return fail(
                "-m hl is for ip6tables; iptables uses -m ttl with --ttl-eq, --ttl-lt or --ttl-gt",
            ),
            "hl" => MatchSpec::HopLimit(ttl::HopLimit::new(true)),
            "dscp" => MatchSpec::Dscp(Default::default()),
            "tos" => MatchSpec::Tos(Default::default()),
            "quota" => MatchSpec::Quota(Default::default()),
            "connbytes" => MatchSpec::ConnBytes(Default::default()),
            "cpu" => MatchSpec::Cpu(Default::default()),
            "devgroup" => MatchSpec::DevGroup(Default::default()),
            "ecn" => MatchSpec::Ecn(Default::default()),
            "realm" if family == Family::Ipv6 => {
                return fail("-m realm is for iptables: IPv6 routes have no realm")
            }
            "realm" => MatchSpec::Realm(Default::default()),
            "rpfilter" => MatchSpec::RpFilter(Default::default()),
            _ => {
                // iptables' words first: programs look for "No such file
                // or directory" (Kubernetes' IsNotFoundError).
                return fail(format!(
                    "Couldn't load match `{name}':No such file or directory (unknown match \
                     \"{name}\"{})",
                    super::suggest::did_you_mean(name, SUPPORTED.iter().copied())
                ));
            }
        })
    }

    /// The match the protocol `proto`, written `written` after `-p`, loads
    /// implicitly when one of its options is used: iptables loads the match
    /// named as the protocol (a number by its name in /etc/protocols), so
    /// only `-p mh` loads mh (135 is `mobility-header` there).
    pub(crate) fn implicit(proto: u8, family: Family, written: &str) -> Option<&'static str> {
        match (proto, family) {
            (1, Family::Ipv4) => Some("icmp"),
            (58, Family::Ipv6) => Some("icmp6"),
            (50, _) => Some("esp"),
            (51, _) => Some("ah"),
            (108, _) => Some("ipcomp"),
            (135, Family::Ipv6) if written.eq_ignore_ascii_case("mh") => Some("mh"),
            _ => Transport::from_number(proto).map(Transport::name),
        }
    }

    /// The name `-m` takes for this match.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MatchSpec::Ports(m) => m.kind().name(),
            MatchSpec::Icmp(m) => m.module_name(),
            MatchSpec::Multiport(_) => "multiport",
            MatchSpec::State(_) => "state",
            MatchSpec::Conntrack(_) => "conntrack",
            MatchSpec::IpRange(_) => "iprange",
            MatchSpec::Mac(_) => "mac",
            MatchSpec::Mark(m) => m.module_name(),
            MatchSpec::Comment(_) => "comment",
            MatchSpec::AddrType(_) => "addrtype",
            MatchSpec::PktType(_) => "pkttype",
            MatchSpec::Length(_) => "length",
            MatchSpec::Limit(_) => "limit",
            MatchSpec::HashLimit(_) => "hashlimit",
            MatchSpec::ConnLimit(_) => "connlimit",
            MatchSpec::Recent(_) => "recent",
            MatchSpec::Set(_) => "set",
            MatchSpec::Statistic(_) => "statistic",
            MatchSpec::Xt(m) => m.name(),
            MatchSpec::Owner(_) => "owner",
            MatchSpec::HopLimit(m) => m.module_name(),
            MatchSpec::Dscp(_) => "dscp",
            MatchSpec::Tos(_) => "tos",
            MatchSpec::Quota(_) => "quota",
            MatchSpec::ConnBytes(_) => "connbytes",
            MatchSpec::Cpu(_) => "cpu",
            MatchSpec::DevGroup(_) => "devgroup",
            MatchSpec::Ecn(_) => "ecn",
            MatchSpec::Realm(_) => "realm",
            MatchSpec::RpFilter(_) => "rpfilter",
        }
    }

    /// The options the module takes.
    pub(crate) fn options(&self) -> &'static [OptDef] {
        each!(self, m => m.options())
    }

    /// Takes one of the module's options.
    pub(crate) fn parse(&mut self, opt: &mut Opt<'_>) -> Res<()> {
        each!(self, m => m.parse(opt))
    }

    /// Checks the module's options against the whole rule.
    pub(crate) fn finish(&mut self, cx: &Cx) -> Res<()> {
        each!(self, m => m.finish(cx))
    }

    /// Appends ` -m NAME` and the options as `-S` prints them.
    pub(crate) fn save(&self, out: &mut String) {
        out.push_str(" -m ");
        out.push_str(self.name());
        each!(self, m => m.save(out))
    }

    /// Appends the `-L` text.
    pub(crate) fn print(&self, out: &mut String, numeric: bool) {
        each!(self, m => m.print(out, numeric))
    }

    /// Appends the model conditions.
    pub(crate) fn lower(&self, cx: &Cx, out: &mut Vec<Match>) -> Res<()> {
        match self {
            MatchSpec::Ports(m) => m.lower(out)?,
            MatchSpec::Icmp(m) => m.lower(out)?,
            MatchSpec::Multiport(m) => m.lower(cx, out)?,
            MatchSpec::State(m) => m.lower(out),
            MatchSpec::Conntrack(m) => m.lower(out)?,
            MatchSpec::IpRange(m) => m.lower(out),
            MatchSpec::Mac(m) => m.lower(out),
            MatchSpec::Mark(m) => m.lower(out),
            MatchSpec::Comment(m) => m.lower(out),
            MatchSpec::AddrType(m) => m.lower(cx, out),
            MatchSpec::PktType(m) => m.lower(out),
            MatchSpec::Length(m) => m.lower(out),
            MatchSpec::Limit(m) => m.lower(out),
            MatchSpec::HashLimit(m) => m.lower(out),
            MatchSpec::ConnLimit(m) => m.lower(out),
            MatchSpec::Recent(m) => m.lower(out),
            MatchSpec::Set(m) => m.lower(out),
            MatchSpec::Statistic(m) => m.lower(out),
            MatchSpec::Xt(m) => out.push(m.lower()),
            MatchSpec::Owner(m) => m.lower(out),
            MatchSpec::HopLimit(m) => m.lower(out),
            MatchSpec::Dscp(m) => m.lower(out),
            MatchSpec::Tos(m) => m.lower(out),
            MatchSpec::Quota(m) => m.lower(out),
            MatchSpec::ConnBytes(m) => m.lower(out),
            MatchSpec::Cpu(m) => m.lower(out),
            MatchSpec::DevGroup(m) => m.lower(out),
            MatchSpec::Ecn(m) => m.lower(out),
            MatchSpec::Realm(m) => m.lower(out),
            MatchSpec::RpFilter(m) => m.lower(out),
        }
        Ok(())
    }
}

/// Folds every tcp (and every udp) match with options into the first
/// one, as iptables-nft does when it reads such rules back from the kernel
/// (their options are native expressions). A `-m tcp` without options
/// stays where it is: iptables-nft keeps it as the kernel's xt match.
pub(crate) fn merge_port_matches(matches: &mut Vec<MatchSpec>) {
    let mut merged: Vec<MatchSpec> = Vec::with_capacity(matches.len());
    for m in matches.drain(..) {
        if let MatchSpec::Ports(p) = &m {
            if matches!(p.kind(), Transport::Tcp | Transport::Udp) && !p.is_empty() {
                let earlier = merged.iter_mut().find_map(|e| match e {
                    MatchSpec::Ports(q) if q.kind() == p.kind() && !q.is_empty() => Some(q),
                    _ => None,
                });
                if let Some(q) = earlier {
                    q.absorb(p.clone());
                    continue;
                }
            }
        }
        merged.push(m);
    }
    *matches = merged;
}
