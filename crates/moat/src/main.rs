//! moat: a firewall and gateway for Linux on nf_tables.
//!
//! Called as `iptables`, `ip6tables`, `iptables-save`, `iptables-restore` (or
//! the ip6 pair) through a symlink, it behaves as that command.

mod balance_cmd;
mod bans_cmd;
mod block_cmd;
mod config_balance;
mod config_blocks;
mod config_cmd;
mod daemon_cmd;
mod demo;
mod docs;
mod explain_cmd;
mod host_view;
mod install;
mod iptables_cmd;
mod jail_cmd;
mod jail_test;
mod jails;
mod lint_cmd;
mod log_cmd;
mod metrics_cmd;
mod restore_cmd;
mod ruleset_source;
mod save_cmd;
mod status;
mod trace_cmd;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use moat_model::Family;

/// A firewall and gateway for Linux on nf_tables.
#[derive(Parser)]
#[command(name = "moat", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Show moat at work on a throwaway lab of network namespaces (safe anywhere).
    Demo,
    /// Run an iptables command (IPv4).
    #[command(disable_help_flag = true, after_help = moat_iptables::help_text("moat iptables"))]
    Iptables {
        /// The iptables command line: a command, a chain, a rule and options.
        #[arg(
            allow_hyphen_values = true,
            trailing_var_arg = true,
            value_name = "IPTABLES ARGS"
        )]
        args: Vec<String>,
    },
    /// Run an ip6tables command (IPv6).
    #[command(disable_help_flag = true, after_help = moat_iptables::help_text("moat ip6tables"))]
    Ip6tables {
        /// The ip6tables command line: a command, a chain, a rule and options.
        #[arg(
            allow_hyphen_values = true,
            trailing_var_arg = true,
            value_name = "IP6TABLES ARGS"
        )]
        args: Vec<String>,
    },
    #[command(name = "iptables-save", about = personality_about("iptables-save"))]
    IptablesSave(save_cmd::SaveArgs),
    #[command(name = "ip6tables-save", about = personality_about("ip6tables-save"))]
    Ip6tablesSave(save_cmd::SaveArgs),
    #[command(name = "iptables-restore", about = personality_about("iptables-restore"))]
    IptablesRestore(restore_cmd::RestoreArgs),
    #[command(name = "ip6tables-restore", about = personality_about("ip6tables-restore"))]
    Ip6tablesRestore(restore_cmd::RestoreArgs),
    /// Check a moat.toml (or iptables-save file): problems as file:line:col with a fix.
    Check(config_cmd::CheckArgs),
    /// Find mistakes in the ruleset in the kernel, or in a moat.toml or
    /// iptables-save file: rules that never match and why, redundant rules,
    /// unused chains, uneven load balancing, DNAT without a FORWARD accept,
    /// DROP policies without an ESTABLISHED accept. Exits 1 when it finds any.
    Lint(lint_cmd::LintArgs),
    /// Show the path a packet you describe takes through the ruleset in the
    /// kernel (or a moat.toml or iptables-save file): every hook, table and
    /// chain, the rules that match (all of them, and why the others do not,
    /// with -v), NAT rewrites, the routing decision from this namespace's
    /// addresses and routes, and the verdict with the rule or policy that
    /// gives it. Matches it cannot decide (rate limits, sets, ...) are
    /// followed both ways. Exits 0 when the packet is accepted on every
    /// path, 1 when it is dropped or rejected on some, 2 on bad input.
    Explain(explain_cmd::ExplainArgs),
    /// Show in words what applying a moat.toml (or iptables-save file) would change.
    Diff(config_cmd::DiffArgs),
    /// Apply a moat.toml (or iptables-save file) in one atomic transaction.
    ///
    /// The applied file and moat's tables are kept for the next boot
    /// (`moat boot`) in /etc/moat, or in /etc/netns/NAME/moat when moat runs
    /// in the named network namespace NAME (`ip netns exec NAME moat apply
    /// ...`), so trying a file in a namespace leaves the host's boot
    /// configuration alone. MOAT_ETC=DIR keeps them in DIR instead;
    /// --no-save keeps nothing.
    Apply(config_cmd::ApplyArgs),
    /// Keep the ruleset applied with `apply --confirm` (else it rolls back by itself).
    Confirm,
    /// Show zones, open services, forwards and the counters of every rule.
    Status(status::StatusArgs),
    /// Put the kept ruleset back (what moat.service runs at boot).
    Boot,
    /// Install moat, its systemd units (enabled for boot), shell completions and the manual page.
    Install(install::InstallArgs),
    /// The rollback timer of `apply --confirm` (started by moat itself).
    #[command(hide = true)]
    Watchdog,
    /// Block countries or address lists (nf_tables interval sets, loaded in one transaction).
    Block(block_cmd::BlockArgs),
    /// Lift a block: `moat unblock country CC...` or `moat unblock NAME...`.
    Unblock(block_cmd::UnblockArgs),
    /// Run the long-running half of moat in the foreground: the jails (bans from logs), the balanced services' health checks, the packet logger and the metrics endpoint.
    Daemon(daemon_cmd::DaemonArgs),
    /// Check jail files, or test a filter on a log (fail2ban-regex).
    Jail(jail_cmd::JailArgs),
    /// Show the jails and the banned addresses with their time left.
    Bans(bans_cmd::BansArgs),
    /// Ban an address by hand in a jail.
    Ban(bans_cmd::BanArgs),
    /// Lift bans: `moat unban ADDRESS [--jail J]` or `moat unban --all`.
    Unban(bans_cmd::UnbanArgs),
    /// Show balanced services' backends: health, last check, share, connections.
    Balance(balance_cmd::BalanceArgs),
    /// Print one reading of moat's Prometheus metrics (rule counters, policies,
    /// block lists, bans, backends), e.g. for node_exporter's textfile collector.
    Metrics,
    /// Follow packets through moat's tables live (the kernel's nftrace): each
    /// packet's path in iptables terms, with NAT rewrites, until Ctrl-C.
    Trace(trace_cmd::TraceArgs),
    /// Read moat's packet log (`[log] file`): `moat log tail [-f] [--src ...]`.
    Log(log_cmd::LogArgs),
    /// Print a shell completion script (`moat install` installs them).
    Completions(docs::CompletionsArgs),
    /// Print moat's manual page (roff; `moat install` installs it as moat.8).
    Man,
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
fn personality_about(name: &str) -> &'static str {
    match name {
        "iptables-save" => "Print moat's IPv4 rules in iptables-save format",
        "ip6tables-save" => "Print moat's IPv6 rules in ip6tables-save format",
        "iptables-restore" => "Load an iptables-save file (IPv4) in one atomic transaction",
        _ => "Load an ip6tables-save file (IPv6) in one atomic transaction",
    }
}

