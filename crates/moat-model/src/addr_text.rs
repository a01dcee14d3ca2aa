//! Addresses as text, written without the formatter's padding machinery:
//! a large ruleset writes an address for nearly every rule.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// Appends `addr` as [`IpAddr`]'s `Display` writes it.
pub fn push_ip(out: &mut String, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `addr` as [`IpAddr`]'s `Display` writes it.
pub fn ip_text(addr: IpAddr) -> String {
    let mut out = String::with_capacity(15);
    push_ip(&mut out, addr);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_display_writes() {
        for text in [
            "0.0.0.0",
            "10.0.0.1",
            "172.16.254.9",
            "255.255.255.255",
            "100.99.10.109",
            "::",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            let addr: IpAddr = text.parse().unwrap();
            assert_eq!(ip_text(addr), addr.to_string());
        }
        for n in 0..=255u8 {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }
}
