//! The hashlimit match: a token bucket per key, of packets or of bytes.

use moat_model::{LimitKey, Match, Rate, RateUnit};

use super::byte_rate;
use super::limit::{
    display_rate, model_rate, parse_rate_option, rate_text, DEFAULT_BURST, HASHLIMIT_SCALE, UNITS,
};
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{family_bits, number_in, push_opt};

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

/// The kernel's largest hash table: larger sizes are cut to it.
const MAX_TABLE: u32 = 1 << 20;
/// The kernel's garbage-collection interval when none is given, in ms.
const DEFAULT_GC_INTERVAL: u32 = 1000;
/// The largest plain burst iptables takes.
const MAX_BURST: u64 = 1_000_000;

/// What a hashlimit's buckets hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amount {
    /// Packets: the period between tokens, in microseconds.
    Packets(u64),
    /// Bytes: iptables' cost per 16-byte chunk (see [`byte_rate`]).
    Bytes(u64),
}

/// `-m hashlimit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HashLimit {
    /// The rate and whether it is `--hashlimit-above`.
    rate: Option<(Amount, bool)>,
    unit_ms: u32,
    /// `--hashlimit-burst` as written: bytes, and whether a unit was given.
    burst_given: Option<(u64, bool)>,
    /// Packets, or for a byte rate the number of whole rates.
    burst: Option<u32>,
    mode: Option<u8>,
    name: Option<String>,
    expire: Option<u32>,
    srcmask: Option<u8>,
    dstmask: Option<u8>,
    full_mask: u8,
    size: Option<u32>,
    max: Option<u32>,
    gc_interval: Option<u32>,
}

impl HashLimit {
    fn amount(&self) -> Amount {
        self.rate.map_or(Amount::Packets(1), |(a, _)| a)
    }

    fn above(&self) -> bool {
        self.rate.is_some_and(|(_, a)| a)
    }

