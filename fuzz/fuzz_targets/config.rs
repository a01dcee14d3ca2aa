//! Fuzzes moat.toml: any text must load (and compile to model tables) or
//! give located problems inside the text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_config::{load_with, ServiceDb};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let db = ServiceDb::builtin();
    match load_with("fuzz.toml", text, &db) {
        Ok(loaded) => {
            for t in &loaded.tables {
                let _ = t.to_table();
            }
        }
        Err(e) => {
            let lines = text.lines().count().max(1) + 1;
            for p in &e.problems {
                assert!(
                    p.line >= 1 && p.line <= lines,
                    "line {} outside the text",
                    p.line
                );
                assert!(p.col >= 1);
            }
        }
    }
});
