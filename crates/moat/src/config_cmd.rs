//! `moat check`, `moat diff`, `moat apply` and `moat confirm`: a moat.toml
//! (or an iptables-save file) checked, compared with what runs, and applied
//! as one transaction — with the lock-out guard and the confirm watchdog.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use moat_backend::Backend;
use moat_config::{ConfigError, Format, Loaded};
use serde_json::json;

use crate::config_balance;
use crate::config_blocks;
use moat_host::confirm::{self, Orders};
use moat_host::guard;
use moat_host::lock::RulesetLock;
use moat_host::log_route;
use moat_host::persist::{self, Keep};
use moat_host::previous::{put_lists_back, Previous};
use moat_host::set_copies;
use moat_host::settings::warn_for_tables;
use moat_host::snapshot::{model_tables, plan, Current, Snapshot};

/// Exit status when the lock-out guard refuses a ruleset.
const EXIT_GUARD: u8 = 3;

/// Options of `moat check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The moat.toml or iptables-save file.
    pub file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `moat diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The moat.toml or iptables-save file.
    pub file: PathBuf,
    /// Print the changes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `moat apply`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The moat.toml or iptables-save file.
    pub file: PathBuf,
    /// Put the previous ruleset back after SECONDS unless `moat confirm` runs first.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub confirm: Option<u64>,
    /// Apply even if the lock-out guard sees SSH connections it would cut.
    #[arg(long)]
    pub force: bool,
    /// With --confirm: wait for a `yes` on standard input (the default on a terminal).
    #[arg(long)]
    pub wait: bool,
    /// Do not keep the applied configuration for the next boot.
    #[arg(long)]
    pub no_save: bool,
}

fn read(path: &PathBuf) -> Result<(String, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path.display().to_string(), text))
}

fn located_json(e: &ConfigError) -> serde_json::Value {
    json!(e
        .problems
        .iter()
        .map(|p| json!({"file": p.file, "line": p.line, "col": p.col, "message": p.message, "expected": p.expected, "fix": p.fix}))
        .collect::<Vec<_>>())
}

fn table_summary(loaded: &Loaded) -> String {
    tables_text(&loaded.tables)
}

/// `IPv4 filter (3 rules), IPv6 nat (1 rule)`.
fn tables_text<'a>(tables: impl IntoIterator<Item = &'a moat_iptables::TableState>) -> String {
    tables
        .into_iter()
        .map(|t| {
            let n: usize = t.chains.iter().map(|c| c.rules.len()).sum();
            format!(
                "{} {} ({n} {})",
                t.family.name(),
                moat_iptables::save::stage_name(t.stage),
                rules_word(n)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rule` or `rules` after the count `n`.
fn rules_word(n: usize) -> &'static str {
    if n == 1 {
        "rule"
    } else {
        "rules"
    }
}

/// What check says besides problems: the block lists or ipsets the rules
/// name must exist in the kernel when applied, and what a moat.toml leaves
/// to one address family without saying so.
fn kernel_notes(loaded: &Loaded) -> Vec<String> {
    let mut notes: Vec<String> = loaded
        .lists_needed()
        .iter()
        .map(|l| format!("block list or ipset {l} must exist when applied (checked by apply)"))
        .collect();
    notes.extend(loaded.config.iter().flat_map(moat_config::family_notes));
    notes
}

