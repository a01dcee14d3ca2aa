//! Fuzzes the iptables-save file parser and restore: any text must restore
//! or give a line-numbered error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_iptables::save::{restore, RestoreOptions, SaveFile};
use moat_iptables::TableState;
use moat_model::Family;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(file) = SaveFile::parse(text) else { return };
    for noflush in [false, true] {
        let options = RestoreOptions { noflush, counters: true };
        let _ = restore(&file, Family::Ipv4, options, |stage| Ok(TableState::empty(Family::Ipv4, stage)));
    }
});
