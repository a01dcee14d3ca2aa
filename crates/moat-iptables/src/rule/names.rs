//! Protocol names and ICMP / ICMPv6 type names.

use std::borrow::Cow;

use super::error::{fail, Res};
use super::netdb::PROTOCOLS;
use super::values::{parse_number, strtoul_start};

/// Protocol names iptables knows without consulting `/etc/protocols`.
const BUILTIN_PROTOCOLS: &[(&str, u8)] = &[
    ("all", 0),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("mh", 135),
    ("ipv6-mh", 135),
];

/// Names `/etc/protocols` gives a number above 255 (not an IP protocol:
/// Multipath TCP runs over TCP). iptables takes the name and the kernel
/// keeps the number's low 8 bits, so `-p mptcp` (262) matches TCP, 6.
const WIDE_PROTOCOLS: &[(&str, u16)] = &[("mptcp", 262)];

/// The low 8 bits of the number of protocol `s` (any case) when
/// `/etc/protocols` gives it one above 255 (`mptcp`).
fn wide_protocol(s: &str) -> Option<u8> {
    WIDE_PROTOCOLS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, n)| n.to_le_bytes()[0])
}

/// Whether `s` names a protocol whose number is above 255 (`mptcp`): the
/// rule matches the low 8 bits' protocol, but iptables' extensions see
/// no protocol of theirs (`-p mptcp --dport 22` has no `--dport`).
pub(crate) fn is_wide_protocol(s: &str) -> bool {
    wide_protocol(s).is_some()
}

/// Parses a `-p` value: a number 0-255 or a protocol name (any case); 0 means every protocol.
pub(crate) fn parse_protocol(s: &str, opt: &str) -> Res<u8> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return match parse_number(s) {
            Some(n) if n <= 255 => Ok(n as u8),
            _ => fail(format!(
                "{opt}: protocol number {s} is out of range 0-255 (or not a number)"
            )),
        };
    }
    if let Some(&(_, n)) = BUILTIN_PROTOCOLS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
    {
        return Ok(n);
    }
    if let Some(&(n, _)) = PROTOCOLS
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(s))
    {
        return Ok(n);
    }
    if let Some(n) = wide_protocol(s) {
        return Ok(n);
    }
    let names = [
        "tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "esp", "ah", "all", "udplite", "dccp",
    ]
    .into_iter()
    .chain(PROTOCOLS.iter().map(|(_, n)| *n));
    fail(format!(
        "{opt}: unknown protocol \"{s}\" (use a name such as tcp, udp, icmp or a number 0-255){}",
        super::suggest::did_you_mean(s, names)
    ))
}

/// A protocol value as iptables reads it where it does not lowercase the
/// name first (conntrack's `--ctproto`): a number, or one of iptables' own
/// names or a name or alias of `/etc/protocols`, each exactly as written
/// (`tcp` and `TCP`, not `Tcp`).
pub(crate) fn parse_protocol_as_written(s: &str, opt: &str) -> Res<u8> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_protocol(s, opt);
    }
    let named = BUILTIN_PROTOCOLS
        .iter()
        .copied()
        .chain(PROTOCOLS.iter().map(|&(n, name)| (name, n)))
        .chain(
            WIDE_PROTOCOLS
                .iter()
                .map(|&(name, n)| (name, n.to_le_bytes()[0])),
        )
        .find(|(name, _)| *name == s)
        .map(|(_, n)| n);
    match named.or_else(|| alias_of_etc_protocols(s)) {
        Some(n) => Ok(n),
        None => {
            parse_protocol(s, opt)?;
            fail(format!(
                "{opt}: unknown protocol \"{s}\": here iptables reads a name exactly as \
                 /etc/protocols writes it (such as tcp or TCP)"
            ))
        }
    }
}

/// The protocol number `/etc/protocols` gives alias `s`, as the C
/// library's getprotobyname finds it, cut to its low 8 bits as the kernel
/// keeps it (`MPTCP`, 262, is 6).
fn alias_of_etc_protocols(s: &str) -> Option<u8> {
    let text = std::fs::read_to_string("/etc/protocols").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split('#').next()?.split_whitespace();
        let (_name, number) = (fields.next()?, fields.next()?);
        fields
            .any(|alias| alias == s)
            .then(|| number.parse::<u16>().ok())?
            .map(|n| n.to_le_bytes()[0])
    })
}

