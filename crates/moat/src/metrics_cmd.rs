//! `moat metrics` and the daemon's metrics job: one reading of the kernel
//! (moat's iptables tables, block lists, bans, balanced services) as
//! Prometheus text. Every part that cannot be read is left out and said
//! in `moat_metrics_read_errors`, so one missing table never empties a scrape.

use std::process::ExitCode;

use moat_backend::Backend;
use moat_ban::BanTable;
use moat_blocklist::Blocklists;
use moat_metrics::{Exposition, Kind, TableCounters};
use moat_model::{Family, Stage};

use moat_host::stored::stored_chains;

/// Reads everything moat exports.
pub fn collect() -> Exposition {
    let mut e = Exposition::new();
    let mut errors: Vec<(&str, String)> = Vec::new();
    let backend = moat_backend::default_backend();
    let mut tables = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        for stage in Stage::ALL {
            match backend.read(family, stage) {
                Ok(Some(k)) => tables.push(TableCounters {
                    family,
                    stage,
                    chains: stored_chains(k),
                }),
                Ok(None) => {}
                Err(err) => errors.push(("ruleset", err.to_string())),
            }
        }
    }
    moat_metrics::ruleset::add(&mut e, &tables);
    match Blocklists::open().and_then(|mut b| b.lists()) {
        Ok(lists) => moat_metrics::sets::add_blocklists(&mut e, &lists),
        Err(err) => errors.push(("blocklists", err.to_string())),
    }
    let bans = BanTable::open().and_then(|mut t| {
        let jails = t.jails()?.into_iter().map(|j| j.name).collect::<Vec<_>>();
        Ok((jails, t.list()?))
    });
    match bans {
        Ok((jails, bans)) => moat_metrics::sets::add_bans(&mut e, &jails, &bans),
        Err(err) => errors.push(("bans", err.to_string())),
    }
    if let Some(services) = crate::balance_cmd::daemon_view() {
        moat_metrics::sets::add_balance(&mut e, &services);
    }
    for part in ["ruleset", "blocklists", "bans"] {
        let n = errors.iter().filter(|(p, _)| *p == part).count();
        e.sample(
            "moat_metrics_read_errors",
            "Parts of this reading that could not be read (0 when all went well).",
            Kind::Gauge,
            &[("part", part)],
            n as f64,
        );
    }
    e
}

/// Adds the packet logger's counters.
pub fn add_logger(e: &mut Exposition, r: moat_logger::StatsReading) {
    let counters = [
        ("moat_log_lines_written_total", "Lines the packet logger wrote to its file.", r.written),
        ("moat_log_lines_rate_limited_total", "Logged packets the packet log's rate limit left out.", r.rate_limited),
        ("moat_log_packets_lost_total", "Logged packets the kernel could not hand to moat (its buffer was full).", r.lost),
        ("moat_log_buffer_overruns_total", "Times the kernel's packet log overran moat's socket buffer (ENOBUFS); the buffer grows each time.", r.overruns),
        ("moat_log_write_errors_total", "Lines the packet logger could not write (disk full, ...).", r.write_errors),
    ];
    for (name, help, value) in counters {
        e.sample(name, help, Kind::Counter, &[], value as f64);
    }
}

/// `moat metrics`: one reading, for node_exporter's textfile collector
/// (`moat metrics > /var/lib/node_exporter/moat.prom.$$ && mv ...`).
pub fn run() -> ExitCode {
    let collect: moat_metrics::Collect = std::sync::Arc::new(collect);
    print!("{}", moat_metrics::scrape(&collect));
    ExitCode::SUCCESS
}
