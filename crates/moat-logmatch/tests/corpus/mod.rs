//! Reading fail2ban's annotated test logs and checking a matcher against
//! them: the harness the corpus tests share.
//!
//! Debian's fail2ban package ships sample logs
//! (`.../fail2ban/tests/files/logs/*`): before each log line a
//! `# failJSON: {...}` comment says whether the package's filter of that name
//! finds a failure there, and for which host; `# filterOptions:` sections
//! run the lines through several variants of the filter (modes, log types),
//! `# fileOptions:` sets options for a whole file, `# addFILE:` pulls in
//! another file. [`samples`] reads the corpus the way fail2ban's
//! `samplestestcase.py` does, [`open`] sets the same "now" (2005-08-14
//! 12:00 CEST) and time zone, and [`Tally::check`] runs one annotated line
//! through one variant with every regex tried, as fail2ban's test does.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moat_logmatch::{Failure, Filter, FilterSpec, Matcher};
use serde_json::{Map, Value};

/// Where Debian's fail2ban package lives (its test logs and test filters).
pub const PACKAGE: &str = "/usr/lib/python3/dist-packages/fail2ban";
/// fail2ban's test time: Sun Aug 14 12:00:00 CEST 2005.
const TEST_NOW: u64 = 1_124_013_600;
/// The time zone fail2ban's tests run in (Europe/Zurich's rules).
const TEST_TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";

/// The corpus directory and fail2ban's test "now", with the process put in
/// fail2ban's test time zone (the matcher reads local time). `None` (the
/// test is to be skipped, with a message naming `test`) when the package's
/// test logs or any of `also_needed` are missing; under `CI=true` that is a
/// failure instead.
pub fn open(test: &str, also_needed: &[&Path]) -> Option<(PathBuf, SystemTime)> {
    let logs = Path::new(PACKAGE).join("tests/files/logs");
    if !logs.is_dir() || also_needed.iter().any(|p| !p.is_dir()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fail2ban is not installed (apt-get install fail2ban): the {test} cannot run"
        );
        eprintln!("SKIPPED: fail2ban (Debian package) not installed; {test} not run");
        return None;
    }
    std::env::set_var("TZ", TEST_TZ);
    Some((logs, UNIX_EPOCH + Duration::from_secs(TEST_NOW)))
}

/// A filter variant: filter name, options (without `test.*`), and the
/// configuration directory whose `filter.d` holds it (`None`: moat's
/// built-in filter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant {
    /// The filter name and its options, as one printable key.
    pub key: String,
    /// The filter name.
    pub name: String,
    /// The options passed to the filter (`mode`, `logtype`, ...).
    pub options: BTreeMap<String, String>,
    /// The directory with `filter.d`, or `None` for the built-in filter.
    pub basedir: Option<String>,
}

/// One annotated line, to be run through each variant in force.
#[derive(Debug)]
pub struct Sample {
    /// The corpus file it is in.
    pub file: String,
    /// Its 1-based line number there.
    pub line_no: usize,
    /// The log line.
    pub text: String,
    /// Its `failJSON` annotation (empty when it has none).
    pub expect: Map<String, Value>,
    /// Variants and their full options (with `test.*`).
    pub variants: Vec<(Variant, Map<String, Value>)>,
}

/// Evaluates the Python expressions the corpus uses as constraints:
/// `name == 'x'`, `opts.get('k') != 'v'` and the like.
fn eval(expr: &str, name: &str, opts: &Map<String, Value>) -> bool {
    let (op, at) = if let Some(i) = expr.find("!=") {
        ("!=", i)
    } else if let Some(i) = expr.find("==") {
        ("==", i)
    } else {
        panic!("unsupported constraint {expr:?}")
    };
    let value = |s: &str| -> Option<String> {
        let s = s.trim();
        if s == "name" {
            return Some(name.to_string());
        }
        if let Some(k) = s
            .strip_prefix("opts.get(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let k = k.trim_matches(|c| c == '\'' || c == '"');
            return opts.get(k).and_then(Value::as_str).map(str::to_string);
        }
        Some(s.trim_matches(|c| c == '\'' || c == '"').to_string())
    };
    let (a, b) = (value(&expr[..at]), value(&expr[at + 2..]));
    (a == b) == (op == "==")
}

fn options_of(opts: &Map<String, Value>) -> BTreeMap<String, String> {
    opts.iter()
        .filter(|(k, _)| !k.starts_with("test."))
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect()
}

fn read_lines(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .split_inclusive('\n')
        .map(str::to_string)
        .collect()
}

