//! The address translation targets: SNAT, DNAT, MASQUERADE and REDIRECT.

use moat_model::addr_text::AddrText;
use std::net::IpAddr;

use moat_model::{Action, Family, NatTarget, PortRange};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::matches::ports::Transport;
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{any_service_port, parse_addr, push_opt, AddrSyntax};
use crate::rule::Warning;

/// Which translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NatKind {
    /// SNAT --to-source.
    Snat,
    /// DNAT --to-destination.
    Dnat,
    /// MASQUERADE.
    Masquerade,
    /// REDIRECT.
    Redirect,
}

/// `-j SNAT`, `-j DNAT`, `-j MASQUERADE` or `-j REDIRECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nat {
    kind: NatKind,
    given: bool,
    addrs: Option<(IpAddr, IpAddr)>,
    ports: Option<PortRange>,
    /// The port a shift starts from (`PORTS/BASE`); SNAT keeps 0, as
    /// iptables 1.8.9 does.
    port_base: Option<u16>,
    random: bool,
    fully_random: bool,
    persistent: bool,
}

const SNAT_OPTIONS: &[OptDef] = &[
    opt("--to-source", 1, false),
    opt("--random", 0, false),
    opt("--random-fully", 0, false),
    opt("--persistent", 0, false),
];
const DNAT_OPTIONS: &[OptDef] = &[
    opt("--to-destination", 1, false),
    opt("--random", 0, false),
    opt("--persistent", 0, false),
];
const MASQUERADE_OPTIONS: &[OptDef] = &[
    opt("--to-ports", 1, false),
    alias("--to-port", "--to-ports", 1, false),
    opt("--random", 0, false),
    opt("--random-fully", 0, false),
];
const REDIRECT_OPTIONS: &[OptDef] = &[
    opt("--to-ports", 1, false),
    alias("--to-port", "--to-ports", 1, false),
    opt("--random", 0, false),
];

/// Whether iptables takes ports with protocol `proto`: TCP, UDP, SCTP,
/// DCCP and ICMP (whose query id the kernel maps), in both families.
fn takes_ports(proto: u8) -> bool {
    const ICMP: u8 = 1;
    proto == ICMP || Transport::from_number(proto).is_some()
}

/// `PORT[-PORT]` of a translation: numbers, or as iptables also reads it,
/// one service name (`ssh`, `ftp-data`; a name in a range is refused).
fn parse_ports(s: &str, opt: &str) -> Res<PortRange> {
    if let Some(port) = any_service_port(s) {
        return Ok(PortRange {
            first: port,
            last: port,
        });
    }
    if s.contains('/') {
        return fail(format!(
            "{opt}: {s} shifts ports, which moat does for DNAT and SNAT only"
        ));
    }
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let port = |p: &str| -> Res<u16> {
        match crate::rule::values::parse_number(p) {
            Some(n) if n <= 65535 => Ok(n as u16),
            _ => fail(format!(
                "{opt}: \"{p}\" is not a port number 0-65535 (a service name such as ssh \
                 stands alone, not in a range)"
            )),
        }
    };
    let range = PortRange {
        first: port(a)?,
        last: port(b)?,
    };
    if range.first > range.last {
        return fail(format!("{opt}: port range {s} runs backwards"));
    }
    Ok(range)
}

/// `FIRST-LAST/BASE` of DNAT or SNAT: a shift of the ports from BASE on
/// onto FIRST-LAST (BASE a number or a service name, as iptables reads
/// it), or plain `PORT[-PORT]`.
fn parse_shifted_ports(s: &str, opt: &str) -> Res<(PortRange, Option<u16>)> {
    let Some((range_text, base)) = s.split_once('/') else {
        return Ok((parse_ports(s, opt)?, None));
    };
    if !range_text.contains('-') {
        return fail(format!(
            "{opt}: {s} shifts one port; a shift maps a range (write FIRST-LAST/BASE)"
        ));
    }
    let range = parse_ports(range_text, opt)?;
    let base = match any_service_port(base) {
        Some(port) => port,
        None => match crate::rule::values::parse_number(base) {
            Some(n) if n <= 65535 => n as u16,
            _ => return fail(format!("{opt}: \"{base}\" in {s} is not a port 0-65535")),
        },
    };
    Ok((range, Some(base)))
}

