//! `moat log tail` and what the daemon's packet logger needs from the
//! binary: its settings from moat.toml and the command line, and the
//! ruleset's logging rules read from the kernel.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ipnet::IpNet;
use moat_backend::Backend;
use moat_config::Config;
use moat_iptables::{family_word, rule_id};
use moat_logger::tail::{self, Entry, Filter};
use moat_logger::{Format, LoggingRule, Rotation, RuleRef, RuleSource, Settings};
use moat_model::{Family, Stage};

use moat_host::stored::stored_chains;

/// Where the packet log goes when neither moat.toml nor --log-file says.
const DEFAULT_FILE: &str = "/var/log/moat/packets.jsonl";

/// The daemon's packet log options.
#[derive(Args, Debug, Default)]
pub struct LoggerArgs {
    /// Write logged packets to FILE (overrides moat.toml's `[log] file`).
    #[arg(long = "log-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Lines as `json` (default) or `text` (the kernel log's layout).
    #[arg(long = "log-format", value_name = "FORMAT", value_parser = ["json", "text"])]
    pub format: Option<String>,
    /// NFLOG groups of your own rules to write (default: every group an
    /// NFLOG rule of moat's ruleset names). Repeatable.
    #[arg(long = "log-group", value_name = "N")]
    pub groups: Vec<u16>,
}

/// The packet logger's settings: moat.toml's `[log] file` with the
/// command line's overrides; `None` when neither asks for a log file.
pub fn settings(config: Option<&Config>, args: &LoggerArgs) -> Option<Settings> {
    let from_config = config.and_then(|c| c.log.file.as_ref());
    let file = args
        .file
        .clone()
        .or_else(|| from_config.map(|f| f.path.clone()))?;
    let text = match args.format.as_deref() {
        Some(f) => f == "text",
        None => from_config.is_some_and(|f| f.text),
    };
    let groups = if args.groups.is_empty() {
        from_config.and_then(|f| f.groups.clone())
    } else {
        Some(args.groups.clone())
    };
    Some(Settings {
        file,
        format: if text { Format::Text } else { Format::Json },
        route_group: from_config
            .map(|f| f.group)
            .or_else(|| moat_host::log_route::set_by_command().map(|r| r.group)),
        groups,
        rotation: Rotation {
            max_bytes: from_config.map_or(Some(100 << 20), |f| f.rotate_bytes),
            max_age: from_config
                .and_then(|f| f.rotate_every_secs)
                .map(Duration::from_secs),
            keep: from_config.map_or(5, |f| f.keep),
        },
        max_rate: from_config.and_then(|f| f.max_rate),
    })
}

/// The value after `option` in a rule's words.
fn option_value<'a>(words: &'a [String], option: &str) -> Option<&'a str> {
    let at = words.iter().position(|w| w == option)?;
    words.get(at + 1).map(String::as_str)
}

/// moat's tables in the kernel, as the packet logger reads them.
pub struct KernelRules;

impl RuleSource for KernelRules {
    fn generation(&self) -> Option<u32> {
        moat_backend::netlink::NfSocket::open()
            .and_then(|mut s| s.generation())
            .ok()
    }

    fn rules(&self) -> Vec<LoggingRule> {
        logging_rules()
    }
}

/// Every rule of moat's tables that logs, with where it is.
fn logging_rules() -> Vec<LoggingRule> {
    let backend = moat_backend::default_backend();
    let mut out = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        for stage in Stage::ALL {
            let Ok(Some(kernel)) = backend.read(family, stage) else {
                continue;
            };
            for chain in stored_chains(kernel) {
                out.extend(chain.rules.iter().enumerate().filter_map(|(i, rule)| {
                    logging_rule(family, stage, &chain.name, i + 1, rule.source.as_deref()?)
                }));
            }
        }
    }
    out
}

/// Rule `number` of `chain`, written as `source`, when it is a LOG or NFLOG rule.
fn logging_rule(
    family: Family,
    stage: Stage,
    chain: &str,
    number: usize,
    source: &str,
) -> Option<LoggingRule> {
    let words = moat_iptables::rule::split_args(source).unwrap_or_default();
    let target = option_value(&words, "-j");
    if !matches!(target, Some("LOG" | "NFLOG")) {
        return None;
    }
    let nflog = (target == Some("NFLOG")).then(|| {
        let group = option_value(&words, "--nflog-group")
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        let prefix = option_value(&words, "--nflog-prefix").unwrap_or("");
        (group, prefix.to_string())
    });
    Some(LoggingRule {
        rule: RuleRef {
            family: family_word(family).into(),
            table: stage.name().into(),
            chain: chain.to_string(),
            number,
            text: moat_model::describe::source_text(chain, source),
            id: rule_id(family, stage, chain, source),
        },
        nflog,
    })
}

