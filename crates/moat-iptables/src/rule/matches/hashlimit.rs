//! The hashlimit match: a token bucket per key, of packets or of bytes.

use moat_model::{LimitKey, Match, Rate, RateUnit, XtLayout};

use super::byte_rate;
use super::limit::{
    display_rate, model_rate, parse_rate_option, rate_text, DEFAULT_BURST, HASHLIMIT_SCALE, UNITS,
};
use crate::rule::compat::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{family_bits, number_in, push_opt, reads_back_unquoted};

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

/// xt_hashlimit's bits for the key parts of [`MODES`], in the same order
/// (`XT_HASHLIMIT_HASH_SIP`, `_SPT`, `_DIP`, `_DPT`).
const KERNEL_MODES: [u32; 4] = [1 << 2, 1 << 3, 1 << 0, 1 << 1];
/// xt_hashlimit's flags: `--hashlimit-above`, a byte rate, `--hashlimit-rate-match`.
const KERNEL_INVERT: u32 = 1 << 4;
const KERNEL_BYTES: u32 = 1 << 5;
const KERNEL_RATE_MATCH: u32 = 1 << 6;
/// The name field of `struct xt_hashlimit_mtinfo3` (`NAME_MAX`).
const KERNEL_NAME: usize = 255;
/// The longest name: moat keeps a name's buckets in the nf_tables set
/// `hashlimit_NAME`, whose name has at most 255 bytes.
const MAX_NAME: usize = 255 - "hashlimit_".len();

/// The kernel's largest hash table: larger sizes are cut to it.
const MAX_TABLE: u32 = 1 << 20;
/// The kernel's garbage-collection interval when none is given, in ms.
const DEFAULT_GC_INTERVAL: u32 = 1000;
/// xt_hashlimit's expiry of a byte rate's entries, without and with a burst.
const BYTE_EXPIRE_MS: u64 = 15_000;
const BYTE_EXPIRE_BURST_MS: u64 = 60_000;
/// The protocols whose ports xt_hashlimit keys on (TCP, UDP, DCCP, SCTP,
/// UDP-Lite); it keys other packets on port 0.
const PORT_PROTOCOLS: [u8; 5] = [6, 17, 33, 132, 136];
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
    /// `--hashlimit-rate-match`: a test of the measured rate that runs in
    /// the kernel's xt_hashlimit.
    rate_match: bool,
    /// The sampling interval of a rate match in seconds (`--hashlimit-rate-interval`,
    /// by default the written rate's unit); dropped without a rate match,
    /// as iptables drops it from its listings.
    interval: Option<u32>,
    /// Whether the rule's `-p` names a protocol with ports: keys on ports
    /// of other packets (port 0 in xt_hashlimit) need the kernel module.
    ports_known: bool,
}

impl HashLimit {
    fn amount(&self) -> Amount {
        self.rate.map_or(Amount::Packets(1), |(a, _)| a)
    }

    fn above(&self) -> bool {
        self.rate.is_some_and(|(_, a)| a)
    }

    /// Whether a byte rate has a burst (which changes its default expiry).
    fn byte_burst(&self) -> bool {
        self.burst.is_some_and(|b| b != 0)
    }

