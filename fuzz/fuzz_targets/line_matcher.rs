//! Fuzzes the line matcher: the first line is a failregex (Python syntax,
//! fail2ban tags), the rest are log lines run through it and through the
//! built-in sshd filter. Never a panic, never a hang (the backtracking
//! limit bounds every match).
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use moat_logmatch::{Filter, FilterSpec};

fn sshd() -> &'static Filter {
    static SSHD: OnceLock<Filter> = OnceLock::new();
    SSHD.get_or_init(|| {
        let mut options = BTreeMap::new();
        options.insert("mode".to_string(), "aggressive".to_string());
        let def = moat_fail2ban::load_filter("sshd", &options, &[]).expect("built-in sshd");
        Filter::compile(&FilterSpec {
            failregex: def.failregex,
            ignoreregex: def.ignoreregex,
            prefregex: def.prefregex,
            datepattern: def.datepattern,
            maxlines: def.maxlines.max(1),
        })
        .expect("built-in sshd compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let Some(regex) = lines.next() else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let own = Filter::compile(&FilterSpec {
        failregex: vec![regex.to_string()],
        maxlines: 1,
        ..FilterSpec::default()
    });
    let mut own = own.as_ref().ok().map(Filter::matcher);
    let mut builtin = sshd().matcher();
    for (i, line) in lines.enumerate() {
        let n = i as u64 + 2;
        if let Some(m) = own.as_mut() {
            for f in m.feed(line, n, now) {
                assert!(f.line <= n);
            }
        }
        for f in builtin.feed(line, n, now) {
            assert!(f.line <= n);
            assert!(!f.host.is_empty());
        }
    }
});