/// The name `-S` and `-L` print for protocol `n` (its number when it has no name).
pub(crate) fn protocol_name(n: u8) -> Cow<'static, str> {
    if n == 0 {
        return Cow::Borrowed("all");
    }
    PROTOCOLS.iter().find(|&&(num, _)| num == n).map_or_else(
        || Cow::Owned(n.to_string()),
        |&(_, name)| Cow::Borrowed(name),
    )
}

/// An ICMP or ICMPv6 type with a code range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IcmpType {
    /// The type.
    pub kind: u8,
    /// The first code matched.
    pub code_min: u8,
    /// The last code matched.
    pub code_max: u8,
}

/// ICMP type names: name, type, code range.
const ICMP_NAMES: &[(&str, u8, u8, u8)] = &[
    ("any", 255, 0, 255),
    ("echo-reply", 0, 0, 255),
    ("destination-unreachable", 3, 0, 255),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 255),
    ("redirect", 5, 0, 255),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 255),
    ("router-advertisement", 9, 0, 255),
    ("router-solicitation", 10, 0, 255),
    ("time-exceeded", 11, 0, 255),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 255),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 255),
    ("timestamp-reply", 14, 0, 255),
    ("address-mask-request", 17, 0, 255),
    ("address-mask-reply", 18, 0, 255),
];

/// Other names iptables accepts for ICMP types.
const ICMP_ALIASES: &[(&str, u8, u8, u8)] = &[
    ("pong", 0, 0, 255),
    ("ping", 8, 0, 255),
    ("ttl-exceeded", 11, 0, 255),
];

/// ICMPv6 type names: name, type, code range.
const ICMPV6_NAMES: &[(&str, u8, u8, u8)] = &[
    ("destination-unreachable", 1, 0, 255),
    ("no-route", 1, 0, 0),
    ("communication-prohibited", 1, 1, 1),
    ("beyond-scope", 1, 2, 2),
    ("address-unreachable", 1, 3, 3),
    ("port-unreachable", 1, 4, 4),
    ("failed-policy", 1, 5, 5),
    ("reject-route", 1, 6, 6),
    ("packet-too-big", 2, 0, 255),
    ("time-exceeded", 3, 0, 255),
    ("ttl-zero-during-transit", 3, 0, 0),
    ("ttl-zero-during-reassembly", 3, 1, 1),
    ("parameter-problem", 4, 0, 255),
    ("bad-header", 4, 0, 0),
    ("unknown-header-type", 4, 1, 1),
    ("unknown-option", 4, 2, 2),
    ("echo-request", 128, 0, 255),
    ("echo-reply", 129, 0, 255),
    ("router-solicitation", 133, 0, 255),
    ("router-advertisement", 134, 0, 255),
    ("neighbour-solicitation", 135, 0, 255),
    ("neighbour-advertisement", 136, 0, 255),
    ("redirect", 137, 0, 255),
];

/// Other names ip6tables accepts for ICMPv6 types.
const ICMPV6_ALIASES: &[(&str, u8, u8, u8)] = &[
    ("ping", 128, 0, 255),
    ("pong", 129, 0, 255),
    ("ttl-exceeded", 3, 0, 255),
    ("neighbor-solicitation", 135, 0, 255),
    ("neighbor-advertisement", 136, 0, 255),
];

/// iptables' list of the ICMP (or, `v6`, ICMPv6) type names, as its icmp
/// match's help prints it: each name on a line, a code of a type indented
/// under it, other names for it in parentheses.
pub(crate) fn icmp_type_list(v6: bool) -> String {
    let (names, aliases) = tables(v6);
    let mut out = String::new();
    for &(name, kind, lo, hi) in names {
        if lo == hi {
            out.push_str("   ");
        }
        out.push_str(name);
        for &(alias, ..) in aliases.iter().filter(|a| (a.1, a.2, a.3) == (kind, lo, hi)) {
            out.push_str(&format!(" ({alias})"));
        }
        out.push('\n');
    }
    out
}

/// A table of type names: name, type, code range.
type Names = &'static [(&'static str, u8, u8, u8)];

fn tables(v6: bool) -> (Names, Names) {
    if v6 {
        (ICMPV6_NAMES, ICMPV6_ALIASES)
    } else {
        (ICMP_NAMES, ICMP_ALIASES)
    }
}

