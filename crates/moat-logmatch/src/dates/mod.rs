//! The date detector: finds the date in a line, turns it into a time, and
//! says which part of the line it was (fail2ban cuts it out before the
//! failregexes run).
//!
//! A filter's `datepattern` is a list of templates, one per line: a pattern
//! (see [`template`]), or `{^LN-BEG}` (the built-in formats at the line
//! start), `{DEFAULT}` (all built-in formats, which is also what no
//! datepattern means), `{NONE}` (no date: lines take the time they are read
//! at) or a pattern with `{DATE}` standing for each built-in format.

mod fields;
pub mod template;
mod zones;

pub use fields::Now;
pub use template::{DateError, Hit, Memo, Template};

use crate::engine::Slots;

/// The built-in formats, most specific first (strptime-like directives in
/// fail2ban's datepattern language; `{^LN-BEG}`/`^` ones only at the start
/// of a line).
const BUILTIN: &[&str] = &[
    // 2005-06-21 16:47:48, 2005/06/21T16:47:48.123 +0200, 2005.06.21 ...
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T| {1,2})%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    // syslog: [Tue ]Jun 21 16:47:48[.123][ 2005]
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    // [Tue ]Jun 21 2005 16:47:48[.123]
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    // 21-06-2005 16:47:48, 21/06/05 16:47:48
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    // Apache: 21/Jun/2005:16:47:48 +0200
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    // 06/21/2005:16:47:48
    r"%m/%d/%ExY:%H:%M:%S",
    // 06-21-2005 16:47:48[.123]
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    "EPOCH",
    // bare time of day at the line start
    r"{^LN-BEG}%H:%M:%S",
    // <06/21/05@16:47:48>
    r"^<%m/%d/%Exy@%H:%M:%S>",
    // 050621 16:47:48
    r"%Exy%Exm%Exd {1,2}%H:%M:%S",
    // Jun 21, 2005 4:47:48 PM
    r"%b %d, %ExY %I:%M:%S %p",
    // Jun-21-05 16:47:48 at the line start
    r"^%b-%d-%Exy %k:%M:%S",
    // 20050621T164748[.123][Z]
    r"%ExY%Exm%Exd(?:T| {1,2})%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    // syslog with a zone name or offset in front
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    "TAI64N",
];

/// Whether a built-in format already fixes itself to the line start.
fn line_start_format(f: &str) -> bool {
    f.starts_with("{^LN-BEG}") || f.starts_with('^')
}

/// The built-in templates in the order they are tried: each format at the
/// line start first, then each anywhere (`line_only`: only the former).
fn builtin_list(line_only: bool) -> Vec<String> {
    let mut list: Vec<String> = BUILTIN
        .iter()
        .filter(|f| !line_start_format(f))
        .map(|f| format!("{{^LN-BEG}}{f}"))
        .collect();
    list.extend(
        BUILTIN
            .iter()
            .filter(|f| !line_only || line_start_format(f))
            .map(|f| f.to_string()),
    );
    list
}

/// Removes the boundary markers of a format for use inside `{DATE}`.
fn unbound(f: &str) -> &str {
    let f = f.strip_prefix("{UNB}").unwrap_or(f);
    f.strip_prefix("{^LN-BEG}").unwrap_or(f)
}

/// The compiled templates of one filter.
#[derive(Debug, Clone)]
pub struct DateDetector {
    templates: Vec<Template>,
}

/// Per-matcher state of the detector: which template found the last date
/// and where (fail2ban prefers the template and place that worked before).
#[derive(Debug)]
pub struct DateState {
    last: Option<usize>,
    last_distance: usize,
    distance: Vec<usize>,
    hits: Vec<u64>,
    slots: Vec<Slots>,
    memos: Vec<Memo>,
    /// The last date text converted: (template, text, now) -> time.
    cache: Option<(usize, String, i64, Option<f64>)>,
}

/// A date found in a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    /// Where the date text is.
    pub hit: Hit,
    /// Its time (`None` when the text is empty or not a valid date).
    pub time: Option<f64>,
}

