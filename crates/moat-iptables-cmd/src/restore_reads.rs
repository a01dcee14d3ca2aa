//! What a restore reads of the tables it changes: each table whole, or,
//! for a `--noflush` restore beside a large table (kube-proxy's partial
//! sync beside thousands of chains), only the chains its lines touch when
//! that is enough (see [`read_for_change`]), read again with more when
//! its outcome reaches chains not read from other hooks.

use std::collections::{BTreeSet, HashMap};

use moat_backend::Backend;
use moat_host::stored::{read_for_change, read_whole, Beside, WIDENINGS, WIDEST};
use moat_iptables::rule::Warning;
use moat_iptables::save::{restore_with_notes, LineNote, RestoreOptions, SaveError, SaveFile};
use moat_iptables::{ChainsRead, TableState};
use moat_model::{Family, Stage, Table};
use moat_nft::KernelTable;

/// What a restore's lines made of the tables it read.
pub(crate) struct Restored {
    /// Each table's iptables view once the lines are carried out; a table
    /// read in part holds only the chains read or made.
    pub states: Vec<TableState>,
    /// Each table as the kernel held it, as far as it was read.
    pub kernels: Vec<(Stage, Option<KernelTable>)>,
    /// Each table before the restore, whole, for the SSH guard
    /// (`in_session`).
    pub before: Vec<Table>,
}

/// Carries out `file`'s lines on the tables they change, reading in part
/// with `--noflush` outside an SSH session (`in_session`: the guard
/// compares whole tables), and hands each line's notes to `tell` once,
/// from the run that counts.
pub(crate) fn restore_reading(
    backend: &dyn Backend,
    file: &SaveFile,
    family: Family,
    options: RestoreOptions,
    in_session: bool,
    tell: &mut dyn FnMut(usize, LineNote<'_>),
) -> Result<Restored, SaveError> {
    let mut touched = if options.noflush && !in_session {
        touched_chains(file, family)
    } else {
        HashMap::new()
    };
    let mut widened = 0;
    loop {
        let partly = !touched.is_empty();
        let mut kernels = Vec::new();
        let mut before = Vec::new();
        let mut partials = Vec::new();
        let mut kept: Vec<(usize, KeptNote)> = Vec::new();
        let restored = restore_with_notes(
            file,
            family,
            options,
            |stage| {
                let read = match touched.get(&stage) {
                    Some(chains) => read_for_change(backend, family, stage, chains, Beside::Layout),
                    None => read_whole(backend, family, stage),
                }
                .map_err(|e| e.to_string())?;
                kernels.push((stage, read.kernel));
                partials.extend(read.partial.map(|p| (stage, p)));
                if in_session {
                    before.push(read.state.to_table());
                }
                Ok(read.state)
            },
            |line, note| match partly {
                true => kept.push((line, KeptNote::of(note))),
                false => tell(line, note),
            },
        );
        if partly {
            let more = (restored.as_ref().ok()).map(|states| reached_otherwise(&partials, states));
            let wider: usize = more.iter().flatten().map(|(_, chains)| chains.len()).sum();
            match more {
                Some(more) if more.is_empty() => {}
                Some(more) if widened < WIDENINGS && wider <= WIDEST => {
                    widened += 1;
                    for (stage, chains) in more {
                        touched.entry(stage).or_default().extend(chains);
                    }
                    continue;
                }
                _ => {
                    touched.clear();
                    continue;
                }
            }
            for (line, note) in &kept {
                tell(*line, note.as_note());
            }
        }
        let mut restored = Restored {
            states: restored?,
            kernels,
            before,
        };
        leave_out_unread(&mut restored, &partials);
        return Ok(restored);
    }
}

/// Drops the chains a partial read left unread from both the kernel's
/// tables and the views: they stay as they were, and the plan need not
/// walk them (8,000 of Kubernetes' chains).
fn leave_out_unread(restored: &mut Restored, partials: &[(Stage, ChainsRead)]) {
    for (stage, partial) in partials {
        for state in restored.states.iter_mut().filter(|s| s.stage == *stage) {
            state.chains.retain(|c| partial.was_read(&c.name));
        }
        let kernels = restored.kernels.iter_mut().filter(|(s, _)| s == stage);
        for kernel in kernels.filter_map(|(_, kernel)| kernel.as_mut()) {
            kernel.chains.retain(|c| partial.was_read(&c.name));
        }
    }
}

/// For each table read in part (`partials`), the chains not read that the
/// restore's outcome `states` reaches from other hooks than before (see
/// [`ChainsRead::reached_otherwise`]); empty when every read was enough.
fn reached_otherwise(
    partials: &[(Stage, ChainsRead)],
    states: &[TableState],
) -> Vec<(Stage, Vec<String>)> {
    partials
        .iter()
        .filter_map(|(stage, partial)| {
            let state = states.iter().rev().find(|s| s.stage == *stage)?;
            let chains = partial.reached_otherwise(state);
            (!chains.is_empty()).then_some((*stage, chains))
        })
        .collect()
}

/// For each table whose sections of `file` touch some chains alone, the
/// chains (see [`moat_iptables::save::SaveTable::chains_touched`]).
fn touched_chains(file: &SaveFile, family: Family) -> HashMap<Stage, BTreeSet<String>> {
    let mut all: HashMap<Stage, Option<BTreeSet<String>>> = HashMap::new();
    for table in &file.tables {
        let touched = table.chains_touched(family);
        let chains = all.entry(table.stage).or_insert(Some(BTreeSet::new()));
        match (chains.as_mut(), touched) {
            (Some(chains), Some(more)) => chains.extend(more),
            _ => *chains = None,
        }
    }
    all.into_iter()
        .filter_map(|(stage, chains)| Some((stage, chains?)))
        .collect()
}

/// A line's note, kept until the run of a restore that counts.
enum KeptNote {
    Warning(Warning),
    Verbose(String),
    Listing(String),
}

impl KeptNote {
    fn of(note: LineNote<'_>) -> Self {
        match note {
            LineNote::Warning(warning) => KeptNote::Warning(warning.clone()),
            LineNote::Verbose(text) => KeptNote::Verbose(text.to_string()),
            LineNote::Listing(text) => KeptNote::Listing(text.to_string()),
        }
    }

    fn as_note(&self) -> LineNote<'_> {
        match self {
            KeptNote::Warning(warning) => LineNote::Warning(warning),
            KeptNote::Verbose(text) => LineNote::Verbose(text),
            KeptNote::Listing(text) => LineNote::Listing(text),
        }
    }
}
