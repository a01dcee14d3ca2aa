//! fail2ban's own filter test corpus, run through moat's matcher.
//!
//! Debian's fail2ban package ships sample logs, each line annotated with
//! what the package's filter of that name finds there (see [`corpus`]).
//! This test runs every filter that has sample logs, from
//! `/etc/fail2ban/filter.d` and fail2ban's test-only `zzz-*` filters, over
//! its samples the way fail2ban's `samplestestcase.py` does (same "now":
//! 2005-08-14 12:00 CEST, same time zone, every regex tried on every line)
//! and requires moat to agree on match and host for at least 99 % of the
//! annotated lines. The filters are read with `moat_fail2ban::load_filter`;
//! when Python can import fail2ban, fail2ban's own filter reader resolves
//! them too, as a cross-check (any difference is printed).
//!
//! Without the package the test is skipped, except under `CI=true`.

mod corpus;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use corpus::{load, samples, Sample, Tally, Variant, PACKAGE};
use moat_logmatch::{Engine, Filter, FilterSpec, Matcher};
use serde_json::Value;

const CONFIG: &str = "/etc/fail2ban";

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

#[test]
fn fail2ban_corpus() {
    let filter_d = Path::new(CONFIG).join("filter.d");
    let Some((logs, now)) = corpus::open("fail2ban corpus test", &[&filter_d]) else {
        return;
    };

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
        .map(|(n, b)| (n.clone(), samples(&logs, n, Some(b))))
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

    let mut tally = Tally::default();
    for (_, samples) in &all {
        let mut matchers: HashMap<String, Matcher<'static>> = HashMap::new();
        for s in samples {
            for (v, opts) in &s.variants {
                let filter = compiled.get(&v.key).copied();
                tally.check(s, v, opts, filter, &mut matchers, now);
            }
        }
    }
    fancy.sort();
    fancy.dedup();
    println!("distinct regexes on fancy-regex ({}):", fancy.len());
    for f in &fancy {
        println!("  {f}");
    }
    println!("disagreements ({}):", tally.disagreements.len());
    for d in &tally.disagreements {
        println!("  {d}");
    }
    println!("time disagreements ({}):", tally.time_disagreements.len());
    for d in &tally.time_disagreements {
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
    let Tally {
        total,
        agree,
        time_checked,
        time_agree,
        users_checked,
        users_agree,
        ..
    } = tally;
    let pct = tally.percent();
    println!(
        "fail2ban corpus: {agree}/{total} line checks agree on match and host ({pct:.2}%); time {time_agree}/{time_checked}; user {users_agree}/{users_checked}; {} filters, {} variants",
        filters.len(),
        variants.len()
    );
    assert!(failed.is_empty(), "filters failed to compile");
    assert!(total > 1000, "too few samples found ({total})");
    assert!(pct >= 99.0, "agreement {pct:.2}% is below 99%");
}
