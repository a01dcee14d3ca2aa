//! Warns about kernel settings the rules a command adds need; moat changes none of them.

use moat_model::checks::{needed_settings, rule_needs, SettingNeed};
use moat_model::{Family, Hook, Rule, Table};
use std::io::Write;

/// The current value of sysctl `key` in this network namespace, if readable.
fn read_sysctl(key: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|v| v.trim().to_string())
}

/// Prints a warning for each setting of `needs` (each key once) that the kernel does not have.
pub fn warn_missing(program: &str, needs: impl IntoIterator<Item = SettingNeed>) {
    let mut seen: Vec<String> = Vec::new();
    for need in needs {
        if seen.contains(&need.key) {
            continue;
        }
        seen.push(need.key.clone());
        let current = read_sysctl(&need.key);
        if current.as_deref() != Some(need.value) {
            // Never a panic when standard error cannot be written.
            let _ = writeln!(
                std::io::stderr(),
                "{program}: warning: {}: run `sysctl -w {}={}` (now {})",
                need.why,
                need.key,
                need.value,
                current.as_deref().unwrap_or("unset")
            );
        }
    }
}

/// Warns about the settings the rules of `tables` need (all of them were just written).
pub fn warn_for_tables(program: &str, tables: &[Table]) {
    warn_missing(program, needed_by_tables(tables));
}

/// The settings the rules of `tables` need.
pub fn needed_by_tables(tables: &[Table]) -> Vec<SettingNeed> {
    tables.iter().flat_map(needed_settings).collect()
}

/// Warns about the settings one added `rule` of `chain` (on `hook`) needs.
pub fn warn_for_rule(program: &str, family: Family, chain: &str, hook: Option<Hook>, rule: &Rule) {
    warn_missing(program, rule_needs(family, chain, hook, rule));
}
