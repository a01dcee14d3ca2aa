//! Option values as iptables reads and writes them: numbers, ports, addresses,
//! masks, marks, interface names and quoted strings.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use moat_model::addr_text::{push_decimal, push_ip, AddrText};
use moat_model::{Family, PortRange};

use super::error::{fail, Res};
use super::hostnames::{host_addresses, named_addresses};
use super::netdb::SERVICES;
use super::Warning;

/// An unsigned number as C's `strtoul(s, NULL, 0)` reads it when it reads all of `s`:
/// `0x` hexadecimal, a leading `0` octal, decimal otherwise, after blanks
/// and a `+` (iptables' number reader refuses a `-`).
pub(crate) fn parse_number(s: &str) -> Option<u64> {
    let s = strtoul_start(s);
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `s` without C's leading blanks (`isspace`), which strtoul and scanf
/// skip.
pub(crate) fn c_blanks_trimmed(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
}

/// `s` without what strtoul skips before a number: C's blanks and one `+`.
pub(crate) fn strtoul_start(s: &str) -> &str {
    let s = c_blanks_trimmed(s);
    s.strip_prefix('+').unwrap_or(s)
}

/// A number for option `opt` in `min..=max`.
pub(crate) fn number_in(s: &str, opt: &str, min: u64, max: u64) -> Res<u64> {
    match parse_number(s) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => fail(format!("{opt} value {s} is out of range {min}-{max}")),
        None => fail(format!("{opt} needs a number, not \"{s}\"")),
    }
}

/// A 32-bit number for option `opt`.
pub(crate) fn u32_value(s: &str, opt: &str) -> Res<u32> {
    number_in(s, opt, 0, u64::from(u32::MAX)).map(|n| n as u32)
}

/// The port of service `name` for transport `proto` ("tcp", "udp", ...).
pub(crate) fn service_port(name: &str, proto: &str) -> Option<u16> {
    SERVICES
        .iter()
        .find(|(n, _, p, aliases)| *p == proto && (*n == name || aliases.contains(&name)))
        .map(|&(_, port, _, _)| port)
}

/// The port of service `name` for any transport, as getaddrinfo finds one
/// (TCP's first).
pub(crate) fn any_service_port(name: &str) -> Option<u16> {
    service_port(name, "tcp").or_else(|| service_port(name, "udp"))
}

/// The service name of `port` for transport `proto`, if it has one.
pub(crate) fn service_name(port: u16, proto: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|&&(_, p, pr, _)| p == port && pr == proto)
        .map(|&(n, _, _, _)| n)
}

/// The transport name that makes [`parse_port`] find a service of any
/// transport (iptables' udp and dccp matches look names up so: `-p udp
/// --dport ssh` is port 22).
pub(crate) const ANY_TRANSPORT: &str = "any";

/// How an option reads a port number: most as C's strtoul in any base
/// (`0x16` and `026` are 22); iptables' udp, dccp and conntrack ports in
/// decimal only (`022` is 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortDigits {
    /// Decimal, `0x` hexadecimal or `0` octal.
    AnyBase,
    /// Decimal, leading zeros and all.
    Decimal,
}

/// One port, by number in any base or service name; `proto` names the
/// transport for service look-ups (or is [`ANY_TRANSPORT`]).
pub(crate) fn parse_port(s: &str, proto: &str, opt: &str) -> Res<u16> {
    parse_port_digits(s, proto, opt, PortDigits::AnyBase)
}

/// One port, by decimal number (leading zeros and all) or service name, as
/// the ipvs match reads `--vport` (`080` is 80, `0x50` is refused).
pub(crate) fn parse_port_decimal(s: &str, proto: &str, opt: &str) -> Res<u16> {
    parse_port_digits(s, proto, opt, PortDigits::Decimal)
}

/// One port, by number written in `digits` or service name. Leading blanks
/// and a `+` are skipped, as strtoul skips them.
fn parse_port_digits(s: &str, proto: &str, opt: &str, digits: PortDigits) -> Res<u16> {
    let s = s.trim_start();
    if s.is_empty() {
        return fail(format!("{opt} needs a port number"));
    }
    let number_text = strtoul_start(s);
    if number_text.starts_with(|c: char| c.is_ascii_digit()) {
        let s = number_text;
        let number = match digits {
            PortDigits::AnyBase => parse_number(s),
            PortDigits::Decimal if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
            PortDigits::Decimal => None,
        };
        return match number {
            Some(n) if n <= 65535 => Ok(n as u16),
            Some(_) => fail(format!("{opt}: port {s} is out of range 0-65535")),
            None => fail(format!("{opt}: \"{s}\" is not a port number")),
        };
    }
    if s.starts_with('-') {
        return fail(format!("{opt}: port {s} is out of range 0-65535"));
    }
    let found = match proto {
        ANY_TRANSPORT => any_service_port(s),
        _ => service_port(s, proto),
    };
    match found {
        Some(p) => Ok(p),
        None => {
            let kind = if proto == ANY_TRANSPORT { "" } else { proto };
            fail(
                format!("{opt}: \"{s}\" is neither a port number nor a known {kind} service name")
                    .replace("  ", " "),
            )
        }
    }
}

