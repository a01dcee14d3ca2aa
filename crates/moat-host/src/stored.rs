//! Reads moat's tables through the backend into the iptables front-end's view.

use moat_backend::Backend;
use moat_iptables::{StoredChain, StoredRule, TableState};
use moat_model::{Family, Stage};
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
