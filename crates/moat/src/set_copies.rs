//! `-m set --match-set NAME` rules look up moat block list NAME through a
//! copy of it in their own table (`blocklist.NAME`, kept current by
//! `moat block`). Before a batch is applied, this adds the declarations of
//! the copies its tables need and do not hold yet.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use moat_model::{Family, Match, Rule, Stage, Table};
use moat_nft::layout::table_name;
use moat_nft::{ChangeSet, Op, TableChanges};

/// The block lists `rules` look up.
fn lists_used<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> BTreeSet<&'a str> {
    rules
        .into_iter()
        .flat_map(|rule| &rule.matches)
        .filter_map(|m| match m {
            Match::InSet { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// Adds to `changes` the copies that `rules` (the table's rules after the
/// change) need: every one when the change recreates the table, else those
/// the kernel table lacks. Fails, naming the list, when one does not exist.
pub fn declare_for<'a>(
    changes: &mut TableChanges,
    rules: impl IntoIterator<Item = &'a Rule>,
) -> Result<()> {
    declare_names(changes, lists_used(rules))
}

fn declare_names<'a>(
    changes: &mut TableChanges,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let mut names = names.into_iter().peekable();
    if names.peek().is_none() {
        return Ok(());
    }
    let fresh = changes.ops.iter().any(|op| matches!(op, Op::DeleteTable));
    let table = table_name(changes.stage);
    let sets = moat_blocklist::copies_to_declare(names, changes.family, table, fresh)
        .context("-m set --match-set looks up moat's block lists")?;
    changes
        .ops
        .extend(sets.into_iter().map(|set| Op::AddSet(Box::new(set))));
    Ok(())
}

/// The block lists each table's rules look up, noted before the rules
/// move into a change set.
pub struct ListsUsed(Vec<(Family, Stage, BTreeSet<String>)>);

/// The block lists the rules of `tables` look up.
pub fn lists_of(tables: &[Table]) -> ListsUsed {
    ListsUsed(
        tables
            .iter()
            .map(|t| {
                let names = lists_used(t.chains.iter().flat_map(|c| &c.rules));
                (
                    t.family,
                    t.stage,
                    names.into_iter().map(String::from).collect(),
                )
            })
            .collect(),
    )
}

/// [`declare_for`] for every table of `batch`, given the tables it leads to.
pub fn declare(batch: &mut ChangeSet, tables: &[Table]) -> Result<()> {
    declare_lists(batch, &lists_of(tables))
}

/// [`declare`] from the lists noted by [`lists_of`].
pub fn declare_lists(batch: &mut ChangeSet, lists: &ListsUsed) -> Result<()> {
    for changes in &mut batch.tables {
        let Some((.., names)) = lists
            .0
            .iter()
            .find(|(family, stage, _)| *family == changes.family && *stage == changes.stage)
        else {
            continue;
        };
        declare_names(changes, names.iter().map(String::as_str))?;
    }
    Ok(())
}
