//! `iptables-save` / `ip6tables-save`: moat's rules in iptables-save format.

use std::process::ExitCode;

use clap::Args;

use moat_backend::Backend;
use moat_iptables::command::parse_table;
use moat_iptables::save::{emit, emit_stored};
use moat_iptables::TableState;
use moat_model::{Family, Stage};

use moat_host::stored::stored_chains;

use crate::other_tables;
use crate::CommandError;

/// Options of iptables-save.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Include packet and byte counters.
    #[arg(short = 'c', long = "counters")]
    counters: bool,
    /// Only this table.
    #[arg(short = 't', long = "table")]
    table: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(short = 'f', long = "file")]
    file: Option<std::path::PathBuf>,
    /// Accepted for compatibility (nf_tables needs no module loader).
    #[arg(short = 'M', long = "modprobe")]
    modprobe: Option<String>,
    /// Accepted for compatibility (iptables-save has no binary format
    /// either); there is no `--binary`.
    #[arg(short = 'b')]
    binary: bool,
    /// Accepted for compatibility: iptables-save takes it and prints the same.
    #[arg(short = 'd', long = "dump")]
    dump: bool,
    /// Print the version (iptables' words, then moat's) and exit.
    #[arg(short = 'V', long = "version")]
    version: bool,
}

/// Says what iptables-save and iptables-restore say of `-b` (and then go
/// on without it): they have no binary format.
pub(crate) fn note_binary(given: bool) {
    if given {
        tell!("-b/--binary option is not implemented");
    }
}

/// Runs iptables-save; `program` names the command in messages.
pub fn run(program: &str, args: &SaveArgs, family: Family) -> ExitCode {
    if args.version {
        return crate::iptables::print_version(program);
    }
    note_binary(args.binary);
    match save(program, args, family) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tell!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn save(program: &str, args: &SaveArgs, family: Family) -> Result<(), CommandError> {
    other_tables::warn_legacy(family, true);
    let backend = moat_backend::default_backend();
    let only = args.table.as_deref().map(parse_table).transpose()?;
    let stages: Vec<Stage> = Stage::SAVE_ORDER
        .into_iter()
        .filter(|&stage| only.is_none_or(|o| o == stage))
        .collect();
    other_tables::note_iptables_nft(program, &backend, family, &stages);
    let mut tables = Vec::new();
    for stage in stages {
        match backend.read(family, stage)? {
            Some(kernel) => tables.push((family, stage, stored_chains(kernel))),
            None if only.is_some() => tables.push((family, stage, Vec::new())),
            None => {}
        }
    }
    let date = chrono::Local::now()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string();
    let writer = format!("moat {program} v{}", env!("CARGO_PKG_VERSION"));
    // Straight from the stored rule texts when it can, else through the
    // iptables view of each table (an empty table's chains included).
    let text = match emit_stored(&tables, args.counters, &writer, &date) {
        Some(text) => text,
        None => {
            let states = tables
                .into_iter()
                .map(|(family, stage, chains)| TableState::from_stored(family, stage, chains))
                .collect::<Result<Vec<_>, _>>()?;
            emit(&states, args.counters, &writer, &date)
        }
    };
    match &args.file {
        Some(path) => std::fs::write(path, text).map_err(|source| CommandError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        })?,
        None => crate::stdout::write(&text)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_format_is_iptables_style() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 3)
            .unwrap()
            .and_hms_opt(8, 4, 5)
            .unwrap();
        assert_eq!(
            d.format("%a %b %e %H:%M:%S %Y").to_string(),
            "Tue Nov  3 08:04:05 2026"
        );
    }
}