/// A port or port range `a`, `a:b`, `:b` or `a:`.
pub(crate) fn parse_port_range(s: &str, proto: &str, opt: &str) -> Res<PortRange> {
    let range = parse_port_range_any(s, proto, opt, PortDigits::AnyBase)?;
    if range.first > range.last {
        return fail(format!(
            "{opt}: port range {s} runs backwards (write {}:{})",
            range.last, range.first
        ));
    }
    Ok(range)
}

/// [`parse_port_range`] for the options where iptables takes a range that
/// runs backwards (udp's and dccp's ports, conntrack's): taken with a
/// warning. Their numbers are decimal.
pub(crate) fn parse_port_range_reversible(
    o: &mut crate::rule::ext::Opt<'_>,
    proto: &str,
) -> Res<PortRange> {
    let range = parse_port_range_any(o.value(), proto, o.name, PortDigits::Decimal)?;
    if range.first > range.last {
        o.warn_reversed();
    }
    Ok(range)
}

fn parse_port_range_any(s: &str, proto: &str, opt: &str, digits: PortDigits) -> Res<PortRange> {
    let range = match s.split_once(':') {
        None => {
            let p = parse_port_digits(s, proto, opt, digits)?;
            PortRange { first: p, last: p }
        }
        Some((a, b)) => {
            let first = if a.is_empty() {
                0
            } else {
                parse_port_digits(a, proto, opt, digits)?
            };
            let last = if b.is_empty() {
                65535
            } else {
                parse_port_digits(b, proto, opt, digits)?
            };
            PortRange { first, last }
        }
    };
    Ok(range)
}

/// A port range as `-S` prints it: `a` or `a:b`.
pub(crate) fn port_range_text(r: PortRange) -> String {
    if r.first == r.last {
        r.first.to_string()
    } else {
        format!("{}:{}", r.first, r.last)
    }
}

/// A port as `-L` prints it: a service name unless `numeric`.
pub(crate) fn port_display(port: u16, proto: &str, numeric: bool) -> String {
    // A numeric listing never looks the name up (a scan of the services).
    match (!numeric).then(|| service_name(port, proto)).flatten() {
        Some(name) => name.to_string(),
        None => port.to_string(),
    }
}

/// An address with a mask, as the `-s`/`-d` options and conntrack take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Net {
    /// The address, already masked.
    pub addr: IpAddr,
    /// The mask (all ones for a host).
    pub mask: IpAddr,
}

/// The family's name and the iptables program for it.
pub(crate) fn family_name(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::Ipv4 => ("IPv4", "iptables"),
        Family::Ipv6 => ("IPv6", "ip6tables"),
    }
}

fn to_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(bits: u128, family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// The address width of `family` in bits.
pub(crate) fn family_bits(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

/// The mask of a prefix of `len` bits.
pub(crate) fn prefix_mask(len: u8, family: Family) -> IpAddr {
    let width = u32::from(family_bits(family));
    let len = u32::from(len).min(width);
    let ones: u128 = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    from_bits(ones >> (128 - width), family)
}

/// The prefix length of `mask`, if its one bits are contiguous from the top.
pub(crate) fn mask_prefix(mask: IpAddr) -> Option<u8> {
    let (bits, width) = match mask {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0 && len <= width).then_some(len as u8)
}

/// How an option reads an IPv4 address: iptables' extensions use three
/// readers, and `10.1` means a different address in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrSyntax {
    /// `-s`, `-d` and policy's tunnel ends: iptables' own reader (missing
    /// trailing parts zero: `10.1` is 10.1.0.0), then the C library's.
    Xtables,
    /// iprange: iptables' own reader alone.
    XtablesOnly,
    /// conntrack's addresses, NETMAP, TEE and recent's mask: the C library's
    /// resolver (`10.1` is 10.0.0.1, `16843009` is 1.1.1.1).
    Resolver,
    /// The NAT targets' `--to-*`: four decimal parts and nothing else.
    Strict,
}

/// Parses one address of `family` written in `syntax`, explaining what is wrong with it.
pub(crate) fn parse_addr(s: &str, family: Family, opt: &str, syntax: AddrSyntax) -> Res<IpAddr> {
    let (fam, tool) = family_name(family);
    if let Ok(a) = s.parse::<IpAddr>() {
        return match (a, family) {
            (IpAddr::V4(_), Family::Ipv4) | (IpAddr::V6(_), Family::Ipv6) => Ok(a),
            (IpAddr::V6(_), Family::Ipv4) => fail(format!(
                "{opt}: {s} is an IPv6 address; iptables takes IPv4 addresses (use ip6tables for IPv6)"
            )),
            (IpAddr::V4(_), Family::Ipv6) => fail(format!(
                "{opt}: {s} is an IPv4 address; ip6tables takes IPv6 addresses (use iptables for IPv4)"
            )),
        };
    }
    if family == Family::Ipv4 {
        let read = match syntax {
            AddrSyntax::Xtables => short_ipv4(s).or_else(|| inet_aton(s)),
            AddrSyntax::XtablesOnly => short_ipv4(s),
            AddrSyntax::Resolver => inet_aton(s),
            AddrSyntax::Strict => None,
        };
        if let Some(a) = read {
            return Ok(IpAddr::V4(a));
        }
    }
    if let Some(a) = by_name(s, family, opt, syntax)? {
        return Ok(a);
    }
    let looks_numeric = s
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':');
    if looks_numeric && !s.is_empty() {
        fail(format!("{opt}: {s} is not a valid {fam} address"))
    } else {
        fail(format!(
            "{opt}: \"{s}\" is not a valid {fam} address, nor a name in /etc/hosts{networks} \
             ({tool} in moat never asks DNS: write the address)",
            networks = if syntax == AddrSyntax::Xtables && family == Family::Ipv4 {
                " or /etc/networks"
            } else {
                ""
            }
        ))
    }
}

