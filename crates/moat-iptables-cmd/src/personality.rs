//! Which command the binary was called as: its program name (a symlink
//! named `iptables`, Debian's `iptables-nft`, ...) or the first argument of
//! a multi-call front (`xtables-nft-multi iptables ...`).

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use moat_model::Family;

/// Makes the process end quietly, like the C tools it stands in for, when
/// the reader of its standard output goes away (`iptables-save | head`).
pub fn end_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of one signal at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs the personality the command line names: the program name
/// `argv0`, else the first of `args` (a multi-call front's, or the
/// personality's own name as `moat` and `moat-iptables` take it:
/// `moat iptables -S`); `None` when neither names one.
pub fn run_by_name(argv0: &OsStr, mut args: Vec<OsString>) -> Option<ExitCode> {
    let invoked = argv0.to_string_lossy();
    if let Some(name) = personality(&invoked) {
        // The save and restore tools name themselves as they were called
        // (`iptables-nft-save v1.8.9 (nf_tables)`); iptables is iptables.
        let shown = Path::new(&*invoked)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| name.contains('-'))
            .unwrap_or(name);
        return Some(run_as(name, shown, args));
    }
    let first = args.first().map(|a| a.to_string_lossy().into_owned());
    let named = match first.as_deref() {
        Some(arg) if is_multi(&argv0.to_string_lossy()) => personality(arg),
        Some(arg) => exact_personality(arg),
        None => None,
    };
    match named {
        Some(name) => {
            args.remove(0);
            Some(run_as(name, name, args))
        }
        None if is_multi(&argv0.to_string_lossy()) => {
            tell!("xtables-nft-multi: give one of iptables, ip6tables, iptables-save, iptables-restore, ...");
            Some(ExitCode::from(2))
        }
        None => None,
    }
}

/// The personality the binary was called as, from its program name.
///
/// Debian's names work too: `iptables-nft`, `iptables-legacy`,
/// `ip6tables-nft-save`, ... (the mode word is dropped).
fn personality(argv0: &str) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    let plain = name.replacen("-nft", "", 1).replacen("-legacy", "", 1);
    [
        "iptables",
        "ip6tables",
        "iptables-save",
        "ip6tables-save",
        "iptables-restore",
        "ip6tables-restore",
    ]
    .into_iter()
    .find(|p| *p == plain)
}

/// The personality a first argument names, exactly as moat's subcommand
/// spells it.
fn exact_personality(arg: &str) -> Option<&'static str> {
    personality(arg).filter(|p| *p == arg)
}

/// What `--help` says a save or restore personality does.
pub fn personality_about(name: &str) -> &'static str {
    match name {
        "iptables-save" => "Print moat's IPv4 rules in iptables-save format",
        "ip6tables-save" => "Print moat's IPv6 rules in ip6tables-save format",
        "iptables-restore" => "Load an iptables-save file (IPv4) in one atomic transaction",
        _ => "Load an ip6tables-save file (IPv6) in one atomic transaction",
    }
}

/// Parses one save or restore personality's options alone, its usage
/// naming the personality; long options may be abbreviated as getopt
/// allows (`--count`, `--noflu`), and an option given again takes its
/// last value (`-t filter -t nat`), as getopt's callers do.
fn parse_alone<A: Args>(name: &'static str, args: Vec<OsString>) -> Result<A, clap::Error> {
    let command = A::augment_args(clap::Command::new(name))
        .about(personality_about(name))
        .infer_long_args(true)
        .args_override_self(true);
    let argv = std::iter::once(OsString::from(name)).chain(args);
    A::from_arg_matches(&command.try_get_matches_from(argv)?)
}

/// Whether the program name is a multi-call front (`xtables-nft-multi
/// iptables ...`), whose first argument names the personality.
fn is_multi(argv0: &str) -> bool {
    Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "xtables-nft-multi" | "xtables-legacy-multi"))
}

/// Runs personality `name` with `args` (its options and words); a save or
/// restore tool names itself `shown` in what it prints.
fn run_as(name: &'static str, shown: &str, args: Vec<OsString>) -> ExitCode {
    match name {
        "iptables" | "ip6tables" => {
            let strings: Vec<String> = args
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            crate::iptables::run(name, &strings, family_of(name))
        }
        "iptables-save" | "ip6tables-save" => match parse_alone(name, args) {
            Ok(a) => crate::save::run(shown, &a, family_of(name)),
            Err(e) => personality_usage_error(e),
        },
        _ => match parse_alone(name, crate::restore::getopt_clusters(args)) {
            Ok(a) => crate::restore::run(shown, &a, family_of(name)),
            Err(e) => personality_usage_error(e),
        },
    }
}

/// Prints clap's usage error (or help) for a save or restore personality,
/// exiting as iptables-save and iptables-restore do for an option they do
/// not know: 1.
fn personality_usage_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The family a personality's name gives.
fn family_of(name: &str) -> Family {
    if name.starts_with("ip6") {
        Family::Ipv6
    } else {
        Family::Ipv4
    }
}
