//! moat: a firewall and gateway for Linux on nf_tables.
//!
//! Called as `iptables`, `ip6tables`, `iptables-save`, `iptables-restore` (or
//! the ip6 pair) through a symlink, it behaves as that command
//! (moat-iptables-cmd); so does the lean `moat-iptables` binary.

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
mod jail_cmd;
mod jail_test;
mod jails;
mod lint_cmd;
mod log_cmd;
mod metrics_cmd;
mod ruleset_source;
mod status;
mod trace_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use moat_iptables_cmd::personality_about;
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
    #[command(name = "iptables-save", about = personality_about("iptables-save"), infer_long_args = true)]
    IptablesSave(moat_iptables_cmd::save::SaveArgs),
    #[command(name = "ip6tables-save", about = personality_about("ip6tables-save"), infer_long_args = true)]
    Ip6tablesSave(moat_iptables_cmd::save::SaveArgs),
    #[command(name = "iptables-restore", about = personality_about("iptables-restore"), infer_long_args = true)]
    IptablesRestore(moat_iptables_cmd::restore::RestoreArgs),
    #[command(name = "ip6tables-restore", about = personality_about("ip6tables-restore"), infer_long_args = true)]
    Ip6tablesRestore(moat_iptables_cmd::restore::RestoreArgs),
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

fn dispatch(command: Top) -> ExitCode {
    match command {
        Top::Demo => demo::run(),
        Top::Iptables { args } => moat_iptables_cmd::iptables::run("iptables", &args, Family::Ipv4),
        Top::Ip6tables { args } => {
            moat_iptables_cmd::iptables::run("ip6tables", &args, Family::Ipv6)
        }
        Top::IptablesSave(a) => moat_iptables_cmd::save::run("iptables-save", &a, Family::Ipv4),
        Top::Ip6tablesSave(a) => moat_iptables_cmd::save::run("ip6tables-save", &a, Family::Ipv6),
        Top::IptablesRestore(a) => {
            moat_iptables_cmd::restore::run("iptables-restore", &a, Family::Ipv4)
        }
        Top::Ip6tablesRestore(a) => {
            moat_iptables_cmd::restore::run("ip6tables-restore", &a, Family::Ipv6)
        }
        Top::Check(a) => config_cmd::run_check(&a),
        Top::Diff(a) => config_cmd::run_diff(&a),
        Top::Lint(a) => lint_cmd::run(&a),
        Top::Explain(a) => explain_cmd::run(&a),
        Top::Apply(a) => config_cmd::run_apply(&a),
        Top::Confirm => config_cmd::run_confirm(),
        Top::Status(a) => status::run(&a),
        Top::Boot => install::run_boot(),
        Top::Install(a) => install::run_install(&a),
        Top::Watchdog => moat_host::confirm::run_watchdog(config_cmd::put_balance_back),
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
    moat_iptables_cmd::end_quietly_on_closed_pipe();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    // Called as an iptables personality, or `moat iptables ...`: the
    // personality runs without building moat's whole command tree (about
    // half a millisecond, a tenth of an `-A`).
    if let Some(code) = moat_iptables_cmd::run_by_name(&argv0, args.collect()) {
        return code;
    }
    let cli = Cli::parse();
    dispatch(cli.command)
}
