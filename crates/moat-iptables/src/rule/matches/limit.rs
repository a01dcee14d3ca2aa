//! The limit match (one token bucket) and the hashlimit match (a bucket per key).

use moat_model::{LimitKey, Match, Rate, RateUnit};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{family_bits, number_in, push_opt};

/// The kernel's time scale of the limit match: periods are in 1/10000 s.
const LIMIT_SCALE: u64 = 10_000;
/// The kernel's time scale of the hashlimit match: periods are in microseconds.
const HASHLIMIT_SCALE: u64 = 1_000_000;

/// Time units: the unit, its length in seconds, the name iptables prints.
const UNITS: [(RateUnit, u64, &str); 4] = [
    (RateUnit::Day, 86_400, "day"),
    (RateUnit::Hour, 3_600, "hour"),
    (RateUnit::Minute, 60, "min"),
    (RateUnit::Second, 1, "sec"),
];

/// A parsed rate: the kernel's period between tokens, and the length in seconds of the unit written.
#[derive(Debug)]
struct ParsedRate {
    period: u64,
    unit_secs: u64,
}

/// Parses `N[/unit]`, where the unit is any prefix of second, minute, hour or day.
fn parse_rate(s: &str, opt: &str, scale: u64) -> Res<ParsedRate> {
    let (count_text, unit_text) = match s.split_once('/') {
        Some((c, u)) => (c, Some(u)),
        None => (s, None),
    };
    if count_text.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return fail(format!(
            "{opt}: byte rates like \"{s}\" are not supported by moat (give packets per second, minute, hour or day)"
        ));
    }
    let count = match count_text.parse::<u64>() {
        Ok(n) if n > 0 => n,
        _ => return fail(format!("{opt}: \"{s}\" is not a rate (write it as N/second, N/minute, N/hour or N/day with N > 0)")),
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
    if period > u64::from(u32::MAX) {
        return fail(format!("{opt}: rate \"{s}\" is too slow"));
    }
    Ok(ParsedRate { period, unit_secs })
}

