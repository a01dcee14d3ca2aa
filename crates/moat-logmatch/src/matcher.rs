//! A compiled filter and the matcher that runs log lines through it, the way
//! fail2ban's filter does: date detection and removal, the line buffer
//! (`maxlines`), ignoreregex, prefregex (`<F-CONTENT>` becomes the text the
//! failregexes see), failregexes in order, multi-line failure ids.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dates::{DateDetector, DateError, DateState, Now};
use crate::engine::{ascii_twin, CompileError, Engine, Pattern, Slots};
use crate::multiline::{FailData, MlfidCache};
use crate::tags;

/// One filter's matching rules, as plain strings (already interpolated by
/// the filter-file reader).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// Failure patterns (Python syntax with fail2ban tags such as `<HOST>`).
    pub failregex: Vec<String>,
    /// Lines (or matches) these patterns find are not failures.
    pub ignoreregex: Vec<String>,
    /// A pattern every line must match first; its `<F-CONTENT>` group is
    /// what the failregexes then see.
    pub prefregex: Option<String>,
    /// fail2ban datepattern (one template per line); `None`: the built-in
    /// formats.
    pub datepattern: Option<String>,
    /// How many lines a failregex sees at once (1: single-line).
    pub maxlines: usize,
}

/// Which list of a filter a regex belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegexKind {
    /// A failregex.
    Failregex,
    /// An ignoreregex.
    Ignoreregex,
    /// The prefregex.
    Prefregex,
    /// A date template.
    Datepattern,
}

impl std::fmt::Display for RegexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegexKind::Failregex => "failregex",
            RegexKind::Ignoreregex => "ignoreregex",
            RegexKind::Prefregex => "prefregex",
            RegexKind::Datepattern => "datepattern",
        })
    }
}

/// Why a filter did not compile: which regex, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A regex is invalid.
    #[error("{kind} {index} ({regex:?}): {source}")]
    Regex {
        /// Its list.
        kind: RegexKind,
        /// Its index in the list.
        index: usize,
        /// Its text.
        regex: String,
        /// What is wrong.
        source: CompileError,
    },
    /// A regex is empty.
    #[error("{kind} {index} is empty")]
    Empty {
        /// Its list.
        kind: RegexKind,
        /// Its index in the list.
        index: usize,
    },
    /// A failregex captures no host or failure id.
    #[error("failregex {index} ({regex:?}) has no host group: use <HOST>, <ADDR>, <IP4>, <IP6>, <DNS>, <F-ID> or <F-MLFID> (here or in prefregex)")]
    NoHost {
        /// Its index.
        index: usize,
        /// Its text.
        regex: String,
    },
    /// A date template is invalid.
    #[error("datepattern {pattern:?}: {source}")]
    Date {
        /// The template.
        pattern: String,
        /// What is wrong.
        source: DateError,
    },
    /// `maxlines` is 0.
    #[error("maxlines must be at least 1")]
    MaxLines,
}

/// One regex of a filter and the engine it runs on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegexInfo {
    /// Its list.
    pub kind: RegexKind,
    /// Its index in the list.
    pub index: usize,
    /// The text it was given.
    pub regex: String,
    /// The engine it was compiled for.
    pub engine: Engine,
}

/// A failure found in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// 1-based line at which the failure completes.
    pub line: u64,
    /// The host text as captured (never resolved).
    pub host: String,
    /// The address, when the host is one (with `<CIDR>`: the network's
    /// first address).
    pub addr: Option<IpAddr>,
    /// The time of the line (`None`: it had no date).
    pub time: Option<SystemTime>,
    /// The user, when the regex captures one.
    pub user: Option<String>,
    /// Index of the failregex that matched.
    pub regex: usize,
    /// Other captures (`<F-...>` groups such as `fid`, `cidr`, `alt_user`).
    pub groups: BTreeMap<String, String>,
}

/// A regex gave up on a line (its backtracking limit was reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{kind} {index} exceeded its backtracking limit; line skipped for it")]
pub struct MatchError {
    /// Its list.
    pub kind: RegexKind,
    /// Its index in the list.
    pub index: usize,
}

/// Everything one line did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Failures this line completes.
    pub failures: Vec<Failure>,
    /// Failregexes that matched (including matches that are not failures:
    /// `<F-NOFAIL>`, or a host still pending).
    pub hits: Vec<usize>,
    /// Ignoreregexes that matched.
    pub ignored_by: Vec<usize>,
    /// A failregex matched but said "no failure" (`<F-NOFAIL>`).
    pub nofail: bool,
    /// Regexes that gave up on this line.
    pub errors: Vec<MatchError>,
}