    fn expire_shown(&self) -> Option<u32> {
        let unit_secs = match self.amount() {
            Amount::Packets(p) => UNITS[display_rate(p, HASHLIMIT_SCALE).1].1,
            Amount::Bytes(_) => 1,
        };
        self.expire.filter(|&e| u64::from(e) != unit_secs * 1000)
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

    /// The rate and the burst as iptables shows them; a byte rate's burst
    /// only when one was given.
    fn rate_and_burst(&self) -> (String, Option<String>) {
        let burst = self.burst.unwrap_or(DEFAULT_BURST);
        match self.amount() {
            Amount::Packets(p) => (rate_text(p, HASHLIMIT_SCALE), Some(burst.to_string())),
            Amount::Bytes(cost) => (
                byte_rate::rate_text(cost),
                self.burst
                    .filter(|&b| b != 0)
                    .map(|b| byte_rate::burst_text(b, cost)),
            ),
        }
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let mode = self.mode.unwrap_or(0);
        let full = self.full_mask;
        let (rate, burst, bytes) = match self.amount() {
            Amount::Packets(p) => (
                model_rate(p, HASHLIMIT_SCALE),
                self.burst.unwrap_or(DEFAULT_BURST),
                false,
            ),
            Amount::Bytes(cost) => {
                let per_second = byte_rate::bytes_of(cost);
                let burst = per_second.saturating_mul(u64::from(self.burst.unwrap_or(0)));
                let rate = Rate {
                    count: u32::try_from(per_second).unwrap_or(u32::MAX),
                    unit: RateUnit::Second,
                };
                (rate, u32::try_from(burst).unwrap_or(u32::MAX), true)
            }
        };
        out.push(Match::HashLimit {
            name: self.name.clone().unwrap_or_default(),
            rate,
            burst,
            over: self.above(),
            key: LimitKey {
                src_prefix: (mode & 1 != 0).then(|| self.srcmask.unwrap_or(full)),
                dst_prefix: (mode & 2 != 0).then(|| self.dstmask.unwrap_or(full)),
                src_port: mode & 4 != 0,
                dst_port: mode & 8 != 0,
            },
            expire_ms: self.expire.unwrap_or(0),
            bytes,
            max_keys: self.max,
        });
    }

    /// Checks the burst against the rate and stores it in the rate's terms.
    fn settle_burst(&mut self) -> Res<()> {
        let opt = "--hashlimit-burst";
        self.burst = match (self.amount(), self.burst_given) {
            (Amount::Packets(_), None) => Some(DEFAULT_BURST),
            (Amount::Packets(_), Some((n, _))) => {
                if !(1..=MAX_BURST).contains(&n) {
                    return fail(format!("{opt} value {n} is out of range 1-{MAX_BURST}"));
                }
                Some(n as u32)
            }
            (Amount::Bytes(_), None) => None,
            (Amount::Bytes(cost), Some((bytes, _))) => Some(byte_rate::burst_of(bytes, cost, opt)?),
        };
        Ok(())
    }

    /// A table size option: the kernel cuts sizes over 2^20 to 2^20.
    fn table_size(v: &str, opt: &str, slot: &mut Option<u32>) -> Res<()> {
        once(slot, opt)?;
        let n = number_in(v, opt, 0, u64::from(u32::MAX))? as u32;
        *slot = (n != 0).then_some(n.min(MAX_TABLE));
        Ok(())
    }
}

impl Extension for HashLimit {
    fn options(&self) -> &'static [OptDef] {
        HASHLIMIT_OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        self.full_mask = family_bits(o.family);
        let v = o.value().to_string();
        match o.name {
            "--hashlimit-upto" | "--hashlimit-above" => {
                if self.rate.is_some() {
                    return fail("use only one of --hashlimit-upto and --hashlimit-above");
                }
                let above = (o.name == "--hashlimit-above") != o.invert;
                let amount = if byte_rate::is_byte_rate(&v) {
                    self.unit_ms = 1000;
                    Amount::Bytes(byte_rate::parse_byte_rate(&v, o.name)?)
                } else {
                    let r = parse_rate_option(o, HASHLIMIT_SCALE)?;
                    self.unit_ms = (r.unit_secs * 1000) as u32;
                    Amount::Packets(r.period)
                };
                self.rate = Some((amount, above));
            }
            "--hashlimit-burst" => {
                once(&self.burst_given, o.name)?;
                let (n, unit) = byte_rate::parse_amount(&v, o.name)?;
                if !unit && !(1..=MAX_BURST).contains(&n) {
                    return fail(format!(
                        "{} value {v} is out of range 1-{MAX_BURST}",
                        o.name
                    ));
                }
                self.burst_given = Some((n, unit));
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
                let m = number_in(&v, o.name, 0, full)? as u8;
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
                self.name = Some(v);
            }
            "--hashlimit-htable-expire" => {
                once(&self.expire, o.name)?;
                let ms = number_in(&v, o.name, 0, u64::from(u32::MAX))?;
                if ms == 0 {
                    return fail(format!(
                        "{} 0: the kernel refuses entries that expire at once",
                        o.name
                    ));
                }
                self.expire = Some(ms as u32);
            }
            "--hashlimit-htable-size" => Self::table_size(&v, o.name, &mut self.size)?,
            "--hashlimit-htable-max" => Self::table_size(&v, o.name, &mut self.max)?,
            "--hashlimit-htable-gcinterval" => {
                once(&self.gc_interval, o.name)?;
                let ms = number_in(&v, o.name, 1, u64::from(u32::MAX))?;
                self.gc_interval = Some(ms as u32);
            }
            "--hashlimit-rate-interval" => {
                // The sampling interval of --hashlimit-rate-match, which moat
                // refuses; without it the kernel ignores the interval and
                // iptables does not save it.
                number_in(&v, o.name, 1, u64::from(i32::MAX as u32))?;
            }
            _ => {
                return fail(
                    "--hashlimit-rate-match is not supported by moat: nf_tables has no test of \
                     a measured rate that leaves the flow's budget alone (hashlimit without it \
                     limits the flow)",
                )
            }
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
        self.settle_burst()?;
        self.burst_given = None;
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
        if self.gc_interval == Some(DEFAULT_GC_INTERVAL) {
            self.gc_interval = None;
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (rate, burst) = self.rate_and_burst();
        let word = if self.above() {
            "--hashlimit-above"
        } else {
            "--hashlimit-upto"
        };
        push_opt(out, false, word, Some(&rate));
        if let Some(b) = burst {
            push_opt(out, false, "--hashlimit-burst", Some(&b));
        }
        if let Some(m) = self.mode_names(",") {
            push_opt(out, false, "--hashlimit-mode", Some(&m));
        }
        push_opt(out, false, "--hashlimit-name", self.name.as_deref());
        for (word, value) in self.numbers() {
            push_opt(
                out,
                false,
                &format!("--hashlimit-{word}"),
                Some(&value.to_string()),
            );
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let (rate, burst) = self.rate_and_burst();
        let kind = if self.above() { "above" } else { "up to" };
        out.push_str(&format!(" limit: {kind} {rate}"));
        if let Some(b) = burst {
            out.push_str(&format!(" burst {b}"));
        }
        if let Some(m) = self.mode_names("-") {
            out.push_str(&format!(" mode {m}"));
        }
        for (word, value) in self.numbers() {
            out.push_str(&format!(" {word} {value}"));
        }
    }
}

impl HashLimit {
    /// The numeric options iptables shows after the name, in its order.
    fn numbers(&self) -> Vec<(&'static str, u32)> {
        [
            ("htable-size", self.size),
            ("htable-max", self.max),
            ("htable-gcinterval", self.gc_interval),
            ("htable-expire", self.expire_shown()),
            ("srcmask", self.mask_shown(self.srcmask).map(u32::from)),
            ("dstmask", self.mask_shown(self.dstmask).map(u32::from)),
        ]
        .into_iter()
        .filter_map(|(word, value)| value.map(|v| (word, v)))
        .collect()
    }
}
