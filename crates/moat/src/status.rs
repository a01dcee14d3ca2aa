//! `moat status`: zones, open services, forwards, and every rule's counters
//! grouped by the intent that produced it.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use moat_blocklist::{Blocklists, ListInfo};
use moat_config::describe::{describe, intent};
use moat_config::model::{BalanceMode, Config};
use serde_json::json;

use crate::block_cmd;
use moat_host::confirm;
use moat_host::persist;
use moat_host::snapshot::Current;

/// Options of `moat status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

fn ports_text(ports: &[moat_model::PortRange]) -> String {
    ports
        .iter()
        .map(moat_model::PortRange::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn protos_text(p: &[moat_config::model::Proto]) -> String {
    p.iter().map(|p| p.name()).collect::<Vec<_>>().join("+")
}

fn zones_text(z: &[String]) -> String {
    if z.is_empty() {
        "all zones".into()
    } else {
        z.join(", ")
    }
}

fn print_config(cfg: &Config) {
    println!("Zones:");
    if cfg.zones.is_empty() {
        println!(
            "  (none: every interface gets the defaults, input {})",
            cfg.defaults.input.word()
        );
    }
    for z in &cfg.zones {
        let mut extra = Vec::new();
        if !z.interfaces.is_empty() {
            extra.push(format!("interfaces {}", z.interfaces.join(",")));
        }
        if !z.networks.is_empty() {
            extra.push(format!(
                "networks {}",
                z.networks
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        extra.push(format!("input {}", z.input.word()));
        if z.masquerade {
            extra.push("masquerade".into());
        }
        if z.masquerade_ipv6 {
            extra.push("masquerade_ipv6".into());
        }
        if let Some(a) = z.snat {
            extra.push(format!("snat {a}"));
        }
        println!("  {:<10} {}", z.name, extra.join("  "));
    }
    if !cfg.services.is_empty() {
        println!("Open services:");
    }
    for s in &cfg.services {
        let mut line = format!(
            "  {:<14} {} {}  from {}",
            s.name,
            protos_text(&s.protos),
            ports_text(&s.ports),
            zones_text(&s.zones)
        );
        if let Some(n) = s.limit.connections {
            line.push_str(&format!("  max {n} connections per source"));
        }
        if let Some(r) = &s.limit.rate {
            line.push_str(&format!("  max {r} new connections per source"));
        }
        println!("{line}");
    }
    if !cfg.port_forwards.is_empty() {
        println!("Port forwards:");
    }
    for p in &cfg.port_forwards {
        let to = match (p.to, p.to_port) {
            (Some(a), Some(port)) => std::net::SocketAddr::new(a, port).to_string(),
            (Some(a), None) => a.to_string(),
            (None, Some(port)) => format!("this host, port {port}"),
            (None, None) => "?".into(),
        };
        println!(
            "  {:<14} {} {} -> {to}  from {}{}",
            p.name,
            protos_text(&p.protos),
            ports_text(&[p.ports]),
            zones_text(&p.from),
            if p.hairpin && p.to.is_some() {
                "  (hairpin)"
            } else {
                ""
            }
        );
    }
    if !cfg.balances.is_empty() {
        println!("Balanced services:");
    }
    let live = if cfg.balances.iter().any(|b| b.check.is_some()) {
        crate::balance_cmd::daemon_view()
    } else {
        None
    };
    for b in &cfg.balances {
        let total: u32 = b.backends.iter().map(|x| x.weight).sum();
        let backends: Vec<String> = b
            .backends
            .iter()
            .map(|x| {
                let share = 100.0 * f64::from(x.weight) / f64::from(total);
                match x.port {
                    Some(p) => format!("{}:{p} {share:.0}%", x.addr),
                    None => format!("{} {share:.0}%", x.addr),
                }
            })
            .collect();
        let mode = match b.mode {
            BalanceMode::Random => "random",
            BalanceMode::RoundRobin => "round-robin",
            BalanceMode::Hash => "hash",
        };
        println!(
            "  {:<14} {} {} -> {}  ({mode})",
            b.name,
            protos_text(&b.protos),
            b.port,
            backends.join(", ")
        );
        if b.check.is_some() {
            let service = live
                .as_ref()
                .and_then(|l| l.iter().find(|s| s.name == b.name));
            match service {
                Some(s) => println!("  {:<14} {}", "", crate::balance_cmd::states_line(s)),
                None => println!(
                    "  {:<14} backends not checked: moat daemon is not running",
                    ""
                ),
            }
        }
    }
    if !cfg.forwards.is_empty() {
        println!("Forwarding:");
    }
    for f in &cfg.forwards {
        println!("  {} -> {}", f.from.join(","), f.to.join(","));
    }
}

/// The block lists in the kernel, as `moat block list` reads them; a
/// failure to read them is a warning, not the end of the status.
fn block_lists() -> Vec<ListInfo> {
    Blocklists::open()
        .and_then(|mut b| b.lists())
        .unwrap_or_else(|e| {
            eprintln!("moat: warning: cannot read the block lists: {e}");
            Vec::new()
        })
}

/// The block lists' JSON: name, directions, entries.
fn block_lists_json(lists: &[ListInfo]) -> serde_json::Value {
    json!(lists
        .iter()
        .map(|l| json!({"name": l.name, "directions": l.directions.iter().map(|d| d.word()).collect::<Vec<_>>(), "entries": l.ranges_v4 + l.ranges_v6}))
        .collect::<Vec<_>>())
}

/// The "Block lists:" part, when there are any.
fn print_block_lists(lists: &[ListInfo]) {
    if lists.is_empty() {
        return;
    }
    println!("Block lists:");
    for l in lists {
        println!(
            "  {:<14} directions {}  {}",
            l.name,
            block_cmd::words(&l.directions),
            block_cmd::entries_text(l.ranges_v4 + l.ranges_v6)
        );
    }
}

/// `moat status`.
/// The kept iptables-save file and the kernel's tables it does not hold
/// (left from an earlier configuration: a save file replaces only its own).
fn print_kept_save_file(current: &Current) {
    let dir = persist::etc_dir();
    let kept =
        persist::load_save_text().and_then(|text| moat_config::load("rules.save", &text).ok());
    let Some(kept) = kept else {
        println!("Configuration: none kept in {}", dir.display());
        return;
    };
    let holds = |family, stage| {
        kept.tables
            .iter()
            .any(|t| t.family == family && t.stage == stage)
    };
    let names = |pick: &dyn Fn(moat_model::Family, moat_model::Stage) -> bool| -> Vec<String> {
        current
            .existing()
            .filter(|e| pick(e.family, e.stage))
            .map(|e| {
                format!(
                    "{} {}",
                    e.family.name(),
                    moat_iptables::save::stage_name(e.stage)
                )
            })
            .collect()
    };
    println!(
        "Configuration: iptables-save file {} ({})",
        dir.join(persist::SAVE_FILE).display(),
        names(&|f, s| holds(f, s)).join(", ")
    );
    let others = names(&|f, s| !holds(f, s));
    if !others.is_empty() {
        println!(
            "  also in the kernel, not from that file (left as they were when it was applied): {}",
            others.join(", ")
        );
    }
}

pub fn run(args: &StatusArgs) -> ExitCode {
    status(args).unwrap_or_else(|e| {
        eprintln!("moat: {e:#}");
        ExitCode::FAILURE
    })
}

fn status(args: &StatusArgs) -> Result<ExitCode> {
    let current = Current::read(&moat_backend::default_backend())?;
    let pending = confirm::ask("status").ok().flatten().and_then(|s| {
        s.strip_prefix("pending ")
            .and_then(|n| n.parse::<u64>().ok())
    });
    let config =
        persist::load_config_text().and_then(|t| moat_config::parse_config("moat.toml", &t).ok());
    let lists = block_lists();
    let mut rules = Vec::new();
    let mut policies = Vec::new();
    for e in current.existing() {
        for chain in &e.state.chains {
            if let Some((_, p)) = chain.base {
                policies.push(json!({
                    "family": e.family.name(), "table": moat_iptables::save::stage_name(e.stage), "chain": chain.name,
                    "policy": format!("{p:?}").to_uppercase(), "packets": chain.policy_counters.packets, "bytes": chain.policy_counters.bytes,
                }));
            }
            for (i, r) in chain.rules.iter().enumerate() {
                rules.push(json!({
                    "family": e.family.name(), "table": moat_iptables::save::stage_name(e.stage), "chain": chain.name,
                    "number": i + 1, "intent": intent(&r.rule), "description": describe(&r.rule), "rule": r.text(),
                    "packets": r.rule.counters.packets, "bytes": r.rule.counters.bytes,
                }));
            }
        }
    }
    if args.json {
        println!(
            "{}",
            json!({"pending_confirmation_seconds": pending, "config": config, "block_lists": block_lists_json(&lists), "rules": rules, "policies": policies})
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(left) = pending {
        println!("A change is waiting for `moat confirm`: it rolls back in {left} s.\n");
    }
    match &config {
        Some(cfg) => {
            println!(
                "Configuration: {}",
                persist::etc_dir().join(persist::CONFIG).display()
            );
            print_config(cfg);
        }
        None => print_kept_save_file(&current),
    }
    print_block_lists(&lists);
    println!();
    if rules.is_empty() && policies.is_empty() {
        println!("No moat tables in the kernel.");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Rules, with their counters:");
    let mut last = String::new();
    for r in &rules {
        let head = format!(
            "{} {} {}",
            r["family"].as_str().unwrap_or(""),
            r["table"].as_str().unwrap_or(""),
            r["chain"].as_str().unwrap_or("")
        );
        if head != last {
            let policy = policies.iter().find(|p| {
                p["family"] == r["family"] && p["table"] == r["table"] && p["chain"] == r["chain"]
            });
            match policy {
                Some(p) => println!(
                    "  {head} (policy {}, {} packets)",
                    p["policy"].as_str().unwrap_or(""),
                    p["packets"]
                ),
                None => println!("  {head}"),
            }
            last = head;
        }
        let label = r["intent"]
            .as_str()
            .map(|i| format!("[{i}] "))
            .unwrap_or_default();
        println!(
            "    {:>8} pkts {:>10} bytes  {label}{}",
            r["packets"],
            r["bytes"],
            r["description"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