/// The address a name stands for where the option's reader looks names up:
/// iptables' own reader its first [`named_addresses`] (`-s` and `-d` make
/// a rule for each, see `address_list`), the resolver a host of
/// `/etc/hosts` with one address (a name of several is refused).
fn by_name(s: &str, family: Family, opt: &str, syntax: AddrSyntax) -> Res<Option<IpAddr>> {
    match syntax {
        AddrSyntax::Xtables => Ok(named_addresses(s, family).first().copied()),
        AddrSyntax::Resolver => match host_addresses(s, family)[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            ref several => fail(format!(
                "{opt}: {s} resolves to more than one address ({}); write one",
                several
                    .iter()
                    .map(IpAddr::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        AddrSyntax::XtablesOnly | AddrSyntax::Strict => Ok(None),
    }
}

/// An IPv4 address in the forms iptables also reads: one to four parts,
/// each decimal, octal (`010`) or hex (`0x10`), missing trailing parts zero
/// (`0/0`, `10/8`, `172.16/12`).
fn short_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(&parts) {
        *slot = address_part(part)?;
    }
    Some(Ipv4Addr::from(octets))
}

/// An IPv4 address as the C library's resolver reads a number, which
/// iptables falls back to: one to four parts, the last filling the bytes
/// left (`16843009` is 1.1.1.1, `10.65537` is 10.1.0.1).
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u32> = s.split('.').map(number_part).collect::<Option<_>>()?;
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|&p| p > 255) {
        return None;
    }
    let last_bits = 32 - 8 * leading.len() as u32;
    if last_bits < 32 && *last >= 1 << last_bits {
        return None;
    }
    let head = leading
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &p)| acc | p << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(head | last))
}

