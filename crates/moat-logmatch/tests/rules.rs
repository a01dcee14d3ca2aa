//! The matcher with hand-written filters: tags, prefregex, ignoreregex,
//! multi-line buffers and failure ids, injection, the backtracking limit,
//! and which engine a regex gets.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moat_logmatch::{Engine, Filter, FilterSpec, RegexKind};

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_124_013_600)
}

fn spec(failregex: &[&str]) -> FilterSpec {
    FilterSpec {
        failregex: failregex.iter().map(|s| s.to_string()).collect(),
        datepattern: Some("{NONE}".to_string()),
        maxlines: 1,
        ..FilterSpec::default()
    }
}

fn hosts(filter: &Filter, lines: &[&str]) -> Vec<String> {
    let mut m = filter.matcher();
    lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| m.feed(l, i as u64 + 1, now()))
        .map(|f| f.host)
        .collect()
}

#[test]
fn injected_address_in_user_name_is_not_the_host() {
    // Anchored at the end, the lazy user group must take the fake "from".
    let filter = Filter::compile(&spec(&[
        r"^Failed \S+ for (?:invalid user )?<F-USER>.+?</F-USER> from <HOST> port \d+(?: ssh\d)?$",
    ]))
    .unwrap();
    let mut m = filter.matcher();
    let f = m.feed(
        "Failed password for invalid user evil from 1.2.3.4 from 192.0.2.9 port 22 ssh2",
        1,
        now(),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].host, "192.0.2.9");
    assert_eq!(f[0].user.as_deref(), Some("evil from 1.2.3.4"));
    // A user name that is nothing but the fake tail cannot make a match either.
    assert!(m
        .feed("Failed password for x from 1.2.3.4", 2, now())
        .is_empty());
}

#[test]
fn catastrophic_pattern_is_bounded_and_reported() {
    let filter = Filter::compile(&spec(&[r"^from <HOST> (?:(?=a)a|a)+(?=z)"])).unwrap();
    assert_eq!(
        filter
            .regexes()
            .iter()
            .find(|r| r.kind == RegexKind::Failregex)
            .map(|r| r.engine),
        Some(Engine::Fancy)
    );
    let line = format!("from 192.0.2.1 {}!", "a".repeat(40));
    let mut m = filter.matcher();
    let start = Instant::now();
    let out = m.feed_outcome(&line, 1, now());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(out.failures.is_empty());
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].kind, RegexKind::Failregex);
    // The matcher goes on with the next line.
    assert_eq!(m.feed("from 192.0.2.1 aaz", 2, now()).len(), 1);
}

#[test]
fn engines_are_chosen_per_regex() {
    let filter = Filter::compile(&spec(&[r"^plain <HOST>$", r"^look (?!bad)\S+ <HOST>$"])).unwrap();
    let engines: Vec<Engine> = filter
        .regexes()
        .iter()
        .filter(|r| r.kind == RegexKind::Failregex)
        .map(|r| r.engine)
        .collect();
    assert_eq!(engines, vec![Engine::Regex, Engine::Fancy]);
    assert_eq!(
        hosts(
            &filter,
            &["look good 192.0.2.1", "look bad 192.0.2.2", "plain ::1"]
        ),
        vec!["192.0.2.1", "::1"]
    );
}

#[test]
fn prefregex_content_and_ignoreregex() {
    let filter = Filter::compile(&FilterSpec {
        prefregex: Some(r"^\s*\S+ myd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$".to_string()),
        failregex: vec![r"^auth failed for <F-USER>\w+</F-USER> from <HOST>$".to_string()],
        ignoreregex: vec![r"for trusted ".to_string()],
        datepattern: Some("{^LN-BEG}".to_string()),
        maxlines: 1,
    })
    .unwrap();
    let lines = [
        "Aug 14 10:00:00 host myd[1]: auth failed for bob from 192.0.2.1",
        "Aug 14 10:00:01 host myd[1]: auth failed for trusted from 192.0.2.2",
        "Aug 14 10:00:02 host other[1]: auth failed for bob from 192.0.2.3",
    ];
    let mut m = filter.matcher();
    let f = m.feed(lines[0], 1, now());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].user.as_deref(), Some("bob"));
    assert_eq!(f[0].line, 1);
    let t = f[0]
        .time
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((t - 1_124_006_400).abs() <= 14 * 3600, "{t}");
    let o = m.feed_outcome(lines[1], 2, now());
    assert!(o.failures.is_empty());
    assert_eq!(o.ignored_by, vec![0]);
    assert!(m.feed(lines[2], 3, now()).is_empty());
}

