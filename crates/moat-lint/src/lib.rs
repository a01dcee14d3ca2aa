//! moat-lint: finds mistakes in a ruleset.
//!
//! Rules are compiled into sets of packets (boxes over addresses, ports,
//! protocol, interfaces, connection state, ...), and the checks decide
//! questions like "do the earlier rules take every packet this one would?"
//! on those sets. Matches that cannot be decided from a packet alone (rate
//! limits, address sets, statistic, ...) only ever make a check say less.

mod balance;
mod compile;
mod finding;
mod graph;
mod hooks;
mod ifaces;
mod nat;
mod policy;
mod reach;
mod redundant;
mod shadow;
mod sig;
mod space;
mod view;

#[cfg(test)]
mod describe_tests;
#[cfg(test)]
mod perf_tests;
#[cfg(test)]
mod random_chain_tests;
#[cfg(test)]
mod random_tests;
#[cfg(test)]
mod seed_tests;
#[cfg(test)]
mod testkit;

use moat_model::{describe, Family, Stage, Table};

pub use finding::{Finding, FindingKind};

use compile::Compiler;
use ifaces::Ifaces;
use view::TableView;

/// Every mistake found in `tables` (of one or both families), in a stable
/// order: family, table, chain (as the tables list them), rule number.
pub fn lint(tables: &[Table]) -> Vec<Finding> {
    let mut out = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        let of_family: Vec<&Table> = tables.iter().filter(|t| t.family == family).collect();
        if of_family.is_empty() {
            continue;
        }
        let ifaces = Ifaces::of(&of_family);
        let compiler = Compiler::new(family, &ifaces);
        let views: Vec<TableView<'_>> = of_family
            .iter()
            .map(|t| TableView::new(t, &compiler))
            .collect();
        for view in &views {
            let dead = shadow::check(view, &mut out);
            redundant::check(view, &dead, &mut out);
            reach::check(view, &dead, &mut out);
            hooks::check(view, &dead, &mut out);
            balance::check(view, &mut out);
            policy::check(view, &mut out);
        }
        nat::check(&views, &compiler, &mut out);
    }
    sort(tables, &mut out);
    out
}

fn sort(tables: &[Table], findings: &mut [Finding]) {
    let chain_order = |f: &Finding| {
        tables
            .iter()
            .find(|t| t.family == f.family && t.stage == f.stage)
            .and_then(|t| t.chains.iter().position(|c| c.name == f.chain))
            .unwrap_or(usize::MAX)
    };
    let stage_order = |s: Stage| Stage::ALL.iter().position(|&x| x == s);
    findings.sort_by_cached_key(|f| {
        (
            f.family == Family::Ipv6,
            stage_order(f.stage),
            chain_order(f),
            f.rule,
            f.kind,
        )
    });
}