/// Parses one save or restore personality's options alone, its usage
/// naming the personality.
fn parse_alone<A: Args>(name: &'static str, args: Vec<OsString>) -> Result<A, clap::Error> {
    let command = A::augment_args(clap::Command::new(name)).about(personality_about(name));
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

fn run_as(name: &'static str, args: Vec<OsString>) -> ExitCode {
    match name {
        "iptables" | "ip6tables" => {
            let strings: Vec<String> = args
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            iptables_cmd::run(name, &strings, family_of(name))
        }
        "iptables-save" | "ip6tables-save" => match parse_alone(name, args) {
            Ok(a) => save_cmd::run(name, &a, family_of(name)),
            Err(e) => personality_usage_error(e),
        },
        _ => match parse_alone(name, args) {
            Ok(a) => restore_cmd::run(name, &a, family_of(name)),
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

fn dispatch(command: Top) -> ExitCode {
    match command {
        Top::Demo => demo::run(),
        Top::Iptables { args } => iptables_cmd::run("iptables", &args, Family::Ipv4),
        Top::Ip6tables { args } => iptables_cmd::run("ip6tables", &args, Family::Ipv6),
        Top::IptablesSave(a) => save_cmd::run("iptables-save", &a, Family::Ipv4),
        Top::Ip6tablesSave(a) => save_cmd::run("ip6tables-save", &a, Family::Ipv6),
        Top::IptablesRestore(a) => restore_cmd::run("iptables-restore", &a, Family::Ipv4),
        Top::Ip6tablesRestore(a) => restore_cmd::run("ip6tables-restore", &a, Family::Ipv6),
        Top::Check(a) => config_cmd::run_check(&a),
        Top::Diff(a) => config_cmd::run_diff(&a),
        Top::Lint(a) => lint_cmd::run(&a),
        Top::Explain(a) => explain_cmd::run(&a),
        Top::Apply(a) => config_cmd::run_apply(&a),
        Top::Confirm => config_cmd::run_confirm(),
        Top::Status(a) => status::run(&a),
        Top::Boot => install::run_boot(),
        Top::Install(a) => install::run_install(&a),
        Top::Watchdog => moat_host::confirm::run_watchdog(),
        Top::Block(a) => block_cmd::run_block(a),
        Top::Unblock(a) => block_cmd::run_unblock(a),
        Top::Daemon(a) => daemon_cmd::run(a),
        Top::Jail(a) => jail_cmd::run(a),
        Top::Bans(a) => bans_cmd::run_bans(a),
        Top::Ban(a) => bans_cmd::run_ban(a),
        Top::Unban(a) => bans_cmd::run_unban(a),
        Top::Balance(a) => balance_cmd::run(&a),
        Top::Metrics => metrics_cmd::run(),
        Top::Trace(a) => trace_cmd::run(&a),
        Top::Log(a) => log_cmd::run(&a),
        Top::Completions(a) => docs::run_completions(&a),
        Top::Man => docs::run_man(),
    }
}

fn main() -> ExitCode {
    // Like the C tools it stands in for, end quietly when the reader of
    // standard output goes away (`moat iptables-save | head`).
    // SAFETY: restoring the default disposition of one signal at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if let Some(name) = personality(&argv0.to_string_lossy()) {
        return run_as(name, args.collect());
    }
    if is_multi(&argv0.to_string_lossy()) {
        let rest: Vec<OsString> = args.collect();
        return match rest.first().and_then(|a| personality(&a.to_string_lossy())) {
            Some(name) => run_as(name, rest[1..].to_vec()),
            None => {
                eprintln!("xtables-nft-multi: give one of iptables, ip6tables, iptables-save, iptables-restore, ...");
                ExitCode::from(2)
            }
        };
    }
    // `moat iptables ...` runs the personality without building moat's
    // whole command tree (about half a millisecond, a tenth of an `-A`).
    let rest: Vec<OsString> = args.collect();
    if let Some(name) = rest
        .first()
        .and_then(|a| a.to_str())
        .and_then(exact_personality)
    {
        return run_as(name, rest[1..].to_vec());
    }
    let cli = Cli::parse();
    dispatch(cli.command)
}
