//! `moat iptables` / `moat ip6tables`: one iptables command, one transaction.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use moat_backend::Backend;
use moat_iptables::{execute, parse_command_line, Command};
use moat_model::Family;
use moat_nft::plan_update;

use crate::lock::RulesetLock;
use crate::settings::warn_missing;
use crate::stored::read_state;

/// Exit status for a command-line problem, as iptables uses it.
const EXIT_USAGE: u8 = 2;

/// Runs one iptables command line; `program` names the command in messages.
pub fn run(program: &str, args: &[String], family: Family) -> ExitCode {
    let inv = match parse_command_line(args, family) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("{program}: {e}");
            eprintln!("Try `{program} -h' or '{program} --help' for more information.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for w in &inv.warnings {
        eprintln!("{program}: warning: {}", w.0);
    }
    match apply(program, &inv, family) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn apply(program: &str, inv: &moat_iptables::Invocation, family: Family) -> Result<ExitCode> {
    let backend = moat_backend::default_backend();
    let read_only = matches!(
        inv.command,
        Command::List { zero: false, .. } | Command::ListRules { .. } | Command::Check { .. }
    );
    let _lock = if read_only {
        None
    } else {
        Some(RulesetLock::acquire(Duration::from_secs(10))?)
    };
    let (kernel, state) = read_state(&backend, family, inv.stage)?;
    let outcome = execute(inv, &state)?;
    print!("{}", outcome.output);
    if let Some(next) = outcome.changed {
        let table = next.to_table();
        let batch = plan_update(kernel.as_ref(), &table)?;
        backend.apply(&batch)?;
        warn_missing(program, &table);
    }
    if outcome.check == Some(false) {
        eprintln!("iptables: Bad rule (does a matching rule exist in that chain?).");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