/// Group numbers a regex's captures are read by.
#[derive(Debug, Clone)]
struct Rx {
    source: String,
    pattern: Pattern,
    /// (group number, name) of every named group.
    named: Vec<(usize, Arc<str>)>,
    /// (group number, name it stands in for) of `alt_` groups, by name.
    alts: Vec<(usize, Arc<str>)>,
    /// `<SKIPLINES>` groups.
    skiplines: Vec<usize>,
}

impl Rx {
    fn new(
        kind: RegexKind,
        index: usize,
        source: &str,
        multiline: bool,
    ) -> Result<Rx, FilterError> {
        if source.trim().is_empty() {
            return Err(FilterError::Empty { kind, index });
        }
        let expanded = tags::expand(source);
        let pattern = Pattern::python(&expanded, multiline).map_err(|e| FilterError::Regex {
            kind,
            index,
            regex: source.to_string(),
            source: e,
        })?;
        let named: Vec<(usize, Arc<str>)> = pattern
            .names()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, Arc::from(n.as_deref()?))))
            .collect();
        let mut alts: Vec<(usize, Arc<str>, Arc<str>)> = named
            .iter()
            .filter(|(_, n)| n.len() > 4)
            .filter_map(|(i, n)| Some((*i, n.clone(), Arc::from(tags::alt_target(n)?))))
            .collect();
        alts.sort_by(|a, b| a.1.cmp(&b.1));
        let skiplines = named
            .iter()
            .filter(|(_, n)| n.starts_with("skiplines"))
            .map(|(i, _)| *i)
            .collect();
        Ok(Rx {
            source: source.to_string(),
            pattern,
            named,
            alts: alts.into_iter().map(|(i, _, t)| (i, t)).collect(),
            skiplines,
        })
    }

    fn has_any(&self, names: &[&str]) -> bool {
        self.named.iter().any(|(_, n)| names.contains(&&**n))
    }

    /// Writes the captured values into `dest` (with `alt_` values filled
    /// in): a group that took part in the match sets its value, one that
    /// did not removes it.
    fn fill(&self, hay: &str, slots: &Slots, dest: &mut BTreeMap<Arc<str>, String>) {
        for (i, n) in &self.named {
            match slots.get(*i) {
                Some((s, e)) => match dest.get_mut(&**n) {
                    Some(v) => {
                        v.clear();
                        v.push_str(&hay[s..e]);
                    }
                    None => {
                        dest.insert(n.clone(), hay[s..e].to_string());
                    }
                },
                None => {
                    dest.remove(&**n);
                }
            }
        }
        for (a, (i, target)) in self.alts.iter().enumerate() {
            let Some(v) = slots
                .get(*i)
                .map(|(s, e)| &hay[s..e])
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            // The target's own value in this match (not one an earlier
            // pattern left in `dest`), or an earlier alt's.
            let own = self
                .named
                .iter()
                .find(|(_, n)| n == target)
                .and_then(|(j, _)| slots.get(*j))
                .is_some_and(|(s, e)| s < e)
                || self.alts[..a]
                    .iter()
                    .any(|(j, t)| t == target && slots.get(*j).is_some_and(|(s, e)| s < e));
            if !own {
                dest.insert(target.clone(), v.to_string());
            }
        }
    }
}

/// A compiled filter (shareable between threads). A clone shares the
/// compiled regexes but has its own search caches: cheaper for a second
/// thread that searches as much as the first than sharing one filter.
#[derive(Debug, Clone)]
pub struct Filter {
    fail: Vec<Rx>,
    ignore: Vec<Rx>,
    pref: Option<Rx>,
    /// For a prefregex `HEAD<F-CONTENT>.+</F-CONTENT>$` (or `.*`): HEAD
    /// alone, and whether the content may be empty (see [`Filter::prefix`]).
    pref_head: Option<(Rx, bool)>,
    /// All failregexes (their linear-time forms) in one automaton.
    fail_set: regex::RegexSet,
    /// The failregexes without assertions, tried on the whole line before
    /// the prefregex: when the prefregex's content is the rest of the line,
    /// a line none of them matches cannot have a failure.
    line_set: Option<regex::RegexSet>,
    /// The two sets with Unicode off, for ASCII-only lines (see
    /// [`crate::engine::ascii_twin`]; `None` when a pattern has no twin).
    fail_set_ascii: Option<regex::bytes::RegexSet>,
    line_set_ascii: Option<regex::bytes::RegexSet>,
    dates: DateDetector,
    maxlines: usize,
}

const HOST_GROUPS: [&str; 5] = ["fid", "ip4", "ip6", "dns", "mlfid"];