#[test]
fn multiline_failure_ids() {
    // A connection's host comes from an earlier no-failure line, also for a
    // failure seen before the host was known; closing forgets the connection.
    let filter = Filter::compile(&FilterSpec {
        prefregex: Some(r"^<F-MLFID>conn=\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".to_string()),
        failregex: vec![
            r"^<F-NOFAIL>accept</F-NOFAIL> from <HOST>$".to_string(),
            r"^bad password for <F-USER>\w+</F-USER>$".to_string(),
            r"^<F-NOFAIL><F-MLFFORGET>closed</F-MLFFORGET></F-NOFAIL>$".to_string(),
        ],
        datepattern: Some("{NONE}".to_string()),
        maxlines: 1,
        ..FilterSpec::default()
    })
    .unwrap();
    let lines = [
        "conn=1 bad password for early",
        "conn=2 accept from 192.0.2.5",
        "conn=2 bad password for alice",
        "conn=2 closed",
        "conn=2 bad password for bob",
        "conn=1 accept from 192.0.2.6",
    ];
    let mut m = filter.matcher();
    let mut found = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        for f in m.feed(l, i as u64 + 1, now()) {
            found.push((f.line, f.host, f.user));
        }
    }
    assert_eq!(
        found,
        vec![
            (3, "192.0.2.5".to_string(), Some("alice".to_string())),
            (6, "192.0.2.6".to_string(), Some("early".to_string())),
        ]
    );
}

#[test]
fn skiplines_in_multiline_buffer() {
    let filter = Filter::compile(&FilterSpec {
        failregex: vec![
            r"^session (?P<sid>\d+) start from <HOST>$<SKIPLINES>^session (?P=sid) auth failure$"
                .to_string(),
        ],
        datepattern: Some("{NONE}".to_string()),
        maxlines: 5,
        ..FilterSpec::default()
    })
    .unwrap();
    let lines = [
        "session 7 start from 192.0.2.7",
        "noise",
        "session 8 start from 192.0.2.8",
        "session 7 auth failure",
    ];
    let mut m = filter.matcher();
    let mut found = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        found.extend(
            m.feed(l, i as u64 + 1, now())
                .into_iter()
                .map(|f| (f.line, f.host)),
        );
    }
    assert_eq!(found, vec![(4, "192.0.2.7".to_string())]);
}

#[test]
fn journal_lines_take_the_given_time() {
    let filter = Filter::compile(&FilterSpec {
        failregex: vec![r"^\s*denied <HOST>$".to_string()],
        maxlines: 1,
        ..FilterSpec::default()
    })
    .unwrap();
    let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let f = filter.matcher().feed_at("denied 2001:db8::1", 9, t);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].time, Some(t));
    assert_eq!(f[0].addr, Some("2001:db8::1".parse().unwrap()));
}

#[test]
fn cidr_and_failure_id() {
    let filter = Filter::compile(&spec(&[r"^net <SUBNET> id <F-ID/>$", r"^name <HOST>$"])).unwrap();
    let mut m = filter.matcher();
    let f = m.feed("net 192.0.2.77/24 id abc", 1, now());
    assert_eq!(f[0].host, "192.0.2.77");
    assert_eq!(f[0].addr, Some("192.0.2.0".parse().unwrap()));
    assert_eq!(f[0].groups.get("cidr").map(String::as_str), Some("24"));
    assert_eq!(f[0].groups.get("fid").map(String::as_str), Some("abc"));
    let f = m.feed("name mail.example.org", 2, now());
    assert_eq!(f[0].host, "mail.example.org");
    assert_eq!(f[0].addr, None);
}

