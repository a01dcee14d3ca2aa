//! `-m rateest`: compares the rates measured by RATEEST estimators, with a
//! fixed rate or with each other (xt_rateest, revision 0).
//!
//! Rates are written in tc's units (`8mbit`, `1KiBps`, a bare number is
//! bits a second) and kept in bytes a second; iptables prints them back in
//! bit, Kbit or Mbit. Learned by running Debian's iptables 1.8.9.

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, opt_maybe_value, OptDef};
use crate::rule::values::{number_in, reads_back_unquoted, scaled_number};

/// The estimator name fields (`IFNAMSIZ`), their terminating zero included.
const NAME_FIELD: usize = 16;

/// Flag bits of `struct xt_rateest_match_info`.
const INVERT: u16 = 1 << 0;
const ABSOLUTE: u16 = 1 << 1;
const RELATIVE: u16 = 1 << 2;
const DELTA: u16 = 1 << 3;
const BPS: u16 = 1 << 4;
const PPS: u16 = 1 << 5;

/// The comparisons, by the kernel's mode number (1 to 3).
const MODES: [&str; 3] = ["eq", "lt", "gt"];

/// tc's rate units and their bits, compared without regard to case.
const RATE_UNITS: [(&str, f64); 18] = [
    ("bit", 1.),
    ("Kibit", 1024.),
    ("kbit", 1000.),
    ("mibit", 1_048_576.),
    ("mbit", 1e6),
    ("gibit", 1_073_741_824.),
    ("gbit", 1e9),
    ("tibit", 1_099_511_627_776.),
    ("tbit", 1e12),
    ("Bps", 8.),
    ("KiBps", 8. * 1024.),
    ("KBps", 8000.),
    ("MiBps", 8. * 1_048_576.),
    ("MBps", 8e6),
    ("GiBps", 8. * 1_073_741_824.),
    ("GBps", 8e9),
    ("TiBps", 8. * 1_099_511_627_776.),
    ("TBps", 8e12),
];

const OPTIONS: &[OptDef] = &[
    opt("--rateest-delta", 0, false),
    opt("--rateest-lt", 0, true),
    opt("--rateest-gt", 0, true),
    opt("--rateest-eq", 0, true),
    opt("--rateest", 1, false),
    opt("--rateest1", 1, false),
    opt("--rateest2", 1, false),
    opt_maybe_value("--rateest-bps"),
    opt_maybe_value("--rateest-pps"),
    opt_maybe_value("--rateest-bps1"),
    opt_maybe_value("--rateest-bps2"),
    opt_maybe_value("--rateest-pps1"),
    opt_maybe_value("--rateest-pps2"),
];

/// `-m rateest`: the estimator names, the flag bits, the comparison and the
/// four values, laid out as `struct xt_rateest_match_info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RateEst {
    name1: String,
    name2: String,
    flags: u16,
    mode: u16,
    bps1: u32,
    pps1: u32,
    bps2: u32,
    pps2: u32,
}

/// Reads a rate as tc does: a number, then a unit from [`RATE_UNITS`];
/// without a unit it is bits a second. Returns bytes a second.
fn parse_rate(s: &str, opt: &str) -> Res<u32> {
    let bad = || {
        fail(format!(
            "{opt}: \"{s}\" is not a rate (write it like 8mbit, 100kbit, 1MBps or a number of bits a second)"
        ))
    };
    let scale = |unit: &str| match unit {
        "" => Some(1.),
        _ => RATE_UNITS
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(unit))
            .map(|(_, scale)| *scale),
    };
    let Some(bits) = scaled_number(s, scale) else {
        return bad();
    };
    let bytes = bits / 8.;
    if !(0.0..=f64::from(u32::MAX)).contains(&bytes) {
        return refused_by_kernel(format!(
            "{opt}: \"{s}\" is out of range (at most 4294967295 bytes a second)"
        ));
    }
    Ok(bytes as u32)
}

