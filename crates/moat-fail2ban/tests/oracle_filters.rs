//! Every filter in /etc/fail2ban/filter.d, with every mode its file offers, read by moat and
//! by fail2ban's own FilterReader: the resolved options must agree exactly.

mod oracle_common;

use moat_fail2ban::{load_filter, FilterDef};
use oracle_common::{fail2ban_available, PYTHON};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const FILTER_D: &str = "/etc/fail2ban/filter.d";

/// Reads each (name, options) with fail2ban's FilterReader as fail2ban-regex does.
const ORACLE: &str = r#"
import json, logging, shlex, sys
logging.disable(logging.CRITICAL)
from fail2ban.client.filterreader import FilterReader
out = []
for name, opts in json.load(sys.stdin):
    try:
        r = FilterReader(name, 'oracle', dict(opts), basedir=sys.argv[1])
        if not r.read():
            out.append({'error': 'not read'}); continue
        r.applyAutoOptions('auto')
        r.getOptions(None)
        o = r.getCombined()
        if not o.get('failregex'):
            out.append({'error': 'no failregex'}); continue
        lines = lambda v: [l for l in v.split('\n') if l] if v is not None else []
        jm = []
        for l in lines(o.get('journalmatch')):
            w = shlex.split(l)
            if jm and w: jm.append('+')
            jm += w
        ml = o.get('maxlines')
        out.append({
            'failregex': lines(o.get('failregex')),
            'ignoreregex': lines(o.get('ignoreregex')),
            'prefregex': o.get('prefregex') or None,
            'datepattern': o.get('datepattern') or None,
            'maxlines': int(ml) if ml is not None else 1,
            'journalmatch': jm,
        })
    except Exception as e:
        out.append({'error': repr(e)})
json.dump(out, sys.stdout)
"#;

/// Runs the oracle over `cases`.
fn oracle(basedir: &Path, cases: &[(String, BTreeMap<String, String>)]) -> Vec<Value> {
    let input = serde_json::to_vec(&json!(cases)).unwrap();
    let mut child = Command::new(PYTHON)
        .args(["-c", ORACLE, basedir.to_str().unwrap()])
        .env("PYTHONPATH", "/usr/lib/python3/dist-packages")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "oracle failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn as_json(f: &FilterDef) -> Value {
    json!({
        "failregex": f.failregex,
        "ignoreregex": f.ignoreregex,
        "prefregex": f.prefregex,
        "datepattern": f.datepattern,
        "maxlines": f.maxlines,
        "journalmatch": f.journalmatch,
    })
}

