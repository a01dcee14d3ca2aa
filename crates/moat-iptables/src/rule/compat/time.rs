//! `-m time`: a packet's arrival time against a daily window, weekdays,
//! days of the month and a date range (xt_time, revision 0), in UTC unless
//! `--kerneltz`. The kernel's xt_time decides, exactly as under iptables.

use chrono::{DateTime, Duration, Months, NaiveDate};
use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::parse_number;
use crate::rule::Warning;

/// Every day of the month (bits 1 to 31), xt_time's default.
const ALL_MONTHDAYS: u32 = 0xFFFF_FFFE;
/// Every day of the week (bits 1 to 7, Monday first), xt_time's default.
const ALL_WEEKDAYS: u8 = 0xFE;
/// The last second of a day.
const MAX_DAYTIME: u32 = 24 * 60 * 60 - 1;
/// The default end date: 2038-01-19T03:14:07, as iptables sets it.
const DEFAULT_DATE_STOP: u32 = i32::MAX as u32;
/// Flag: times in the kernel's time zone instead of UTC.
const LOCAL_TZ: u8 = 1;
/// Flag: a window whose stop is before its start runs past midnight.
const CONTIGUOUS: u8 = 2;
/// Week day names, Monday first, as iptables prints them.
const WEEK_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `-m time` and its options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TimeMatch {
    date_start: Option<u32>,
    date_stop: Option<u32>,
    time_start: Option<u32>,
    time_stop: Option<u32>,
    monthdays: Option<u32>,
    weekdays: Option<u8>,
    kernel_tz: Option<bool>,
    utc: Option<()>,
    contiguous: Option<()>,
}

/// Fails as iptables does when an option comes twice.
fn once<T>(slot: &Option<T>, name: &str) -> Res<()> {
    match slot {
        Some(_) => fail(format!("time: option \"{name}\" can only be used once.")),
        None => Ok(()),
    }
}

/// The leading decimal digits of `s` as strtoul reads them (none is 0),
/// and the rest of `s`.
fn leading_number(s: &str) -> (u64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let value = s[..end].bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    (value, &s[end..])
}

/// `hh:mm[:ss]` as seconds after midnight.
fn parse_daytime(text: &str) -> Res<u32> {
    let bad = || {
        fail(format!(
            "invalid time \"{text}\": give hh:mm or hh:mm:ss, from 00:00:00 to 23:59:59"
        ))
    };
    let (hour, rest) = leading_number(text);
    let Some(rest) = rest.strip_prefix(':').filter(|_| hour <= 23) else {
        return bad();
    };
    let (minute, rest) = leading_number(rest);
    if minute > 59 {
        return bad();
    }
    let second = match rest {
        "" => 0,
        _ => match rest.strip_prefix(':').map(leading_number) {
            Some((second, "")) if second <= 59 => second,
            _ => return bad(),
        },
    };
    Ok((hour * 3600 + minute * 60 + second) as u32)
}

/// `YYYY[-MM[-DD[Thh[:mm[:ss]]]]]` in UTC as seconds since 1970, with
/// out-of-range days and months carried over as C's `timegm` does.
fn parse_date(text: &str) -> Res<u32> {
    let bad = || {
        fail(format!(
            "invalid date \"{text}\": give YYYY[-MM[-DD[Thh[:mm[:ss]]]]], from 1970 to 2038"
        ))
    };
    // Each part: its separator before it, its upper bound.
    let parts: [(char, u64); 5] = [('-', 12), ('-', 31), ('T', 23), (':', 59), (':', 59)];
    let (year, mut rest) = leading_number(text);
    if !(1970..=2038).contains(&year) {
        return bad();
    }
    let mut values = [1u64, 1, 0, 0, 0];
    for (i, (separator, max)) in parts.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        let Some(after) = rest.strip_prefix(*separator) else {
            return bad();
        };
        let (value, next) = leading_number(after);
        if value > *max {
            return bad();
        }
        values[i] = value;
        rest = next;
    }
    if !rest.is_empty() {
        return bad();
    }
    let [month, day, hour, minute, second] = values;
    let start = NaiveDate::from_ymd_opt(year as i32, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let moment = start.and_then(|t| match month {
        0 => t.checked_sub_months(Months::new(1)),
        m => t.checked_add_months(Months::new(m as u32 - 1)),
    });
    let offset = (day as i64 - 1) * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    let seconds = moment
        .and_then(|t| t.checked_add_signed(Duration::seconds(offset)))
        .map(|t| t.and_utc().timestamp());
    match seconds {
        Some(s) if s >= 0 => Ok(s as u32),
        _ => bad(),
    }
}

