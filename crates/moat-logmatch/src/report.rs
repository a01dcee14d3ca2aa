//! What `moat jail test` shows: hits per regex, which lines matched, were
//! ignored or missed, and the failures as JSON records.

use std::time::SystemTime;

use serde::Serialize;

use crate::matcher::{Failure, Filter, MatchError, Outcome};

/// One failure as `moat jail test --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureRecord {
    /// 1-based line at which the failure completes.
    pub line: u64,
    /// Host text as captured.
    pub host: String,
    /// RFC 3339 time in UTC, or null when the line had no date.
    pub time: Option<String>,
    /// The user, when captured.
    pub user: Option<String>,
    /// Index of the failregex.
    pub regex: usize,
}

impl From<&Failure> for FailureRecord {
    fn from(f: &Failure) -> Self {
        FailureRecord {
            line: f.line,
            host: f.host.clone(),
            time: f.time.map(rfc3339),
            user: f.user.clone(),
            regex: f.regex,
        }
    }
}

impl Failure {
    /// The failure as a JSON object (`{"line", "host", "time", "user", "regex"}`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(FailureRecord::from(self)).unwrap_or(serde_json::Value::Null)
    }
}

fn rfc3339(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Totals over a log, like fail2ban-regex's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Lines read.
    pub lines: u64,
    /// Hits per failregex (matches that were not failures included).
    pub failregex_hits: Vec<u64>,
    /// Hits per ignoreregex.
    pub ignoreregex_hits: Vec<u64>,
    /// Lines with at least one failure.
    pub matched: Vec<u64>,
    /// Lines an ignoreregex or a no-failure match (`<F-NOFAIL>`) took.
    pub ignored: Vec<u64>,
    /// Lines nothing matched.
    pub missed: Vec<u64>,
    /// Regexes that gave up, with the line.
    pub errors: Vec<(u64, MatchError)>,
}

impl Report {
    /// An empty report for `filter`.
    pub fn new(filter: &Filter) -> Report {
        Report {
            failregex_hits: vec![0; filter.failregex_count()],
            ignoreregex_hits: vec![0; filter.ignoreregex_count()],
            ..Report::default()
        }
    }

    /// Counts one line's outcome.
    pub fn add(&mut self, line: u64, outcome: &Outcome) {
        self.lines += 1;
        for &i in &outcome.hits {
            if let Some(n) = self.failregex_hits.get_mut(i) {
                *n += 1;
            }
        }
        for &i in &outcome.ignored_by {
            if let Some(n) = self.ignoreregex_hits.get_mut(i) {
                *n += 1;
            }
        }
        if !outcome.failures.is_empty() {
            self.matched.push(line);
        } else if !outcome.ignored_by.is_empty() || outcome.nofail {
            self.ignored.push(line);
        } else {
            self.missed.push(line);
        }
        self.errors
            .extend(outcome.errors.iter().map(|e| (line, *e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FilterSpec;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn counts_and_json() {
        let filter = Filter::compile(&FilterSpec {
            failregex: vec![
                r"^\s*bad login for (?P<user>\S+) from <HOST>$".into(),
                r"^\s*<F-NOFAIL>hello</F-NOFAIL> <HOST>$".into(),
            ],
            ignoreregex: vec![r"for admin ".into()],
            maxlines: 1,
            datepattern: Some("{^LN-BEG}".into()),
            ..FilterSpec::default()
        })
        .unwrap();
        let mut m = filter.matcher_check_all();
        let mut report = Report::new(&filter);
        let now = UNIX_EPOCH + Duration::from_secs(1_124_013_600);
        let lines = [
            "2005-08-14 10:00:00 bad login for bob from 192.0.2.1",
            "2005-08-14 10:00:01 bad login for admin from 192.0.2.2",
            "2005-08-14 10:00:02 hello 192.0.2.3",
            "2005-08-14 10:00:03 something else",
        ];
        let mut records = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let o = m.feed_outcome(l, i as u64 + 1, now);
            records.extend(o.failures.iter().map(Failure::to_json));
            report.add(i as u64 + 1, &o);
        }
        assert_eq!(report.failregex_hits, vec![1, 1]);
        assert_eq!(report.ignoreregex_hits, vec![1]);
        assert_eq!(report.matched, vec![1]);
        assert_eq!(report.ignored, vec![2, 3]);
        assert_eq!(report.missed, vec![4]);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["host"], "192.0.2.1");
        assert_eq!(records[0]["user"], "bob");
        assert_eq!(records[0]["line"], 1);
        assert_eq!(records[0]["regex"], 0);
        assert!(records[0]["time"]
            .as_str()
            .unwrap()
            .starts_with("2005-08-14T"));
    }
}
