//! The right-hand sides of matches: constants written the way nft writes
//! them for the field they are compared with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nftables::expr::Expression;

use super::fields::Kind;

/// The longest interface name the kernel keeps (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// An integer of `kind`; None when it does not fit or the kind is not numeric.
fn number(kind: Kind, n: u64) -> Option<Vec<u8>> {
    let (len, big) = match kind {
        Kind::Big(len) => (len, true),
        Kind::Host(len) => (len, false),
        _ => return None,
    };
    if !(1..=8).contains(&len) || (len < 8 && n >> (8 * len) != 0) {
        return None;
    }
    Some(if big {
        n.to_be_bytes()[8 - len..].to_vec()
    } else if cfg!(target_endian = "little") {
        n.to_le_bytes()[..len].to_vec()
    } else {
        n.to_be_bytes()[8 - len..].to_vec()
    })
}

/// The milliseconds of a time written `10000ms` or `4294967s`.
fn milliseconds(text: &str) -> Option<u64> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok();
    }
    text.strip_suffix('s')?
        .parse::<u64>()
        .ok()?
        .checked_mul(1000)
}

/// An integer of `kind` in network order, as nft compares a host-order
/// field after converting it (`byteorder hton`).
pub(super) fn swapped(kind: Kind, expr: &Expression<'_>) -> Option<Vec<u8>> {
    let Kind::Host(len) = kind else {
        return None;
    };
    constant(Kind::Big(len), expr)
}

fn address(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// An address of `kind` written as text.
fn parse_address(kind: Kind, text: &str) -> Option<Vec<u8>> {
    match kind {
        Kind::Ipv4 => text
            .parse::<Ipv4Addr>()
            .ok()
            .map(|a| address(IpAddr::V4(a))),
        Kind::Ipv6 => text
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| address(IpAddr::V6(a))),
        _ => None,
    }
}

/// An interface name as nft compares it: the whole 16-byte name, or for
/// `name*` only the bytes of `name`. `name\*` is the literal name `name*`.
fn ifname(text: &str) -> Option<Vec<u8>> {
    let (name, wildcard) = match text.strip_suffix("\\*") {
        Some(stem) => (format!("{stem}*"), false),
        None => match text.strip_suffix('*') {
            Some(stem) => (stem.to_string(), true),
            None => (text.to_string(), false),
        },
    };
    let plain = |s: &str| !s.is_empty() && !s.bytes().any(|b| b == 0 || b == b'\\');
    if name.len() > IFNAME_MAX
        || !plain(name.trim_end_matches('*'))
        || (wildcard && name.contains('*'))
    {
        return None;
    }
    let mut bytes = name.into_bytes();
    if !wildcard {
        bytes.resize(IFNAME_MAX + 1, 0);
    }
    Some(bytes)
}

/// A symbolic constant of a one-byte enumerated kind.
fn symbol(kind: Kind, text: &str) -> Option<Vec<u8>> {
    let value = match (kind, text) {
        (Kind::PktType, "host") => 0,
        (Kind::PktType, "broadcast") => 1,
        (Kind::PktType, "multicast") => 2,
        (Kind::PktType, "other") => 3,
        (Kind::CtDir, "original") => 0,
        (Kind::CtDir, "reply") => 1,
        _ => return None,
    };
    Some(vec![value])
}

/// The bytes of a constant `expr` compared with a field of `kind`.
pub(super) fn constant(kind: Kind, expr: &Expression<'_>) -> Option<Vec<u8>> {
    match expr {
        // `meta pkttype 3` (`--pkt-type otherhost`, which nft has no name for).
        Expression::Number(n) if kind == Kind::PktType => u8::try_from(*n).ok().map(|b| vec![b]),
        Expression::Number(n) => number(kind, u64::from(*n)),
        Expression::String(text) => match kind {
            Kind::Ipv4 | Kind::Ipv6 => parse_address(kind, text),
            Kind::Ifname => ifname(text),
            Kind::PktType | Kind::CtDir => symbol(kind, text),
            // A number too wide for the crate's 32-bit numbers, in decimal.
            Kind::Big(_) | Kind::Host(_) if text.bytes().all(|b| b.is_ascii_digit()) => {
                number(kind, text.parse().ok()?)
            }
            // A time, as `ct expiration` compares it: milliseconds.
            Kind::Big(4) | Kind::Host(4) => number(kind, milliseconds(text)?),
            Kind::Big(_) | Kind::Host(_) => None,
        },
        _ => None,
    }
}

