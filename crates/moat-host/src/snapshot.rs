//! All of moat's tables at once: reading them, keeping them as text (for
//! rollback and boot), and planning one batch that turns them into a target.

use moat_backend::Backend;
use moat_iptables::save::{emit, restore, RestoreOptions, SaveFile};
use moat_iptables::TableState;
use moat_logger::Route;
use moat_model::{Family, Stage, Table};
use moat_nft::{plan_delete, plan_update, ChangeSet, KernelTable};
use serde::{Deserialize, Serialize};

use crate::log_route::{self, routed};
use crate::set_copies;
use crate::stored::read_state;
use crate::HostError;

/// Every family moat has tables for.
pub const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

/// One of moat's tables as it is now.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The family.
    pub family: Family,
    /// The stage.
    pub stage: Stage,
    /// The kernel's table, if it exists.
    pub kernel: Option<KernelTable>,
    /// Its iptables view (empty when absent).
    pub state: TableState,
}

/// All of moat's tables as they are now.
#[derive(Debug, Clone)]
pub struct Current {
    /// One entry per family and stage.
    pub entries: Vec<Entry>,
}

impl Current {
    /// Reads every table of moat's from the kernel.
    pub fn read(backend: &dyn Backend) -> Result<Current, HostError> {
        let mut entries = Vec::new();
        for family in FAMILIES {
            for stage in Stage::SAVE_ORDER {
                let (kernel, state) = read_state(backend, family, stage)?;
                entries.push(Entry {
                    family,
                    stage,
                    kernel,
                    state,
                });
            }
        }
        Ok(Current { entries })
    }

    /// The tables that exist.
    pub fn existing(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.kernel.is_some())
    }
}

/// moat's tables as iptables-save text, one text per family: what a
/// rollback or a boot puts back. A table absent from the text did not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// IPv4 tables.
    pub ipv4: String,
    /// IPv6 tables.
    pub ipv6: String,
}

impl Snapshot {
    /// The snapshot of what exists now; `counters` keeps the counter values.
    pub fn of_current(current: &Current, counters: bool) -> Snapshot {
        let text = |family: Family| {
            let states: Vec<TableState> = current
                .existing()
                .filter(|e| e.family == family)
                .map(|e| e.state.clone())
                .collect();
            emit(&states, counters, "moat", "snapshot")
        };
        Snapshot {
            ipv4: text(Family::Ipv4),
            ipv6: text(Family::Ipv6),
        }
    }

    /// The snapshot of a target set of tables.
    pub fn of_states(states: &[TableState]) -> Snapshot {
        let text = |family: Family| {
            let mut of: Vec<TableState> = Vec::new();
            for stage in Stage::SAVE_ORDER {
                of.extend(
                    states
                        .iter()
                        .filter(|s| s.family == family && s.stage == stage)
                        .cloned(),
                );
            }
            emit(&of, false, "moat", "snapshot")
        };
        Snapshot {
            ipv4: text(Family::Ipv4),
            ipv6: text(Family::Ipv6),
        }
    }

    /// The tables the snapshot holds.
    pub fn states(&self) -> Result<Vec<TableState>, HostError> {
        let mut out = Vec::new();
        for (family, text) in [(Family::Ipv4, &self.ipv4), (Family::Ipv6, &self.ipv6)] {
            let file = SaveFile::parse(text).map_err(|e| HostError::Kept(e.to_string()))?;
            let options = RestoreOptions {
                counters: true,
                ..RestoreOptions::default()
            };
            out.extend(
                restore(&file, family, options, |_| Err(String::new()))
                    .map_err(|e| HostError::Kept(e.to_string()))?,
            );
        }
        Ok(out)
    }
}

/// Copies counters from `old` into `new` for rules that did not change, so
/// the planner leaves those rules (and their counts) alone.
fn carry_counters(old: &TableState, new: &mut TableState) {
    for chain in &mut new.chains {
        let Some(before) = old.chain(&chain.name) else {
            continue;
        };
        chain.policy_counters = before.policy_counters;
        let mut used = vec![false; before.rules.len()];
        for rule in &mut chain.rules {
            if let Some(i) =
                (0..before.rules.len()).find(|&i| !used[i] && before.rules[i].text() == rule.text())
            {
                used[i] = true;
                rule.rule.counters = before.rules[i].rule.counters;
            }
        }
    }
}

/// The one batch that makes moat's tables equal `target`. Tables `target`
/// does not name are removed when `replace_all`, else left alone but for
/// where their LOG rules go.
/// Returns the batch and the full target (counters carried over).
/// LOG rules go where `route` says.
pub fn plan(
    current: &Current,
    target: &[TableState],
    replace_all: bool,
    route: Option<Route>,
) -> Result<(ChangeSet, Vec<TableState>), HostError> {
    let mut batch = ChangeSet::default();
    let mut full = Vec::new();
    for entry in &current.entries {
        match target
            .iter()
            .find(|t| t.family == entry.family && t.stage == entry.stage)
        {
            Some(t) => {
                let mut t = t.clone();
                carry_counters(&entry.state, &mut t);
                let table = routed(t.to_table(), route);
                batch.extend(plan_update(entry.kernel.as_ref(), &table)?);
                full.push(t);
            }
            None if replace_all => {
                if entry.kernel.is_some() {
                    batch.extend(plan_delete(&Table::new(entry.family, entry.stage)));
                }
            }
            None => {
                if let Some(kernel) = &entry.kernel {
                    // Left as it is but for its LOG rules, which follow
                    // the route like the others (the logger that read
                    // them may stop).
                    let table = routed(entry.state.to_table(), route);
                    batch.extend(plan_update(Some(kernel), &table)?);
                    full.push(entry.state.clone());
                }
            }
        }
    }
    Ok((batch, full))
}

/// Puts `snapshot` back in one transaction (tables it lacks are removed).
pub fn restore_snapshot(backend: &dyn Backend, snapshot: &Snapshot) -> Result<(), HostError> {
    let states = snapshot.states()?;
    let current = Current::read(backend)?;
    let (mut batch, full) = plan(&current, &states, true, log_route::kept())?;
    set_copies::declare(&mut batch, &model_tables(&full))?;
    backend.apply(&batch)?;
    Ok(())
}

/// The model tables of a set of table states.
pub fn model_tables(states: &[TableState]) -> Vec<Table> {
    states.iter().map(TableState::to_table).collect()
}
