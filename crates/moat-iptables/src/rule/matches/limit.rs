//! The limit match (one token bucket) and the rates it shares with hashlimit.

use moat_model::{Match, Rate, RateUnit};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, push_opt};
use crate::rule::Warning;

/// The kernel's time scale of the limit match: periods are in 1/10000 s.
const LIMIT_SCALE: u64 = 10_000;
/// The kernel's time scale of the hashlimit match: periods are in microseconds.
pub(super) const HASHLIMIT_SCALE: u64 = 1_000_000;

/// Time units: the unit, its length in seconds, the name iptables prints.
pub(super) const UNITS: [(RateUnit, u64, &str); 4] = [
    (RateUnit::Day, 86_400, "day"),
    (RateUnit::Hour, 3_600, "hour"),
    (RateUnit::Minute, 60, "min"),
    (RateUnit::Second, 1, "sec"),
];

/// A parsed rate: the kernel's period between tokens, the length in seconds
/// of the unit written, and what iptables skipped after the count.
#[derive(Debug)]
pub(super) struct ParsedRate {
    pub(super) period: u64,
    pub(super) unit_secs: u64,
    pub(super) skipped: Option<String>,
}

/// Parses `N[/unit]`, where the unit is any prefix of second, minute, hour
/// or day, as iptables does: the count is read like strtoul (spaces and a
/// `+` before it), and anything between it and the slash is skipped, so
/// `5kb` is 5/second.
pub(super) fn parse_rate(s: &str, opt: &str, scale: u64) -> Res<ParsedRate> {
    let not_a_rate = || {
        fail(format!(
            "{opt}: \"{s}\" is not a rate (write it as N/second, N/minute, N/hour or N/day with N > 0)"
        ))
    };
    let trimmed = s.trim_start();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let rest = body.trim_start_matches(|c: char| c.is_ascii_digit());
    let digits = &body[..body.len() - rest.len()];
    if digits.is_empty() {
        return not_a_rate();
    }
    let (between, unit_text) = match rest.split_once('/') {
        Some((b, u)) => (b, Some(u)),
        None => (rest, None),
    };
    let count = match digits.parse::<u64>() {
        Ok(0) => return not_a_rate(),
        Ok(n) => n,
        Err(_) => u64::MAX,
    };
    let unit_secs = match unit_text {
        None => 1,
        Some(u) => {
            let lower = u.to_ascii_lowercase();
            match [("second", 1), ("minute", 60), ("hour", 3_600), ("day", 86_400)]
                .into_iter()
                .find(|(name, _)| !lower.is_empty() && name.starts_with(&lower))
            {
                Some((_, secs)) => secs,
                None => {
                    return fail(format!(
                        "{opt}: unknown time unit \"/{u}\" in \"{s}\" (expected second, minute, hour or day)"
                    ))
                }
            }
        }
    };
    let period = (scale * unit_secs) / count;
    if period == 0 {
        return fail(format!(
            "{opt}: rate \"{s}\" is too fast (at most {scale}/second)"
        ));
    }
    Ok(ParsedRate {
        period,
        unit_secs,
        skipped: (!between.trim().is_empty()).then(|| between.to_string()),
    })
}

/// [`parse_rate`] of an option's value, warning when iptables' reading
/// skips letters: `--limit 4kb/s` is 4 packets a second, not a byte rate.
pub(super) fn parse_rate_option(o: &mut Opt<'_>, scale: u64) -> Res<ParsedRate> {
    let rate = parse_rate(o.value(), o.name, scale)?;
    if let Some(skipped) = &rate.skipped {
        o.warnings.push(Warning::advice(format!(
            "{} {}: iptables skips \"{skipped}\" after the count and reads a packet rate, as moat \
             does (only hashlimit counts bytes, written like 4kb/s)",
            o.name,
            o.value(),
        )));
    }
    Ok(rate)
}