/// A rate as iptables prints it: bytes a second with `-n`, otherwise in
/// bit, Kbit or Mbit rounded to whole units.
fn rate_text(bytes: u32, numeric: bool) -> String {
    let bits = f64::from(bytes) * 8.;
    if numeric {
        bytes.to_string()
    } else if bits >= 1e9 {
        format!("{:.0}Mbit", bits / 1e6)
    } else if bits >= 1e6 {
        format!("{:.0}Kbit", bits / 1e3)
    } else {
        format!("{bits:.0}bit")
    }
}

impl RateEst {
    fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut info = XtLayout::new();
        info.bytes(self.name1.as_bytes(), NAME_FIELD)
            .bytes(self.name2.as_bytes(), NAME_FIELD)
            .u16(self.flags)
            .u16(self.mode)
            .u32(self.bps1)
            .u32(self.pps1)
            .u32(self.bps2)
            .u32(self.pps2);
        // The kernel's pointers to the two estimators, 8-byte aligned.
        info.align(8).bytes(&[], 16);
        kernel_ext("-m", "rateest", 0, info.finish(), self)
    }

    fn name(v: &str, opt: &str) -> Res<String> {
        if v.is_empty() || v.len() >= NAME_FIELD || !reads_back_unquoted(v) {
            return fail(format!(
                "{opt}: an estimator name has 1 to {} characters without spaces or quotes \
                 (iptables saves it unquoted), not \"{v}\"",
                NAME_FIELD - 1
            ));
        }
        Ok(v.to_string())
    }

    /// Each word of the rule in iptables' order; `prefix` is `--rateest-`
    /// for a save and empty for a listing, which also shows the rate in
    /// bytes with `numeric`. A listing and a save order the words alike
    /// only in part, as iptables does.
    fn words(&self, save: bool, numeric: bool) -> String {
        let mut out = String::new();
        let rate = |bytes: u32| rate_text(bytes, numeric && !save);
        let mode = {
            let word = MODES
                .get(usize::from(self.mode).wrapping_sub(1))
                .copied()
                .unwrap_or("eq");
            let bang = if self.has(INVERT) { " !" } else { "" };
            match save {
                true => format!("{bang} --rateest-{word}"),
                false => format!("{bang} {word}"),
            }
        };
        let delta = self.has(DELTA);
        if save {
            if delta {
                out.push_str(" --rateest-delta");
            }
            match self.has(ABSOLUTE) {
                true => out.push_str(&format!(" --rateest {}", self.name1)),
                false => out.push_str(&format!(" --rateest1 {}", self.name1)),
            }
            // Each quantity with its own comparison; the second value only
            // where the kernel reads it.
            let second = if delta { "2" } else { "" };
            let valued = delta || self.has(ABSOLUTE);
            if self.has(BPS) {
                if delta {
                    out.push_str(&format!(" --rateest-bps1 {}", rate(self.bps1)));
                }
                out.push_str(&format!("{mode} --rateest-bps{second}"));
                if valued {
                    out.push_str(&format!(" {}", rate(self.bps2)));
                }
            }
            if self.has(PPS) {
                if delta {
                    out.push_str(&format!(" --rateest-pps1 {}", self.pps1));
                }
                out.push_str(&format!("{mode} --rateest-pps{second}"));
                if valued {
                    out.push_str(&format!(" {}", self.pps2));
                }
            }
            if self.has(RELATIVE) {
                out.push_str(&format!(" --rateest2 {}", self.name2));
            }
            return out;
        }
        out.push_str(&format!(" rateest match {}", self.name1));
        if delta {
            out.push_str(" delta");
        }
        if self.has(BPS) {
            out.push_str(" bps");
            if delta {
                out.push_str(&format!(" {}", rate(self.bps1)));
            }
            if self.has(ABSOLUTE) {
                out.push_str(&format!(" {}{mode}", rate(self.bps2)));
            }
        }
        if self.has(PPS) {
            out.push_str(" pps");
            if delta {
                out.push_str(&format!(" {}", self.pps1));
            }
            if self.has(ABSOLUTE) {
                out.push_str(&format!("{mode} {}", self.pps2));
            }
        }
        if self.has(RELATIVE) {
            out.push_str(&format!("{mode} {}", self.name2));
            if self.has(BPS) {
                out.push_str(" bps");
                if delta {
                    out.push_str(&format!(" {}", rate(self.bps2)));
                }
            }
            if self.has(PPS) {
                out.push_str(" pps");
                if delta {
                    out.push_str(&format!(" {}", self.pps2));
                }
            }
        }
        out
    }
}