impl DateDetector {
    /// Compiles a filter's datepattern (`None`: all built-in formats).
    pub fn new(datepattern: Option<&str>) -> Result<DateDetector, (String, DateError)> {
        let mut sources: Vec<String> = Vec::new();
        let lines: Vec<&str> = match datepattern {
            Some(p) => p
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect(),
            None => vec!["{DEFAULT}"],
        };
        for line in lines {
            let key = if line.contains('%') {
                line.to_string()
            } else {
                line.to_ascii_uppercase()
            };
            let add: Vec<String> = if key == "{^LN-BEG}" {
                builtin_list(true)
            } else if key == "{DEFAULT}" {
                builtin_list(false)
            } else if key.contains("{DATE}") {
                BUILTIN
                    .iter()
                    .filter(|f| f.contains('%'))
                    .map(|f| replace_date(line, unbound(f)))
                    .collect()
            } else if key == "{NONE}" {
                vec!["{UNB}^".to_string()]
            } else {
                vec![line.to_string()]
            };
            for a in add {
                if !sources.contains(&a) {
                    sources.push(a);
                }
            }
        }
        let templates = sources
            .iter()
            .map(|s| Template::new(s).map_err(|e| (s.clone(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DateDetector { templates })
    }

    /// The templates, in the order they are tried.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Fresh per-matcher state.
    pub fn state(&self) -> DateState {
        let n = self.templates.len();
        DateState {
            last: None,
            last_distance: 1,
            distance: vec![usize::MAX; n],
            hits: vec![0; n],
            slots: (0..n).map(|_| Slots::default()).collect(),
            memos: (0..n).map(|_| Memo::default()).collect(),
            cache: None,
        }
    }

    /// Finds the date in `line` and its time (year-less dates are placed
    /// relative to `now`). A template whose regex gave up is skipped.
    pub fn find(&self, line: &str, state: &mut DateState, now: &Now) -> Option<Found> {
        self.find_in(line, state, now, line.is_ascii())
    }

    /// Like [`DateDetector::find`]; `ascii` says `line` is ASCII-only.
    pub fn find_in(
        &self,
        line: &str,
        state: &mut DateState,
        now: &Now,
        ascii: bool,
    ) -> Option<Found> {
        let (index, hit) = self.choose(line, state, ascii)?;
        let time = if hit.start == hit.end {
            None
        } else {
            let text = &line[hit.start..hit.end];
            match &state.cache {
                Some((i, t, n, time)) if *i == index && t == text && *n == now.unix => *time,
                _ => {
                    // The groups of this line (the memo may have skipped them).
                    let t = &self.templates[index];
                    let _ = t.search_groups_in(line, &mut state.slots[index], ascii);
                    let time = t.time(line, &state.slots[index], now);
                    state.cache = Some((index, text.to_string(), now.unix, time));
                    time
                }
            }
        };
        Some(Found { hit, time })
    }

    fn search(&self, i: usize, line: &str, state: &mut DateState, ascii: bool) -> Option<Hit> {
        let hit = self.templates[i]
            .search_in(line, &mut state.slots[i], &mut state.memos[i], ascii)
            .unwrap_or(None);
        if hit.is_some() {
            state.hits[i] += 1;
        }
        hit
    }

    fn choose(&self, line: &str, state: &mut DateState, ascii: bool) -> Option<(usize, Hit)> {
        let n = self.templates.len();
        let mut best: Option<(usize, Hit)> = None;
        let mut tried = None;
        if let Some(i) = state.last {
            if let Some(hit) = self.search(i, line, state, ascii) {
                if n == 1 || self.templates[i].anchored || hit.distance == state.last_distance {
                    return Some(self.accept(state, i, hit));
                }
                best = Some((i, hit));
            }
            tried = Some(i);
        }
        for i in 0..n {
            if Some(i) == tried {
                continue;
            }
            let Some(hit) = self.search(i, line, state, ascii) else {
                continue;
            };
            let last = i + 1 >= n;
            if last
                || self.templates[i].anchored
                || (hit.distance == 0 && state.hits[i] > 1 && state.hits[i + 1] == 0)
            {
                return Some(self.accept(state, i, hit));
            }
            if hit.distance > state.distance[i] || hit.distance > state.last_distance {
                if !matches!(best, Some((_, b)) if hit.distance >= b.distance) {
                    best = Some((i, hit));
                }
                continue;
            }
            return Some(self.accept(state, i, hit));
        }
        let (i, hit) = best?;
        Some(self.accept(state, i, hit))
    }

    fn accept(&self, state: &mut DateState, i: usize, hit: Hit) -> (usize, Hit) {
        state.distance[i] = hit.distance;
        state.last_distance = hit.distance;
        state.last = Some(i);
        (i, hit)
    }
}

/// Replaces `{DATE}` (any case, not after a backslash) in `pattern`.
fn replace_date(pattern: &str, with: &str) -> String {
    let upper = pattern.to_ascii_uppercase();
    let mut out = String::new();
    let mut last = 0;
    let mut from = 0;
    while let Some(i) = upper[from..].find("{DATE}").map(|i| i + from) {
        if i > 0 && pattern.as_bytes()[i - 1] == b'\\' {
            from = i + 6;
            continue;
        }
        out.push_str(&pattern[last..i]);
        out.push_str(with);
        last = i + 6;
        from = last;
    }
    out.push_str(&pattern[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> f64 {
        let t = chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap();
        fields::local_to_unix(t).unwrap() as f64
    }

    fn now_2005() -> Now {
        Now::at(local(2005, 8, 14, 12, 0, 0) as i64)
    }

    fn find(pattern: Option<&str>, line: &str) -> Option<(String, Option<f64>)> {
        let d = DateDetector::new(pattern).unwrap();
        let mut s = d.state();
        let f = d.find(line, &mut s, &now_2005())?;
        Some((line[f.hit.start..f.hit.end].to_string(), f.time))
    }

    #[test]
    fn syslog_without_year_is_in_the_past() {
        let (text, t) = find(Some("{^LN-BEG}"), "Aug 14 11:59:59 host sshd[1]: x").unwrap();
        assert_eq!(text, "Aug 14 11:59:59");
        assert_eq!(t, Some(local(2005, 8, 14, 11, 59, 59)));
        // A date more than a day after now belongs to the year before.
        let (_, t) = find(Some("{^LN-BEG}"), "Dec 31 23:00:00 host x").unwrap();
        assert_eq!(t, Some(local(2004, 12, 31, 23, 0, 0)));
        let (_, t) = find(None, "Aug 15 11:00:00 host x").unwrap();
        assert_eq!(t, Some(local(2005, 8, 15, 11, 0, 0)));
    }

    #[test]
    fn iso_and_zones() {
        let (text, t) = find(None, "2005-06-21T16:47:48Z x").unwrap();
        assert_eq!(text, "2005-06-21T16:47:48Z");
        assert_eq!(t, Some(1119372468.0));
        let (_, t) = find(None, "2005-06-21 16:47:48.123 +0200 x").unwrap();
        assert_eq!(t, Some(1119372468.0 - 7200.0));
        // Mixed separators are not a date of that format.
        let found = find(None, "2005-06/21 16:47:48 x");
        assert_ne!(found.map(|f| f.0), Some("2005-06/21 16:47:48".to_string()));
    }

    #[test]
    fn apache_epoch_tai64n() {
        let (text, t) = find(
            None,
            r#"192.0.2.1 - - [21/Jun/2005:16:47:48 +0200] "GET /""#,
        )
        .unwrap();
        assert_eq!(text, "21/Jun/2005:16:47:48 +0200");
        assert_eq!(t, Some(1119365268.0));
        let (text, t) = find(None, "1119365268.250 host x").unwrap();
        assert_eq!(text, "1119365268.250");
        assert_eq!(t, Some(1119365268.25));
        let (_, t) = find(None, "type=USER_LOGIN msg=audit(1119365268.250:123): x").unwrap();
        assert_eq!(t, Some(1119365268.25));
        let (_, t) = find(None, "@4000000042b82a9400000000 x").unwrap();
        assert_eq!(t, Some(0x42b82a94 as f64));
        let (_, t) = find(Some("LEPOCH"), "1119365268250 x").unwrap();
        assert_eq!(t, Some(1119365268.25));
    }

    #[test]
    fn custom_patterns() {
        let (text, t) = find(Some("^%Y-%m-%d %H:%M:%S"), "2005-06-21 16:47:48 x").unwrap();
        assert_eq!(text, "2005-06-21 16:47:48");
        assert_eq!(t, Some(local(2005, 6, 21, 16, 47, 48)));
        let (text, _) = find(Some(r"^[^\[]*\[({DATE})"), "host [Jun 21 16:47:48] x").unwrap();
        assert_eq!(text, "Jun 21 16:47:48");
        let (_, t) = find(
            Some("{^LN-BEG}%ExY%Exm%Exd %ExH%ExM%ExS"),
            "20050621 164748 x",
        )
        .unwrap();
        assert_eq!(t, Some(local(2005, 6, 21, 16, 47, 48)));
        let (_, t) = find(Some("%H:%M:%S"), "x 13:00:00 y").unwrap();
        assert_eq!(t, Some(local(2005, 8, 13, 13, 0, 0)));
        let (text, t) = find(Some("{NONE}"), "anything").unwrap();
        assert_eq!((text.as_str(), t), ("", None));
        assert!(find(Some("{^LN-BEG}"), "x Aug 14 11:59:59").is_none());
        assert!(DateDetector::new(Some("%Q")).is_err());
    }
}