/// Walks the sample files of filter `name` like samplestestcase.py; the
/// variants read the filter from `basedir` (`None`: moat's built-in).
pub fn samples(logs: &Path, name: &str, basedir: Option<&str>) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut files = vec![name.to_string()];
    let mut common: Map<String, Value> = Map::new();
    let mut tests: Vec<(Variant, Map<String, Value>)> = Vec::new();
    let mut ignore_block = false;
    let variant = |opts: &Map<String, Value>| {
        let options = options_of(opts);
        let key = match opts.get("test.filter-name").and_then(Value::as_str) {
            Some(n) => format!("{name}{n}"),
            None if options.is_empty() => name.to_string(),
            None => format!(
                "{name}{}",
                serde_json::to_string(&options).unwrap_or_default()
            ),
        };
        Variant {
            key,
            name: name.to_string(),
            options,
            basedir: basedir.map(str::to_string),
        }
    };
    let mut i = 0;
    while i < files.len() {
        let file = files[i].clone();
        i += 1;
        let lines = read_lines(&logs.join(&file));
        let mut n = 0;
        while n < lines.len() {
            let mut line = lines[n].trim_end_matches(['\r', '\n']).to_string();
            n += 1;
            let mut line_no = n;
            let mut expect = Map::new();
            let annotation = line.trim_start_matches('#');
            let annotation = annotation.strip_prefix(' ').unwrap_or(annotation);
            let tag = ["failJSON", "fileOptions", "filterOptions", "addFILE"]
                .into_iter()
                .find(|t| line.starts_with('#') && annotation.starts_with(&format!("{t}:")));
            if let Some(tag) = tag {
                let json: Value = serde_json::from_str(&annotation[tag.len() + 1..])
                    .unwrap_or_else(|e| panic!("{file}:{n}: {e}"));
                match tag {
                    "fileOptions" => {
                        common = json.as_object().cloned().unwrap_or_default();
                        continue;
                    }
                    "filterOptions" => {
                        tests.clear();
                        ignore_block = false;
                        let list = match json {
                            Value::Array(a) => a,
                            other => vec![other],
                        };
                        for item in list {
                            let mut opts = common.clone();
                            opts.extend(item.as_object().cloned().unwrap_or_default());
                            if let Some(cond) = opts.get("test.condition").and_then(Value::as_str) {
                                ignore_block = !eval(cond, name, &opts);
                            }
                            if !ignore_block {
                                tests.push((variant(&opts), opts));
                            }
                        }
                        continue;
                    }
                    "addFILE" => {
                        files.push(json.as_str().unwrap_or_default().to_string());
                        continue;
                    }
                    _ => {
                        expect = json.as_object().cloned().unwrap_or_default();
                        let Some(next) = lines.get(n) else { break };
                        line = next.trim_end_matches(['\r', '\n']).to_string();
                        n += 1;
                        line_no = n;
                    }
                }
            } else if ignore_block || line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if ignore_block {
                continue;
            }
            if tests.is_empty() {
                tests.push((variant(&Map::new()), Map::new()));
            }
            out.push(Sample {
                file: file.clone(),
                line_no,
                text: line,
                expect,
                variants: tests.clone(),
            });
        }
    }
    out
}

/// Reads a variant with moat's filter reader: from its `filter.d`, or
/// moat's built-in filter when it has no base directory.
pub fn load(v: &Variant) -> Result<FilterSpec, String> {
    let dirs: Vec<PathBuf> = v
        .basedir
        .iter()
        .map(|b| Path::new(b).join("filter.d"))
        .collect();
    let def = moat_fail2ban::load_filter(&v.name, &v.options, &dirs)
        .map_err(|e| format!("{}: {e}", v.key))?;
    Ok(FilterSpec {
        failregex: def.failregex,
        ignoreregex: def.ignoreregex,
        prefregex: def.prefregex,
        datepattern: def.datepattern,
        maxlines: def.maxlines,
    })
}

/// The host as fail2ban's test compares it: the failure id when it differs
/// from the address, with `/cidr` when a prefix is captured.
fn reported_host(f: &Failure) -> String {
    if let Some(fid) = f.groups.get("fid").filter(|fid| **fid != f.host) {
        return fid.clone();
    }
    match f.groups.get("cidr").and_then(|c| c.parse::<u8>().ok()) {
        Some(c)
            if f.addr
                .is_some_and(|a| (a.is_ipv4() && c < 32) || (a.is_ipv6() && c < 128)) =>
        {
            format!("{}/{c}", f.addr.map(|a| a.to_string()).unwrap_or_default())
        }
        _ => f.host.clone(),
    }
}

fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