impl Filter {
    /// Compiles a filter.
    pub fn compile(spec: &FilterSpec) -> Result<Filter, FilterError> {
        if spec.maxlines == 0 {
            return Err(FilterError::MaxLines);
        }
        let multiline = spec.maxlines > 1;
        let pref = match &spec.prefregex {
            Some(p) if !p.trim().is_empty() => Some(Rx::new(RegexKind::Prefregex, 0, p, false)?),
            _ => None,
        };
        let fail = spec
            .failregex
            .iter()
            .enumerate()
            .map(|(i, r)| Rx::new(RegexKind::Failregex, i, r, multiline))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, rx) in fail.iter().enumerate() {
            if !rx.has_any(&HOST_GROUPS) && !pref.as_ref().is_some_and(|p| p.has_any(&HOST_GROUPS))
            {
                return Err(FilterError::NoHost {
                    index: i,
                    regex: rx.source.clone(),
                });
            }
        }
        let ignore = spec
            .ignoreregex
            .iter()
            .enumerate()
            .map(|(i, r)| Rx::new(RegexKind::Ignoreregex, i, r, false))
            .collect::<Result<Vec<_>, _>>()?;
        let set = |patterns: Vec<&str>| {
            regex::RegexSetBuilder::new(patterns)
                .size_limit(256 << 20)
                .dfa_size_limit(64 << 20)
                .build()
                .map_err(|e| FilterError::Regex {
                    kind: RegexKind::Failregex,
                    index: 0,
                    regex: "(all failregexes together)".to_string(),
                    source: CompileError::Engine(e.to_string()),
                })
        };
        let ascii_set = |patterns: Vec<&str>| {
            let twins = patterns
                .iter()
                .map(|p| ascii_twin(p))
                .collect::<Option<Vec<_>>>()?;
            regex::bytes::RegexSetBuilder::new(twins)
                .size_limit(256 << 20)
                .dfa_size_limit(64 << 20)
                .build()
                .ok()
        };
        let fail_set = set(fail.iter().map(|r| r.pattern.approx()).collect())?;
        let fail_set_ascii = ascii_set(fail.iter().map(|r| r.pattern.approx()).collect());
        let content_is_rest = pref.as_ref().is_some_and(|p| {
            let t = p.source.trim_end();
            t.ends_with("<F-CONTENT>.+</F-CONTENT>$") || t.ends_with("<F-CONTENT>.*</F-CONTENT>$")
        });
        let pref_head = match &pref {
            Some(p) if content_is_rest && !multiline => pref_head(p),
            _ => None,
        };
        let line_set = if content_is_rest && !multiline {
            Some(set(fail.iter().map(|r| r.pattern.loose()).collect())?)
        } else {
            None
        };
        let line_set_ascii = line_set
            .as_ref()
            .and_then(|_| ascii_set(fail.iter().map(|r| r.pattern.loose()).collect()));
        let dates = DateDetector::new(spec.datepattern.as_deref())
            .map_err(|(pattern, source)| FilterError::Date { pattern, source })?;
        Ok(Filter {
            fail,
            ignore,
            pref,
            pref_head,
            fail_set,
            line_set,
            fail_set_ascii,
            line_set_ascii,
            dates,
            maxlines: spec.maxlines,
        })
    }

    /// A matcher for one log source (daemon semantics: the first failregex
    /// that decides a line ends its search).
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher::new(self, false)
    }

    /// A matcher that tries every failregex and ignoreregex on each line,
    /// as `fail2ban-regex` and fail2ban's own sample tests do.
    pub fn matcher_check_all(&self) -> Matcher<'_> {
        Matcher::new(self, true)
    }

    /// A matcher (daemon semantics) that owns a share of the filter, for
    /// a long-running reader that keeps its matchers beside the filter.
    pub fn shared_matcher(filter: Arc<Filter>) -> Matcher<'static> {
        Matcher::new(FilterRef::Shared(filter), false)
    }

    /// Every regex of the filter with the engine it got.
    pub fn regexes(&self) -> Vec<RegexInfo> {
        let info = |kind, index, rx: &Rx| RegexInfo {
            kind,
            index,
            regex: rx.source.clone(),
            engine: rx.pattern.engine(),
        };
        let mut out: Vec<RegexInfo> = self
            .pref
            .iter()
            .map(|p| info(RegexKind::Prefregex, 0, p))
            .collect();
        out.extend(
            self.fail
                .iter()
                .enumerate()
                .map(|(i, r)| info(RegexKind::Failregex, i, r)),
        );
        out.extend(
            self.ignore
                .iter()
                .enumerate()
                .map(|(i, r)| info(RegexKind::Ignoreregex, i, r)),
        );
        out.extend(
            self.dates
                .templates()
                .iter()
                .enumerate()
                .map(|(i, t)| RegexInfo {
                    kind: RegexKind::Datepattern,
                    index: i,
                    regex: t.name.clone(),
                    engine: t.engine(),
                }),
        );
        out
    }

    /// Whether the whole-line pre-filter says `hay` has no failure.
    fn line_set_rejects(&self, hay: &str, ascii: bool) -> bool {
        match (&self.line_set_ascii, &self.line_set) {
            (Some(set), _) if ascii => !set.is_match(hay.as_bytes()),
            (_, Some(set)) => !set.is_match(hay),
            _ => false,
        }
    }

    /// The failregexes whose linear-time forms match `hay`, in order.
    fn fail_candidates(&self, hay: &str, ascii: bool) -> Vec<usize> {
        match &self.fail_set_ascii {
            Some(set) if ascii => set.matches(hay.as_bytes()).into_iter().collect(),
            _ => self.fail_set.matches(hay).into_iter().collect(),
        }
    }

    /// Number of failregexes.
    pub fn failregex_count(&self) -> usize {
        self.fail.len()
    }

    /// Number of ignoreregexes.
    pub fn ignoreregex_count(&self) -> usize {
        self.ignore.len()
    }
}

