//! Every built-in filter loads by name alone (no filter directory), its includes resolved
//! from the built-in table, with every mode its text offers.

use moat_fail2ban::{builtin, load_filter};
use std::collections::BTreeMap;

#[test]
fn every_builtin_filter_loads() {
    if builtin::FILES.is_empty() {
        eprintln!("no built-in filters yet");
        return;
    }
    let mode = regex::Regex::new(r"(?m)^mdre-(\w+)\s*=").unwrap();
    let mut loaded = 0;
    for (name, text) in builtin::FILES {
        // Files without a [Definition] with failregex are includes (common.conf).
        if !text.contains("failregex") {
            continue;
        }
        let f = load_filter(name, &BTreeMap::new(), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(f.file.is_none() && !f.failregex.is_empty(), "{name}");
        assert!(
            f.failregex.iter().all(|r| !r.contains("%(")),
            "{name}: unresolved reference in {:?}",
            f.failregex
        );
        for m in mode.captures_iter(text) {
            let opts = BTreeMap::from([("mode".to_string(), m[1].to_string())]);
            load_filter(name, &opts, &[]).unwrap_or_else(|e| panic!("{name}[mode={}]: {e}", &m[1]));
        }
        loaded += 1;
    }
    eprintln!("built-in filters loaded: {loaded}");
}
