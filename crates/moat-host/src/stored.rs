//! Reads moat's tables through the backend into the iptables front-end's view.

use std::collections::{BTreeSet, HashMap, HashSet};

use moat_backend::{Backend, TablePart};
use moat_iptables::{ChainsRead, StoredChain, StoredRule, TableState};
use moat_model::ruleset::hook_chain_name;
use moat_model::{Family, Stage};
use moat_nft::portmap::PORTMAP_PREFIX;
use moat_nft::KernelTable;

use crate::HostError;

/// The kernel's table as the iptables front-end's stored chains.
pub fn stored_chains(table: KernelTable) -> Vec<StoredChain> {
    table
        .chains
        .into_iter()
        .map(|c| StoredChain {
            name: c.name,
            base: c.base,
            policy_counters: c.policy_counter.map(|(_, k)| k).unwrap_or_default(),
            rules: c
                .rules
                .into_iter()
                .flat_map(|r| -> Vec<StoredRule> {
                    if r.port_map().is_none() {
                        vec![StoredRule {
                            source: r.source,
                            counters: r.counters,
                        }]
                    } else {
                        r.members
                            .into_iter()
                            .map(|m| StoredRule {
                                source: Some(m.source),
                                counters: m.counters,
                            })
                            .collect()
                    }
                })
                .collect(),
        })
        .collect()
}

/// Reads one table: the kernel's version (if any) and its iptables view.
pub fn read_state(
    backend: &dyn Backend,
    family: Family,
    stage: Stage,
) -> Result<(Option<KernelTable>, TableState), HostError> {
    let kernel = backend.read(family, stage)?;
    let state = match &kernel {
        Some(k) => TableState::from_stored(family, stage, stored_chains(k.clone()))?,
        None => TableState::empty(family, stage),
    };
    Ok((kernel, state))
}

/// Reads one table's iptables view alone, for listings and saves, which
/// need no copy of the kernel's table: `None` when moat has no such table.
pub fn read_view(
    backend: &dyn Backend,
    family: Family,
    stage: Stage,
) -> Result<Option<TableState>, HostError> {
    let Some(kernel) = backend.read(family, stage)? else {
        return Ok(None);
    };
    Ok(Some(TableState::from_stored(
        family,
        stage,
        stored_chains(kernel),
    )?))
}

/// One table read for a change: the kernel's version (if any), its
/// iptables view, and, when only the chains the change touches were read
/// with their rules, what the change must keep to for that to be enough.
pub struct ReadForChange {
    /// The kernel's table, its chains not read without rules.
    pub kernel: Option<KernelTable>,
    /// Its iptables view, likewise.
    pub state: TableState,
    /// `None` when the whole table was read.
    pub partial: Option<ChainsRead>,
}

/// How many times a change that read some chains (see [`read_for_change`])
/// tries again with more before it reads the whole table.
pub const WIDENINGS: usize = 2;

/// The most chains a change reads more of on another try: each is a dump
/// of its own, and beyond this many the whole table is read at once.
pub const WIDEST: usize = 64;

/// [`read_state`] as a [`ReadForChange`] of the whole table.
pub fn read_whole(
    backend: &dyn Backend,
    family: Family,
    stage: Stage,
) -> Result<ReadForChange, HostError> {
    let (kernel, state) = read_state(backend, family, stage)?;
    Ok(ReadForChange {
        kernel,
        state,
        partial: None,
    })
}

/// What a change that reads some chains reads of the rest of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    /// The layout, every chain's name: for a restore, whose lines may make
    /// chains and jump to any.
    Layout,
    /// Nothing: for a command that makes no chain and whose rule's jump
    /// targets are among the chains it reads.
    Nothing,
}

/// Reads one table for a change that touches the rules of `chains` alone
/// (a `--noflush` restore beside Kubernetes' nat table of thousands of
/// chains): the rules of those chains and the built-in ones, and what
/// `beside` says of the rest, when [`ChainsRead::new`] finds that enough;
/// else the whole table. Not in the raw table (whose copy after conntrack
/// follows all its rules), nor beside a set other than a port map (the
/// sets a table's rules fill or copy are kept or dropped by all of its
/// rules).
pub fn read_for_change(
    backend: &dyn Backend,
    family: Family,
    stage: Stage,
    chains: &BTreeSet<String>,
    beside: Beside,
) -> Result<ReadForChange, HostError> {
    let whole = || read_whole(backend, family, stage);
    if stage == Stage::Raw {
        return whole();
    }
    let builtin = stage.hooks().iter().map(|&hook| hook_chain_name(hook));
    let wanted: Vec<&str> = chains.iter().map(String::as_str).chain(builtin).collect();
    let part = match beside {
        Beside::Layout => TablePart::LayoutWith(&wanted),
        Beside::Nothing => TablePart::Named {
            chains: &wanted,
            rules: true,
        },
    };
    let kernel = backend.read_part(family, stage, part)?;
    let Some(kernel) = kernel else {
        return Ok(ReadForChange {
            kernel: None,
            state: TableState::empty(family, stage),
            partial: None,
        });
    };
    let references: HashMap<String, u32> = kernel
        .chains
        .iter()
        .filter(|c| chains.contains(&c.name) || c.base.is_some())
        .filter_map(|c| Some((c.name.clone(), c.references()?)))
        .collect();
    let state = TableState::from_stored(family, stage, stored_chains(kernel.clone()))?;
    // No count: the driver read the whole table.
    if kernel.chains.iter().all(|c| c.uses.is_none()) {
        return Ok(ReadForChange {
            kernel: Some(kernel),
            state,
            partial: None,
        });
    }
    if !kernel
        .sets
        .iter()
        .all(|s| s.name.starts_with(PORTMAP_PREFIX))
    {
        return whole();
    }
    let read: HashSet<String> = wanted.iter().map(|name| name.to_string()).collect();
    match ChainsRead::new(&state, &read, &references) {
        Some(partial) => Ok(ReadForChange {
            kernel: Some(kernel),
            state,
            partial: Some(partial),
        }),
        None => whole(),
    }
}