/// The head of a prefregex `HEAD<F-CONTENT>.+</F-CONTENT>$` (or with `.*`),
/// compiled alone, and whether the content may be empty.
///
/// On a single line, the whole prefregex matches with the groups HEAD
/// matches with, whenever the rest of the line after HEAD's match is a
/// valid content (not empty for `.+`): HEAD's leftmost-first match is the
/// first way through HEAD in priority order, and the whole pattern takes the
/// first way through HEAD after which `.+$` matches. Otherwise the whole
/// prefregex decides. Searching HEAD only captures over a few bytes instead
/// of the whole line. Not used when HEAD sets flags (`(?s)` would change
/// what `.` is) or an `alt_` group could stand in for the content.
fn pref_head(pref: &Rx) -> Option<(Rx, bool)> {
    let t = pref.source.trim_end();
    let (head, empty) = if let Some(h) = t.strip_suffix("<F-CONTENT>.+</F-CONTENT>$") {
        (h, false)
    } else {
        (t.strip_suffix("<F-CONTENT>.*</F-CONTENT>$")?, true)
    };
    let sets_flags = head
        .match_indices("(?")
        .any(|(i, _)| head[i + 2..].starts_with(|c: char| c.is_ascii_alphabetic()));
    if sets_flags || pref.alts.iter().any(|(_, t)| &**t == "content") || head.trim().is_empty() {
        return None;
    }
    let rx = Rx::new(RegexKind::Prefregex, 0, head, false).ok()?;
    let same_groups = rx
        .named
        .iter()
        .all(|(_, n)| pref.named.iter().any(|(_, m)| m == n))
        && rx.named.len() + 1 == pref.named.len();
    same_groups.then_some((rx, empty))
}

/// A line's time as [`Matcher::date_line`] found it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineDate {
    /// The line's time (Unix seconds), if it has one.
    date: Option<f64>,
    /// When it was read (Unix seconds).
    now: f64,
}

/// The regex work on one line ([`Matcher::scan`]), waiting for
/// [`Matcher::finish`].
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Hits, ignoreregexes and errors (complete); no failures yet.
    outcome: Outcome,
    /// The matches (failregex, captured values) the connection cache decides on.
    pending: Vec<(usize, FailData)>,
}

/// When a line happened.
#[derive(Debug, Clone, Copy)]
enum LineTime {
    /// Find the date in the line; `now` places year-less dates.
    Detect(SystemTime),
    /// Known from elsewhere (the journal).
    Known(SystemTime),
}

fn unix(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn system_time(secs: f64) -> SystemTime {
    if secs >= 0.0 {
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    } else {
        UNIX_EPOCH - Duration::from_secs_f64(-secs)
    }
}

/// The filter a matcher runs: borrowed, or shared with its owner.
#[derive(Debug)]
enum FilterRef<'f> {
    Borrowed(&'f Filter),
    Shared(Arc<Filter>),
}

impl Deref for FilterRef<'_> {
    type Target = Filter;

    fn deref(&self) -> &Filter {
        match self {
            FilterRef::Borrowed(f) => f,
            FilterRef::Shared(f) => f,
        }
    }
}

impl<'f> From<&'f Filter> for FilterRef<'f> {
    fn from(f: &'f Filter) -> Self {
        FilterRef::Borrowed(f)
    }
}

