//! Differential tests of the iptables rule syntax.
//!
//! Every rule of `data/rule_corpus.txt` must round-trip through our canonical form, and,
//! when this runs as root with iptables available, must print exactly as real iptables
//! v1.8.9 (nf_tables) prints it (`-S`, `-L -n -v` and `-L`), inside a throwaway network
//! namespace. Every line of `data/rule_errors.txt` must be refused with a helpful message.

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use moat_iptables::rule::{split_args, ListingRow, RuleSpec};
use moat_model::Family;

const CORPUS: &str = include_str!("data/rule_corpus.txt");
const ERRORS: &str = include_str!("data/rule_errors.txt");

/// One corpus rule.
struct Case {
    line: usize,
    family: Family,
    table: String,
    chain: String,
    words: Vec<String>,
    /// Written in the old negation syntax that iptables 1.8 refuses: real iptables gets our canonical form.
    old: bool,
    /// Needs ipsets `myset` (hash:ip) and `myset2` (hash:ip,port).
    needs_set: bool,
    /// Real iptables would refuse the rule in its chain (a chain check moat does elsewhere).
    no_real: bool,
    /// `-L` without `-n` shows a name for an address (moat reads /etc/hosts and
    /// /etc/networks as iptables does, but never asks DNS).
    resolves_name: bool,
}

fn family_of(word: &str, line: usize) -> Family {
    match word {
        "4" => Family::Ipv4,
        "6" => Family::Ipv6,
        other => panic!("line {line}: family must be 4 or 6, not {other}"),
    }
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, raw) in CORPUS.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let words = shlex::split(text).unwrap_or_else(|| panic!("line {line}: bad quoting"));
        let flags: Vec<&String> = words.iter().take_while(|w| w.starts_with('@')).collect();
        let rest = &words[flags.len()..];
        assert!(
            rest.len() >= 3,
            "line {line}: needs family, table and chain"
        );
        let has = |f: &str| flags.iter().any(|w| *w == f);
        cases.push(Case {
            line,
            family: family_of(&rest[0], line),
            table: rest[1].clone(),
            chain: rest[2].clone(),
            words: rest[3..].to_vec(),
            old: has("@old"),
            needs_set: has("@set"),
            no_real: has("@noreal"),
            resolves_name: has("@resolves"),
        });
    }
    cases
}

fn parse(case: &Case) -> RuleSpec {
    match RuleSpec::parse(&case.words, case.family) {
        Ok((spec, warnings)) => {
            assert_eq!(
                case.old,
                warnings
                    .iter()
                    .any(|w| w.text.contains("old negation syntax")),
                "line {}: old-syntax warning expected exactly for @old rules, got {warnings:?}",
                case.line
            );
            spec
        }
        Err(e) => panic!("line {}: {:?} failed to parse: {e}", case.line, case.words),
    }
}

#[test]
fn corpus_is_large_enough() {
    let cases = corpus();
    assert!(cases.len() >= 150, "only {} corpus rules", cases.len());
    assert!(cases.iter().any(|c| c.family == Family::Ipv6));
    assert!(cases.iter().any(|c| c.table == "nat"));
}

#[test]
fn corpus_round_trips_through_canonical_form() {
    for case in corpus() {
        let spec = parse(&case);
        let canonical = spec.to_args();
        let words = split_args(&canonical)
            .unwrap_or_else(|| panic!("line {}: unsplittable {canonical}", case.line));
        let (again, warnings) = RuleSpec::parse(&words, case.family).unwrap_or_else(|e| {
            panic!(
                "line {}: canonical {canonical:?} does not parse: {e}",
                case.line
            )
        });
        // Outdated input forms warn, their canonical forms do not; what a
        // rule means (CHECKSUM only counts in moat, a reversed range or
        // `! -i +` never matches, a reversed NAT range picks nearly any
        // address, a `/` in an interface name fits no interface) warns in
        // either form.
        assert!(
            warnings.iter().all(|w| w.text.starts_with("CHECKSUM")
                || w.text.contains("is reversed")
                || w.text.contains("matches no packet")
                || w.text.contains("weird character in interface")),
            "line {}: canonical form warns: {warnings:?}",
            case.line
        );
        assert_eq!(
            again.to_args(),
            canonical,
            "line {}: canonical form is not stable",
            case.line
        );
        // A plain `-i +`/`-o +` (every interface) is kept for the hook
        // checks but, as in iptables, not printed.
        let any_interface = case
            .words
            .windows(2)
            .any(|w| matches!(w[0].as_str(), "-i" | "-o") && w[1] == "+");
        if !any_interface {
            assert_eq!(
                again, spec,
                "line {}: canonical form parses to a different rule",
                case.line
            );
        }
        assert_eq!(
            again.listing(true),
            spec.listing(true),
            "line {}",
            case.line
        );
    }
}

