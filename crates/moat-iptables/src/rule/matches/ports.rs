//! The protocol matches with ports: tcp (also flags and options), udp, sctp
//! (also chunk types) and dccp (also packet types and options).

use moat_model::{Match, PortRange, TcpFlags, XtLayout};

use super::dccp_types;
use super::sctp_chunks::ChunkTypes;
use crate::rule::compat::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{
    number_in, parse_port_range, parse_port_range_reversible, port_display, port_range_text,
    push_opt, ANY_TRANSPORT,
};

/// A transport protocol with ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
    /// DCCP.
    Dccp,
}

impl Transport {
    /// The match (and service table) name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Sctp => "sctp",
            Transport::Dccp => "dccp",
        }
    }

    /// The IP protocol number.
    pub(crate) fn number(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Sctp => 132,
            Transport::Dccp => 33,
        }
    }

    /// The transport with protocol number `n`.
    pub(crate) fn from_number(n: u8) -> Option<Transport> {
        [
            Transport::Tcp,
            Transport::Udp,
            Transport::Sctp,
            Transport::Dccp,
        ]
        .into_iter()
        .find(|t| t.number() == n)
    }
}

/// `struct xt_tcp` testing only `--tcp-option KIND` (every port, no
/// flags): whether the TCP header carries an option of that kind, as the
/// kernel's xt_tcp reads options (nf_tables has no test of an option kind
/// by number that nft can write).
fn tcp_option_info(kind: u8, negate: bool) -> Vec<u8> {
    // XT_TCP_INV_OPTION (0x04 is XT_TCP_INV_FLAGS).
    const INV_OPTION: u8 = 0x08;
    XtLayout::new()
        .u16(0)
        .u16(u16::MAX)
        .u16(0)
        .u16(u16::MAX)
        .u8(kind)
        .u8(0)
        .u8(0)
        .u8(if negate { INV_OPTION } else { 0 })
        .finish()
}

/// The options of a match with ports: `--sport`, `--dport` (and their long
/// names), then `extra`.
macro_rules! port_options {
    ($($extra:expr),* $(,)?) => {
        &[
            alias("--source-port", "--sport", 1, true),
            opt("--sport", 1, true),
            alias("--destination-port", "--dport", 1, true),
            opt("--dport", 1, true),
            $($extra),*
        ]
    };
}

const PORT_OPTIONS: &[OptDef] = port_options!();

const SCTP_OPTIONS: &[OptDef] = port_options!(opt("--chunk-types", 2, true));

const DCCP_OPTIONS: &[OptDef] =
    port_options!(opt("--dccp-types", 1, true), opt("--dccp-option", 1, true));

const TCP_OPTIONS: &[OptDef] = port_options!(
    opt("--syn", 0, true),
    opt("--tcp-flags", 2, true),
    opt("--tcp-option", 1, true),
);

/// The TCP flag names iptables knows, in the order it prints them.
const TCP_FLAGS: &[(&str, u8)] = &[
    ("FIN", 0x01),
    ("SYN", 0x02),
    ("RST", 0x04),
    ("PSH", 0x08),
    ("ACK", 0x10),
    ("URG", 0x20),
];

/// `--syn`: SYN set, ACK, RST and FIN clear.
const SYN: TcpFlags = TcpFlags {
    mask: 0x17,
    set: 0x02,
};

/// `-m tcp`, `-m udp`, `-m sctp` or `-m dccp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortMatch {
    kind: Transport,
    sport: Option<(PortRange, bool)>,
    dport: Option<(PortRange, bool)>,
    flags: Option<(TcpFlags, bool)>,
    option: Option<(u8, bool)>,
    /// sctp's `--chunk-types`.
    chunks: Option<(ChunkTypes, bool)>,
    /// dccp's `--dccp-types` (a bit per type) and `--dccp-option`.
    dccp_types: Option<(u16, bool)>,
    dccp_option: Option<(u8, bool)>,
}

/// TCP flag names separated by commas; iptables skips empty ones
/// (`SYN,,ACK`), as `strtok` does.
fn parse_flags(s: &str, opt: &str) -> Res<u8> {
    let mut bits = 0;
    for word in s.split(',').filter(|w| !w.is_empty()) {
        let upper = word.to_ascii_uppercase();
        bits |= match upper.as_str() {
            "ALL" => 0x3f,
            "NONE" => 0,
            _ => match TCP_FLAGS.iter().find(|(n, _)| *n == upper) {
                Some(&(_, b)) => b,
                None => {
                    return fail(format!(
                        "{opt}: unknown TCP flag \"{word}\" (iptables knows FIN, SYN, RST, PSH, ACK, URG, ALL and NONE)"
                    ))
                }
            },
        };
    }
    Ok(bits)
}

