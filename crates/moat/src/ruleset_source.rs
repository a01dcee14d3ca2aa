//! Where `moat lint` and `moat explain` get the ruleset they read: a
//! moat.toml or iptables-save file, or moat's tables in the kernel.

use std::path::Path;

use anyhow::Result;
use moat_model::Table;

use moat_host::snapshot::Current;

/// The model tables of `file` (or of the kernel's ruleset without one) and
/// what they are called in messages; `None` after printing why a file does
/// not load.
pub fn load(file: Option<&Path>) -> Result<Option<(String, Vec<Table>)>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let name = path.display().to_string();
            match moat_config::load(&name, &text) {
                Ok(loaded) => Ok(Some((
                    name,
                    loaded.tables.iter().map(|t| t.to_table()).collect(),
                ))),
                Err(e) => {
                    eprintln!("{e}");
                    Ok(None)
                }
            }
        }
        None => {
            let current = Current::read(&moat_backend::default_backend())?;
            let tables = current
                .entries
                .iter()
                .filter(|e| e.kernel.is_some())
                .map(|e| e.state.to_table())
                .collect();
            Ok(Some(("the kernel's ruleset".to_string(), tables)))
        }
    }
}
