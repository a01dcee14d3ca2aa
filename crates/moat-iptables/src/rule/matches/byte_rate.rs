//! hashlimit's byte rates (`--hashlimit-upto 4kb/s`) and byte bursts, as
//! iptables reads, stores and prints them.
//!
//! iptables keeps a byte rate as a cost per 16-byte chunk,
//! `u32::MAX / (bytes / 16 + 1)`, and prints the bytes that cost stands
//! for, so `1000b/s` reads back as `992b/s`; a burst is kept as a number of
//! whole rates (`--hashlimit-burst 5000b` at 4kb/s is 8kb). Learned by
//! running Debian's iptables 1.8.9.

use crate::rule::error::{fail, Res};

/// Bytes are counted in chunks of 1 << 4.
const CHUNK_SHIFT: u32 = 4;

/// The units iptables prints amounts in, largest first.
const UNITS: [(&str, u64); 3] = [("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)];

/// Whether `s` is a byte rate rather than a packet rate: iptables reads
/// any rate with `b/s` in it as bytes per second.
pub(super) fn is_byte_rate(s: &str) -> bool {
    s.contains("b/s")
}

/// How an amount's number is read: a rate's in decimal, a burst's as C's
/// `strtoul` reads base 0 (`0x` hexadecimal, a leading `0` octal), as
/// iptables reads each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Radix {
    /// Decimal digits.
    Decimal,
    /// C's base 0.
    C,
}

/// Reads an amount of bytes as iptables does: a count, then `k` (KiB),
/// `m` (MiB) or any other letter (bytes), so `5gb` is 5 bytes. Returns the
/// bytes and whether a unit was written.
pub(super) fn parse_amount(s: &str, opt: &str, radix: Radix) -> Res<(u64, bool)> {
    let body = s.trim_start();
    let body = body.strip_prefix('+').unwrap_or(body);
    let read = match radix {
        Radix::Decimal => {
            let rest = body.trim_start_matches(|c: char| c.is_ascii_digit());
            let digits = &body[..body.len() - rest.len()];
            digits.parse::<u64>().ok().map(|n| (n, rest))
        }
        Radix::C => crate::c_number::leading_base_zero(body),
    };
    let Some((count, rest)) = read else {
        return fail(format!(
            "{opt} needs an amount such as 5000, 64kb or 1mb, not \"{s}\""
        ));
    };
    let multiplier = match rest.chars().next() {
        None => return Ok((count, false)),
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some(_) => 1,
    };
    match count.checked_mul(multiplier) {
        Some(bytes) => Ok((bytes, true)),
        None => fail(format!("{opt} value {s} is too large")),
    }
}

/// Parses a byte rate (`N[k|m]b/s`) into iptables' cost.
pub(super) fn parse_byte_rate(s: &str, opt: &str) -> Res<u64> {
    let amount = s.split('/').next().unwrap_or_default();
    let (bytes, _) = parse_amount(amount, opt, Radix::Decimal)?;
    let cost = cost_of(bytes);
    match bytes_of(cost) {
        0 => fail(format!(
            "{opt}: \"{s}\" is under 16 bytes a second, which iptables stores as 0b/s and \
             cannot read back (a byte rate counts 16-byte chunks)"
        )),
        stored if stored > u64::from(u32::MAX) => fail(format!(
            "{opt}: \"{s}\" is over 4095mb/s, which iptables stores as another rate"
        )),
        _ => Ok(cost),
    }
}

/// The cost iptables stores for a rate of `bytes` per second.
fn cost_of(bytes: u64) -> u64 {
    u64::from(u32::MAX) / ((bytes >> CHUNK_SHIFT) + 1)
}

/// The bytes per second a cost stands for.
pub(super) fn bytes_of(cost: u64) -> u64 {
    let chunks = u64::from(u32::MAX)
        .checked_div(cost)
        .unwrap_or(u64::from(u32::MAX));
    chunks.saturating_sub(1) << CHUNK_SHIFT
}

/// The rate as iptables prints it: the largest unit that reads back as the
/// same cost (`4kb/s`, `992b/s`).
pub(super) fn rate_text(cost: u64) -> String {
    let bytes = bytes_of(cost);
    let (name, size) = UNITS[..2]
        .iter()
        .copied()
        .find(|&(_, size)| {
            // iptables checks the rounded amount as a 32-bit number.
            let rounded = u64::from((bytes & !(size - 1)) as u32);
            bytes >= size && cost_of(rounded) == cost
        })
        .unwrap_or(UNITS[2]);
    format!("{}{name}/s", bytes / size)
}

/// The number of whole rates a burst of `bytes` takes, rounded up.
pub(super) fn burst_of(bytes: u64, cost: u64, opt: &str) -> Res<u32> {
    let rate = bytes_of(cost).max(1);
    if bytes < rate {
        return fail(format!(
            "{opt}: burst cannot be smaller than {rate}b (the rate)"
        ));
    }
    Ok(u32::try_from(bytes.div_ceil(rate)).unwrap_or(u32::MAX))
}

/// The burst as iptables prints it, in the largest unit it reaches.
pub(super) fn burst_text(burst: u32, cost: u64) -> String {
    let bytes = bytes_of(cost).saturating_mul(u64::from(burst));
    let (name, size) = UNITS
        .iter()
        .copied()
        .find(|&(_, size)| bytes >= size)
        .unwrap_or(UNITS[2]);
    format!("{}{name}", bytes / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        rate_text(parse_byte_rate(s, "--hashlimit-upto").unwrap())
    }

    /// Pairs read back from Debian's iptables 1.8.9.
    #[test]
    fn rates_read_back_as_iptables_prints_them() {
        for (given, printed) in [
            ("16b/s", "16b/s"),
            ("100b/s", "96b/s"),
            ("3000b/s", "2992b/s"),
            ("65536b/s", "64kb/s"),
            ("100000b/s", "100000b/s"),
            ("1023kb/s", "1023kb/s"),
            ("1024kb/s", "1mb/s"),
            ("1000mb/s", "1008mb/s"),
            ("2048mb/s", "2114mb/s"),
            ("4095mb/s", "4095mb/s"),
            ("1000000000b/s", "963mb/s"),
            ("4kb/secs", "4kb/s"),
        ] {
            assert_eq!(shown(given), printed, "{given}");
        }
        for refused in ["0kb/s", "15b/s", "4gb/s", "4096mb/s"] {
            assert!(
                parse_byte_rate(refused, "--hashlimit-upto").is_err(),
                "{refused}"
            );
        }
    }

    /// Every rate moat prints reads back as the same rate.
    #[test]
    fn printed_rates_read_back_unchanged() {
        let mut bytes: u64 = 16;
        while bytes < 1 << 32 {
            if let Ok(cost) = parse_byte_rate(&format!("{bytes}b/s"), "x") {
                let text = rate_text(cost);
                assert_eq!(
                    parse_byte_rate(&text, "x").unwrap(),
                    cost,
                    "{bytes} -> {text}"
                );
            }
            bytes += 1 + bytes / 97;
        }
    }

    #[test]
    fn bursts_are_whole_rates() {
        let cost = parse_byte_rate("4kb/s", "x").unwrap();
        for (given, printed) in [
            ("4096", "4kb"),
            ("4097", "8kb"),
            ("10000", "12kb"),
            ("100kb", "100kb"),
            ("1000000", "980kb"),
            ("2000kb", "1mb"),
        ] {
            let (bytes, _) = parse_amount(given, "x", Radix::Decimal).unwrap();
            assert_eq!(
                burst_text(burst_of(bytes, cost, "x").unwrap(), cost),
                printed,
                "{given}"
            );
        }
        assert!(burst_of(4095, cost, "x")
            .unwrap_err()
            .message
            .contains("4096b"));
        assert_eq!(
            parse_amount("5k", "x", Radix::Decimal).unwrap(),
            (5120, true)
        );
        assert_eq!(parse_amount("010kb", "x", Radix::C).unwrap(), (8192, true));
        assert_eq!(parse_amount("0x10", "x", Radix::C).unwrap(), (16, false));
        assert_eq!(
            parse_amount("010kb", "x", Radix::Decimal).unwrap(),
            (10240, true)
        );
        assert_eq!(parse_amount("5gb", "x", Radix::Decimal).unwrap(), (5, true));
    }
}