/// The rate iptables shows for a period: the count and the unit it picks.
fn display_rate(period: u64, scale: u64) -> (u64, usize) {
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

fn rate_text(period: u64, scale: u64) -> String {
    let (count, unit) = display_rate(period, scale);
    format!("{count}/{}", UNITS[unit].2)
}

fn model_rate(period: u64, scale: u64) -> Rate {
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

const DEFAULT_BURST: u32 = 5;

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
            self.period = Some(parse_rate(o.value(), "--limit", LIMIT_SCALE)?.period);
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

const HASHLIMIT_OPTIONS: &[OptDef] = &[
    opt("--hashlimit-upto", 1, true),
    opt("--hashlimit-above", 1, true),
    alias("--hashlimit", "--hashlimit-upto", 1, false),
    opt("--hashlimit-burst", 1, false),
    opt("--hashlimit-mode", 1, false),
    opt("--hashlimit-srcmask", 1, false),
    opt("--hashlimit-dstmask", 1, false),
    opt("--hashlimit-name", 1, false),
    opt("--hashlimit-htable-expire", 1, false),
    opt("--hashlimit-htable-size", 1, false),
    opt("--hashlimit-htable-max", 1, false),
    opt("--hashlimit-htable-gcinterval", 1, false),
    opt("--hashlimit-rate-match", 0, false),
    opt("--hashlimit-rate-interval", 1, false),
];

/// Hashlimit key parts in the order iptables prints them.
const MODES: &[(&str, u8)] = &[("srcip", 1), ("srcport", 4), ("dstip", 2), ("dstport", 8)];

/// `-m hashlimit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HashLimit {
    rate: Option<(u64, bool)>,
    unit_ms: u32,
    burst: Option<u32>,
    mode: Option<u8>,
    name: Option<String>,
    expire: Option<u32>,
    srcmask: Option<u8>,
    dstmask: Option<u8>,
    full_mask: u8,
}

impl HashLimit {
    fn period(&self) -> u64 {
        self.rate.map(|(p, _)| p).unwrap_or(1)
    }

    fn above(&self) -> bool {
        self.rate.is_some_and(|(_, a)| a)
    }

    fn expire_shown(&self) -> Option<u32> {
        let (_, unit) = display_rate(self.period(), HASHLIMIT_SCALE);
        let default = (UNITS[unit].1 * 1000) as u32;
        self.expire.filter(|&e| e != default)
    }

    fn mask_shown(&self, mask: Option<u8>) -> Option<u8> {
        mask.filter(|&m| m != self.full_mask)
    }

    fn mode_names(&self, sep: &str) -> Option<String> {
        let bits = self.mode.unwrap_or(0);
        (bits != 0).then(|| {
            MODES
                .iter()
                .filter(|&&(_, b)| bits & b != 0)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(sep)
        })
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let mode = self.mode.unwrap_or(0);
        let full = self.full_mask;
        out.push(Match::HashLimit {
            name: self.name.clone().unwrap_or_default(),
            rate: model_rate(self.period(), HASHLIMIT_SCALE),
            burst: self.burst.unwrap_or(DEFAULT_BURST),
            over: self.above(),
            key: LimitKey {
                src_prefix: (mode & 1 != 0).then(|| self.srcmask.unwrap_or(full)),
                dst_prefix: (mode & 2 != 0).then(|| self.dstmask.unwrap_or(full)),
                src_port: mode & 4 != 0,
                dst_port: mode & 8 != 0,
            },
            expire_ms: self.expire.unwrap_or(0),
        });
    }
}

impl Extension for HashLimit {
    fn options(&self) -> &'static [OptDef] {
        HASHLIMIT_OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        self.full_mask = family_bits(o.family);
        let v = o.value();
        match o.name {
            "--hashlimit-upto" | "--hashlimit-above" => {
                if self.rate.is_some() {
                    return fail("use only one of --hashlimit-upto and --hashlimit-above");
                }
                let r = parse_rate(v, o.name, HASHLIMIT_SCALE)?;
                self.unit_ms = (r.unit_secs * 1000) as u32;
                self.rate = Some((r.period, (o.name == "--hashlimit-above") != o.invert));
            }
            "--hashlimit-burst" => {
                once(&self.burst, o.name)?;
                self.burst = Some(number_in(v, o.name, 1, u64::from(u32::MAX))? as u32);
            }
            "--hashlimit-mode" => {
                once(&self.mode, o.name)?;
                let mut bits = 0;
                for part in v.split(',') {
                    match MODES.iter().find(|(n, _)| *n == part) {
                        Some(&(_, b)) => bits |= b,
                        None => {
                            return fail(format!(
                                "--hashlimit-mode: unknown key \"{part}\" (expected srcip, srcport, dstip or dstport){}",
                                crate::rule::suggest::did_you_mean(part, MODES.iter().map(|(n, _)| *n))
                            ))
                        }
                    }
                }
                self.mode = Some(bits);
            }
            "--hashlimit-srcmask" | "--hashlimit-dstmask" => {
                let full = u64::from(self.full_mask);
                let m = number_in(v, o.name, 0, full)? as u8;
                let slot = if o.name == "--hashlimit-srcmask" {
                    &mut self.srcmask
                } else {
                    &mut self.dstmask
                };
                once(slot, o.name)?;
                *slot = Some(m);
            }
            "--hashlimit-name" => {
                once(&self.name, o.name)?;
                if v.is_empty()
                    || v.len() > 15
                    || v.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\')
                {
                    return fail("--hashlimit-name needs a name of 1 to 15 characters without spaces or quotes");
                }
                self.name = Some(v.to_string());
            }
            "--hashlimit-htable-expire" => {
                once(&self.expire, o.name)?;
                self.expire = Some(number_in(v, o.name, 0, u64::from(u32::MAX))? as u32);
            }
            other => return fail(format!("{other} is not supported by moat")),
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        self.full_mask = family_bits(cx.family);
        if self.rate.is_none() {
            return fail("the hashlimit match needs --hashlimit-upto or --hashlimit-above");
        }
        if self.name.is_none() {
            return fail("the hashlimit match needs --hashlimit-name");
        }
        self.burst.get_or_insert(DEFAULT_BURST);
        self.expire.get_or_insert(self.unit_ms);
        self.unit_ms = 0;
        if self.srcmask == Some(self.full_mask) {
            self.srcmask = None;
        }
        if self.dstmask == Some(self.full_mask) {
            self.dstmask = None;
        }
        if self.mode == Some(0) {
            self.mode = None;
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let rate = rate_text(self.period(), HASHLIMIT_SCALE);
        let word = if self.above() {
            "--hashlimit-above"
        } else {
            "--hashlimit-upto"
        };
        push_opt(out, false, word, Some(&rate));
        push_opt(
            out,
            false,
            "--hashlimit-burst",
            Some(&self.burst.unwrap_or(DEFAULT_BURST).to_string()),
        );
        if let Some(m) = self.mode_names(",") {
            push_opt(out, false, "--hashlimit-mode", Some(&m));
        }
        push_opt(out, false, "--hashlimit-name", self.name.as_deref());
        if let Some(e) = self.expire_shown() {
            push_opt(
                out,
                false,
                "--hashlimit-htable-expire",
                Some(&e.to_string()),
            );
        }
        if let Some(m) = self.mask_shown(self.srcmask) {
            push_opt(out, false, "--hashlimit-srcmask", Some(&m.to_string()));
        }
        if let Some(m) = self.mask_shown(self.dstmask) {
            push_opt(out, false, "--hashlimit-dstmask", Some(&m.to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(
            " limit: {} {} burst {}",
            if self.above() { "above" } else { "up to" },
            rate_text(self.period(), HASHLIMIT_SCALE),
            self.burst.unwrap_or(DEFAULT_BURST)
        ));
        if let Some(m) = self.mode_names("-") {
            out.push_str(&format!(" mode {m}"));
        }
        if let Some(e) = self.expire_shown() {
            out.push_str(&format!(" htable-expire {e}"));
        }
        if let Some(m) = self.mask_shown(self.srcmask) {
            out.push_str(&format!(" srcmask {m}"));
        }
        if let Some(m) = self.mask_shown(self.dstmask) {
            out.push_str(&format!(" dstmask {m}"));
        }
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
    }
}