/// The network `addr/len` of `kind`: the address with its host bits
/// cleared, and the prefix mask, both as long as the address.
pub(super) fn prefix(kind: Kind, addr: &Expression<'_>, len: u32) -> Option<(Vec<u8>, Vec<u8>)> {
    let Expression::String(text) = addr else {
        return None;
    };
    let bytes = parse_address(kind, text)?;
    let bits = usize::try_from(len).ok()?;
    if bits > bytes.len() * 8 {
        return None;
    }
    let mask: Vec<u8> = (0..bytes.len())
        .map(|i| {
            let set = bits.saturating_sub(i * 8).min(8);
            u8::try_from((0xff00u16 >> set) & 0xff).unwrap_or(0xff)
        })
        .collect();
    let net = bytes.iter().zip(&mask).map(|(b, m)| b & m).collect();
    Some((net, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Expression<'static> {
        Expression::String(text.to_string().into())
    }

    #[test]
    fn numbers_follow_the_field_byte_order() {
        assert_eq!(
            constant(Kind::Big(2), &Expression::Number(22)),
            Some(vec![0, 22])
        );
        assert_eq!(constant(Kind::Big(1), &Expression::Number(256)), None);
        assert_eq!(
            constant(Kind::Host(1), &Expression::Number(6)),
            Some(vec![6])
        );
        let host = constant(Kind::Host(4), &Expression::Number(0x0102_0304)).unwrap();
        assert_eq!(host, 0x0102_0304u32.to_ne_bytes().to_vec());
        assert_eq!(constant(Kind::Ipv4, &Expression::Number(1)), None);
        let wide = constant(Kind::Host(8), &s("10000000000")).unwrap();
        assert_eq!(wide, 10_000_000_000u64.to_ne_bytes().to_vec());
        assert_eq!(
            swapped(Kind::Host(8), &s("10000000000")),
            Some(10_000_000_000u64.to_be_bytes().to_vec())
        );
        assert_eq!(constant(Kind::Host(8), &s("1e3")), None);
    }

    #[test]
    fn interface_names() {
        let mut lo = b"lo".to_vec();
        lo.resize(16, 0);
        assert_eq!(constant(Kind::Ifname, &s("lo")), Some(lo));
        assert_eq!(constant(Kind::Ifname, &s("eth*")), Some(b"eth".to_vec()));
        let mut star = b"e*".to_vec();
        star.resize(16, 0);
        assert_eq!(constant(Kind::Ifname, &s("e\\*")), Some(star));
        for bad in ["*", "", "a\\b", "abcdefghijklmnop", "a*b*"] {
            assert_eq!(constant(Kind::Ifname, &s(bad)), None, "{bad}");
        }
    }

    #[test]
    fn prefixes_clear_host_bits() {
        let (net, mask) = prefix(Kind::Ipv4, &s("10.1.2.3"), 7).unwrap();
        assert_eq!(net, vec![10, 0, 0, 0]);
        assert_eq!(mask, vec![0xfe, 0, 0, 0]);
        let (net, mask) = prefix(Kind::Ipv6, &s("2001:db8:1::"), 33).unwrap();
        assert_eq!(&net[..5], &[0x20, 0x01, 0x0d, 0xb8, 0]);
        assert_eq!(&mask[..5], &[0xff, 0xff, 0xff, 0xff, 0x80]);
        assert!(prefix(Kind::Ipv4, &s("10.0.0.0"), 33).is_none());
        assert!(prefix(Kind::Ipv4, &s("::1"), 8).is_none());
    }
}
