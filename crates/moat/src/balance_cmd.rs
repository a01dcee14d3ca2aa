//! `moat balance`: each balanced service's backends, their health and
//! their share of new connections, from the running daemon (or, without
//! one, from the kernel's table alone).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use moat_balance::control::{self, ControlError, Reply, Request, ServiceStatus};
use moat_balance::{health::State, kernel};

/// Options of `moat balance`.
#[derive(Args, Debug)]
pub struct BalanceArgs {
    /// Print JSON (one object with a `services` array).
    #[arg(long)]
    pub json: bool,
}

/// `moat balance`.
pub fn run(args: &BalanceArgs) -> ExitCode {
    match show(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn show(args: &BalanceArgs) -> Result<ExitCode> {
    let services = match control::ask(&Request::Status) {
        Ok(Reply::Status { services }) => services,
        Err(ControlError::NoDaemon) => return kernel_only(args),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "daemon": true, "services": services })
        );
        return Ok(ExitCode::SUCCESS);
    }
    if services.is_empty() {
        println!("the daemon checks no balanced service");
    }
    for s in &services {
        print_service(s);
    }
    Ok(ExitCode::SUCCESS)
}

/// The running daemon's view of the balanced services; `None` without a daemon.
pub fn daemon_view() -> Option<Vec<ServiceStatus>> {
    match control::ask(&Request::Status) {
        Ok(Reply::Status { services }) => Some(services),
        Err(_) => None,
    }
}

/// One line of backend states for `moat status`:
/// `now: 10.0.0.1:80 up, 10.0.0.2:80 DOWN (connect: refused)`.
pub fn states_line(s: &ServiceStatus) -> String {
    let states: Vec<String> = s
        .backends
        .iter()
        .map(|b| match (b.state, &b.reason) {
            (State::Up, _) if b.in_rotation => format!("{} up", b.addr),
            (State::Up, _) => format!("{} up, idle", b.addr),
            (State::Down, Some(r)) => format!("{} DOWN ({r})", b.addr),
            (State::Down, None) => format!("{} DOWN", b.addr),
        })
        .collect();
    format!("now: {}", states.join(", "))
}

fn print_service(s: &ServiceStatus) {
    println!("{} ({}, {})", s.name, s.public, s.mode);
    if let Some(check) = &s.check {
        println!("  check: {check}");
    }
    for b in &s.backends {
        let mut role = String::new();
        if b.backup {
            role.push_str(" backup");
        }
        if b.drain {
            role.push_str(" draining");
        }
        let state = match b.state {
            State::Up => "up",
            State::Down => "DOWN",
        };
        let last = b
            .last_check_secs_ago
            .map(|s| format!(", checked {s:.1} s ago"))
            .unwrap_or_default();
        let reason = b
            .reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        println!(
            "  {:<24} {state:<4} for {:.0} s{last}{reason}; weight {}{role}; {:.1}% of new connections; {} so far",
            b.addr, b.state_secs, b.weight, b.share, b.new_connections
        );
    }
}

fn kernel_only(args: &BalanceArgs) -> Result<ExitCode> {
    let held = kernel::read()?;
    if args.json {
        let services: Vec<serde_json::Value> = held
            .values()
            .map(|k| {
                serde_json::json!({
                    "name": k.name,
                    "in_rotation": k.slots.iter().map(ToString::to_string).collect::<std::collections::BTreeSet<_>>(),
                    "new_connections": k.new_connections.iter().map(|(a, n)| (a.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "daemon": false, "services": services })
        );
        return Ok(ExitCode::SUCCESS);
    }
    if held.is_empty() {
        println!("no balanced service is in table inet moat_lb (see [[balance]] with check = ... in moat.toml)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("no moat daemon runs here: the backends are not checked; the kernel sends new connections to:");
    for k in held.values() {
        let mut seen: Vec<String> = Vec::new();
        for a in &k.slots {
            if !seen.contains(&a.to_string()) {
                seen.push(a.to_string());
            }
        }
        println!(
            "  {}: {}",
            k.name,
            if seen.is_empty() {
                "nobody (refused)".to_string()
            } else {
                seen.join(", ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
