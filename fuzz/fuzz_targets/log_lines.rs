//! Fuzzes log lines through moat's built-in filters (compiled once): any
//! line, any sequence of lines, never a panic, and every failure names a
//! host and a line that was fed.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use moat_logmatch::{Filter, FilterSpec};

fn filters() -> &'static [Filter] {
    static FILTERS: OnceLock<Vec<Filter>> = OnceLock::new();
    FILTERS.get_or_init(|| {
        [
            ("sshd", "aggressive"),
            ("sshd", "extra"),
            ("postfix", "aggressive"),
            ("dovecot", "aggressive"),
            ("apache-auth", "aggressive"),
            ("recidive", "normal"),
        ]
        .iter()
        .map(|(name, mode)| {
            let mut options = BTreeMap::new();
            options.insert("mode".to_string(), mode.to_string());
            let def = moat_fail2ban::load_filter(name, &options, &[]).expect("built-in filter");
            Filter::compile(&FilterSpec {
                failregex: def.failregex,
                ignoreregex: def.ignoreregex,
                prefregex: def.prefregex,
                datepattern: def.datepattern,
                maxlines: def.maxlines.max(1),
            })
            .expect("built-in filter compiles")
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    for filter in filters() {
        let mut matcher = filter.matcher();
        for (i, line) in text.lines().enumerate() {
            let n = i as u64 + 1;
            for f in matcher.feed(line, n, now) {
                assert!(f.line >= 1 && f.line <= n);
                assert!(!f.host.is_empty());
            }
        }
    }
});
