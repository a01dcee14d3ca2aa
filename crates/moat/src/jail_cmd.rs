//! `moat jail check` (a jail file, directory or moat.toml, with file:line
//! errors) and `moat jail test` (what fail2ban-regex does).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::jails::{self, ConfigFile, JailSources};

/// `moat jail ...`.
#[derive(Args, Debug)]
pub struct JailArgs {
    #[command(subcommand)]
    command: JailCommand,
}

#[derive(Subcommand, Debug)]
enum JailCommand {
    /// Check jails: a fail2ban jail file or directory (jail.conf, jail.local,
    /// jail.d/), or a moat.toml; problems as file:line.
    Check {
        /// The file or directory.
        path: PathBuf,
    },
    /// Run a filter over a log, as fail2ban-regex does.
    Test(crate::jail_test::TestArgs),
}

/// `moat jail`.
pub fn run(args: JailArgs) -> ExitCode {
    match args.command {
        JailCommand::Check { path } => check(&path),
        JailCommand::Test(a) => crate::jail_test::run(&a),
    }
}

fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}

fn check(path: &Path) -> ExitCode {
    let sources = if is_toml(path) {
        JailSources {
            config: ConfigFile::Path(path.to_path_buf()),
            fail2ban: Vec::new(),
        }
    } else {
        JailSources {
            config: ConfigFile::Skip,
            fail2ban: vec![path.to_path_buf()],
        }
    };
    match jails::load(&sources) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            if loaded.specs.is_empty() {
                println!("{}: no enabled jails", path.display());
            }
            for s in &loaded.specs {
                println!(
                    "ok: jail {} ({}): filter {}, {} failures in {} s ban for {}, closes {}",
                    s.rules.name,
                    s.at,
                    s.filter_name,
                    s.rules.maxretry,
                    s.rules.findtime.as_secs(),
                    match s.rules.bantime {
                        moat_jail::BanTime::For(d) => format!("{} s", d.as_secs()),
                        moat_jail::BanTime::Permanent => "good".into(),
                    },
                    describe_scope(&s.scope)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A jail's scope in words: `tcp ports 22`, `all traffic`.
pub fn describe_scope(scope: &moat_ban::JailScope) -> String {
    if scope.closes_everything() {
        return "all traffic".into();
    }
    let ports = scope.port_ranges();
    if ports.is_empty() {
        return format!("every {} port", scope.protocol.word());
    }
    let list: Vec<String> = ports
        .iter()
        .copied()
        .map(moat_ban::layout::port_range_text)
        .collect();
    format!("{} port {}", scope.protocol.word(), list.join(","))
}