fn local_unix(text: &str) -> Option<f64> {
    let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    use chrono::TimeZone;
    let local = chrono::Local.from_local_datetime(&t).earliest()?;
    Some(local.timestamp() as f64 + f64::from(local.timestamp_subsec_micros()) / 1e6)
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A line check moat got wrong, or a regex error on a line.
#[derive(Debug)]
pub struct Disagreement {
    /// The corpus file.
    pub file: String,
    /// The 1-based line number there.
    pub line_no: usize,
    /// The variant's key.
    pub key: String,
    /// What was expected and what moat found (with the line), or the error.
    pub detail: String,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} [{}]: {}",
            self.file, self.line_no, self.key, self.detail
        )
    }
}

/// The figures of a run over (part of) the corpus.
#[derive(Debug, Default)]
pub struct Tally {
    /// Line checks made (one per annotated line and variant in force).
    pub total: usize,
    /// Line checks where moat agrees on match and host.
    pub agree: usize,
    /// Agreeing failures whose annotation gives a time.
    pub time_checked: usize,
    /// Of those, the ones where moat found the same time.
    pub time_agree: usize,
    /// Agreeing failures whose annotation gives a user.
    pub users_checked: usize,
    /// Of those, the ones where moat found the same user.
    pub users_agree: usize,
    /// Every line check that disagrees, and every regex error.
    pub disagreements: Vec<Disagreement>,
    /// Every time that differs, with the line.
    pub time_disagreements: Vec<String>,
}

impl Tally {
    /// Runs sample `s` through variant `v` (full options `opts`), compiled
    /// as `filter` (`None`: it did not compile), with the variant's matcher
    /// from `matchers` (made on first use), and counts the result. Lines
    /// whose constraint excludes the variant are skipped.
    pub fn check(
        &mut self,
        s: &Sample,
        v: &Variant,
        opts: &Map<String, Value>,
        filter: Option<&'static Filter>,
        matchers: &mut HashMap<String, Matcher<'static>>,
        now: SystemTime,
    ) {
        if let Some(c) = s.expect.get("constraint").and_then(Value::as_str) {
            if !eval(c, &v.name, opts) {
                return;
            }
        }
        self.total += 1;
        let expect_match = s
            .expect
            .get("match")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let expect_host = s.expect.get("host").and_then(Value::as_str);
        let where_ = format!("{}:{} [{}]", s.file, s.line_no, v.key);
        let disagreement = |detail: String| Disagreement {
            file: s.file.clone(),
            line_no: s.line_no,
            key: v.key.clone(),
            detail,
        };
        let Some(filter) = filter else {
            self.disagreements
                .push(disagreement("filter did not compile".to_string()));
            return;
        };
        let m = matchers
            .entry(v.key.clone())
            .or_insert_with(|| filter.matcher_check_all());
        let found = if opts.get("logtype").and_then(Value::as_str) == Some("journal") {
            let prefix = opts
                .get("test.prefix-line")
                .and_then(Value::as_str)
                .unwrap_or("");
            m.feed_at_outcome(&format!("{prefix}{}", s.text), s.line_no as u64, now)
        } else {
            m.feed_outcome(&s.text, s.line_no as u64, now)
        };
        for e in &found.errors {
            self.disagreements.push(disagreement(e.to_string()));
        }
        let failures = &found.failures;
        let got_match = !failures.is_empty();
        let hosts: Vec<String> = failures.iter().map(reported_host).collect();
        let ok = got_match == expect_match
            && (!expect_match || expect_host.is_none_or(|h| hosts.iter().any(|g| same_host(g, h))));
        if ok {
            self.agree += 1;
        } else {
            self.disagreements.push(disagreement(format!(
                "expected match={expect_match} host={expect_host:?}, got {hosts:?} (regexes {:?}, nofail {})\n      {}",
                failures.iter().map(|f| f.regex).collect::<Vec<_>>(),
                found.nofail,
                s.text
            )));
            return;
        }
        let Some(f) = failures.first() else { return };
        if let Some(t) = s.expect.get("time").and_then(Value::as_str) {
            self.time_checked += 1;
            let want = local_unix(t);
            let got = f.time.map(unix);
            if want.is_some() && got.is_some_and(|g| (g - want.unwrap_or_default()).abs() < 1e-3) {
                self.time_agree += 1;
            } else {
                self.time_disagreements.push(format!(
                    "{where_}: expected time {t}, got {got:?} (want {want:?})\n      {}",
                    s.text
                ));
            }
        }
        if let Some(u) = s.expect.get("user").and_then(Value::as_str) {
            self.users_checked += 1;
            if f.user.as_deref() == Some(u) {
                self.users_agree += 1;
            }
        }
    }

    /// The share of line checks that agree, in percent.
    pub fn percent(&self) -> f64 {
        100.0 * self.agree as f64 / self.total.max(1) as f64
    }
}