impl Nat {
    /// An empty target of `kind`.
    pub(crate) fn new(kind: NatKind) -> Self {
        Nat {
            kind,
            given: false,
            addrs: None,
            ports: None,
            port_base: None,
            random: false,
            fully_random: false,
            persistent: false,
        }
    }

    /// The target name.
    pub(crate) fn name(&self) -> &'static str {
        match self.kind {
            NatKind::Snat => "SNAT",
            NatKind::Dnat => "DNAT",
            NatKind::Masquerade => "MASQUERADE",
            NatKind::Redirect => "REDIRECT",
        }
    }

    fn to_option(&self) -> &'static str {
        match self.kind {
            NatKind::Snat => "--to-source",
            NatKind::Dnat => "--to-destination",
            NatKind::Masquerade | NatKind::Redirect => "--to-ports",
        }
    }

    /// Parses `addr[-addr][:port[-port]]` (IPv6: `[addr[-addr]]:port[-port]`,
    /// `addr[-addr]` or `:port[-port]`).
    fn parse_to(&mut self, o: &mut Opt<'_>, opt: &str) -> Res<()> {
        let (s, family) = (o.value().to_string(), o.family);
        let s = s.as_str();
        if family == Family::Ipv4 && (s.starts_with('[') || s.matches(':').count() > 1) {
            return fail(format!(
                "{opt}: {s} is an IPv6 address; iptables takes IPv4 addresses (use ip6tables for IPv6)"
            ));
        }
        let (addr_part, port_part) = match family {
            Family::Ipv4 => match s.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (s, None),
            },
            Family::Ipv6 => match s.strip_prefix('[') {
                Some(rest) => match rest.split_once(']') {
                    Some((a, "")) => (a, None),
                    Some((a, p)) => match p.strip_prefix(':') {
                        Some(p) => (a, Some(p)),
                        None => return fail(format!("{opt}: expected :port after ] in \"{s}\"")),
                    },
                    None => return fail(format!("{opt}: missing ] in \"{s}\"")),
                },
                // A port alone, as in iptables (`::1` is an address).
                None => match s.strip_prefix(':').filter(|p| !p.starts_with(':')) {
                    Some(p) => ("", Some(p)),
                    None => (s, None),
                },
            },
        };
        if !addr_part.is_empty() {
            let (a, b) = match addr_part.split_once('-') {
                Some((a, b)) => (
                    parse_addr(a, family, opt, AddrSyntax::Strict)?,
                    parse_addr(b, family, opt, AddrSyntax::Strict)?,
                ),
                None => {
                    let a = parse_addr(addr_part, family, opt, AddrSyntax::Strict)?;
                    (a, a)
                }
            };
            if a > b {
                o.warnings.push(Warning::advice(format!(
                    "{opt} {s}: the address range is reversed; the kernel then picks from \
                     nearly every address, wrapping around past the last (iptables takes it too)"
                )));
            }
            self.addrs = Some((a, b));
        }
        if let Some(p) = port_part {
            let (ports, base) = parse_shifted_ports(p, opt)?;
            self.ports = Some(ports);
            // iptables 1.8.9 keeps SNAT's shift but not its base.
            self.port_base = match self.kind {
                NatKind::Snat => base.map(|_| 0),
                _ => base,
            };
        }
        if self.addrs.is_none() && self.ports.is_none() {
            return fail(format!("{opt} needs an address or a port"));
        }
        Ok(())
    }

    fn to_text(&self) -> String {
        let addrs = self.addrs.map(|(a, b)| {
            if a == b {
                AddrText(a).to_string()
            } else {
                format!("{}-{}", AddrText(a), AddrText(b))
            }
        });
        match (addrs, self.ports) {
            (Some(a), None) => a,
            (a, Some(p)) => {
                let a = a.unwrap_or_default();
                let shift = self.port_base.map(|b| format!("/{b}")).unwrap_or_default();
                if self.addrs.is_some_and(|(x, _)| x.is_ipv6()) {
                    format!("[{a}]:{p}{shift}")
                } else {
                    format!("{a}:{p}{shift}")
                }
            }
            (None, None) => String::new(),
        }
    }

    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let target = NatTarget {
            addrs: self.addrs,
            ports: self.ports,
            random: self.random,
            port_base: self.port_base,
            fully_random: self.fully_random,
            persistent: self.persistent,
        };
        match self.kind {
            NatKind::Snat => Action::Snat(target),
            NatKind::Dnat => Action::Dnat(target),
            NatKind::Masquerade => Action::Masquerade {
                ports: self.ports,
                random: self.random,
                fully_random: self.fully_random,
            },
            NatKind::Redirect => Action::Redirect {
                ports: self.ports,
                random: self.random,
            },
        }
    }
}

