//! From the fields a date pattern captured (`Y`, `m`, `d`, `H`, ... named
//! like strptime's directives) to a point in time.
//!
//! Rules (fail2ban's): a two-digit year is in this century; without a year
//! the date is this year unless that puts it more than a day after `now`,
//! then last year; without month and day it is today unless that is after
//! `now`, then yesterday; without a zone the date is local time; seconds
//! fractions are dropped.

use chrono::{Datelike, Duration, Local, NaiveDate, NaiveDateTime, TimeZone};

use super::zones::offset_minutes;

/// The field names a pattern can capture, in the order of [`FieldGroups`].
pub const FIELDS: [&str; 14] = [
    "Y", "y", "m", "b", "B", "d", "H", "I", "M", "S", "p", "z", "Z", "j",
];

/// Group numbers of the fields in a compiled pattern (by [`FIELDS`] order).
#[derive(Debug, Clone, Default)]
pub struct FieldGroups(pub [Option<usize>; 14]);

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The moment lines are read at, in the forms the rules need.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Unix seconds.
    pub unix: i64,
    /// The same moment as local wall-clock time.
    pub local: NaiveDateTime,
}

impl Now {
    /// `unix` seconds, with its local time.
    pub fn at(unix: i64) -> Now {
        let local = Local
            .timestamp_opt(unix, 0)
            .single()
            .map(|t| t.naive_local())
            .unwrap_or_default();
        Now { unix, local }
    }
}

fn number(s: &str) -> Option<u32> {
    s.trim_start().parse().ok()
}

/// Local wall-clock time to Unix seconds (the earlier one when a clock
/// change makes it ambiguous, an hour later when it falls in a gap).
pub fn local_to_unix(t: NaiveDateTime) -> Option<i64> {
    match Local.from_local_datetime(&t).earliest() {
        Some(x) => Some(x.timestamp()),
        None => Local
            .from_local_datetime(&(t + Duration::hours(1)))
            .earliest()
            .map(|x| x.timestamp()),
    }
}

/// Computes Unix seconds from the captured fields (`get(i)` is the text of
/// field `FIELDS[i]` when captured). `None` when the fields make no date.
pub fn compute(get: impl Fn(usize) -> Option<String>, now: &Now) -> Option<i64> {
    let field = |name: &str| FIELDS.iter().position(|f| *f == name).and_then(&get);
    let mut year: Option<i32> = None;
    if let Some(y) = field("y") {
        let y = number(&y)? as i32;
        year = Some(if y <= 2000 { y + 2000 } else { y });
    }
    if let Some(y) = field("Y") {
        year = Some(number(&y)? as i32);
    }
    let mut month = field("m").map(|m| number(&m)).unwrap_or(None);
    if let Some(b) = field("B") {
        month = Some(
            MONTH_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(&b))? as u32
                + 1,
        );
    }
    if let Some(b) = field("b") {
        month = Some(MONTHS.iter().position(|n| n.eq_ignore_ascii_case(&b))? as u32 + 1);
    }
    let mut day = field("d").map(|d| number(&d)).unwrap_or(None);
    let mut hour = 0;
    if let Some(h) = field("H") {
        hour = number(&h)?;
    }
    if let Some(i) = field("I") {
        hour = number(&i)?;
        let pm = field("p").is_some_and(|p| p.eq_ignore_ascii_case("pm"));
        if pm && hour != 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
    }
    let minute = field("M").map(|m| number(&m)).unwrap_or(Some(0))?;
    let second = field("S").map(|s| number(&s)).unwrap_or(Some(0))?;
    let offset = match field("z").or_else(|| field("Z")) {
        Some(z) => Some(offset_minutes(&z)?),
        None => None,
    };
    let assume_year = year.is_none();
    let year = year.unwrap_or_else(|| now.local.year());
    if month.is_none() || day.is_none() {
        if let Some(j) = field("j") {
            let d = NaiveDate::from_yo_opt(year, number(&j)?)?;
            month = Some(d.month());
            day = Some(d.day());
        }
    }
    let assume_today = month.is_none() && day.is_none();
    let (month, day) = match (month, day) {
        (Some(m), Some(d)) => (m, d),
        (None, None) => (now.local.month(), now.local.day()),
        _ => return None,
    };
    let mut t = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    if let Some(o) = offset {
        t -= Duration::minutes(o as i64);
    }
    if assume_today && t > now.local {
        t -= Duration::days(1);
    }
    if assume_year && t > now.local + Duration::days(1) {
        t = t.with_year(year - 1)?;
    }
    match offset {
        Some(_) => Some(t.and_utc().timestamp()),
        None => local_to_unix(t),
    }
}