/// Runs lines through a [`Filter`]; keeps what spans lines (the line buffer,
/// the last date, connections by multi-line failure id).
#[derive(Debug)]
pub struct Matcher<'f> {
    filter: FilterRef<'f>,
    check_all: bool,
    dates: DateState,
    fail_slots: Vec<Slots>,
    ignore_slots: Vec<Slots>,
    pref_slots: Slots,
    /// The text of the lines in the buffer (date removed).
    lines: Vec<String>,
    /// Scratch: the buffer the regexes search.
    buf: String,
    /// Scratch: the prefregex content.
    work: String,
    /// Scratch: the buffer the prefregex matched (its values are read from
    /// it with `pref_slots`).
    pre: String,
    last_date: Option<f64>,
    mlfid: MlfidCache,
    now: Option<Now>,
}

/// The matched and unmatched lines of a match in a multi-line buffer.
struct LineSplit {
    matched: Vec<usize>,
    unmatched: Vec<usize>,
}

impl<'f> Matcher<'f> {
    fn new(filter: impl Into<FilterRef<'f>>, check_all: bool) -> Matcher<'f> {
        let filter = filter.into();
        Matcher {
            check_all,
            dates: filter.dates.state(),
            fail_slots: filter.fail.iter().map(|_| Slots::default()).collect(),
            ignore_slots: filter.ignore.iter().map(|_| Slots::default()).collect(),
            pref_slots: Slots::default(),
            lines: Vec::new(),
            buf: String::new(),
            work: String::new(),
            pre: String::new(),
            last_date: None,
            mlfid: MlfidCache::default(),
            now: None,
            filter,
        }
    }

    /// Feeds one log line (without newline). `now` places year-less dates
    /// (syslog) in the past. `line_no` is the 1-based line number in its
    /// source. Returns the failures this line completes.
    pub fn feed(&mut self, line: &str, line_no: u64, now: SystemTime) -> Vec<Failure> {
        self.process(line, line_no, LineTime::Detect(now)).failures
    }

    /// Same for a line whose time is known from elsewhere (journal): no
    /// date detection.
    pub fn feed_at(&mut self, line: &str, line_no: u64, time: SystemTime) -> Vec<Failure> {
        self.process(line, line_no, LineTime::Known(time)).failures
    }

    /// Like [`Matcher::feed`], with everything the line did.
    pub fn feed_outcome(&mut self, line: &str, line_no: u64, now: SystemTime) -> Outcome {
        self.process(line, line_no, LineTime::Detect(now))
    }

    /// Like [`Matcher::feed_at`], with everything the line did.
    pub fn feed_at_outcome(&mut self, line: &str, line_no: u64, time: SystemTime) -> Outcome {
        self.process(line, line_no, LineTime::Known(time))
    }

    fn now_info(&mut self, now: f64) -> Now {
        let secs = now.floor() as i64;
        match self.now {
            Some(n) if n.unix == secs => n,
            _ => {
                let n = Now::at(secs);
                self.now = Some(n);
                n
            }
        }
    }

    fn recent_last_date(&self, now: f64) -> Option<f64> {
        self.last_date.filter(|d| *d > now - 60.0)
    }

    /// Date detection, then the regexes: what one line did.
    fn process(&mut self, line: &str, line_no: u64, when: LineTime) -> Outcome {
        let mut text = std::mem::take(&mut self.work);
        text.clear();
        let date = self.date_into(line, when, &mut text);
        let scan = self.scan(&text);
        let outcome = self.finish(scan, line_no, date);
        self.work = text;
        outcome
    }

    /// Date detection: appends the line's text without its date to `text`,
    /// and returns its time.
    fn date_into(&mut self, line: &str, when: LineTime, text: &mut String) -> LineDate {
        let start = text.len();
        let date = match when {
            LineTime::Known(t) => {
                let t = unix(t);
                self.last_date = Some(t);
                text.push_str(line);
                Some(t)
            }
            LineTime::Detect(now) => {
                let now = unix(now);
                let info = self.now_info(now);
                let found =
                    self.filter
                        .dates
                        .find_in(line, &mut self.dates, &info, line.is_ascii());
                let mut date = None;
                match found {
                    Some(f) if f.hit.start < f.hit.end => {
                        text.push_str(&line[..f.hit.start]);
                        text.push_str(&line[f.hit.end..]);
                        if let Some(t) = f.time {
                            self.last_date = Some(t);
                            date = Some(t);
                        }
                    }
                    Some(_) => {
                        text.push_str(line);
                        date = Some(self.recent_last_date(now).unwrap_or(now));
                    }
                    None => text.push_str(line),
                }
                if date.is_none() {
                    if let Some(last) = self.recent_last_date(now) {
                        text.truncate(start);
                        text.push_str(line);
                        date = Some(last);
                    }
                }
                date
            }
        };
        let now = match when {
            LineTime::Detect(n) | LineTime::Known(n) => unix(n),
        };
        LineDate { date, now }
    }

    /// The first stage of [`Matcher::feed_outcome`], for running a log's
    /// stages on different threads: finds the line's date (the date state
    /// lives here, so lines must come in order), appends the line's text
    /// without it to `text` and returns its time. The text then goes to
    /// [`Matcher::scan`], and the scan with this time to
    /// [`Matcher::finish`]: `scan` then `finish` on one matcher, line after
    /// line, does what `feed_outcome` does. The date stage may run on
    /// another matcher of the same filter (it shares no state with the
    /// others).
    pub fn date_line(&mut self, line: &str, now: SystemTime, text: &mut String) -> LineDate {
        self.date_into(line, LineTime::Detect(now), text)
    }

    /// Whether [`Matcher::scan`] depends on nothing but the text and the
    /// filter (single-line filters: `maxlines` 1), so that it may run on
    /// any matcher of the same filter and kind ([`Filter::matcher`] or
    /// [`Filter::matcher_check_all`]), in any order. Otherwise the line
    /// buffer makes it depend on the lines before, and it must run on the
    /// matcher that finishes the lines, in order.
    pub fn scan_is_stateless(&self) -> bool {
        self.filter.maxlines == 1
    }

    /// The second stage (see [`Matcher::date_line`]): the regex work on a
    /// line's text without its date (prefregex, failregexes, ignoreregexes,
    /// captures), everything except the multi-line failure ids.
    pub fn scan(&mut self, text: &str) -> Scan {
        self.scan_text(text)
    }

    /// The last stage (see [`Matcher::date_line`]): merges the matches of
    /// `scan` with the connections by multi-line failure id and returns
    /// everything the line did. Lines must come in order.
    pub fn finish(&mut self, scan: Scan, line_no: u64, when: LineDate) -> Outcome {
        let Scan {
            outcome: mut out,
            pending,
        } = scan;
        for (i, mut fail) in pending {
            let mlfid = fail.groups.get("mlfid").cloned();
            let mut stored = false;
            if let Some(id) = &mlfid {
                let (merged, s) = self.mlfid.merge(id, fail, when.now);
                fail = merged;
                stored = s;
                if fail.truthy("nofail") {
                    out.nofail = true;
                    if stored {
                        self.mlfid.store(id, fail);
                    }
                    continue;
                }
            }
            let host = ["ip4", "ip6", "dns"]
                .iter()
                .find_map(|k| fail.groups.get(*k).cloned())
                .or_else(|| fail.groups.get("fid").cloned());
            let Some(host) = host else {
                // Pending: the connection's host is not known yet (a match
                // with neither host nor id never gets here).
                fail.pending = true;
                if let (Some(id), true) = (&mlfid, stored) {
                    self.mlfid.store(id, fail);
                }
                continue;
            };
            if fail.truthy("nofail") {
                out.nofail = true;
            } else {
                out.failures
                    .push(failure(line_no, host, when.date, i, &fail));
            }
            if let (Some(id), true) = (&mlfid, stored) {
                self.mlfid.store(id, fail);
            }
        }
        out
    }

    /// Fills `self.buf` with the lines joined, each ending in a newline.
    fn fill_buf(buf: &mut String, lines: &[String]) {
        buf.clear();
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
    }

    fn scan_text(&mut self, text: &str) -> Scan {
        let shared;
        let filter: &Filter = match &self.filter {
            FilterRef::Borrowed(f) => f,
            FilterRef::Shared(f) => {
                shared = Arc::clone(f);
                &shared
            }
        };
        let multiline = filter.maxlines > 1;
        let mut out = Outcome::default();
        let mut pending = Vec::new();
        // The line buffer.
        if multiline {
            self.lines.push(text.to_string());
            let excess = self.lines.len().saturating_sub(filter.maxlines);
            self.lines.drain(..excess);
        } else {
            match self.lines.first_mut() {
                Some(l) => {
                    l.clear();
                    l.push_str(text);
                    self.lines.truncate(1);
                }
                None => self.lines.push(text.to_string()),
            }
        }
        let org: Vec<String> = if multiline {
            self.lines.clone()
        } else {
            Vec::new()
        };
        let mut buf = std::mem::take(&mut self.buf);
        Self::fill_buf(&mut buf, &self.lines);
        // Every text searched below is a part of `buf`.
        let ascii = buf.is_ascii();
        // With many failregexes, ignoreregexes are tried first on the whole buffer.
        if !filter.ignore.is_empty()
            && filter.ignore.len() + 2 < filter.fail.len()
            && self.ignored(&buf, ascii, &mut out)
        {
            self.buf = buf;
            return Scan {
                outcome: out,
                pending,
            };
        }
        // (With the prefregex's head, finding the head is cheaper than the
        // whole-line pre-filter.)
        if filter.pref_head.is_none() && filter.line_set_rejects(&buf, ascii) {
            self.buf = buf;
            return Scan {
                outcome: out,
                pending,
            };
        }
        // The prefregex. Its values are read from `self.pre` (the buffer
        // it matched) with `self.pref_slots` when a failregex matches.
        let mut pref_rx: Option<&Rx> = None;
        let head = match &filter.pref_head {
            Some((head, empty)) => {
                match head
                    .pattern
                    .captures_at_in(&buf, 0, &mut self.pref_slots, ascii)
                {
                    // No head, no prefregex match.
                    Ok(false) => {
                        self.buf = buf;
                        return Scan {
                            outcome: out,
                            pending,
                        };
                    }
                    Ok(true) => Some((head, *empty)),
                    Err(_) => None,
                }
            }
            None => None,
        };
        let head = head.and_then(|(head, empty)| {
            let end = self.pref_slots.get(0)?.1;
            let rest = &buf[end..];
            let rest = rest.strip_suffix('\n').unwrap_or(rest);
            (!rest.contains('\n') && (empty || !rest.is_empty())).then_some((head, end))
        });
        if let Some((head, end)) = head {
            pref_rx = Some(head);
            std::mem::swap(&mut buf, &mut self.pre);
            let rest = &self.pre[end..];
            let content = rest.strip_suffix('\n').unwrap_or(rest);
            if content.is_empty() {
                buf.clear();
                buf.push_str(&self.pre);
            } else {
                self.lines.truncate(1);
                match self.lines.first_mut() {
                    Some(l) => {
                        l.clear();
                        l.push_str(content);
                    }
                    None => self.lines.push(content.to_string()),
                }
                Self::fill_buf(&mut buf, &self.lines);
            }
        } else if let Some(pref) = &filter.pref {
            match pref
                .pattern
                .captures_at_in(&buf, 0, &mut self.pref_slots, ascii)
            {
                Ok(true) => {}
                Ok(false) => {
                    self.buf = buf;
                    return Scan {
                        outcome: out,
                        pending,
                    };
                }
                Err(_) => {
                    out.errors.push(MatchError {
                        kind: RegexKind::Prefregex,
                        index: 0,
                    });
                    self.buf = buf;
                    return Scan {
                        outcome: out,
                        pending,
                    };
                }
            }
            pref_rx = Some(pref);
            self.pre.clear();
            self.pre.push_str(&buf);
            let mut groups = BTreeMap::new();
            pref.fill(&self.pre, &self.pref_slots, &mut groups);
            if let Some(content) = groups.remove("content") {
                if !content.is_empty() {
                    self.lines.clear();
                    self.lines.push(content);
                    Self::fill_buf(&mut buf, &self.lines);
                }
            }
        }
        // Cheap test of all failregexes at once.
        let candidates = filter.fail_candidates(&buf, ascii);
        if candidates.is_empty() {
            self.buf = buf;
            return Scan {
                outcome: out,
                pending,
            };
        }
        let mut buf_valid = true;
        for i in candidates {
            if !buf_valid {
                Self::fill_buf(&mut buf, &self.lines);
                buf_valid = true;
                if !filter.fail_candidates(&buf, ascii).contains(&i) {
                    continue;
                }
            }
            let rx = &filter.fail[i];
            match rx
                .pattern
                .captures_expected(&buf, &mut self.fail_slots[i], ascii)
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => {
                    out.errors.push(MatchError {
                        kind: RegexKind::Failregex,
                        index: i,
                    });
                    continue;
                }
            }
            let slots = &self.fail_slots[i];
            let split = multiline.then(|| split_lines(&buf, slots, rx, &org));
            out.hits.push(i);
            // Ignoreregexes on what the failregex matched.
            if !filter.ignore.is_empty() {
                let ignored = match &split {
                    Some(s) => {
                        let matched: Vec<String> =
                            s.matched.iter().map(|&j| org[j].clone()).collect();
                        let mut b = String::new();
                        Self::fill_buf(&mut b, &matched);
                        self.ignored(&b, ascii, &mut out)
                    }
                    None => self.ignored(&buf, ascii, &mut out),
                };
                if ignored {
                    if let Some(s) = &split {
                        self.lines = s.unmatched.iter().map(|&j| org[j].clone()).collect();
                    }
                    buf_valid = false;
                    out.hits.pop();
                    if !self.check_all {
                        break;
                    }
                    continue;
                }
            }
            if let Some(s) = &split {
                self.lines = s.unmatched.iter().map(|&j| org[j].clone()).collect();
                buf_valid = false;
            }
            // Merge with the prefregex values.
            let mut fail = FailData::default();
            if let Some(p) = pref_rx {
                p.fill(&self.pre, &self.pref_slots, &mut fail.groups);
                fail.groups.remove("content");
            }
            rx.fill(&buf, &self.fail_slots[i], &mut fail.groups);
            // A match with neither host nor connection id is not a failure;
            // any other decides the line (unless checking all): what it
            // does is up to the connection cache, in `finish`.
            if !["mlfid", "ip4", "ip6", "dns", "fid"]
                .iter()
                .any(|k| fail.groups.contains_key(*k))
            {
                out.hits.pop();
                continue;
            }
            pending.push((i, fail));
            if !self.check_all {
                break;
            }
        }
        self.buf = buf;
        Scan {
            outcome: out,
            pending,
        }
    }