/// The modes a filter offers: for every `<prefix-<var>suffix>` tag, the values `v` for which
/// an option `prefix-v suffix` exists.
fn modes(text: &str) -> Vec<(String, String)> {
    let tag = regex::Regex::new(r"<([\w-]+-)<(\w+)>([\w-]*)>").unwrap();
    let mut out = Vec::new();
    for c in tag.captures_iter(text) {
        let (pre, var, suf) = (&c[1], &c[2], &c[3]);
        let key = regex::Regex::new(&format!(
            r"(?m)^{}([\w]+){}\s*=",
            regex::escape(pre),
            regex::escape(suf)
        ))
        .unwrap();
        for k in key.captures_iter(text) {
            let pair = (var.to_string(), k[1].to_string());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    out
}

#[test]
fn every_filter_agrees_with_fail2ban() {
    if !fail2ban_available(FILTER_D) {
        return;
    }
    let mut cases: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(FILTER_D)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    names.sort();
    for p in names {
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        cases.push((name.clone(), BTreeMap::new()));
        let text = std::fs::read_to_string(&p).unwrap();
        for (var, value) in modes(&text) {
            cases.push((name.clone(), BTreeMap::from([(var, value)])));
        }
    }
    let n = compare(Path::new("/etc/fail2ban"), &cases);
    eprintln!("filters agreeing with fail2ban: {n} of {}", cases.len());
}

/// Loads every case with moat and fail2ban from `basedir`/filter.d; panics listing the
/// disagreements, else returns how many agreed.
fn compare(basedir: &Path, cases: &[(String, BTreeMap<String, String>)]) -> usize {
    let expected = oracle(basedir, cases);
    let dirs = [basedir.join("filter.d")];
    let mut agree = 0;
    let mut disagree = Vec::new();
    for ((name, opts), want) in cases.iter().zip(&expected) {
        let got = load_filter(name, opts, &dirs);
        let ok = match (&got, want.get("error")) {
            (Err(_), Some(_)) => true,
            (Ok(f), None) => &as_json(f) == want,
            _ => false,
        };
        if ok {
            agree += 1;
        } else {
            disagree.push(format!(
                "{name} {opts:?}:\n  moat:     {}\n  fail2ban: {want}",
                match &got {
                    Ok(f) => as_json(f).to_string(),
                    Err(e) => e.to_string(),
                }
            ));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    agree
}

#[test]
fn local_files_and_known_values_agree_with_fail2ban() {
    if !fail2ban_available(FILTER_D) {
        return;
    }
    let base = std::env::temp_dir().join(format!("moat-f2b-local-{}", std::process::id()));
    let fd = base.join("filter.d");
    std::fs::create_dir_all(fd.join("sshd.d")).unwrap();
    for f in ["common.conf", "sshd.conf"] {
        std::fs::copy(Path::new(FILTER_D).join(f), fd.join(f)).unwrap();
    }
    let files: &[(&str, &str)] = &[
        // .local over .conf: known/ values, [Init] defaults, a .d override.
        ("sshd.local", "[Init]\nmode = extra\n[Definition]\nfailregex = %(known/failregex)s\n            ^local <HOST> %(__name__)s\nignoreregex = ^ignored <HOST>\n"),
        ("sshd.d/10-x.conf", "[Definition]\ndatepattern = ^%%Y-%%m-%%d %%H:%%M:%%S\n"),
        ("common.local", "[DEFAULT]\n_daemon = sshd-local\n"),
        // Tags, known/ tags, Init options, options given with the name.
        ("own.conf", "[INCLUDES]\nbefore = common.conf\n[Init]\nword = first\nmaxlines = 3\n[Definition]\n_daemon = own\nfailregex = ^%(__prefix_line)s<word> <known/word> from <HOST>$ ; comment\n  ^two <HOST> <extra>\n\n  ^after blank <HOST>\nextra = <word>-x\nmaxlines = <maxlines>\njournalmatch = _COMM=own \"A=b c\"\n  _SYSTEMD_UNIT=own.service\n"),
        ("own.local", "[Init]\nword = second\n[Definition]\nprefregex = ^<F-CONTENT>.+</F-CONTENT>$\n"),
    ];
    for (name, text) in files {
        std::fs::write(fd.join(name), text).unwrap();
    }
    let cases: Vec<(String, BTreeMap<String, String>)> = vec![
        ("sshd".to_string(), BTreeMap::new()),
        (
            "sshd".to_string(),
            BTreeMap::from([("mode".to_string(), "ddos".to_string())]),
        ),
        ("own".to_string(), BTreeMap::new()),
        (
            "own".to_string(),
            BTreeMap::from([("word".to_string(), "given".to_string())]),
        ),
    ];
    let n = compare(&base, &cases);
    assert_eq!(n, cases.len());
    let own = load_filter("own", &BTreeMap::new(), std::slice::from_ref(&fd)).unwrap();
    assert_eq!(own.failregex.len(), 3);
    assert!(
        own.failregex[0].ends_with("second second from <HOST>$"),
        "{:?}",
        own.failregex
    );
    assert_eq!(own.maxlines, 3);
    assert_eq!(
        own.journalmatch,
        ["_COMM=own", "A=b c", "+", "_SYSTEMD_UNIT=own.service"]
    );
    let sshd = load_filter("sshd", &BTreeMap::new(), std::slice::from_ref(&fd)).unwrap();
    assert!(
        sshd.failregex
            .last()
            .unwrap()
            .starts_with("^local <HOST> Definition"),
        "{:?}",
        sshd.failregex
    );
    assert_eq!(sshd.datepattern.as_deref(), Some("^%Y-%m-%d %H:%M:%S"));
    assert_eq!(sshd.files.len(), 5, "{:?}", sshd.files);
    std::fs::remove_dir_all(&base).unwrap();
}