impl Extension for RateEst {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        let given = !o.values.is_empty();
        let twice = |what: &str| fail(format!("rateest: {what} given twice"));
        match o.name {
            "--rateest-delta" => self.flags |= DELTA,
            "--rateest-lt" | "--rateest-gt" | "--rateest-eq" => {
                // iptables takes the last comparison given (its save repeats
                // it before each quantity).
                let word = &o.name["--rateest-".len()..];
                self.mode = MODES.iter().position(|m| *m == word).unwrap_or(0) as u16 + 1;
                if o.invert {
                    self.flags |= INVERT;
                }
            }
            "--rateest" | "--rateest1" => {
                if !self.name1.is_empty() {
                    return twice("the first estimator");
                }
                // As in iptables, the two spellings are one option: only
                // --rateest2 makes the test relative.
                self.name1 = Self::name(v, o.name)?;
            }
            "--rateest2" => {
                if !self.name2.is_empty() {
                    return twice("--rateest2");
                }
                self.name2 = Self::name(v, o.name)?;
                self.flags |= RELATIVE;
            }
            name => {
                let bps = name.starts_with("--rateest-bps");
                let first = name.ends_with('1');
                self.flags |= if bps { BPS } else { PPS };
                if !given {
                    return Ok(());
                }
                let value = match bps {
                    true => parse_rate(v, name)?,
                    false => number_in(v, name, 0, u64::from(u32::MAX))? as u32,
                };
                let slot = match (bps, first) {
                    (true, true) => &mut self.bps1,
                    (true, false) => &mut self.bps2,
                    (false, true) => &mut self.pps1,
                    (false, false) => &mut self.pps2,
                };
                *slot = value;
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if !self.has(RELATIVE) {
            self.flags |= ABSOLUTE;
        }
        if self.name1.is_empty() {
            return refused_by_kernel(
                "rateest: name the estimator with --rateest (or --rateest1 and --rateest2)",
            );
        }
        if !self.has(BPS) && !self.has(PPS) {
            return refused_by_kernel(
                "rateest: say what to compare with --rateest-bps or --rateest-pps",
            );
        }
        if self.mode == 0 {
            return refused_by_kernel(
                "rateest: give the comparison with --rateest-lt, --rateest-gt or --rateest-eq",
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(&self.words(true, false));
    }

    fn print(&self, out: &mut String, numeric: bool) {
        out.push_str(&self.words(false, numeric));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs read back from Debian's iptables 1.8.9.
    #[test]
    fn rates_read_and_print_as_iptables_does() {
        let shown = |s: &str| rate_text(parse_rate(s, "--rateest-bps").unwrap(), false);
        assert_eq!(shown("1000"), "1000bit");
        assert_eq!(shown("12345"), "12344bit");
        assert_eq!(shown("1kbit"), "1000bit");
        assert_eq!(shown("1KiBps"), "8192bit");
        assert_eq!(shown("1Mbps"), "8000Kbit");
        assert_eq!(shown("8mbit"), "8000Kbit");
        assert_eq!(shown("5000000"), "5000Kbit");
        assert_eq!(rate_text(125, true), "125");
        assert!(parse_rate("10parsecs", "--rateest-bps").is_err());
        assert!(parse_rate("40gbps", "--rateest-bps").is_err());
    }
}
