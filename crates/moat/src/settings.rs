//! Warns about kernel settings the applied rules need; moat changes none of them.

use moat_model::checks::needed_settings;
use moat_model::Table;

/// The current value of sysctl `key` in this network namespace, if readable.
fn read_sysctl(key: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|v| v.trim().to_string())
}

/// Prints a warning for each setting `table` needs that the kernel does not have.
pub fn warn_missing(program: &str, table: &Table) {
    for need in needed_settings(table) {
        let current = read_sysctl(&need.key);
        if current.as_deref() != Some(need.value) {
            eprintln!(
                "{program}: warning: {}: run `sysctl -w {}={}` (now {})",
                need.why,
                need.key,
                need.value,
                current.as_deref().unwrap_or("unset")
            );
        }
    }
}
