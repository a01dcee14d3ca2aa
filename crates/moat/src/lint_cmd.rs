//! `moat lint [FILE]`: mistakes in the ruleset in the kernel, or in a
//! moat.toml or iptables-save file — rules that never match, redundant
//! rules, unused chains, uneven load balancing, DNAT without a FORWARD
//! accept, DROP policies without an ESTABLISHED accept. Exit status 1 when
//! there are findings, 2 when the ruleset cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use moat_lint::Finding;
use moat_model::Table;

use crate::ruleset_source;

/// Options of `moat lint`.
#[derive(Args, Debug)]
pub struct LintArgs {
    /// A moat.toml or iptables-save file (default: moat's tables in the kernel).
    pub file: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Lints `tables` and prints what it finds; the count.
pub fn print(name: &str, tables: &[Table], json: bool) -> usize {
    let findings: Vec<Finding> = moat_lint::lint(tables);
    if json {
        println!(
            "{}",
            serde_json::json!({"source": name, "findings": findings})
        );
    } else if findings.is_empty() {
        println!("{name}: no findings");
    } else {
        for f in &findings {
            println!("{f}");
        }
        let rules: usize = tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum();
        println!("{name}: {} findings in {rules} rules", findings.len());
    }
    findings.len()
}

/// `moat lint`.
pub fn run(args: &LintArgs) -> ExitCode {
    match ruleset_source::load(args.file.as_deref()) {
        Ok(Some((name, tables))) => {
            if print(&name, &tables, args.json) == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(None) => ExitCode::from(2),
        Err(e) => {
            eprintln!("moat lint: {e:#}");
            ExitCode::from(2)
        }
    }
}