/// A number as the C library reads one in an address: decimal, `0x`
/// hexadecimal or `0` octal.
fn number_part(part: &str) -> Option<u32> {
    if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if part.len() > 1 && part.starts_with('0') {
        u32::from_str_radix(&part[1..], 8).ok()
    } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// One dotted part of an IPv4 address as the C library reads it: decimal,
/// `0x` hexadecimal or `0` octal, at most 255.
pub(crate) fn address_part(part: &str) -> Option<u8> {
    u8::try_from(number_part(part)?).ok()
}

/// An address with an optional `/prefix` or `/mask`, masked like iptables does.
pub(crate) fn parse_net(s: &str, family: Family, opt: &str, syntax: AddrSyntax) -> Res<Net> {
    let net = parse_net_unmasked(s, family, opt, syntax)?;
    Ok(Net {
        addr: from_bits(to_bits(net.addr) & to_bits(net.mask), family),
        mask: net.mask,
    })
}

/// An address with an optional `/prefix` or `/mask`, keeping the address as written
/// (the conntrack match does not mask its addresses). With a mask of no
/// bits iptables' own reader ignores the address (`any/0`, `1/0` and, in
/// ip6tables, `0/0` all stand for every address), as moat does.
pub(crate) fn parse_net_unmasked(
    s: &str,
    family: Family,
    opt: &str,
    syntax: AddrSyntax,
) -> Res<Net> {
    let (addr_text, mask_text) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let mask = || match mask_text {
        Some(m) => parse_mask(m, s, family, opt, syntax),
        None => Ok(prefix_mask(family_bits(family), family)),
    };
    if syntax != AddrSyntax::Xtables {
        let addr = parse_addr(addr_text, family, opt, syntax)?;
        return Ok(Net {
            addr,
            mask: mask()?,
        });
    }
    // iptables' own reader reads the mask first.
    let mask = mask()?;
    let addr = match to_bits(mask) {
        0 => from_bits(0, family),
        _ => parse_addr(addr_text, family, opt, syntax)?,
    };
    Ok(Net { addr, mask })
}

/// Whether `ADDRESS/MASK` text has a mask of no bits, with which iptables'
/// own reader (`-s`, `-d`) ignores the address, names included.
pub(crate) fn masks_no_bits(s: &str, family: Family) -> bool {
    s.split_once('/').is_some_and(|(_, m)| {
        parse_mask(m, s, family, "", AddrSyntax::Xtables).is_ok_and(|mask| to_bits(mask) == 0)
    })
}

/// The `MASK` of `s` (`ADDRESS/MASK`): a prefix length, read as strtoul
/// reads it (`/010` is 8, `/0x10` is 16), or a mask in address form.
fn parse_mask(m: &str, s: &str, family: Family, opt: &str, syntax: AddrSyntax) -> Res<IpAddr> {
    let width = family_bits(family);
    if !m.contains(['.', ':']) {
        return match parse_number(m) {
            Some(len) if len <= u64::from(width) => Ok(prefix_mask(len as u8, family)),
            Some(_) => fail(format!(
                "{opt}: prefix length /{m} is out of range 0-{width}"
            )),
            None => fail(format!(
                "{opt}: \"{m}\" in {s} is neither a prefix length nor a mask"
            )),
        };
    }
    let mask = match family {
        Family::Ipv4 if syntax == AddrSyntax::Resolver => inet_aton(m).map(IpAddr::V4),
        // iptables' own reader takes a mask only with all four parts.
        Family::Ipv4 => (m.split('.').count() == 4)
            .then(|| short_ipv4(m))
            .flatten()
            .map(IpAddr::V4),
        Family::Ipv6 => m.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    };
    mask.map_or_else(
        || {
            fail(format!(
                "{opt}: \"{m}\" in {s} is neither a prefix length nor a mask"
            ))
        },
        Ok,
    )
}

impl Net {
    /// Whether the mask is all zeros (the net matches every address).
    pub(crate) fn is_any(&self) -> bool {
        to_bits(self.mask) == 0
    }

    /// Whether the mask is all ones (a single host).
    pub(crate) fn is_host(&self) -> bool {
        mask_prefix(self.mask) == Some(if self.addr.is_ipv4() { 32 } else { 128 })
    }

    /// `addr/len`, or `addr/mask` for a mask that is not a prefix.
    pub(crate) fn with_mask(&self) -> String {
        let mut out = String::with_capacity(18);
        push_ip(&mut out, self.addr);
        out.push('/');
        match mask_prefix(self.mask) {
            Some(len) => push_decimal(&mut out, len),
            None => push_ip(&mut out, self.mask),
        }
        out
    }

    /// Like [`Net::display`], the address by its name in `/etc/hosts` or
    /// `/etc/networks` when it has one, as `iptables -L` shows it.
    pub(crate) fn display_named(&self) -> String {
        // ip6tables names the unspecified address so, whatever its mask.
        if self.addr == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            return "anywhere".to_string();
        }
        let Some(name) = super::hostnames::name_of(self.addr) else {
            return self.display();
        };
        if self.is_host() {
            return name.to_string();
        }
        match mask_prefix(self.mask) {
            Some(len) => format!("{name}/{len}"),
            None => format!("{name}/{}", AddrText(self.mask)),
        }
    }

    /// Like [`Net::with_mask`], but a host is just its address.
    pub(crate) fn display(&self) -> String {
        if self.is_host() {
            moat_model::addr_text::ip_text(self.addr)
        } else {
            self.with_mask()
        }
    }
}

/// An interface name as `-i`/`-o` take it; `None` for `+`, which matches
/// every interface. As in iptables, a name may start with `-` (Linux takes
/// one), and a `/`, which no interface can have, is taken with iptables'
/// warning, pushed to `warnings`. White space is refused: iptables takes it
/// with that warning too, but prints the rule so that no restore reads it
/// back.
pub(crate) fn parse_iface(s: &str, opt: &str, warnings: &mut Vec<Warning>) -> Res<Option<String>> {
    if s.is_empty() {
        return fail(format!("{opt} needs an interface name"));
    }
    if s.len() > 15 {
        return fail(format!(
            "{opt}: interface name \"{s}\" is longer than 15 characters"
        ));
    }
    if s.contains(char::is_whitespace) {
        return fail(format!(
            "{opt}: \"{s}\" is not a valid interface name (no interface has white space in its name)"
        ));
    }
    if !s.ends_with('+') && s.contains('/') {
        warnings.push(Warning::as_iptables(format!(
            "Warning: weird character in interface `{s}' ('/' and ' ' are not allowed by the kernel)."
        )));
    }
    Ok((s != "+").then(|| s.to_string()))
}

/// A mark `value[/mask]`.
pub(crate) fn parse_mark(s: &str, opt: &str) -> Res<(u32, Option<u32>)> {
    match s.split_once('/') {
        Some((v, m)) => Ok((u32_value(v, opt)?, Some(u32_value(m, opt)?))),
        None => Ok((u32_value(s, opt)?, None)),
    }
}

/// The `(id, name)` pairs of an iproute2 name file (`/etc/iproute2/group`,
/// `rt_realms`: `ID NAME` lines, `#` comments); empty when it cannot be read.
pub(crate) fn iproute2_names(path: &str) -> Vec<(u32, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let id = parse_number(words.next()?)?;
            Some((u32::try_from(id).ok()?, words.next()?.to_string()))
        })
        .collect()
}

