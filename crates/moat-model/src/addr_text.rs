//! Addresses and raw bytes as text, written without the formatter's
//! padding machinery: a large ruleset writes an address for nearly every
//! rule.

use std::net::{IpAddr, Ipv6Addr};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// ASCII text of a bounded length, built on the stack.
struct Ascii {
    bytes: [u8; 48],
    len: usize,
}

impl Ascii {
    fn new() -> Self {
        Ascii {
            bytes: [0; 48],
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn decimal(&mut self, n: u8) {
        if n >= 100 {
            self.push(b'0' + n / 100);
        }
        if n >= 10 {
            self.push(b'0' + n / 10 % 10);
        }
        self.push(b'0' + n % 10);
    }

    /// `n` in lower-case hexadecimal, without leading zeros.
    fn hex(&mut self, n: u16) {
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let digit = (n >> shift) & 0xf;
            if digit != 0 || started || shift == 0 {
                self.push(HEX[usize::from(digit)]);
                started = true;
            }
        }
    }

    fn ipv4(&mut self, octets: [u8; 4]) {
        for (i, octet) in octets.into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.decimal(octet);
        }
    }

    /// As C's `inet_ntop` writes it (iptables and nft print with it):
    /// lower-case groups, the longest run of two or more zero groups (the
    /// first of equal runs) as `::`, an IPv4-mapped address as
    /// `::ffff:a.b.c.d` and an IPv4-compatible one (six zero groups, then
    /// not zero) as `::a.b.c.d`, which [`Ipv6Addr`]'s `Display` does not.
    fn ipv6(&mut self, addr: Ipv6Addr) {
        let groups = addr.segments();
        let octets = addr.octets();
        let prefix: &[u8] = if addr.to_ipv4_mapped().is_some() {
            b"::ffff:"
        } else if groups[..6] == [0; 6] && groups[6] != 0 {
            b"::"
        } else {
            b""
        };
        if !prefix.is_empty() {
            prefix.iter().for_each(|&b| self.push(b));
            self.ipv4([octets[12], octets[13], octets[14], octets[15]]);
            return;
        }
        let (mut zeros_at, mut zeros_len, mut run) = (0, 0, 0);
        for (i, &group) in groups.iter().enumerate() {
            run = if group == 0 { run + 1 } else { 0 };
            if run > zeros_len {
                (zeros_at, zeros_len) = (i + 1 - run, run);
            }
        }
        let (head, tail) = if zeros_len > 1 {
            (&groups[..zeros_at], &groups[zeros_at + zeros_len..])
        } else {
            (&groups[..], &groups[..0])
        };
        self.groups(head);
        if zeros_len > 1 {
            self.push(b':');
            self.push(b':');
        }
        self.groups(tail);
    }

    fn groups(&mut self, groups: &[u16]) {
        for (i, &group) in groups.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.hex(group);
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut String, n: u8) {
    let mut text = Ascii::new();
    text.decimal(n);
    out.push_str(text.as_str());
}

/// Appends `addr` as C's `inet_ntop` writes it (as [`IpAddr`]'s
/// `Display` does, but for IPv4-compatible IPv6 addresses).
pub fn push_ip(out: &mut String, addr: IpAddr) {
    let mut text = Ascii::new();
    match addr {
        IpAddr::V4(v4) => text.ipv4(v4.octets()),
        IpAddr::V6(v6) => text.ipv6(v6),
    }
    out.push_str(text.as_str());
}

/// An address that formats as [`push_ip`] writes it (`format!("{}",
/// AddrText(addr))`), where `IpAddr`'s `Display` differs from C's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrText(pub IpAddr);

impl std::fmt::Display for AddrText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = Ascii::new();
        match self.0 {
            IpAddr::V4(v4) => text.ipv4(v4.octets()),
            IpAddr::V6(v6) => text.ipv6(v6),
        }
        f.write_str(text.as_str())
    }
}

/// `addr` as [`push_ip`] writes it.
pub fn ip_text(addr: IpAddr) -> String {
    let mut out = String::new();
    push_ip(&mut out, addr);
    out
}

/// A MAC address as iptables and nft write it: lower-case hexadecimal
/// pairs joined by `:` (`02:00:5e:00:00:01`).
pub fn mac_text(mac: &[u8; 6]) -> String {
    hex_pairs(mac, Some(':'))
}

/// `bytes` as lower-case hexadecimal pairs, one after another (`0a1b`).
pub fn hex_text(bytes: &[u8]) -> String {
    hex_pairs(bytes, None)
}

fn hex_pairs(bytes: &[u8], separator: Option<char>) -> String {
    let mut out = String::with_capacity(3 * bytes.len());
    for (i, &byte) in bytes.iter().enumerate() {
        if let (Some(separator), true) = (separator, i > 0) {
            out.push(separator);
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_inet_ntop_writes() {
        for text in [
            "0.0.0.0",
            "10.0.0.1",
            "172.16.254.9",
            "255.255.255.255",
            "100.99.10.109",
            "::",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let addr: IpAddr = text.parse().unwrap();
            assert_eq!(ip_text(addr), addr.to_string());
        }
        // Every pattern of zero and non-zero groups, with varied values.
        for pattern in 0..=255u16 {
            let mut groups = [0u16; 8];
            for (i, group) in groups.iter_mut().enumerate() {
                if pattern & (1 << i) != 0 {
                    *group = 0x1000_u16.wrapping_mul(i as u16 + 1) ^ (pattern << 3) | 1;
                }
            }
            let addr = IpAddr::V6(Ipv6Addr::from(groups));
            let compatible = groups[..6] == [0; 6] && groups[6] != 0;
            let expected = match compatible {
                true => format!(
                    "::{}",
                    std::net::Ipv4Addr::from(u32::from(groups[6]) << 16 | u32::from(groups[7]))
                ),
                false => addr.to_string(),
            };
            assert_eq!(ip_text(addr), expected, "{groups:x?}");
        }
        // As glibc's inet_ntop (Python's socket.inet_ntop) writes them.
        for (addr, c_text) in [
            ("::c000:201", "::192.0.2.1"),
            ("::0:1:0", "::0.1.0.0"),
            ("::102:304", "::1.2.3.4"),
            ("::1", "::1"),
            ("::2", "::2"),
            ("::1:c000:201", "::1:c000:201"),
            ("1::c000:201", "1::c000:201"),
            ("::ffff:0:0", "::ffff:0.0.0.0"),
        ] {
            assert_eq!(ip_text(addr.parse().unwrap()), c_text);
        }
        for n in 0..=255u8 {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn bytes_are_lower_case_pairs() {
        assert_eq!(
            mac_text(&[0x02, 0, 0x5e, 0xab, 0x0c, 0xff]),
            "02:00:5e:ab:0c:ff"
        );
        assert_eq!(hex_text(&[0x0a, 0x1b, 0xff]), "0a1bff");
        assert_eq!(hex_text(&[]), "");
    }
}
