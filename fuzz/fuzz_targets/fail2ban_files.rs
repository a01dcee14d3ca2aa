//! Fuzzes fail2ban's file formats: any text as a jail file or a filter
//! file must load or give errors that point inside the text, never a panic.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("moat-fuzz-f2b-{}", std::process::id()));
    let filters = dir.join("filter.d");
    let _ = std::fs::create_dir_all(&filters);
    // The reader ends lines at \n, \r\n and \r, as Python's text files do.
    let lines = text.matches('\n').count() + text.matches('\r').count() + 1;
    if kind % 2 == 0 {
        let path = dir.join("jail.conf");
        std::fs::write(&path, text).expect("write jail.conf");
        if let Err(errors) = moat_fail2ban::check_jails(&path) {
            for e in errors {
                if e.file == path {
                    assert!(e.line <= lines, "line {} outside the text", e.line);
                }
            }
        }
    } else {
        let path = filters.join("fuzz.conf");
        std::fs::write(&path, text).expect("write filter");
        if let Ok(def) = moat_fail2ban::load_filter("fuzz", &BTreeMap::new(), &[filters.clone()]) {
            let spec = moat_logmatch::FilterSpec {
                failregex: def.failregex,
                ignoreregex: def.ignoreregex,
                prefregex: def.prefregex,
                datepattern: def.datepattern,
                maxlines: def.maxlines.clamp(1, 50),
            };
            let _ = moat_logmatch::Filter::compile(&spec);
        }
    }
});