#[test]
fn corpus_lowers_to_the_model_or_says_why_not() {
    for case in corpus() {
        let spec = parse(&case);
        match spec.to_model(case.family) {
            Ok(rule) => {
                assert_eq!(
                    rule.source.as_deref(),
                    Some(spec.to_args().as_str()),
                    "line {}",
                    case.line
                );
                assert_eq!(rule.counters, Default::default());
            }
            Err(e) => assert!(
                e.message.contains("cannot be expressed"),
                "line {}: {e}",
                case.line
            ),
        }
    }
}

#[test]
fn bad_inputs_are_refused_with_helpful_messages() {
    let mut count = 0;
    let mut failures = Vec::new();
    for (i, raw) in ERRORS.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (rule, expected) = text
            .split_once(" => ")
            .unwrap_or_else(|| panic!("line {}: expected `FAMILY WORDS => MESSAGE`", i + 1));
        let words = shlex::split(rule).unwrap_or_else(|| panic!("line {}: bad quoting", i + 1));
        let (family, words) = words
            .split_first()
            .unwrap_or_else(|| panic!("line {}: empty", i + 1));
        match RuleSpec::parse(words, family_of(family, i + 1)) {
            Ok((spec, _)) => failures.push(format!(
                "line {}: {words:?} was accepted as {:?}",
                i + 1,
                spec.to_args()
            )),
            Err(e) if !e.message.contains(expected) => failures.push(format!(
                "line {}: message {:?} does not contain {expected:?}",
                i + 1,
                e.message
            )),
            Err(_) => {}
        }
        count += 1;
    }
    assert!(
        failures.is_empty(),
        "{} bad inputs misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 30, "only {count} error cases");
}