/// `value[/mask]` (a full mask when none is given) or a name from the
/// iproute2 name file `path`, for option `opt`.
pub(crate) fn parse_named_mark(text: &str, opt: &str, path: &str) -> Res<(u32, u32)> {
    if let Some((id, _)) = iproute2_names(path).into_iter().find(|(_, n)| n == text) {
        return Ok((id, u32::MAX));
    }
    match parse_mark(text, opt) {
        Ok((value, mask)) => Ok((value, mask.unwrap_or(u32::MAX))),
        Err(_) => fail(format!(
            "{opt}: \"{text}\" is neither a number[/mask] nor a name in {path}"
        )),
    }
}

/// `0x1`, `0x10/0xf0`, or with `named` the name `path` gives a value
/// under a full mask, as iptables writes device groups and realms.
pub(crate) fn named_mark_text(value: u32, mask: u32, named: bool, path: &str) -> String {
    if mask != u32::MAX {
        return format!("{value:#x}/{mask:#x}");
    }
    let name = named
        .then(|| {
            iproute2_names(path)
                .into_iter()
                .find(|(id, _)| *id == value)
        })
        .flatten();
    match name {
        Some((_, n)) => n,
        None => format!("{value:#x}"),
    }
}

/// A string as iptables-save writes it: bare when it is only letters, digits,
/// `-` and `_`; otherwise in double quotes with `"`, `'` and `\` escaped.
pub(crate) fn save_string(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\'' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits rule text the way iptables-restore reads it (and so the way `-S` output is
/// meant to be read back): words are separated by spaces; a double-quoted part may contain
/// spaces, and inside it a backslash takes the next character literally. `None` when a
/// quote is not closed.
pub(crate) fn split_saved(text: &str) -> Option<Vec<String>> {
    let words = SavedWords::all_stored(text)?;
    Some(words.into_iter().map(Cow::into_owned).collect())
}

/// The words of rule text as [`split_saved`] reads them, one at a time: a
/// word without quotes is borrowed from the text, so a long file is split
/// without a copy of each word.
pub(crate) struct SavedWords<'a> {
    rest: &'a str,
    /// Whether the words ended at a quote that is never closed.
    pub(crate) unbalanced: bool,
    /// Whether a quote inside a word opens a quoted part, as in a file
    /// iptables-restore reads (`a"b c"` is one word); in text moat wrote
    /// itself, quotes open only at a word's start, so a chain named
    /// `a"b`, which iptables saves bare, reads back as itself.
    quotes_inside_words: bool,
    /// The option just read when `-S` prints its value bare (see
    /// [`BARE_VALUED`]): in stored text the next word is read as it
    /// stands, up to the next white space, quotes and all.
    bare_next: Option<&'a str>,
}

/// Options whose value iptables' `-S` prints as it is, without quotes: an
/// interface, a chain, a recent list or an ipset may be called `"ab"` or
/// `"`, and an empty day list prints as nothing (`--monthdays  --datestop
/// ...`, see [`EMPTY_VALUED`]).
const BARE_VALUED: &[&str] = &[
    "-j",
    "-g",
    "-i",
    "-o",
    "--physdev-in",
    "--physdev-out",
    "--name",
    "--match-set",
    "--add-set",
    "--del-set",
    "--map-set",
    "--monthdays",
];

/// The [`BARE_VALUED`] option whose value may be empty: `-S` prints
/// `--monthdays 0` as `--monthdays ` and the next option after one more space.
const EMPTY_VALUED: &str = "--monthdays";

impl<'a> SavedWords<'a> {
    /// The words of `text`, a line of a file iptables-restore reads.
    pub(crate) fn new(text: &'a str) -> Self {
        SavedWords {
            rest: text,
            unbalanced: false,
            quotes_inside_words: true,
            bare_next: None,
        }
    }

    /// Every word of `text`, a line of a file iptables-restore reads
    /// (borrowed where it has no quotes); `None` when a quote is not closed.
    pub(crate) fn all(text: &'a str) -> Option<Vec<Cow<'a, str>>> {
        Self::collect(SavedWords::new(text))
    }

    /// Every word of rule text moat stored itself (its `-S` words).
    pub(crate) fn all_stored(text: &'a str) -> Option<Vec<Cow<'a, str>>> {
        Self::collect(SavedWords {
            quotes_inside_words: false,
            ..SavedWords::new(text)
        })
    }

    fn collect(mut split: SavedWords<'a>) -> Option<Vec<Cow<'a, str>>> {
        let text = split.rest;
        let spaces = text.bytes().filter(|&b| b == b' ').count();
        let mut words = Vec::with_capacity(spaces + 1);
        words.extend(split.by_ref());
        (!split.unbalanced).then_some(words)
    }

    /// The rest of a word that has a quote at `quote` (after `text[..quote]`).
    /// As in iptables-restore, the closing quote ends the word: `"a b"c`
    /// is two words.
    fn quoted_word(&mut self, text: &'a str, quote: usize) -> Option<Cow<'a, str>> {
        let mut word = String::from(&text[..quote]);
        let mut quoted = false;
        let mut chars = text[quote..].char_indices();
        while let Some((i, c)) = chars.next() {
            if quoted {
                match c {
                    '\\' => match chars.next() {
                        Some((_, next)) => word.push(next),
                        None => break,
                    },
                    '"' => {
                        self.rest = &text[quote + i + 1..];
                        return Some(Cow::Owned(word));
                    }
                    _ => word.push(c),
                }
            } else if c == '"' {
                quoted = true;
            } else if c.is_ascii_whitespace() {
                self.rest = &text[quote + i..];
                return Some(Cow::Owned(word));
            } else {
                word.push(c);
            }
        }
        self.rest = "";
        if quoted {
            self.unbalanced = true;
            return None;
        }
        Some(Cow::Owned(word))
    }

    /// The bare value after `option`, one of [`BARE_VALUED`], in stored
    /// text: up to the next white space; for [`EMPTY_VALUED`] it starts
    /// right after the one space `-S` puts after the option.
    fn bare_word(&mut self, option: &str) -> Option<Cow<'a, str>> {
        let text = if option == EMPTY_VALUED {
            self.rest.strip_prefix(' ')?
        } else {
            Some(self.rest.trim_ascii_start()).filter(|t| !t.is_empty())?
        };
        let end = text
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(text.len());
        self.rest = &text[end..];
        Some(Cow::Borrowed(&text[..end]))
    }
}

impl<'a> Iterator for SavedWords<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        if let Some(option) = self.bare_next.take() {
            return self.bare_word(option);
        }
        // Spaces and quotes are ASCII: bytes find them, and never inside a
        // character.
        let text = self.rest.trim_ascii_start();
        if text.is_empty() {
            self.rest = text;
            return None;
        }
        let bytes = text.as_bytes();
        let mut end = 0;
        let opens_quote = |end: usize| bytes[end] == b'"' && (end == 0 || self.quotes_inside_words);
        while end < bytes.len() && !(bytes[end].is_ascii_whitespace() || opens_quote(end)) {
            end += 1;
        }
        if bytes.get(end) == Some(&b'"') {
            return self.quoted_word(text, end);
        }
        self.rest = &text[end..];
        let word = &text[..end];
        self.bare_next = (!self.quotes_inside_words && BARE_VALUED.contains(&word)).then_some(word);
        Some(Cow::Borrowed(word))
    }
}

/// Whether a name iptables saves without quotes reads back as the same
/// one word: it has no white space, no quote and no backslash.
pub(crate) fn reads_back_unquoted(name: &str) -> bool {
    !name.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\')
}

/// Appends ` [!] --opt value` (value already formatted) to `out`.
pub(crate) fn push_opt(out: &mut String, invert: bool, opt: &str, value: Option<&str>) {
    if invert {
        out.push_str(" !");
    }
    out.push(' ');
    out.push_str(opt);
    if let Some(v) = value {
        out.push(' ');
        out.push_str(v);
    }
}

/// Whether `name` begins with `word`, in any case: how iptables reads a
/// name from a table of names (an empty `word` begins every name).
pub(crate) fn begins_ignoring_case(name: &str, word: &str) -> bool {
    name.as_bytes()
        .get(..word.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(word.as_bytes()))
}

/// A comma-separated list of names, each one of `known` or, as iptables
/// reads these lists, any leading part of one in any case (the first in
/// `known`'s order: `ESTAB` is ESTABLISHED, addrtype's `U` UNSPEC); returns
/// the bits of the names found.
pub(crate) fn parse_name_list<T: Copy + std::ops::BitOr<Output = T>>(
    s: &str,
    opt: &str,
    known: &[(&str, T)],
    zero: T,
) -> Res<T> {
    let mut bits = zero;
    for word in s.split(',') {
        match known
            .iter()
            .find(|(n, _)| !word.is_empty() && begins_ignoring_case(n, word))
        {
            Some(&(_, b)) => bits = bits | b,
            None => {
                let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                return fail(format!(
                    "{opt}: unknown value \"{word}\" (expected {}){}",
                    names.join(", "),
                    super::suggest::did_you_mean(word, names.iter().copied())
                ));
            }
        }
    }
    Ok(bits)
}

/// The names of the bits set in `bits`, in table order, joined with commas.
pub(crate) fn name_list<T: Copy + std::ops::BitAnd<Output = T> + PartialEq>(
    bits: T,
    known: &[(&str, T)],
    zero: T,
) -> String {
    known
        .iter()
        .filter(|&&(_, b)| bits & b != zero)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// A number and its unit as iptables' strtod-based readers take them (tc
/// rates, RATEEST times): the number times the scale `unit_scale` gives
/// its unit (the unit is "" when none is written), or `None` when `s` is
/// no number or its unit is unknown.
pub(crate) fn scaled_number(s: &str, unit_scale: impl Fn(&str) -> Option<f64>) -> Option<f64> {
    let (value, unit) = parse_float_prefix(s)?;
    Some(value * unit_scale(unit)?)
}

/// The decimal number at the start of `s` as C's strtod reads one (leading
/// blanks, a sign, digits with an optional fraction and exponent), and the
/// text after it; `None` when `s` does not start with a number.
pub(crate) fn parse_float_prefix(s: &str) -> Option<(f64, &str)> {
    let body = s.trim_start();
    let bytes = body.as_bytes();
    let digits_from = |mut i: usize| {
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut end = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let int_end = digits_from(end);
    let mut mantissa_digits = int_end - end;
    end = int_end;
    if bytes.get(end) == Some(&b'.') {
        let frac_end = digits_from(end + 1);
        mantissa_digits += frac_end - end - 1;
        end = frac_end;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exp_end = digits_from(end + 1 + sign);
        if exp_end > end + 1 + sign {
            end = exp_end;
        }
    }
    let value = body[..end].parse::<f64>().ok()?;
    Some((value, &body[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_take_leading_parts_in_any_case() {
        const KNOWN: &[(&str, u8)] = &[
            ("UNSPEC", 1),
            ("UNICAST", 2),
            ("BROADCAST", 4),
            ("BLACKHOLE", 8),
        ];
        let read = |s| parse_name_list(s, "--t", KNOWN, 0);
        assert_eq!(read("UNICAST").unwrap(), 2);
        assert_eq!(read("u").unwrap(), 1, "the first in order");
        assert_eq!(read("uni,bl").unwrap(), 10);
        assert_eq!(read("b").unwrap(), 4);
        assert!(read("UNICASTS").is_err());
        assert!(read("").is_err());
        assert!(read("uni,").is_err());
    }

    #[test]
    fn numbers_follow_strtoul_base_zero() {
        assert_eq!(parse_number("22"), Some(22));
        assert_eq!(parse_number("0x16"), Some(22));
        assert_eq!(parse_number("022"), Some(18));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("08"), None);
        assert_eq!(parse_number(" \t+022"), Some(18));
        assert_eq!(parse_number("+"), None);
        assert_eq!(parse_number("++1"), None);
        assert_eq!(parse_number(" -1"), None);
    }

    #[test]
    fn a_mask_of_no_bits_ignores_the_address() {
        let any = |s, family| parse_net(s, family, "-s", AddrSyntax::Xtables).unwrap();
        for s in ["any/0", "1/0", "/0", "0/0.0.0.0"] {
            assert_eq!(
                any(s, Family::Ipv4).addr,
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                "{s}"
            );
            assert!(masks_no_bits(s, Family::Ipv4), "{s}");
        }
        for s in ["0/0", "0.0.0.0/0", "nosuchhost/::"] {
            assert_eq!(
                any(s, Family::Ipv6).addr,
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                "{s}"
            );
        }
        assert!(parse_net("0/1", Family::Ipv6, "-s", AddrSyntax::Xtables).is_err());
        assert!(!masks_no_bits("any", Family::Ipv4));
        // Other readers keep reading the address first.
        assert!(parse_net("any/0", Family::Ipv4, "--ctorigsrc", AddrSyntax::Resolver).is_err());
    }

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_port("ssh", "tcp", "--dport").unwrap(), 22);
        assert_eq!(parse_port("0x16", "tcp", "--dport").unwrap(), 22);
        let e = parse_port("70000", "tcp", "--dport").unwrap_err();
        assert!(e.message.contains("70000 is out of range 0-65535"), "{e}");
        let r = parse_port_range(":1023", "tcp", "--dport").unwrap();
        assert_eq!((r.first, r.last), (0, 1023));
        let r = parse_port_range("1024:", "tcp", "--dport").unwrap();
        assert_eq!((r.first, r.last), (1024, 65535));
        assert!(parse_port_range("10:5", "tcp", "--dport")
            .unwrap_err()
            .message
            .contains("write 5:10"));
        assert!(parse_port("nosuchservice", "tcp", "--dport").is_err());
    }

    #[test]
    fn nets_are_masked() {
        let n = parse_net("10.1.2.3/8", Family::Ipv4, "-s", AddrSyntax::Xtables).unwrap();
        assert_eq!(n.with_mask(), "10.0.0.0/8");
        let n = parse_net(
            "10.0.0.0/255.255.0.0",
            Family::Ipv4,
            "-s",
            AddrSyntax::Xtables,
        )
        .unwrap();
        assert_eq!(n.with_mask(), "10.0.0.0/16");
        let n = parse_net(
            "10.0.0.0/255.0.255.0",
            Family::Ipv4,
            "-s",
            AddrSyntax::Xtables,
        )
        .unwrap();
        assert_eq!(n.with_mask(), "10.0.0.0/255.0.255.0");
        let n = parse_net("1.2.3.4", Family::Ipv4, "-s", AddrSyntax::Xtables).unwrap();
        assert_eq!(
            (n.with_mask(), n.display()),
            ("1.2.3.4/32".into(), "1.2.3.4".into())
        );
        let n = parse_net(
            "2001:db8::1/ffff:ffff::",
            Family::Ipv6,
            "-s",
            AddrSyntax::Xtables,
        )
        .unwrap();
        assert_eq!(n.with_mask(), "2001:db8::/32");
        assert!(
            parse_net("0.0.0.0/0", Family::Ipv4, "-s", AddrSyntax::Xtables)
                .unwrap()
                .is_any()
        );
        assert!(parse_net("0/0", Family::Ipv4, "-d", AddrSyntax::Xtables)
            .unwrap()
            .is_any());
        for (short, long) in [
            ("10/8", "10.0.0.0/8"),
            ("172.16/12", "172.16.0.0/12"),
            ("010.0x10.1.1", "8.16.1.1/32"),
        ] {
            assert_eq!(
                parse_net(short, Family::Ipv4, "-s", AddrSyntax::Xtables)
                    .unwrap()
                    .with_mask(),
                long
            );
        }
        for bad in ["1.2.3.4.5", "08.1.1.1", "1..2", "0x"] {
            assert!(
                parse_net(bad, Family::Ipv4, "-s", AddrSyntax::Xtables).is_err(),
                "{bad}"
            );
        }
        let e = parse_net("300.1.1.1", Family::Ipv4, "-s", AddrSyntax::Xtables).unwrap_err();
        assert!(
            e.message.contains("300.1.1.1 is not a valid IPv4 address"),
            "{e}"
        );
        let e = parse_net("2001:db8::1", Family::Ipv4, "-s", AddrSyntax::Xtables).unwrap_err();
        assert!(e.message.contains("is an IPv6 address"), "{e}");
        let e = parse_net("1.2.3.4", Family::Ipv6, "-s", AddrSyntax::Xtables).unwrap_err();
        assert!(e.message.contains("is an IPv4 address"), "{e}");
        assert!(parse_net("1.2.3.4/33", Family::Ipv4, "-s", AddrSyntax::Xtables).is_err());
        assert!(parse_net("1.2.3.4/", Family::Ipv4, "-s", AddrSyntax::Xtables).is_err());
    }

    #[test]
    fn strings_are_quoted_like_iptables_save() {
        assert_eq!(save_string("hello"), "hello");
        assert_eq!(save_string("a-b_c"), "a-b_c");
        assert_eq!(save_string("hello world"), "\"hello world\"");
        assert_eq!(save_string("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(save_string("a'b"), "\"a\\'b\"");
        assert_eq!(save_string("back\\slash"), "\"back\\\\slash\"");
        assert_eq!(save_string(""), "\"\"");
    }

    #[test]
    fn saved_text_splits_back_into_the_same_words() {
        for s in [
            "hello",
            "hello world",
            "say \"hi\"",
            "it's a$b",
            "back\\slash",
            "",
            "tab\there",
        ] {
            let text = format!("-m comment --comment {}", save_string(s));
            let words = split_saved(&text).unwrap();
            assert_eq!(words, ["-m", "comment", "--comment", s], "{text}");
        }
        assert_eq!(split_saved("-j  ACCEPT ").unwrap(), ["-j", "ACCEPT"]);
        assert_eq!(split_saved("--log-prefix \"a"), None);
        assert_eq!(split_saved("--log-prefix \"a\\\""), None);
        // As iptables-restore reads a file: a quote inside a word opens a
        // quoted part, and its closing quote ends the word.
        let restored = SavedWords::all("a\"b c\"d\te").unwrap();
        assert_eq!(restored, ["ab c", "d", "e"]);
        // moat's own stored text opens quotes only at a word's start.
        assert_eq!(split_saved("a\"b c\"d\te").unwrap(), ["a\"b", "c\"d", "e"]);
        assert_eq!(split_saved(" \"\" x").unwrap(), ["", "x"]);
    }

    #[test]
    fn words_without_quotes_are_borrowed() {
        let words: Vec<_> = SavedWords::new("-A INPUT --comment \"a b\" -j DROP").collect();
        assert_eq!(words, ["-A", "INPUT", "--comment", "a b", "-j", "DROP"]);
        let borrowed = words.iter().filter(|w| matches!(w, Cow::Borrowed(_)));
        assert_eq!(borrowed.count(), 5);
    }

    #[test]
    fn float_prefixes_are_read_as_strtod_reads_them() {
        assert_eq!(parse_float_prefix("8mbit"), Some((8.0, "mbit")));
        assert_eq!(parse_float_prefix(" 1.5e3ms"), Some((1500.0, "ms")));
        assert_eq!(parse_float_prefix("+.5s"), Some((0.5, "s")));
        assert_eq!(parse_float_prefix("2e"), Some((2.0, "e")));
        assert_eq!(parse_float_prefix("mbit"), None);
        assert_eq!(parse_float_prefix("."), None);
    }

    /// Pairs read back from Debian's iptables 1.8.9 (`-s N`, `iptables -S`).
    #[test]
    fn numbers_the_resolver_reads_are_addresses() {
        let v4 =
            |s: &str| parse_addr(s, Family::Ipv4, "-s", AddrSyntax::Xtables).map(|a| a.to_string());
        assert_eq!(v4("16843009").unwrap(), "1.1.1.1");
        assert_eq!(v4("0x01010102").unwrap(), "1.1.1.2");
        assert_eq!(v4("10.65537").unwrap(), "10.1.0.1");
        assert_eq!(v4("1.2.300").unwrap(), "1.2.1.44");
        assert_eq!(v4("1.2.3").unwrap(), "1.2.3.0");
        assert!(v4("4294967296").is_err());
        assert!(v4("1.2.3.256").is_err());
    }
}
