//! Fuzzes the iptables command-line parser and the command engine: any words
//! must give a command or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_iptables::{execute, parse_command_line, TableState};
use moat_model::{Family, Stage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let words: Vec<String> = text.split(['\n', ' ']).map(str::to_string).collect();
    for family in [Family::Ipv4, Family::Ipv6] {
        if let Ok(inv) = parse_command_line(&words, family) {
            let state = TableState::empty(family, inv.stage);
            if let Ok(outcome) = execute(&inv, &state) {
                if let Some(next) = outcome.changed {
                    let _ = next.to_table();
                }
            }
        }
    }
    let _ = Stage::ALL;
});
