//! `-j RATEEST`: feeds the packet to a named rate estimator that `-m
//! rateest` rules read (xt_RATEEST, revision 0), then goes on to the next
//! rule.
//!
//! iptables turns the interval and the averaging time constant into the
//! kernel's estimator parameters (an interval of 2^n quarter seconds, an
//! EWMA weight of 2^-log) and prints them back from those, so `-S` shows
//! `250.0ms` for `250ms`. Learned by running Debian's iptables 1.8.9.

use moat_model::{Action, XtLayout};

use super::xt::ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{reads_back_unquoted, scaled_number};

/// The estimator name field (`IFNAMSIZ`), its terminating zero included.
const NAME_FIELD: usize = 16;
/// Microseconds in a second, the unit of iptables' arithmetic.
const MICROS: f64 = 1e6;

/// Time units iptables takes after a number, and their microseconds.
const TIME_UNITS: [(&[&str], f64); 3] = [
    (&["s", "sec", "secs"], 1e6),
    (&["ms", "msec", "msecs"], 1e3),
    (&["us", "usec", "usecs"], 1.),
];

/// `-j RATEEST --rateest-name NAME --rateest-interval TIME --rateest-ewmalog TIME`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RateEstTarget {
    name: Option<String>,
    /// As written, in microseconds, until [`Extension::finish`] settles them.
    interval_us: Option<u32>,
    ewmalog_us: Option<u32>,
    /// The kernel's parameters: the interval is 2^(interval + 2) quarter
    /// seconds, the averaging weight 2^-ewma_log.
    interval: i8,
    ewma_log: u8,
}

/// Reads a time as iptables does: a number, then s, ms or us (any case);
/// a bare number is microseconds.
fn parse_time(s: &str, opt: &str) -> Res<u32> {
    let bad = || {
        fail(format!(
            "{opt}: \"{s}\" is not a time (write it like 250ms, 1s or 500us)"
        ))
    };
    let scale = |unit: &str| match unit {
        "" => Some(1.),
        _ => TIME_UNITS
            .iter()
            .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(unit)))
            .map(|(_, scale)| *scale),
    };
    let Some(micros) = scaled_number(s, scale) else {
        return bad();
    };
    if !(0.0..=f64::from(u32::MAX)).contains(&micros) {
        return fail(format!("{opt}: \"{s}\" is out of range"));
    }
    Ok(micros as u32)
}

/// A time in microseconds as iptables prints it.
fn time_text(micros: u32) -> String {
    let t = f64::from(micros);
    if t >= MICROS {
        format!("{:.1}s", t / MICROS)
    } else if t >= MICROS / 1000. {
        format!("{:.1}ms", t / 1000.)
    } else {
        format!("{micros}us")
    }
}

impl RateEstTarget {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let name = self.name.as_deref().unwrap_or_default();
        let mut info = XtLayout::new();
        info.bytes(name.as_bytes(), NAME_FIELD)
            .u8(self.interval as u8)
            .u8(self.ewma_log);
        // The kernel's pointer to the estimator, 8-byte aligned.
        info.align(8).bytes(&[], 8);
        ext("RATEEST", 0, info.finish(), self)
    }

    /// The interval and the averaging time the kernel's parameters stand
    /// for, in microseconds, as iptables computes them for a listing.
    fn times(&self) -> (u32, u32) {
        let interval = ((MICROS as u32) << (self.interval + 2)) / 4;
        (interval, interval.wrapping_mul(1 << self.ewma_log))
    }

    fn words(&self, prefix: &str) -> String {
        let (interval, ewmalog) = self.times();
        format!(
            " {prefix}name {} {prefix}interval {} {prefix}ewmalog {}",
            self.name.as_deref().unwrap_or_default(),
            time_text(interval),
            time_text(ewmalog)
        )
    }
}