/// The rate iptables shows for a period: the count and the unit it picks.
pub(super) fn display_rate(period: u64, scale: u64) -> (u64, usize) {
    let mut best = 0;
    for (i, &(_, secs, _)) in UNITS.iter().enumerate().skip(1) {
        let mult = scale * secs;
        if period > mult || mult / period < mult % period {
            break;
        }
        best = i;
    }
    (scale * UNITS[best].1 / period, best)
}

pub(super) fn rate_text(period: u64, scale: u64) -> String {
    let (count, unit) = display_rate(period, scale);
    format!("{count}/{}", UNITS[unit].2)
}

pub(super) fn model_rate(period: u64, scale: u64) -> Rate {
    let (count, unit) = display_rate(period, scale);
    Rate {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        unit: UNITS[unit].0,
    }
}

/// `-m limit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Limit {
    period: Option<u64>,
    burst: Option<u32>,
}

pub(super) const DEFAULT_BURST: u32 = 5;

impl Limit {
    fn period(&self) -> u64 {
        self.period.unwrap_or(LIMIT_SCALE * 3_600 / 3)
    }

    fn burst(&self) -> u32 {
        self.burst.filter(|&b| b != 0).unwrap_or(DEFAULT_BURST)
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        out.push(Match::Limit {
            rate: model_rate(self.period(), LIMIT_SCALE),
            burst: self.burst(),
            over: false,
        });
    }
}

impl Extension for Limit {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--limit", 1, false), opt("--limit-burst", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if o.name == "--limit" {
            once(&self.period, "--limit")?;
            self.period = Some(parse_rate_option(o, LIMIT_SCALE)?.period);
        } else {
            once(&self.burst, "--limit-burst")?;
            self.burst = Some(number_in(o.value(), "--limit-burst", 0, 10_000)? as u32);
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        self.period = Some(self.period());
        self.burst = Some(self.burst());
        Ok(())
    }

    fn save(&self, out: &mut String) {
        push_opt(
            out,
            false,
            "--limit",
            Some(&rate_text(self.period(), LIMIT_SCALE)),
        );
        if self.burst() != DEFAULT_BURST {
            push_opt(out, false, "--limit-burst", Some(&self.burst().to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(
            " limit: avg {} burst {}",
            rate_text(self.period(), LIMIT_SCALE),
            self.burst()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str, scale: u64) -> String {
        rate_text(parse_rate(s, "--limit", scale).unwrap().period, scale)
    }

    #[test]
    fn rates_are_shown_in_iptables_units() {
        assert_eq!(shown("50/second", LIMIT_SCALE), "50/sec");
        assert_eq!(shown("5/m", LIMIT_SCALE), "5/min");
        assert_eq!(shown("7/minute", LIMIT_SCALE), "7/min");
        assert_eq!(shown("60/minute", LIMIT_SCALE), "1/sec");
        assert_eq!(shown("120/hour", LIMIT_SCALE), "2/min");
        assert_eq!(shown("24/day", LIMIT_SCALE), "1/hour");
        assert_eq!(shown("10", LIMIT_SCALE), "10/sec");
        assert_eq!(shown("1/d", LIMIT_SCALE), "1/day");
        assert_eq!(shown("1000000/sec", HASHLIMIT_SCALE), "1000000/sec");
        // As iptables: letters after the count are skipped.
        assert_eq!(shown("5kb", LIMIT_SCALE), "5/sec");
        assert_eq!(shown(" +05x/m", LIMIT_SCALE), "5/min");
    }

    #[test]
    fn bad_rates_are_explained() {
        let e = parse_rate("1/fortnight", "--limit", LIMIT_SCALE).unwrap_err();
        assert!(
            e.message.contains("expected second, minute, hour or day"),
            "{e}"
        );
        assert!(parse_rate("10001/sec", "--limit", LIMIT_SCALE)
            .unwrap_err()
            .message
            .contains("too fast"));
        assert!(parse_rate("0/sec", "--limit", LIMIT_SCALE).is_err());
        assert!(parse_rate("5/minutes", "--limit", LIMIT_SCALE).is_err());
        assert!(parse_rate("kb/s", "--limit", LIMIT_SCALE).is_err());
    }
}