/// `Mon,Tue,...` or `1,2,...` as week day bits; iptables compares the
/// first two letters of a name.
fn parse_weekdays(text: &str) -> Res<u8> {
    let mut bits = 0u8;
    for day in text.split(',') {
        let number = match leading_number(day) {
            (n @ 1..=7, "") if !day.is_empty() => Some(n as usize),
            _ => None,
        };
        let by_name = || {
            WEEK_DAYS
                .iter()
                .position(|name| day.len() >= 2 && name.as_bytes()[..2] == day.as_bytes()[..2])
                .map(|i| i + 1)
        };
        match number.or_else(by_name) {
            Some(i) => bits |= 1 << i,
            None => {
                return fail(format!(
                    "\"{day}\" is not a day of the week: give Mon to Sun or 1 to 7"
                ))
            }
        }
    }
    Ok(bits)
}

/// `1,15,31` as day-of-month bits.
///
/// As iptables reads them: each day's first two characters alone (its
/// buffer holds two), as C's `strtoul` of base 0 reads them (`07` is
/// octal, so `08` is refused and `010` is day 1).
fn parse_monthdays(text: &str) -> Res<u32> {
    let mut bits = 0u32;
    for day in text.split(',') {
        let kept = day
            .char_indices()
            .nth(2)
            .map_or(day, |(end, _)| &day[..end]);
        let number = if kept.is_empty() {
            Some(0)
        } else {
            parse_number(kept)
        };
        match number {
            Some(n @ 0..=31) => bits |= 1 << n,
            _ => return fail(format!("\"{day}\" is not a day of the month: give 1 to 31")),
        }
    }
    Ok(bits)
}

/// Seconds after midnight as `hh:mm:ss`.
fn daytime_text(seconds: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Seconds since 1970 as `YYYY-MM-DD`, then `separator`, then `hh:mm:ss` (UTC).
fn date_text(seconds: u32, separator: char) -> String {
    match DateTime::from_timestamp(i64::from(seconds), 0) {
        Some(t) => t
            .format(&format!("%Y-%m-%d{separator}%H:%M:%S"))
            .to_string(),
        None => seconds.to_string(),
    }
}

/// The week days of `bits`, comma-separated.
fn weekdays_text(bits: u8) -> String {
    let names: Vec<&str> = (1..=7)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| WEEK_DAYS[i - 1])
        .collect();
    names.join(",")
}

/// The days of `bits`, comma-separated; `ordinal` adds iptables' `-L`
/// suffixes (by the last digit only: `11st`, `12nd`, as iptables prints).
fn monthdays_text(bits: u32, ordinal: bool) -> String {
    let days: Vec<String> = (1..=31)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| {
            let suffix = match (ordinal, i % 10) {
                (false, _) => "",
                (true, 1) => "st",
                (true, 2) => "nd",
                (true, 3) => "rd",
                (true, _) => "th",
            };
            format!("{i}{suffix}")
        })
        .collect();
    days.join(",")
}

impl TimeMatch {
    fn daytimes(&self) -> (u32, u32) {
        (
            self.time_start.unwrap_or(0),
            self.time_stop.unwrap_or(MAX_DAYTIME),
        )
    }

    fn monthday_bits(&self) -> u32 {
        self.monthdays.unwrap_or(ALL_MONTHDAYS)
    }

    fn weekday_bits(&self) -> u8 {
        self.weekdays.unwrap_or(ALL_WEEKDAYS)
    }

    fn date_stop(&self) -> u32 {
        self.date_stop.unwrap_or(DEFAULT_DATE_STOP)
    }