    /// Tries the ignoreregexes on `hay` (all of them when checking all).
    fn ignored(&mut self, hay: &str, ascii: bool, out: &mut Outcome) -> bool {
        let mut found = false;
        for (j, rx) in self.filter.ignore.iter().enumerate() {
            match rx
                .pattern
                .captures_at_in(hay, 0, &mut self.ignore_slots[j], ascii)
            {
                Ok(true) => {
                    found = true;
                    out.ignored_by.push(j);
                    if !self.check_all {
                        break;
                    }
                }
                Ok(false) => {}
                Err(_) => out.errors.push(MatchError {
                    kind: RegexKind::Ignoreregex,
                    index: j,
                }),
            }
        }
        found
    }
}

/// Which buffer lines a match covers (less the lines `<SKIPLINES>` took).
fn split_lines(buf: &str, slots: &Slots, rx: &Rx, org: &[String]) -> LineSplit {
    let all: Vec<usize> = (0..org.len()).collect();
    if org.len() <= 1 {
        return LineSplit {
            matched: all,
            unmatched: Vec::new(),
        };
    }
    let (start, end) = slots.get(0).unwrap_or((0, 0));
    let line_start = buf[..(start + 1).min(buf.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = buf[end.saturating_sub(1)..]
        .find('\n')
        .map_or(buf.len(), |i| end.saturating_sub(1) + i + 1);
    let first = buf[..line_start].matches('\n').count().min(org.len());
    let last = buf[..line_end].matches('\n').count().min(org.len());
    let mut matched: Vec<usize> = (first..last).collect();
    let mut unmatched: Vec<usize> = (0..first).collect();
    let skipped: Vec<&str> = rx
        .skiplines
        .iter()
        .filter_map(|&g| slots.get(g).map(|(s, e)| &buf[s..e]))
        .flat_map(str::lines)
        .collect();
    let mut n = 0;
    for s in skipped {
        if let Some(m) = matched[n.min(matched.len())..]
            .iter()
            .position(|&j| org[j] == s)
        {
            unmatched.push(matched.remove(n + m));
            n += m;
        }
    }
    unmatched.extend(last..org.len());
    LineSplit { matched, unmatched }
}

fn failure(line: u64, host: String, date: Option<f64>, regex: usize, fail: &FailData) -> Failure {
    let cidr = fail.groups.get("cidr").and_then(|c| c.parse::<u8>().ok());
    let addr = host.parse::<IpAddr>().ok().map(|a| match (a, cidr) {
        (IpAddr::V4(v4), Some(c)) if c < 32 => {
            IpAddr::V4((u32::from(v4) & (u32::MAX.checked_shl(32 - c as u32).unwrap_or(0))).into())
        }
        (IpAddr::V6(v6), Some(c)) if c < 128 => IpAddr::V6(
            (u128::from(v6) & (u128::MAX.checked_shl(128 - c as u32).unwrap_or(0))).into(),
        ),
        (a, _) => a,
    });
    const INTERNAL: [&str; 9] = [
        "ip4",
        "ip6",
        "dns",
        "user",
        "mlfid",
        "nofail",
        "mlfforget",
        "mlfgained",
        "content",
    ];
    let groups = fail
        .groups
        .iter()
        .filter(|(k, _)| !INTERNAL.contains(&&***k) && !k.starts_with("skiplines"))
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Failure {
        line,
        host,
        addr,
        time: date.map(system_time),
        user: fail.groups.get("user").cloned(),
        regex,
        groups,
    }
}