impl Extension for Nat {
    fn options(&self) -> &'static [OptDef] {
        match self.kind {
            NatKind::Snat => SNAT_OPTIONS,
            NatKind::Dnat => DNAT_OPTIONS,
            NatKind::Masquerade => MASQUERADE_OPTIONS,
            NatKind::Redirect => REDIRECT_OPTIONS,
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--random" => self.random = true,
            "--random-fully" => self.fully_random = true,
            "--persistent" => self.persistent = true,
            name => {
                if self.given {
                    return fail(format!("{name} given twice"));
                }
                self.given = true;
                match self.kind {
                    NatKind::Snat | NatKind::Dnat => self.parse_to(o, name)?,
                    NatKind::Masquerade | NatKind::Redirect => {
                        self.ports = Some(parse_ports(o.value(), name)?)
                    }
                }
                // iptables reads the protocol when it reads the ports: a -p
                // after them is too late.
                if self.ports.is_some() && !takes_ports(o.proto.0) {
                    return fail(format!(
                        "{name} with a port needs -p tcp, -p udp, -p sctp, -p dccp or -p icmp before it"
                    ));
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if matches!(self.kind, NatKind::Snat | NatKind::Dnat) && !self.given {
            return fail(format!(
                "-j {} needs {} (for example {} 192.168.1.10 or {} 192.168.1.10:8080)",
                self.name(),
                self.to_option(),
                self.to_option(),
                self.to_option()
            ));
        }
        // iptables looks at the protocol number alone and takes `! -p tcp`
        // too; nf_tables refuses to translate ports of packets that may have
        // none, and so does moat.
        if self.ports.is_some() && !cx.plain_proto().is_some_and(takes_ports) {
            return fail(format!(
                "{} with a port needs -p tcp, -p udp, -p sctp, -p dccp or -p icmp (without `!`)",
                self.to_option()
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.given {
            let text = match self.kind {
                NatKind::Snat | NatKind::Dnat => self.to_text(),
                NatKind::Masquerade | NatKind::Redirect => {
                    self.ports.map(|p| p.to_string()).unwrap_or_default()
                }
            };
            push_opt(out, false, self.to_option(), Some(&text));
        }
        if self.random {
            out.push_str(" --random");
        }
        if self.fully_random {
            out.push_str(" --random-fully");
        }
        if self.persistent {
            out.push_str(" --persistent");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        match self.kind {
            NatKind::Snat | NatKind::Dnat => out.push_str(&format!(" to:{}", self.to_text())),
            NatKind::Masquerade => {
                if let Some(p) = self.ports {
                    out.push_str(&format!(" masq ports: {}", p));
                }
            }
            NatKind::Redirect => {
                if let Some(p) = self.ports {
                    out.push_str(&format!(" redir ports {}", p));
                }
            }
        }
        if self.random {
            out.push_str(" random");
        }
        if self.fully_random {
            out.push_str(" random-fully");
        }
        if self.persistent {
            out.push_str(" persistent");
        }
    }
}