    /// The expiry iptables leaves out of a listing: the unit's length of
    /// the packet rate shown (its period stretched by `stretch`), or for a
    /// byte rate xt_hashlimit's defaults of 15 s, 60 s with a burst.
    fn expire_shown(&self, stretch: u64) -> Option<u32> {
        let quiet_ms = match self.amount() {
            Amount::Packets(p) => UNITS[display_rate(p * stretch, HASHLIMIT_SCALE).1].1 * 1000,
            Amount::Bytes(_) if self.byte_burst() => BYTE_EXPIRE_BURST_MS,
            Amount::Bytes(_) => BYTE_EXPIRE_MS,
        };
        self.expire.filter(|&e| u64::from(e) != quiet_ms)
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

    /// The rate and the burst as iptables shows them, a packet rate's
    /// period stretched by `stretch`; a byte rate's burst only when one was
    /// given.
    fn rate_and_burst(&self, stretch: u64) -> (String, Option<String>) {
        let burst = self.burst.unwrap_or(DEFAULT_BURST);
        match self.amount() {
            Amount::Packets(p) => (
                rate_text(p * stretch, HASHLIMIT_SCALE),
                Some(burst.to_string()),
            ),
            Amount::Bytes(cost) => (
                byte_rate::rate_text(cost),
                self.burst
                    .filter(|&b| b != 0)
                    .map(|b| byte_rate::burst_text(b, cost)),
            ),
        }
    }

    /// The model condition: a native per-key bucket, or the kernel's
    /// xt_hashlimit for a rate match and for keys on ports of packets the
    /// rule's `-p` does not say have any.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let keyed_on_ports = self.mode.unwrap_or(0) & (4 | 8) != 0;
        if self.rate_match || keyed_on_ports && !self.ports_known {
            out.push(Match::Xt(kernel_ext(
                "-m",
                "hashlimit",
                3,
                self.info(),
                self,
            )));
            return;
        }
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

    /// Fills in what iptables fills in when not given: the expiry (the
    /// rate's unit; for a byte rate xt_hashlimit's 15 s, 60 s with a
    /// burst) and a rate match's interval (the rate's unit), whose rate
    /// iptables then keeps per second (`10/min` becomes `10/sec` sampled
    /// every 60 s).
    fn settle_expiry_and_interval(&mut self) {
        let default_expire = match self.amount() {
            Amount::Packets(_) => u64::from(self.unit_ms),
            Amount::Bytes(_) if self.byte_burst() => BYTE_EXPIRE_BURST_MS,
            Amount::Bytes(_) => BYTE_EXPIRE_MS,
        };
        self.expire.get_or_insert(default_expire as u32);
        if !self.rate_match {
            self.interval = None;
            return;
        }
        let unit_secs = self.unit_ms / 1000;
        if let Some((Amount::Packets(period), above)) = self.rate {
            self.rate = Some((Amount::Packets(period / u64::from(unit_secs)), above));
        }
        self.interval.get_or_insert(unit_secs);
    }

    /// Refuses what xt_hashlimit refuses with "overflow, try lower" (a
    /// slow packet rate with a large burst, such as `1/day` with a burst
    /// of 2), by the kernel's own 64-bit arithmetic: the period times the
    /// burst, in credits, must not wrap below the period in credits. A rate
    /// match only needs a per-second rate that fits 32 bits.
    fn check_kernel_range(&self) -> Res<()> {
        /// Credits per microsecond of period: `HZ * CREDITS_PER_JIFFY / 10^6`,
        /// the same for kernels built with HZ 250 and 1000.
        const CREDITS_PER_MICROSECOND: u64 = 137_438_953;
        let Amount::Packets(period) = self.amount() else {
            return Ok(());
        };
        let burst = u64::from(self.burst.unwrap_or(DEFAULT_BURST));
        let credits = |user: u64| user.wrapping_mul(CREDITS_PER_MICROSECOND);
        let fits = match self.rate_match {
            true => period <= u64::from(u32::MAX),
            false => credits(period.wrapping_mul(burst)) >= credits(period),
        };
        if fits {
            return Ok(());
        }
        refused_by_kernel(format!(
            "hashlimit: the kernel refuses a rate this slow with a burst of {burst} (its \
             credits would overflow); give a faster rate or a smaller --hashlimit-burst"
        ))
    }

    /// `struct xt_hashlimit_mtinfo3` as iptables fills it: the name, the
    /// rate (period or byte cost) and burst, the key and flag bits, the
    /// table options, expiry, interval and masks, and the kernel's pointer.
    fn info(&self) -> Vec<u8> {
        let bits = self.mode.unwrap_or(0);
        let mut mode = MODES
            .iter()
            .zip(KERNEL_MODES)
            .filter(|((_, bit), _)| bits & bit != 0)
            .fold(0, |m, (_, kernel)| m | kernel);
        if self.above() {
            mode |= KERNEL_INVERT;
        }
        if self.rate_match {
            mode |= KERNEL_RATE_MATCH;
        }
        let (avg, burst) = match self.amount() {
            Amount::Packets(p) => (p, self.burst.unwrap_or(DEFAULT_BURST)),
            Amount::Bytes(cost) => {
                mode |= KERNEL_BYTES;
                (cost, self.burst.unwrap_or(0))
            }
        };
        let name = self.name.as_deref().unwrap_or_default();
        let mut info = XtLayout::new();
        info.bytes(name.as_bytes(), KERNEL_NAME)
            .u64(avg)
            .u64(u64::from(burst))
            .u32(mode)
            .u32(self.size.unwrap_or(0))
            .u32(self.max.unwrap_or(0))
            .u32(self.gc_interval.unwrap_or(DEFAULT_GC_INTERVAL))
            .u32(self.expire.unwrap_or(0))
            .u32(self.interval.unwrap_or(0))
            .u8(self.srcmask.unwrap_or(self.full_mask))
            .u8(self.dstmask.unwrap_or(self.full_mask));
        info.align(8).bytes(&[], 8);
        info.finish()
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
                let (n, unit) = byte_rate::parse_amount(&v, o.name, byte_rate::Radix::C)?;
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
                if v.is_empty() || v.len() > MAX_NAME || !reads_back_unquoted(&v) {
                    return fail(format!(
                        "--hashlimit-name needs a name of 1 to {MAX_NAME} bytes without spaces or \
                         quotes (iptables could not read such a name back from its own save)"
                    ));
                }
                self.name = Some(v);
            }
            "--hashlimit-htable-expire" => {
                once(&self.expire, o.name)?;
                let ms = number_in(&v, o.name, 0, u64::from(u32::MAX))?;
                if ms == 0 {
                    return refused_by_kernel(format!(
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
                once(&self.interval, o.name)?;
                self.interval = Some(number_in(&v, o.name, 1, i32::MAX as u64)? as u32);
            }
            _ => self.rate_match = true,
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        self.full_mask = family_bits(cx.family);
        self.ports_known = cx
            .plain_proto()
            .is_some_and(|p| PORT_PROTOCOLS.contains(&p));
        if self.rate.is_none() {
            return fail("the hashlimit match needs --hashlimit-upto or --hashlimit-above");
        }
        if self.name.is_none() {
            return fail("the hashlimit match needs --hashlimit-name");
        }
        self.settle_burst()?;
        self.burst_given = None;
        if self.unit_ms != 0 {
            self.settle_expiry_and_interval();
        }
        self.check_kernel_range()?;
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
        let (rate, burst) = self.rate_and_burst(1);
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
        for (word, value) in self.numbers(1) {
            push_opt(
                out,
                false,
                &format!("--hashlimit-{word}"),
                Some(&value.to_string()),
            );
        }
        for (word, value) in self.rate_match_words() {
            push_opt(out, false, &format!("--hashlimit-{word}"), value.as_deref());
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        // iptables lists a rate match's rate over its whole interval.
        let stretch = u64::from(self.interval.unwrap_or(1));
        let (rate, burst) = self.rate_and_burst(stretch);
        let kind = if self.above() { "above" } else { "up to" };
        out.push_str(&format!(" limit: {kind} {rate}"));
        if let Some(b) = burst {
            out.push_str(&format!(" burst {b}"));
        }
        if let Some(m) = self.mode_names("-") {
            out.push_str(&format!(" mode {m}"));
        }
        for (word, value) in self.numbers(stretch) {
            out.push_str(&format!(" {word} {value}"));
        }
        for (word, value) in self.rate_match_words() {
            out.push(' ');
            out.push_str(word);
            if let Some(v) = value {
                out.push_str(&format!(" {v}"));
            }
        }
    }
}

impl HashLimit {
    /// The numeric options iptables shows after the name, in its order
    /// (the expiry against the rate's period stretched by `stretch`).
    fn numbers(&self, stretch: u64) -> Vec<(&'static str, u32)> {
        [
            ("htable-size", self.size),
            ("htable-max", self.max),
            ("htable-gcinterval", self.gc_interval),
            ("htable-expire", self.expire_shown(stretch)),
            ("srcmask", self.mask_shown(self.srcmask).map(u32::from)),
            ("dstmask", self.mask_shown(self.dstmask).map(u32::from)),
        ]
        .into_iter()
        .filter_map(|(word, value)| value.map(|v| (word, v)))
        .collect()
    }

    /// `rate-match` and an interval other than one second, as iptables
    /// shows them last.
    fn rate_match_words(&self) -> Vec<(&'static str, Option<String>)> {
        let mut words = Vec::new();
        if self.rate_match {
            words.push(("rate-match", None));
            if let Some(i) = self.interval.filter(|&i| i != 1) {
                words.push(("rate-interval", Some(i.to_string())));
            }
        }
        words
    }
}