    fn flags(&self) -> u8 {
        let tz = if self.kernel_tz.is_some() {
            LOCAL_TZ
        } else {
            0
        };
        let contiguous = if self.contiguous.is_some() {
            CONTIGUOUS
        } else {
            0
        };
        tz | contiguous
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (start, stop) = self.daytimes();
        kernel_ext(
            "-m",
            "time",
            0,
            XtLayout::new()
                .u32(self.date_start.unwrap_or(0))
                .u32(self.date_stop())
                .u32(start)
                .u32(stop)
                .u32(self.monthday_bits())
                .u8(self.weekday_bits())
                .u8(self.flags())
                .finish(),
            self,
        )
    }
}

impl Extension for TimeMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--datestart", 1, false),
            opt("--datestop", 1, false),
            opt("--timestart", 1, false),
            opt("--timestop", 1, false),
            opt("--weekdays", 1, true),
            opt("--monthdays", 1, true),
            opt("--localtz", 0, false),
            opt("--kerneltz", 0, false),
            opt("--utc", 0, false),
            opt("--contiguous", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--datestart" => {
                once(&self.date_start, "--datestart")?;
                self.date_start = Some(parse_date(v)?);
            }
            "--datestop" => {
                once(&self.date_stop, "--datestop")?;
                self.date_stop = Some(parse_date(v)?);
            }
            "--timestart" => {
                once(&self.time_start, "--timestart")?;
                self.time_start = Some(parse_daytime(v)?);
            }
            "--timestop" => {
                once(&self.time_stop, "--timestop")?;
                self.time_stop = Some(parse_daytime(v)?);
            }
            "--weekdays" => {
                once(&self.weekdays, "--weekdays")?;
                let bits = parse_weekdays(v)?;
                self.weekdays = Some(if o.invert { bits ^ ALL_WEEKDAYS } else { bits });
            }
            "--monthdays" => {
                once(&self.monthdays, "--monthdays")?;
                let bits = parse_monthdays(v)?;
                self.monthdays = Some(if o.invert { bits ^ ALL_MONTHDAYS } else { bits });
            }
            "--localtz" | "--kerneltz" => {
                once(&self.kernel_tz, o.name)?;
                if self.utc.is_some() {
                    return fail("time: --utc and --kerneltz contradict each other");
                }
                if o.name == "--localtz" {
                    o.warnings.push(Warning::as_iptables(
                        "WARNING: --localtz is being replaced by --kerneltz, since \"local\" is \
                         ambiguous. Note the kernel timezone has caveats - see manpage for details.",
                    ));
                }
                self.kernel_tz = Some(true);
            }
            "--utc" => {
                once(&self.utc, "--utc")?;
                if self.kernel_tz.is_some() {
                    return fail("time: --utc and --kerneltz contradict each other");
                }
                self.utc = Some(());
            }
            _ => {
                once(&self.contiguous, "--contiguous")?;
                self.contiguous = Some(());
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        let (start, stop) = self.daytimes();
        if self.contiguous.is_some() && start < stop {
            return fail(
                "time: --contiguous only makes sense when --timestop is earlier than --timestart \
                 (a window that runs past midnight)",
            );
        }
        // One form per meaning: what equals the default is not kept.
        let whole_day = (start, stop) == (0, MAX_DAYTIME);
        self.time_start = (!whole_day).then_some(start);
        self.time_stop = (!whole_day).then_some(stop);
        self.date_start = self.date_start.filter(|&d| d != 0);
        self.date_stop = self.date_stop.filter(|&d| d != DEFAULT_DATE_STOP);
        self.monthdays = self.monthdays.filter(|&m| m != ALL_MONTHDAYS);
        self.weekdays = self.weekdays.filter(|&w| w != ALL_WEEKDAYS);
        self.utc = None;
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (start, stop) = self.daytimes();
        if (start, stop) != (0, MAX_DAYTIME) {
            out.push_str(&format!(
                " --timestart {} --timestop {}",
                daytime_text(start),
                daytime_text(stop)
            ));
        }
        if self.monthday_bits() != ALL_MONTHDAYS {
            out.push_str(&format!(
                " --monthdays {}",
                monthdays_text(self.monthday_bits(), false)
            ));
        }
        if self.weekday_bits() != ALL_WEEKDAYS {
            out.push_str(&format!(
                " --weekdays {}",
                weekdays_text(self.weekday_bits())
            ));
        }
        for (name, date) in [
            ("--datestart", self.date_start.unwrap_or(0)),
            ("--datestop", self.date_stop()),
        ] {
            if date != 0 {
                out.push_str(&format!(" {name} {}", date_text(date, 'T')));
            }
        }
        if self.kernel_tz.is_some() {
            out.push_str(" --kerneltz");
        }
        if self.contiguous.is_some() {
            out.push_str(" --contiguous");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" TIME");
        let (start, stop) = self.daytimes();
        if (start, stop) != (0, MAX_DAYTIME) {
            out.push_str(&format!(
                " from {} to {}",
                daytime_text(start),
                daytime_text(stop)
            ));
        }
        if self.weekday_bits() != ALL_WEEKDAYS {
            out.push_str(&format!(" on {}", weekdays_text(self.weekday_bits())));
        }
        if self.monthday_bits() != ALL_MONTHDAYS {
            out.push_str(&format!(
                " on {}",
                monthdays_text(self.monthday_bits(), true)
            ));
        }
        if let Some(date) = self.date_start.filter(|&d| d != 0) {
            out.push_str(&format!(" starting from {}", date_text(date, ' ')));
        }
        if self.date_stop() != DEFAULT_DATE_STOP {
            out.push_str(&format!(" until date {}", date_text(self.date_stop(), ' ')));
        }
        if self.kernel_tz.is_none() {
            out.push_str(" UTC");
        }
        if self.contiguous.is_some() {
            out.push_str(" contiguous");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_carry_over_like_timegm() {
        assert_eq!(parse_date("1970").unwrap(), 0);
        assert_eq!(parse_date("2024-01-02").unwrap(), 1_704_153_600);
        assert_eq!(parse_date("2025-03-04T05:06:07").unwrap(), 1_741_064_767);
        // Month 0 is December of the year before; day 0 the last of the month before.
        assert_eq!(
            parse_date("2024-00-01").unwrap(),
            parse_date("2023-12-01").unwrap()
        );
        assert_eq!(
            parse_date("2024-03-00").unwrap(),
            parse_date("2024-02-29").unwrap()
        );
        assert_eq!(
            parse_date("2024-02-31").unwrap(),
            parse_date("2024-03-02").unwrap()
        );
        assert!(parse_date("2039").is_err());
        assert!(parse_date("1969-12-31").is_err());
        assert!(parse_date("2024-13").is_err());
        assert!(parse_date("2024-01-01 10:00").is_err());
        assert_eq!(date_text(DEFAULT_DATE_STOP, 'T'), "2038-01-19T03:14:07");
    }

    #[test]
    fn days_and_times_read_as_iptables_reads_them() {
        assert_eq!(parse_daytime("9:0:5").unwrap(), 9 * 3600 + 5);
        assert_eq!(parse_daytime("23:59").unwrap(), 86_340);
        assert!(parse_daytime("24:00").is_err());
        assert!(parse_daytime("12").is_err());
        assert!(parse_daytime("12:60").is_err());
        assert_eq!(parse_weekdays("Mo,Tuesday,3").unwrap(), 0b1110);
        assert_eq!(parse_weekdays("7").unwrap(), 1 << 7);
        assert!(parse_weekdays("Xy").is_err());
        assert!(parse_weekdays("8").is_err());
        assert_eq!(
            monthdays_text(parse_monthdays("1,11,22,3").unwrap(), true),
            "1st,3rd,11st,22nd"
        );
        assert!(parse_monthdays("32").is_err());
        assert_eq!(
            parse_monthdays("07,010,123").unwrap(),
            1 << 7 | 1 << 1 | 1 << 12
        );
        assert!(parse_monthdays("08").is_err());
        assert!(parse_monthdays("0x1").is_err());
    }
}