/// `moat check FILE`.
pub fn run_check(args: &CheckArgs) -> ExitCode {
    let (name, text) = match read(&args.file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("moat: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let checked = moat_config::load(&name, &text)
        .and_then(|l| moat_config::check_applicable(&name, &text, &l).map(|()| l));
    match checked {
        Ok(loaded) => {
            if let Some(Err(e)) = loaded.config.as_ref().map(config_blocks::read) {
                if args.json {
                    println!(
                        "{}",
                        json!({"ok": false, "file": name, "errors": [format!("{e:#}")], "warnings": loaded.warnings})
                    );
                } else {
                    eprintln!("{name}: {e:#}");
                }
                return ExitCode::FAILURE;
            }
            let model: Vec<moat_model::Table> =
                loaded.tables.iter().map(|t| t.to_table()).collect();
            let lint = moat_lint::lint(&model);
            if args.json {
                let tables: Vec<_> = loaded
                    .tables
                    .iter()
                    .map(|t| json!({"family": t.family.name(), "table": moat_iptables::save::stage_name(t.stage), "rules": t.chains.iter().map(|c| c.rules.len()).sum::<usize>()}))
                    .collect();
                println!(
                    "{}",
                    json!({"ok": true, "file": name, "errors": [], "warnings": loaded.warnings, "notes": kernel_notes(&loaded), "lint": lint, "tables": tables})
                );
            } else {
                for w in &loaded.warnings {
                    eprintln!("{name}: warning: {w}");
                }
                for n in kernel_notes(&loaded) {
                    eprintln!("{name}: note: {n}");
                }
                let never = |f: &&moat_lint::Finding| loaded.warnings.contains(&f.to_string());
                for f in lint.iter().filter(|f| !never(f)) {
                    eprintln!("{name}: lint: {f}");
                }
                let kind = if loaded.format == Format::Toml {
                    "moat.toml"
                } else {
                    "iptables-save file"
                };
                println!("{name}: ok ({kind}): {}", table_summary(&loaded));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    json!({"ok": false, "file": name, "errors": located_json(&e), "warnings": []})
                );
            } else {
                eprintln!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn load_or_report(path: &PathBuf) -> Result<Option<(String, String, Loaded)>> {
    let (name, text) = read(path)?;
    match moat_config::load(&name, &text) {
        Ok(l) => Ok(Some((name, text, l))),
        Err(e) => {
            eprintln!("{e}");
            Ok(None)
        }
    }
}

/// One difference between what runs and what a file asks for.
#[derive(Debug, Clone, serde::Serialize)]
struct Change {
    family: &'static str,
    table: &'static str,
    chain: String,
    change: &'static str,
    intent: Option<String>,
    description: String,
    rule: String,
}

fn changes(current: &Current, target: &[moat_iptables::TableState]) -> (Vec<Change>, usize) {
    let mut out = Vec::new();
    let mut unchanged = 0;
    for entry in &current.entries {
        let old = entry.kernel.as_ref().map(|_| &entry.state);
        let new = target
            .iter()
            .find(|t| t.family == entry.family && t.stage == entry.stage);
        let family = entry.family.name();
        let table = moat_iptables::save::stage_name(entry.stage);
        let change = |chain: &str,
                      change: &'static str,
                      r: Option<&moat_iptables::state::StateRule>,
                      text: String| Change {
            family,
            table,
            chain: chain.to_string(),
            change,
            intent: r.and_then(|r| moat_config::describe::intent(&r.rule)),
            description: r
                .map(|r| moat_config::describe::describe(&r.rule))
                .unwrap_or_else(|| text.clone()),
            rule: r.map(|r| r.text().to_string()).unwrap_or(text),
        };
        match (old, new) {
            (None, None) => {}
            (Some(_), None) => out.push(change(
                "",
                "remove table",
                None,
                format!("table {table} is removed"),
            )),
            (old, Some(new)) => {
                if old.is_none() {
                    out.push(change(
                        "",
                        "add table",
                        None,
                        format!("table {table} is created"),
                    ));
                }
                for chain in &new.chains {
                    let before = old.and_then(|o| o.chain(&chain.name));
                    let (pb, pa) = (
                        before.and_then(|c| c.base.map(|b| b.1)),
                        chain.base.map(|b| b.1),
                    );
                    if pa.is_some()
                        && pb != pa
                        && !(pb.is_none() && pa == Some(moat_model::Policy::Accept))
                    {
                        out.push(change(
                            &chain.name,
                            "policy",
                            None,
                            format!(
                                "policy {:?} -> {:?}",
                                pb.unwrap_or(moat_model::Policy::Accept),
                                pa.unwrap_or(moat_model::Policy::Accept)
                            )
                            .to_lowercase(),
                        ));
                    }
                    let old_rules: Vec<&moat_iptables::state::StateRule> =
                        before.map(|c| c.rules.iter().collect()).unwrap_or_default();
                    let mut used = vec![false; old_rules.len()];
                    for r in &chain.rules {
                        let text = r.text();
                        match (0..old_rules.len())
                            .find(|&i| !used[i] && old_rules[i].text() == text)
                        {
                            Some(i) => {
                                used[i] = true;
                                unchanged += 1;
                            }
                            None => out.push(change(&chain.name, "add", Some(r), String::new())),
                        }
                    }
                    for (i, r) in old_rules.iter().enumerate() {
                        if !used[i] {
                            out.push(change(&chain.name, "remove", Some(r), String::new()));
                        }
                    }
                }
                if let Some(old) = old {
                    for chain in old.chains.iter().filter(|c| new.chain(&c.name).is_none()) {
                        for r in &chain.rules {
                            out.push(change(&chain.name, "remove", Some(r), String::new()));
                        }
                    }
                }
            }
        }
    }
    (out, unchanged)
}

fn print_changes(changes: &[Change], unchanged: usize) {
    if changes.is_empty() {
        println!("no changes: what runs already matches ({unchanged} rules)");
        return;
    }
    let mut last = ("", "");
    for c in changes {
        if (c.family, c.table) != last {
            println!("{} {}:", c.family, c.table);
            last = (c.family, c.table);
        }
        let intent = c
            .intent
            .as_ref()
            .map(|i| format!("[{i}] "))
            .unwrap_or_default();
        match c.change {
            "add" => println!(
                "  + {:<11} {intent}{}   ({})",
                c.chain, c.description, c.rule
            ),
            "remove" => println!(
                "  - {:<11} {intent}{}   ({})",
                c.chain, c.description, c.rule
            ),
            "policy" => println!("  ~ {:<11} {}", c.chain, c.description),
            _ => println!("  {}", c.description),
        }
    }
    let added = changes.iter().filter(|c| c.change == "add").count();
    let removed = changes.iter().filter(|c| c.change == "remove").count();
    println!("{added} rules added, {removed} removed, {unchanged} unchanged (their counters keep counting)");
}

/// Where the LOG rules of an apply of `loaded` go: a moat.toml's `[log]`
/// says; a save file follows `moat log route`, as iptables commands do.
fn route_of(loaded: &Loaded) -> Option<moat_logger::Route> {
    match &loaded.config {
        Some(config) => log_route::of_config(config),
        None => log_route::set_by_command(),
    }
}

/// `moat diff FILE`.
pub fn run_diff(args: &DiffArgs) -> ExitCode {
    let result = (|| -> Result<ExitCode> {
        let Some((_, _, loaded)) = load_or_report(&args.file)? else {
            return Ok(ExitCode::FAILURE);
        };
        let current = Current::read(&moat_backend::default_backend())?;
        let route = route_of(&loaded);
        let (_, full) = plan(&current, &loaded.tables, loaded.replaces_all, route)?;
        let (changes, unchanged) = changes(&current, &full);
        if args.json {
            println!("{}", json!({"changes": changes, "unchanged": unchanged}));
        } else {
            print_changes(&changes, unchanged);
        }
        Ok(ExitCode::SUCCESS)
    })();
    result.unwrap_or_else(|e| {
        eprintln!("moat: {e:#}");
        ExitCode::FAILURE
    })
}

/// `moat apply FILE`.
pub fn run_apply(args: &ApplyArgs) -> ExitCode {
    apply(args).unwrap_or_else(|e| {
        eprintln!("moat: {e:#}");
        ExitCode::FAILURE
    })
}

fn apply(args: &ApplyArgs) -> Result<ExitCode> {
    let Some((name, text, loaded)) = load_or_report(&args.file)? else {
        return Ok(ExitCode::FAILURE);
    };
    for w in &loaded.warnings {
        eprintln!("{name}: warning: {w}");
    }
    let lists = match &loaded.config {
        Some(config) => config_blocks::read(config)?,
        None => Vec::new(),
    };
    if !args.force {
        guard::refuse_list_cuts(&lists)?;
    }
    let backend = moat_backend::default_backend();
    let lock = RulesetLock::acquire(Duration::from_secs(10))?;
    let balanced = config_balance::prepare(loaded.config.as_ref())?;
    let current = Current::read(&backend)?;
    let route = route_of(&loaded);
    let (mut batch, full) = plan(&current, &loaded.tables, loaded.replaces_all, route)?;
    if !args.force {
        let (_, verdicts) = guard::check(&model_tables(&full));
        if !verdicts.is_empty() {
            eprintln!(
                "moat: refusing to apply {name}:\n{}",
                guard::explain(&verdicts)
            );
            return Ok(ExitCode::from(EXIT_GUARD));
        }
    }
    let keep = Keep {
        toml: loaded.format == Format::Toml,
        text,
        ruleset: Snapshot::of_states(&full),
    };
    // The lists this apply loads or drops, as they are: put back should
    // the rules be refused, or the change not be confirmed.
    let kept_text = persist::load_config_text();
    let kept_config = kept_text.as_deref().and_then(persist::parse_kept);
    let touched = config_blocks::touched(kept_config.as_ref(), loaded.config.as_ref());
    let before = Previous::with_lists(Snapshot::of_current(&current, true), kept_text, &touched)?;
    let pending = confirm::ask("status")?;
    let mut handed_over = false;
    if let Some(seconds) = args.confirm {
        let previous = match pending {
            Some(_) => {
                let reply = confirm::ask("handover")?
                    .context("the pending confirmation ended while handing over")?;
                handed_over = true;
                let earlier: Previous = serde_json::from_str(&reply)
                    .context("the pending confirmation answered oddly")?;
                earlier.and_then(before.clone())
            }
            None => before.clone(),
        };
        confirm::start(&Orders {
            seconds,
            previous,
            keep: keep.clone(),
        })?;
    } else if let Some(status) = pending {
        let left = status.strip_prefix("pending ").unwrap_or("?");
        eprintln!(
            "moat: an earlier `moat apply --confirm` is waiting for `moat confirm` ({left} s left before it rolls back).\n\
             fix: run `moat confirm` (or let it roll back) first, or apply with --confirm to replace it"
        );
        return Ok(ExitCode::FAILURE);
    }
    let applied = config_blocks::load(&lists)
        .and_then(|()| Ok(set_copies::declare(&mut batch, &model_tables(&full))?))
        .and_then(|()| Ok(backend.apply(&batch)?));
    if let Err(e) = applied {
        // The rules did not go in; the lists loaded before them go back
        // (by the watchdog, which holds an earlier change's too, when a
        // pending one was handed over).
        if args.confirm.is_some() && handed_over {
            let _ = confirm::ask("abort");
        } else {
            if args.confirm.is_some() {
                let _ = confirm::ask("cancel");
            }
            if let Err(back) = put_lists_back(&before) {
                eprintln!("moat: {back}");
            }
        }
        return Err(e);
    }
    if let Some(config) = &loaded.config {
        config_blocks::remove_dropped(kept_config.as_ref(), config)?;
    }
    config_balance::commit(&balanced)?;
    warn_for_tables("moat", &model_tables(&full));
    drop(lock);
    let (applied, carried): (Vec<_>, Vec<_>) = full.iter().partition(|t| {
        loaded
            .tables
            .iter()
            .any(|l| l.family == t.family && l.stage == t.stage)
    });
    let summary = tables_text(applied);
    println!("applied {name} in one transaction: {summary}");
    if !carried.is_empty() {
        println!(
            "not in {name}, so left as they were (and kept for boot with it): {}\n  \
             (a save file replaces only the tables it holds, as iptables-restore does; \
             to empty one: moat iptables|ip6tables -t TABLE -F, or apply a file that holds it)",
            tables_text(carried)
        );
    }
    if !args.no_save {
        config_blocks::warn_not_kept(loaded.config.as_ref(), &model_tables(&full));
    }
    match args.confirm {
        None => {
            if !args.no_save {
                let dir = persist::save(&keep)?;
                println!("kept in {} for the next boot", dir.display());
                crate::daemon_cmd::reload_running();
            }
        }
        Some(seconds) => {
            println!("run `moat confirm` within {seconds} s, or the previous ruleset comes back by itself");
            // SAFETY: isatty only inspects a file descriptor.
            let tty = unsafe { libc::isatty(0) } == 1;
            if args.wait || tty {
                return Ok(wait_for_yes(seconds));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn wait_for_yes(seconds: u64) -> ExitCode {
    println!("keep it? type yes within {seconds} s (anything else rolls back now)");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let n = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
        let _ = tx.send((n, line));
    });
    match rx.recv_timeout(Duration::from_secs(seconds)) {
        Ok((n, line)) if n > 0 && matches!(line.trim(), "yes" | "y" | "YES" | "Yes") => {
            run_confirm()
        }
        Ok((0, _)) => {
            println!("no answer on standard input; the watchdog rolls back in time unless `moat confirm` runs");
            ExitCode::SUCCESS
        }
        Ok(_) => {
            let _ = confirm::ask("abort");
            println!("rolling back to the previous ruleset");
            ExitCode::FAILURE
        }
        Err(_) => {
            println!("no confirmation: the previous ruleset comes back");
            ExitCode::FAILURE
        }
    }
}

/// What a `--confirm` watchdog puts back after the ruleset and lists: the
/// balanced services of the moat.toml kept before (none without one).
pub fn put_balance_back(previous: &Previous) {
    let config = previous.config.as_deref().and_then(persist::parse_kept);
    if let Err(e) = config_balance::apply(config.as_ref()) {
        eprintln!("moat: the balanced services were not put back: {e:#}");
    }
}

/// `moat confirm`.
pub fn run_confirm() -> ExitCode {
    match confirm::ask("confirm") {
        Ok(Some(reply)) if reply.starts_with("confirmed") => {
            let rest = reply.trim_start_matches("confirmed").trim();
            if rest.starts_with(',') {
                eprintln!("moat: confirmed{rest}");
            } else {
                println!("confirmed: the new ruleset stays (kept in {rest} for the next boot)");
                crate::daemon_cmd::reload_running();
            }
            ExitCode::SUCCESS
        }
        Ok(Some(reply)) => {
            eprintln!("moat: the watchdog answered: {reply}");
            ExitCode::FAILURE
        }
        Ok(None) => {
            eprintln!("moat: nothing is waiting for confirmation in this network namespace");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}