#[test]
fn compile_errors_name_the_regex() {
    let e = Filter::compile(&spec(&["^ok <HOST>$", "^broken ( <HOST>"])).unwrap_err();
    assert!(e.to_string().contains("failregex 1"), "{e}");
    let e = Filter::compile(&spec(&["^no host here$"])).unwrap_err();
    assert!(e.to_string().contains("no host group"), "{e}");
    let mut s = spec(&["^x <HOST>$"]);
    s.datepattern = Some("%Q".to_string());
    assert!(Filter::compile(&s).unwrap_err().to_string().contains("%Q"));
    s.datepattern = None;
    s.maxlines = 0;
    assert!(Filter::compile(&s).is_err());
}

#[test]
fn ascii_and_unicode_lines_match_alike() {
    // ASCII lines run on Unicode-free twins of the regexes; other lines on
    // the Unicode regexes. Both must agree with Python's rules.
    let filter = Filter::compile(&FilterSpec {
        prefregex: Some(r"^\s*\S+ myd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$".to_string()),
        failregex: vec![r"^bad user <F-USER>\w+</F-USER>\s+from <HOST>(?: \S+)?$".to_string()],
        datepattern: Some("{NONE}".to_string()),
        maxlines: 1,
        ..FilterSpec::default()
    })
    .unwrap();
    let mut m = filter.matcher();
    let f = m.feed("host myd[1]: bad user bob from 192.0.2.1 x", 1, now());
    assert_eq!(
        (f[0].host.as_str(), f[0].user.as_deref()),
        ("192.0.2.1", Some("bob"))
    );
    let f = m.feed("hôst myd[1]: bad user jürgen from 192.0.2.2 é", 2, now());
    assert_eq!(
        (f[0].host.as_str(), f[0].user.as_deref()),
        ("192.0.2.2", Some("jürgen"))
    );
    // U+2003 (em space) is whitespace for Python and for the Unicode regex.
    let f = m.feed("host myd[1]: bad user ann\u{2003}from 192.0.2.3", 3, now());
    assert_eq!(f[0].host, "192.0.2.3");
    assert!(m
        .feed("host myd[1]: bad user b-b from 192.0.2.4", 4, now())
        .is_empty());
}

#[test]
fn prefregex_head_falls_back_to_the_whole_pattern() {
    // The head alone would take the whole line ("abc"), leaving no content;
    // the whole prefregex backtracks to mlfid "ab" and content "c".
    let filter = Filter::compile(&FilterSpec {
        prefregex: Some(r"^<F-MLFID>[a-z]+</F-MLFID>\s*<F-CONTENT>.+</F-CONTENT>$".to_string()),
        failregex: vec![r"^(?P<fid>c)$".to_string(), r"^ <HOST>$".to_string()],
        datepattern: Some("{NONE}".to_string()),
        maxlines: 1,
        ..FilterSpec::default()
    })
    .unwrap();
    let mut m = filter.matcher();
    let f = m.feed("abc", 1, now());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].host, "c");
    assert_eq!(f[0].groups.get("mlfid"), None);
    // The usual case: the head's match leaves the content.
    let f = m.feed("xyz 192.0.2.9", 2, now());
    assert!(
        f.is_empty(),
        "\\s* takes the space: content is the address only"
    );
    let filter = Filter::compile(&FilterSpec {
        prefregex: Some(r"^<F-MLFID>[a-z]+</F-MLFID>\s*<F-CONTENT>.+</F-CONTENT>$".to_string()),
        failregex: vec![r"^<HOST>$".to_string()],
        datepattern: Some("{NONE}".to_string()),
        maxlines: 1,
        ..FilterSpec::default()
    })
    .unwrap();
    let f = filter.matcher().feed("xyz 192.0.2.9", 1, now());
    assert_eq!(f[0].host, "192.0.2.9");
}
