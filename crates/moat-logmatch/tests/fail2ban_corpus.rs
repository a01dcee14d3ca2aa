//! fail2ban's own filter test corpus, run through moat's matcher.
//!
//! Debian's fail2ban package ships sample logs
//! (`.../fail2ban/tests/files/logs/*`): before each log line a
//! `# failJSON: {...}` comment says whether the package's filter of that name
//! finds a failure there, and for which host; `# filterOptions:` sections
//! run the lines through several variants of the filter (modes, log types),
//! `# fileOptions:` sets options for a whole file, `# addFILE:` pulls in
//! another file. This test reads the corpus the way fail2ban's
//! `samplestestcase.py` does (same "now": 2005-08-14 12:00 CEST, same time
//! zone, every regex tried on every line) and requires moat to agree on
//! match and host for at least 99 % of the annotated lines. The filters are
//! read with `moat_fail2ban::load_filter`; when Python can import fail2ban,
//! fail2ban's own filter reader resolves them too, as a cross-check (any
//! difference is printed).
//!
//! Without the package the test is skipped, except under `CI=true`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moat_logmatch::{Engine, Failure, Filter, FilterSpec, Matcher};
use serde_json::{Map, Value};

const PACKAGE: &str = "/usr/lib/python3/dist-packages/fail2ban";
const CONFIG: &str = "/etc/fail2ban";
/// fail2ban's test time: Sun Aug 14 12:00:00 CEST 2005.
const TEST_NOW: u64 = 1_124_013_600;
/// The time zone fail2ban's tests run in (Europe/Zurich's rules).
const TEST_TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";

/// Reads filters with fail2ban's FilterReader: a JSON list of
/// `[name, options, basedir]` on stdin, a JSON list of specs on stdout.
const READER: &str = r#"
import json, sys
from fail2ban.client.filterreader import FilterReader
out = []
for name, opts, basedir in json.load(sys.stdin):
    fr = FilterReader(name, "jail", dict(opts), basedir=basedir)
    fr.read()
    fr.getOptions({})
    spec = {"failregex": [], "ignoreregex": [], "prefregex": None, "datepattern": None, "maxlines": 1}
    for opt in fr.convert():
        vals = opt[3] if opt[0] == "multi-set" else [opt[3]]
        for v in vals:
            if opt[2] == "prefregex": spec["prefregex"] = v
            elif opt[2] == "addfailregex": spec["failregex"].append(v)
            elif opt[2] == "addignoreregex": spec["ignoreregex"].append(v)
            elif opt[2] == "maxlines": spec["maxlines"] = int(v)
            elif opt[2] == "datepattern": spec["datepattern"] = v
    out.append(spec)
json.dump(out, sys.stdout)
"#;

fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .args(["-c", "import fail2ban"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// A filter variant: filter name, options (without `test.*`), base dir.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Variant {
    key: String,
    name: String,
    options: BTreeMap<String, String>,
    basedir: String,
}

/// One annotated line, to be run through each variant in force.
#[derive(Debug)]
struct Sample {
    file: String,
    line_no: usize,
    text: String,
    expect: Map<String, Value>,
    /// Variants and their full options (with `test.*`).
    variants: Vec<(Variant, Map<String, Value>)>,
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

/// Walks the sample files of filter `name` like samplestestcase.py.
fn samples(logs: &Path, name: &str, basedir: &str) -> Vec<Sample> {
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
            basedir: basedir.to_string(),
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

/// Reads a variant with moat's filter reader.
fn load(v: &Variant) -> Result<FilterSpec, String> {
    let dirs = [Path::new(&v.basedir).join("filter.d")];
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

/// Resolves all variants with fail2ban's reader in one Python run.
fn read_filters(python: &Path, variants: &[Variant]) -> Vec<FilterSpec> {
    let request: Vec<Value> = variants
        .iter()
        .map(|v| serde_json::json!([v.name, v.options, v.basedir]))
        .collect();
    let mut child = Command::new(python)
        .args(["-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python");
    let input = serde_json::to_vec(&request).unwrap_or_default();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write request");
    let output = child.wait_with_output().expect("python output");
    assert!(output.status.success(), "fail2ban's filter reader failed");
    let specs: Vec<Value> = serde_json::from_slice(&output.stdout).expect("reader JSON");
    specs
        .into_iter()
        .map(|s| FilterSpec {
            failregex: strings(&s["failregex"]),
            ignoreregex: strings(&s["ignoreregex"]),
            prefregex: s["prefregex"].as_str().map(str::to_string),
            datepattern: s["datepattern"].as_str().map(str::to_string),
            maxlines: s["maxlines"].as_u64().unwrap_or(1) as usize,
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
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

/// fail2ban's test-only filters (`zzz-*`) include common.conf by a path into
/// fail2ban's source tree; copies beside a copy of common.conf read as meant.
fn test_filters() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-logmatch-corpus-{}", std::process::id()));
    let filter_d = dir.join("filter.d");
    std::fs::create_dir_all(&filter_d).expect("temp dir");
    std::fs::copy(
        Path::new(CONFIG).join("filter.d/common.conf"),
        filter_d.join("common.conf"),
    )
    .expect("copy common.conf");
    let source = Path::new(PACKAGE).join("tests/config/filter.d");
    for entry in std::fs::read_dir(&source).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("zzz-") && name.ends_with(".conf") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let text: Vec<String> = text
                .lines()
                .map(|l| {
                    if l.starts_with("before = ") && l.ends_with("common.conf") {
                        "before = common.conf".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            std::fs::write(filter_d.join(&name), text.join("\n")).expect("write filter copy");
        }
    }
    dir
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[test]
fn fail2ban_corpus() {
    let logs = Path::new(PACKAGE).join("tests/files/logs");
    if !logs.is_dir() || !Path::new(CONFIG).join("filter.d").is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fail2ban is not installed (apt-get install fail2ban): the corpus test cannot run"
        );
        eprintln!("SKIPPED: fail2ban (Debian package) not installed; fail2ban corpus test not run");
        return;
    }
    // fail2ban's tests run in this zone; the matcher reads local time.
    std::env::set_var("TZ", TEST_TZ);
    let now = UNIX_EPOCH + Duration::from_secs(TEST_NOW);

    let mut filters: Vec<(String, String)> = Vec::new();
    let test_config = test_filters();
    for (basedir, test_only) in [(PathBuf::from(CONFIG), false), (test_config, true)] {
        let mut names: Vec<String> = std::fs::read_dir(basedir.join("filter.d"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for f in names {
            let Some(name) = f.strip_suffix(".conf") else {
                continue;
            };
            if f.ends_with("common.conf")
                || name.starts_with('.')
                || (test_only && !name.starts_with("zzz-"))
            {
                continue;
            }
            if logs.join(name).is_file() {
                filters.push((name.to_string(), basedir.to_string_lossy().into_owned()));
            }
        }
    }
    let all: Vec<(String, Vec<Sample>)> = filters
        .iter()
        .map(|(n, b)| (n.clone(), samples(&logs, n, b)))
        .collect();
    let mut variants: Vec<Variant> = all
        .iter()
        .flat_map(|(_, s)| {
            s.iter()
                .flat_map(|s| s.variants.iter().map(|(v, _)| v.clone()))
        })
        .collect();
    variants.sort();
    variants.dedup();
    let specs: Vec<FilterSpec> = variants
        .iter()
        .map(load)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut reader_differences = Vec::new();
    match python() {
        Some(python) => {
            for ((v, ours), theirs) in variants
                .iter()
                .zip(&specs)
                .zip(read_filters(&python, &variants))
            {
                if *ours != theirs {
                    reader_differences.push(format!(
                        "{}:\n      moat:     {ours:?}\n      fail2ban: {theirs:?}",
                        v.key
                    ));
                }
            }
        }
        None => println!("(no python with fail2ban: filter reader cross-check skipped)"),
    }

    let mut compiled: HashMap<String, &'static Filter> = HashMap::new();
    let mut fancy = Vec::new();
    let mut failed = Vec::new();
    for (v, spec) in variants.iter().zip(&specs) {
        match Filter::compile(spec) {
            Ok(f) => {
                let f: &'static Filter = Box::leak(Box::new(f));
                for r in f.regexes() {
                    if r.engine == Engine::Fancy {
                        fancy.push(format!("{} {}: {}", v.name, r.kind, r.regex));
                    }
                }
                compiled.insert(v.key.clone(), f);
            }
            Err(e) => failed.push(format!("{}: {e}", v.key)),
        }
    }

    let (
        mut total,
        mut agree,
        mut time_checked,
        mut time_agree,
        mut users_checked,
        mut users_agree,
    ) = (0, 0, 0, 0, 0, 0);
    let mut disagreements = Vec::new();
    let mut time_disagreements = Vec::new();
    for (name, samples) in &all {
        let mut matchers: HashMap<String, Matcher<'static>> = HashMap::new();
        for s in samples {
            for (v, opts) in &s.variants {
                if let Some(c) = s.expect.get("constraint").and_then(Value::as_str) {
                    if !eval(c, name, opts) {
                        continue;
                    }
                }
                total += 1;
                let expect_match = s
                    .expect
                    .get("match")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let expect_host = s.expect.get("host").and_then(Value::as_str);
                let where_ = format!("{}:{} [{}]", s.file, s.line_no, v.key);
                let Some(filter) = compiled.get(&v.key) else {
                    disagreements.push(format!("{where_}: filter did not compile"));
                    continue;
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
                    disagreements.push(format!("{where_}: {e}"));
                }
                let failures = &found.failures;
                let got_match = !failures.is_empty();
                let hosts: Vec<String> = failures.iter().map(reported_host).collect();
                let ok = got_match == expect_match
                    && (!expect_match
                        || expect_host.is_none_or(|h| hosts.iter().any(|g| same_host(g, h))));
                if ok {
                    agree += 1;
                } else {
                    disagreements.push(format!(
                        "{where_}: expected match={expect_match} host={expect_host:?}, got {hosts:?} (regexes {:?}, nofail {})\n      {}",
                        failures.iter().map(|f| f.regex).collect::<Vec<_>>(),
                        found.nofail,
                        s.text
                    ));
                    continue;
                }
                let Some(f) = failures.first() else { continue };
                if let Some(t) = s.expect.get("time").and_then(Value::as_str) {
                    time_checked += 1;
                    let want = local_unix(t);
                    let got = f.time.map(unix);
                    if want.is_some()
                        && got.is_some_and(|g| (g - want.unwrap_or_default()).abs() < 1e-3)
                    {
                        time_agree += 1;
                    } else {
                        time_disagreements.push(format!(
                            "{where_}: expected time {t}, got {got:?} (want {want:?})\n      {}",
                            s.text
                        ));
                    }
                }
                if let Some(u) = s.expect.get("user").and_then(Value::as_str) {
                    users_checked += 1;
                    if f.user.as_deref() == Some(u) {
                        users_agree += 1;
                    }
                }
            }
        }
    }
    fancy.sort();
    fancy.dedup();
    println!("distinct regexes on fancy-regex ({}):", fancy.len());
    for f in &fancy {
        println!("  {f}");
    }
    println!("disagreements ({}):", disagreements.len());
    for d in &disagreements {
        println!("  {d}");
    }
    println!("time disagreements ({}):", time_disagreements.len());
    for d in &time_disagreements {
        println!("  {d}");
    }
    for f in &failed {
        println!("filter failed to compile: {f}");
    }
    println!(
        "filter reader differences, moat vs fail2ban ({}):",
        reader_differences.len()
    );
    for d in &reader_differences {
        println!("  {d}");
    }
    let pct = 100.0 * agree as f64 / total.max(1) as f64;
    println!(
        "fail2ban corpus: {agree}/{total} line checks agree on match and host ({pct:.2}%); time {time_agree}/{time_checked}; user {users_agree}/{users_checked}; {} filters, {} variants",
        filters.len(),
        variants.len()
    );
    assert!(failed.is_empty(), "filters failed to compile");
    assert!(total > 1000, "too few samples found ({total})");
    assert!(pct >= 99.0, "agreement {pct:.2}% is below 99%");
}