impl Extension for RateEstTarget {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--rateest-name", 1, false),
            opt("--rateest-interval", 1, false),
            opt("--rateest-ewmalog", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--rateest-name" => {
                once(&self.name, o.name)?;
                if v.is_empty() || v.len() >= NAME_FIELD || !reads_back_unquoted(v) {
                    return fail(format!(
                        "--rateest-name: an estimator name has 1 to {} characters without \
                         spaces or quotes (iptables saves it unquoted), not \"{v}\"",
                        NAME_FIELD - 1
                    ));
                }
                self.name = Some(v.to_string());
            }
            "--rateest-interval" => {
                once(&self.interval_us, o.name)?;
                self.interval_us = Some(parse_time(v, o.name)?);
            }
            _ => {
                once(&self.ewmalog_us, o.name)?;
                self.ewmalog_us = Some(parse_time(v, o.name)?);
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        self.settle()
    }

    fn save(&self, out: &mut String) {
        out.push_str(&self.words("--rateest-"));
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&self.words(""));
    }
}

impl RateEstTarget {
    /// Turns the written times into the kernel's parameters as iptables
    /// does, refusing what it refuses.
    fn settle(&mut self) -> Res<()> {
        if self.name.is_none() {
            return fail("RATEEST: option \"--rateest-name\" must be specified");
        }
        // iptables takes what is not given as zero, which the checks refuse.
        let interval = self.interval_us.unwrap_or(0);
        let ewmalog = self.ewmalog_us.unwrap_or(0);
        // The smallest 2^n quarter seconds (n up to 5) that holds the interval.
        let Some(n) = (0..=5).find(|n| f64::from(interval) <= f64::from(1 << n) * MICROS / 4.)
        else {
            return fail("RATEEST: --rateest-interval is too large (at most 8s)");
        };
        // The largest weight whose time constant stays within the ewmalog.
        let log = (1..32)
            .find(|&log: &u32| {
                f64::from(interval) / neg_ln_one_minus_power_of_half(log) > f64::from(ewmalog)
            })
            .unwrap_or(32)
            - 1;
        if log == 0 || log >= 31 {
            return fail(
                "RATEEST: --rateest-ewmalog is out of range for this interval (the kernel \
                 takes an averaging time of 2 to 2^30 intervals)",
            );
        }
        self.interval = n as i8 - 2;
        self.ewma_log = log as u8;
        self.interval_us = None;
        self.ewmalog_us = None;
        Ok(())
    }
}

/// `-ln(1 - 2^-k)` for k >= 1: the time constant, in intervals, of an
/// average that keeps `1 - 2^-k` of itself each interval. Summed as the
/// series `x + x^2/2 + x^3/3 + ...` (x = 2^-k), smallest term first, to a
/// double's precision, rather than with `f64::ln`, which would link the C
/// math library into the iptables binary for this one target.
fn neg_ln_one_minus_power_of_half(k: u32) -> f64 {
    let x = 0.5f64.powi(k as i32);
    let terms = (1..=f64::MANTISSA_DIGITS.div_ceil(k) + 1).rev();
    terms.fold(0.0, |sum, n| sum + x.powi(n as i32) / f64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(interval: &str, ewmalog: &str) -> Res<String> {
        let mut t = RateEstTarget {
            name: Some("e".into()),
            interval_us: Some(parse_time(interval, "--rateest-interval")?),
            ewmalog_us: Some(parse_time(ewmalog, "--rateest-ewmalog")?),
            ..Default::default()
        };
        t.settle()?;
        Ok(t.words(""))
    }

    /// Pairs read back from Debian's iptables 1.8.9.
    #[test]
    fn times_settle_and_print_as_iptables_does() {
        assert_eq!(
            settled("250ms", "500ms").unwrap(),
            " name e interval 250.0ms ewmalog 500.0ms"
        );
        assert_eq!(
            settled("1s", "8s").unwrap(),
            " name e interval 1.0s ewmalog 8.0s"
        );
        assert!(settled("9s", "20s").is_err());
        assert!(settled("1s", "1s").is_err());
        assert!(parse_time("5 fortnights", "--rateest-interval").is_err());
    }

    #[test]
    fn the_series_is_the_logarithm() {
        for k in 1..32 {
            let exact = -(1.0 - 0.5f64.powi(k)).ln();
            let series = neg_ln_one_minus_power_of_half(k as u32);
            assert!(
                (series - exact).abs() <= exact * 1e-15,
                "k {k}: {series} against {exact}"
            );
        }
    }
}