/// Parses `--icmp-type` (`v6` false) or `--icmpv6-type` (`v6` true): `type`, `type/code` or a name.
pub(crate) fn parse_icmp_type(s: &str, v6: bool, opt: &str) -> Res<IcmpType> {
    let number_text = strtoul_start(s);
    if number_text.starts_with(|c: char| c.is_ascii_digit()) {
        let (t, c) = match number_text.split_once('/') {
            Some((t, c)) => (t, Some(c)),
            None => (s, None),
        };
        let byte = |x: &str| parse_number(x).filter(|&n| n <= 255).map(|n| n as u8);
        let kind = byte(t).ok_or_else(|| {
            super::RuleParseError::new(format!("{opt}: type {t} is not a number 0-255"))
        })?;
        return match c {
            None => Ok(IcmpType {
                kind,
                code_min: 0,
                code_max: 255,
            }),
            Some(c) => match byte(c) {
                Some(code) => Ok(IcmpType {
                    kind,
                    code_min: code,
                    code_max: code,
                }),
                None => fail(format!("{opt}: code {c} is not a number 0-255")),
            },
        };
    }
    let (names, aliases) = tables(v6);
    let all = names.iter().chain(aliases.iter());
    if let Some(&(_, kind, lo, hi)) = all.clone().find(|(n, ..)| n.eq_ignore_ascii_case(s)) {
        return Ok(IcmpType {
            kind,
            code_min: lo,
            code_max: hi,
        });
    }
    let lower = s.to_ascii_lowercase();
    let prefixed: Vec<_> = all
        .filter(|(n, ..)| n.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match prefixed.as_slice() {
        [&(_, kind, lo, hi)] => Ok(IcmpType { kind, code_min: lo, code_max: hi }),
        [] => fail(format!(
            "{opt}: unknown type \"{s}\" (use a number, type/code, or a name such as echo-request){}",
            super::suggest::did_you_mean(s, names.iter().map(|(n, ..)| *n))
        )),
        many => fail(format!(
            "{opt}: \"{s}\" is ambiguous: {}",
            many.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(" or ")
        )),
    }
}

/// The name of an ICMP / ICMPv6 type and code range, if it has one.
pub(crate) fn icmp_type_name(t: IcmpType, v6: bool) -> Option<&'static str> {
    tables(v6)
        .0
        .iter()
        .find(|&&(_, k, lo, hi)| k == t.kind && lo == t.code_min && hi == t.code_max)
        .map(|&(n, ..)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_protocols_are_read_as_written() {
        let read = |s| parse_protocol_as_written(s, "--ctproto");
        assert_eq!(read("tcp").unwrap(), 6);
        assert_eq!(read("all").unwrap(), 0);
        assert_eq!(read("0x6").unwrap(), 6);
        assert!(read("Tcp").is_err());
        assert!(read("ALL").is_err());
        assert!(read("bogus").is_err());
    }

    #[test]
    fn protocols_by_name_and_number() {
        assert_eq!(parse_protocol("tcp", "-p").unwrap(), 6);
        assert_eq!(parse_protocol("TCP", "-p").unwrap(), 6);
        assert_eq!(parse_protocol("0x6", "-p").unwrap(), 6);
        assert_eq!(parse_protocol("icmpv6", "-p").unwrap(), 58);
        assert_eq!(parse_protocol("all", "-p").unwrap(), 0);
        assert_eq!(parse_protocol("gre", "-p").unwrap(), 47);
        assert!(parse_protocol("256", "-p").is_err());
        assert!(parse_protocol("tpc", "-p")
            .unwrap_err()
            .message
            .contains("did you mean \"tcp\""));
        assert_eq!(protocol_name(58), "ipv6-icmp");
        assert_eq!(protocol_name(135), "mobility-header");
        assert_eq!(protocol_name(200), "200");
    }

    #[test]
    fn icmp_types() {
        let t = parse_icmp_type("echo-request", false, "--icmp-type").unwrap();
        assert_eq!((t.kind, t.code_min, t.code_max), (8, 0, 255));
        let t = parse_icmp_type("Port-Unreachable", false, "--icmp-type").unwrap();
        assert_eq!((t.kind, t.code_min), (3, 3));
        assert_eq!(
            parse_icmp_type("ping", false, "--icmp-type").unwrap().kind,
            8
        );
        assert!(parse_icmp_type("echo", false, "--icmp-type")
            .unwrap_err()
            .message
            .contains("ambiguous"));
        let t = parse_icmp_type("3/8", false, "--icmp-type").unwrap();
        assert_eq!(icmp_type_name(t, false), None);
        assert_eq!(
            parse_icmp_type("neighbor-solicitation", true, "--icmpv6-type")
                .unwrap()
                .kind,
            135
        );
        assert!(parse_icmp_type("8/256", false, "--icmp-type").is_err());
    }
}