fn flag_names(bits: u8) -> String {
    if bits == 0 {
        return "NONE".to_string();
    }
    TCP_FLAGS
        .iter()
        .filter(|&&(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

impl PortMatch {
    /// An empty match for `kind`.
    pub(crate) fn new(kind: Transport) -> Self {
        PortMatch {
            kind,
            sport: None,
            dport: None,
            flags: None,
            option: None,
            chunks: None,
            dccp_types: None,
            dccp_option: None,
        }
    }

    /// The transport.
    pub(crate) fn kind(&self) -> Transport {
        self.kind
    }

    /// Whether the match was given no option (`-m tcp` alone).
    pub(crate) fn is_empty(&self) -> bool {
        self.sport.is_none()
            && self.dport.is_none()
            && self.flags.is_none()
            && self.option.is_none()
            && self.chunks.is_none()
            && self.dccp_types.is_none()
            && self.dccp_option.is_none()
    }

    /// Takes over every option `later` sets (iptables-nft folds repeated tcp/udp matches into one).
    pub(crate) fn absorb(&mut self, later: PortMatch) {
        self.sport = later.sport.or(self.sport);
        self.dport = later.dport.or(self.dport);
        self.flags = later.flags.or(self.flags);
        self.option = later.option.or(self.option);
        self.chunks = later.chunks.or(self.chunks.take());
        self.dccp_types = later.dccp_types.or(self.dccp_types);
        self.dccp_option = later.dccp_option.or(self.dccp_option);
    }

    /// Whether nf_tables translates this match natively (and so normalises it).
    fn native(&self) -> bool {
        matches!(self.kind, Transport::Tcp | Transport::Udp)
    }

    fn normalise_ports(
        &self,
        slot: Option<(PortRange, bool)>,
        opt: &str,
    ) -> Res<Option<(PortRange, bool)>> {
        let Some((r, inv)) = slot else {
            return Ok(None);
        };
        if !self.native() {
            return Ok(Some((r, inv)));
        }
        let full = r.first == 0 && r.last == 65535;
        if inv && full {
            return fail(format!("! {opt} 0:65535 can never match"));
        }
        Ok(if full {
            None
        } else if inv && r.first == 0 && r.last > 0 {
            Some((
                PortRange {
                    first: r.last + 1,
                    last: 65535,
                },
                false,
            ))
        } else {
            Some((r, inv))
        })
    }

    fn print_ports(
        &self,
        out: &mut String,
        word: &str,
        slot: Option<(PortRange, bool)>,
        numeric: bool,
    ) {
        let Some((r, inv)) = slot else { return };
        let name = |p| port_display(p, self.kind.name(), numeric);
        out.push(' ');
        out.push_str(word);
        out.push_str(if r.first == r.last { "pt:" } else { "pts:" });
        if inv {
            out.push('!');
        }
        out.push_str(&name(r.first));
        if r.first != r.last {
            out.push(':');
            out.push_str(&name(r.last));
        }
    }

    /// The model conditions.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) -> Res<()> {
        let proto = self.kind.number();
        if let Some((r, negate)) = self.sport {
            out.push(Match::SourcePort {
                proto,
                ports: vec![r],
                negate,
            });
        }
        if let Some((r, negate)) = self.dport {
            out.push(Match::DestPort {
                proto,
                ports: vec![r],
                negate,
            });
        }
        if let Some((flags, negate)) = self.flags {
            out.push(Match::TcpFlags { flags, negate });
        }
        if let Some((kind, negate)) = self.option {
            out.push(Match::Xt(kernel_ext(
                "-m",
                "tcp",
                0,
                tcp_option_info(kind, negate),
                self,
            )));
        }
        if let Some((chunks, negate)) = &self.chunks {
            let info = chunks.info(*negate);
            out.push(Match::Xt(kernel_ext("-m", "sctp", 0, info, self)));
        }
        if self.dccp_types.is_some() || self.dccp_option.is_some() {
            let info = dccp_types::info(self.dccp_types, self.dccp_option);
            out.push(Match::Xt(kernel_ext("-m", "dccp", 0, info, self)));
        }
        Ok(())
    }
}

impl Extension for PortMatch {
    fn options(&self) -> &'static [OptDef] {
        match self.kind {
            Transport::Tcp => TCP_OPTIONS,
            Transport::Sctp => SCTP_OPTIONS,
            Transport::Dccp => DCCP_OPTIONS,
            _ => PORT_OPTIONS,
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let proto = self.kind.name();
        match o.name {
            "--sport" | "--dport" => {
                let slot = if o.name == "--sport" {
                    &mut self.sport
                } else {
                    &mut self.dport
                };
                once(slot, o.name)?;
                // iptables' udp and dccp find a service of any transport
                // and take a range that runs backwards.
                let range = match self.kind {
                    Transport::Dccp | Transport::Udp => {
                        parse_port_range_reversible(o, ANY_TRANSPORT)?
                    }
                    _ => parse_port_range(o.value(), proto, o.name)?,
                };
                *slot = Some((range, o.invert));
            }
            "--syn" => {
                if self.flags.is_some() {
                    return fail("use only one of --syn and --tcp-flags");
                }
                self.flags = Some((SYN, o.invert));
            }
            "--tcp-flags" => {
                if self.flags.is_some() {
                    return fail("use only one of --syn and --tcp-flags");
                }
                let mask = parse_flags(o.value(), "--tcp-flags")?;
                let set = parse_flags(o.value2(), "--tcp-flags")?;
                self.flags = Some((TcpFlags { mask, set }, o.invert));
            }
            "--chunk-types" => {
                once(&self.chunks, "--chunk-types")?;
                self.chunks = Some((ChunkTypes::parse(o.value(), o.value2())?, o.invert));
            }
            "--dccp-types" => {
                once(&self.dccp_types, "--dccp-types")?;
                self.dccp_types = Some((dccp_types::parse_types(o.value())?, o.invert));
            }
            "--dccp-option" => {
                once(&self.dccp_option, "--dccp-option")?;
                let n = number_in(o.value(), "--dccp-option", 1, 255)? as u8;
                self.dccp_option = Some((n, o.invert));
            }
            _ => {
                once(&self.option, "--tcp-option")?;
                let n = number_in(o.value(), "--tcp-option", 1, 255)? as u8;
                self.option = Some((n, o.invert));
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        // A full port range tests nothing (iptables leaves it out), so the
        // match may be empty when its protocol is checked.
        self.sport = self.normalise_ports(self.sport, "--sport")?;
        self.dport = self.normalise_ports(self.dport, "--dport")?;
        // A tcp or udp match with options is native, and iptables checks
        // its protocol itself; the others are the kernel's xt matches,
        // which refuse a rule whose -p is another or negated. So is a tcp
        // match with --tcp-option, which iptables-nft leaves to xt_tcpudp.
        let kernels = !self.native() || self.is_empty() || self.option.is_some();
        if cx.proto.0 != self.kind.number() || (cx.proto.1 && kernels) {
            let name = self.kind.name();
            let message = format!(
                "the {name} match needs -p {name} (-m {name} only works on {name} packets)"
            );
            return if kernels {
                refused_by_kernel(message)
            } else {
                fail(message)
            };
        }
        if let Some((f, inv)) = self.flags {
            if f.mask == 0 {
                if inv {
                    return fail("! --tcp-flags NONE NONE can never match");
                }
                self.flags = None;
            }
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((r, inv)) = self.sport {
            push_opt(out, inv, "--sport", Some(&port_range_text(r)));
        }
        if let Some((r, inv)) = self.dport {
            push_opt(out, inv, "--dport", Some(&port_range_text(r)));
        }
        if let Some((n, inv)) = self.option {
            push_opt(out, inv, "--tcp-option", Some(&n.to_string()));
        }
        if let Some((f, inv)) = self.flags {
            push_opt(
                out,
                inv,
                "--tcp-flags",
                Some(&format!("{} {}", flag_names(f.mask), flag_names(f.set))),
            );
        }
        if let Some((chunks, inv)) = &self.chunks {
            push_opt(out, *inv, "--chunk-types", Some(&chunks.text(false)));
        }
        if let Some((mask, inv)) = self.dccp_types {
            push_opt(
                out,
                inv,
                "--dccp-types",
                Some(&dccp_types::types_text(mask, false)),
            );
        }
        if let Some((n, inv)) = self.dccp_option {
            push_opt(out, inv, "--dccp-option", Some(&n.to_string()));
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        out.push(' ');
        out.push_str(self.kind.name());
        self.print_ports(out, "s", self.sport, numeric);
        self.print_ports(out, "d", self.dport, numeric);
        if let Some((n, inv)) = self.option {
            out.push_str(&format!(" option={}{n}", if inv { "!" } else { "" }));
        }
        let bang = |inv: bool| if inv { " !" } else { "" };
        if let Some((chunks, inv)) = &self.chunks {
            out.push_str(&format!("{} {}", bang(*inv), chunks.text(numeric)));
        }
        if let Some((mask, inv)) = self.dccp_types {
            out.push_str(&format!(
                "{} {}",
                bang(inv),
                dccp_types::types_text(mask, numeric)
            ));
        }
        if let Some((n, inv)) = self.dccp_option {
            out.push_str(&format!(" option={}{n}", if inv { "!" } else { "" }));
        }
        if let Some((f, inv)) = self.flags {
            let bang = if inv { "!" } else { "" };
            if numeric {
                out.push_str(&format!(" flags:{bang}0x{:02X}/0x{:02X}", f.mask, f.set));
            } else {
                out.push_str(&format!(
                    " flags:{bang}{}/{}",
                    flag_names(f.mask),
                    flag_names(f.set)
                ));
            }
        }
    }
}