/// A network namespace of our own, deleted when dropped (also when a test fails).
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("moatrule{}x{nanos}", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(status.success(), "ip netns add {name} failed");
        Netns { name }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program} in {}: {e}", self.name))
    }

    fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn have(program: &str, version_arg: &str) -> bool {
    Command::new(program)
        .arg(version_arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the real-iptables comparison can run; panics under CI when it cannot.
fn oracle_available() -> bool {
    let iptables =
        have("iptables", "--version") && have("ip6tables", "--version") && have("ip", "-V");
    if is_root() && iptables {
        return true;
    }
    let why = if is_root() {
        "iptables/ip6tables/ip is missing"
    } else {
        "not running as root"
    };
    assert!(
        std::env::var("CI").map(|v| v != "true").unwrap_or(true),
        "CI=true but the real-iptables comparison cannot run: {why}"
    );
    eprintln!("skipping the real-iptables comparison: {why}");
    false
}

/// Splits a `-L` line after the counters into its columns and the text after the destination.
fn split_listing(line: &str, counters: bool, target: bool, ifaces: bool) -> (Vec<String>, String) {
    let mut rest = line;
    let columns = usize::from(counters) * 2 + usize::from(target) + 4 + usize::from(ifaces) * 2;
    let mut tokens = Vec::new();
    let mut dest_start = 0;
    for n in 0..columns {
        let trimmed = rest.trim_start();
        let start = line.len() - trimmed.len();
        let end = trimmed.find(' ').unwrap_or(trimmed.len());
        tokens.push(trimmed[..end].to_string());
        if n + 1 == columns {
            dest_start = start;
        }
        rest = &trimmed[end..];
    }
    let dest = tokens.last().cloned().unwrap_or_default();
    let bang = usize::from(dest.starts_with('!'));
    let width = (dest.len() - bang).max(19) + bang + 1;
    let extra = line.get(dest_start + width..).unwrap_or("").to_string();
    (tokens, extra)
}

fn compare_listing(case: &Case, real: &str, ours: &ListingRow, numeric: bool) {
    let line = real
        .lines()
        .nth(2)
        .unwrap_or_else(|| panic!("line {}: no rule in listing:\n{real}", case.line));
    let (tokens, extra) = split_listing(line, numeric, !ours.target.is_empty(), numeric);
    let mut expected = Vec::new();
    if numeric {
        expected.extend(["0", "0"]);
    }
    if !ours.target.is_empty() {
        expected.push(&*ours.target);
    }
    expected.extend([&*ours.prot, &*ours.opt]);
    if numeric {
        expected.extend([&*ours.iface_in, &*ours.iface_out]);
    }
    expected.extend([&*ours.source, &*ours.destination]);
    if case.resolves_name && !numeric {
        let n = expected.len();
        assert_eq!(
            tokens[..n - 2],
            expected[..n - 2],
            "line {}: -L columns of {real}",
            case.line
        );
    } else {
        assert_eq!(
            tokens,
            expected,
            "line {}: -L{} columns of\n{line}",
            case.line,
            if numeric { " -n -v" } else { "" }
        );
    }
    assert_eq!(
        extra,
        ours.extra,
        "line {}: -L{} text after destination of\n{line}",
        case.line,
        if numeric { " -n -v" } else { "" }
    );
}

#[test]
fn corpus_prints_exactly_like_real_iptables() {
    if !oracle_available() {
        return;
    }
    let ns = Netns::create();
    for tool in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "mangle", "raw"] {
            ns.ok(tool, &["-t", table, "-N", "FOO"]);
        }
    }
    // The rate estimators `-m rateest` rules name (the kernel refuses a
    // rule naming one that no RATEEST rule made), in a chain no case flushes.
    ns.ok("iptables", &["-t", "mangle", "-N", "ESTIMATORS"]);
    for name in ["e1", "e2"] {
        ns.ok(
            "iptables",
            &[
                "-t",
                "mangle",
                "-A",
                "ESTIMATORS",
                "-j",
                "RATEEST",
                "--rateest-name",
                name,
                "--rateest-interval",
                "250ms",
                "--rateest-ewmalog",
                "1s",
            ],
        );
    }
    let sets = have("ipset", "--version")
        && ns
            .run("ipset", &["create", "myset", "hash:ip"])
            .status
            .success()
        && ns
            .run("ipset", &["create", "myset2", "hash:ip,port"])
            .status
            .success();
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in corpus() {
        if case.no_real || (case.needs_set && !sets) {
            continue;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compare_with_real(&ns, &case)
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
        compared += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} rules differ from real iptables:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        compared >= 140,
        "only {compared} rules compared with real iptables"
    );
}

/// Adds `case` with real iptables and compares its `-S` and `-L` output with ours.
fn compare_with_real(ns: &Netns, case: &Case) {
    {
        let spec = parse(case);
        let tool = if case.family == Family::Ipv4 {
            "iptables"
        } else {
            "ip6tables"
        };
        let canonical = spec.to_args();
        let words: Vec<String> = if case.old {
            split_args(&canonical).unwrap_or_default()
        } else {
            case.words.clone()
        };
        let (table, chain) = (case.table.as_str(), case.chain.as_str());
        ns.ok(tool, &["-t", table, "-F", chain]);
        let mut add = vec!["-t", table, "-A", chain];
        add.extend(words.iter().map(String::as_str));
        let out = ns.run(tool, &add);
        assert!(
            out.status.success(),
            "line {}: real {tool} refused {:?}: {}",
            case.line,
            words,
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = ns.ok(tool, &["-t", table, "-S", chain]);
        let real = listed
            .lines()
            .find(|l| l.starts_with("-A "))
            .unwrap_or_default();
        let ours = if canonical.is_empty() {
            format!("-A {chain}")
        } else {
            format!("-A {chain} {canonical}")
        };
        assert_eq!(
            ours, real,
            "line {}: -S differs for {:?}",
            case.line, case.words
        );
        let numeric = ns.ok(tool, &["-t", table, "-L", chain, "-n", "-v"]);
        compare_listing(case, &numeric, &spec.listing(true), true);
        let named = ns.ok(tool, &["-t", table, "-L", chain]);
        compare_listing(case, &named, &spec.listing(false), false);
    }
}