/// `moat log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Subcommand, Debug)]
enum LogCommand {
    /// Show the last lines of moat's packet log (and follow it with -f).
    Tail(TailArgs),
    /// Send -j LOG rules to moat's packet log (`on`) or back to the kernel
    /// log (`off`), rewriting the LOG rules in one transaction; for rules
    /// written with moat iptables (a moat.toml says it with `[log] file`).
    Route(RouteArgs),
}

/// Options of `moat log route`.
#[derive(Args, Debug)]
pub struct RouteArgs {
    /// `on` or `off`.
    #[arg(value_parser = ["on", "off"])]
    state: String,
    /// The log group LOG rules go to (with `on`).
    #[arg(long, default_value_t = moat_logger::DEFAULT_GROUP)]
    group: u16,
}

/// Options of `moat log tail`.
#[derive(Args, Debug)]
pub struct TailArgs {
    /// Keep printing lines as packets are logged (across rotations), until Ctrl-C.
    #[arg(short, long)]
    follow: bool,
    /// Print the JSON lines as they are in the file.
    #[arg(long)]
    json: bool,
    /// Lines to show from the end (before following).
    #[arg(short = 'n', long, default_value_t = 10)]
    lines: usize,
    /// Only packets from this address or network.
    #[arg(long, value_name = "ADDR[/LEN]", value_parser = net)]
    src: Option<IpNet>,
    /// Only packets to this address or network.
    #[arg(long, value_name = "ADDR[/LEN]", value_parser = net)]
    dst: Option<IpNet>,
    /// Only packets whose log prefix contains TEXT.
    #[arg(long, value_name = "TEXT")]
    prefix: Option<String>,
    /// Only this protocol (tcp, udp, icmp, ...).
    #[arg(long, value_name = "PROTO")]
    proto: Option<String>,
    /// Only packets from or to this port.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// The log file (default: moat.toml's `[log] file`, else /var/log/moat/packets.jsonl).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

fn net(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or network"))
}

/// How `moat log tail` prints an entry.
fn shown(entry: &Entry, json: bool) -> String {
    match entry {
        Entry::Text(t) => t.clone(),
        Entry::Json(l) if json => l.to_json(),
        Entry::Json(l) => match &l.rule {
            Some(r) => format!(
                "{}  [{} {} rule {}]",
                l.to_text(),
                r.table,
                r.chain,
                r.number
            ),
            None => l.to_text(),
        },
    }
}

fn kept_log_file() -> Option<PathBuf> {
    moat_host::persist::kept_config()?.log.file.map(|f| f.path)
}

fn tail_run(args: &TailArgs) -> Result<()> {
    let path = args
        .file
        .clone()
        .or_else(kept_log_file)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    let filter = Filter {
        src: args.src,
        dst: args.dst,
        prefix: args.prefix.clone(),
        proto: args.proto.clone(),
        port: args.port,
    };
    let (entries, offset) = tail::last(&path, &filter, args.lines).with_context(|| {
        format!(
            "cannot read {} (is `[log] file` set and `moat daemon` running?)",
            path.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    for e in &entries {
        writeln!(out, "{}", shown(e, args.json))?;
    }
    out.flush()?;
    if args.follow {
        tail::follow(&path, &filter, offset, |e| {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", shown(e, args.json)).is_ok() && out.flush().is_ok()
        })?;
    }
    Ok(())
}

/// `moat log route on|off`: keeps the setting and rewrites every LOG rule
/// of moat's tables to follow it, in one transaction.
fn route_run(args: &RouteArgs) -> Result<()> {
    if moat_host::persist::load_config_text().is_some() {
        anyhow::bail!(
            "the kept moat.toml decides where LOG rules go: set or remove `[log] file` in it and apply it"
        );
    }
    let route = (args.state == "on").then_some(moat_logger::Route { group: args.group });
    let backend = moat_backend::default_backend();
    let _lock = moat_host::lock::RulesetLock::acquire(Duration::from_secs(10))?;
    let current = moat_host::snapshot::Current::read(&backend)?;
    let present: Vec<_> = current
        .entries
        .iter()
        .filter(|e| e.kernel.is_some())
        .map(|e| e.state.clone())
        .collect();
    let (batch, _) = moat_host::snapshot::plan(&current, &present, false, route)?;
    backend.apply(&batch)?;
    moat_host::log_route::keep(route)?;
    match route {
        Some(r) => println!(
            "LOG rules now go to log group {} (run `moat daemon --log-file FILE` to write them)",
            r.group
        ),
        None => println!("LOG rules now go to the kernel log"),
    }
    Ok(())
}

/// `moat log ...`.
pub fn run(args: &LogArgs) -> ExitCode {
    let (name, result) = match &args.command {
        LogCommand::Tail(tail) => ("tail", tail_run(tail)),
        LogCommand::Route(route) => ("route", route_run(route)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat log {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
