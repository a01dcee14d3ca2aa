//! Plans the changes that take the kernel from what it holds to what the
//! model says, as driver-neutral operations for one atomic transaction.
//!
//! Unchanged rules are left alone (their counters and any dynamic state keep
//! counting); a chain's changed middle is deleted and re-inserted in place.

use moat_model::{Chain, Counters, Family, Hook, Policy, Rule, Stage, Table};

use crate::kernel::{KernelChain, KernelRule, KernelTable};
use crate::layout::BASE_CHAIN_PREFIX;

/// Why a change cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A chain name that moat keeps for itself.
    #[error("chain name {0:?} is reserved: names starting with {BASE_CHAIN_PREFIX:?} belong to moat's hook chains")]
    ReservedName(String),
}

/// Where a new rule goes in its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// At the end.
    Append,
    /// Just before the rule with this handle.
    Before(u32),
}

/// One step of a transaction on one of moat's tables.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Remove the table and everything in it, if it exists.
    DeleteTable,
    /// Create the table (no-op if it exists).
    AddTable,
    /// Create a user-visible chain.
    AddChain { name: String },
    /// Create the base chain of `hook`, which jumps to `target` then counts policy hits.
    AddBaseChain {
        hook: Hook,
        policy: Policy,
        target: String,
        counters: Counters,
    },
    /// Change the policy of the base chain of `hook`.
    SetPolicy { hook: Hook, policy: Policy },
    /// Reset the policy counter of the base chain of `hook` (the counting rule has `handle`).
    SetPolicyCounters {
        hook: Hook,
        handle: u32,
        counters: Counters,
    },
    /// Add a rule; `index` is its 1-based place in the new chain (for messages).
    AddRule {
        chain: String,
        index: usize,
        rule: Rule,
        position: Position,
    },
    /// Replace the rule with `handle`.
    ReplaceRule {
        chain: String,
        index: usize,
        handle: u32,
        rule: Rule,
    },
    /// Delete the rule with `handle`.
    DeleteRule { chain: String, handle: u32 },
    /// Delete every rule of a chain.
    FlushChain { name: String },
    /// Delete an empty chain.
    DeleteChain { name: String },
    /// Create a named set with its elements, before any rule looks it up
    /// (a block list's copy for `-m set` rules).
    AddSet(Box<nftables::schema::Set<'static>>),
}

/// The operations on one of moat's tables.
#[derive(Debug, Clone, PartialEq)]
pub struct TableChanges {
    /// The table's family.
    pub family: Family,
    /// The table's stage.
    pub stage: Stage,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

/// Everything one transaction changes, over any number of moat's tables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangeSet {
    /// Per-table operations, in order.
    pub tables: Vec<TableChanges>,
}

impl ChangeSet {
    /// Whether the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.ops.is_empty())
    }

    /// Appends another change set's tables.
    pub fn extend(&mut self, other: ChangeSet) {
        self.tables.extend(other.tables);
    }

    fn single(table: &Table, ops: Vec<Op>) -> ChangeSet {
        ChangeSet {
            tables: vec![TableChanges {
                family: table.family,
                stage: table.stage,
                ops,
            }],
        }
    }
}

fn check_names(table: &Table) -> Result<(), PlanError> {
    match table
        .chains
        .iter()
        .find(|c| c.base.is_none() && c.name.starts_with(BASE_CHAIN_PREFIX))
    {
        Some(chain) => Err(PlanError::ReservedName(chain.name.clone())),
        None => Ok(()),
    }
}

/// Plans the changes that make the kernel's `old` table (None when absent) equal `new`.
pub fn plan_update(old: Option<&KernelTable>, new: &Table) -> Result<ChangeSet, PlanError> {
    check_names(new)?;
    let ops = match old {
        None => create(new),
        Some(old) => update(old, new),
    };
    Ok(ChangeSet::single(new, ops))
}

/// Plans the changes that replace whatever moat's table holds with `new`,
/// dropping all old state (rules, counters, dynamic sets).
pub fn plan_replace(new: &Table) -> Result<ChangeSet, PlanError> {
    check_names(new)?;
    let mut ops = vec![Op::DeleteTable];
    ops.extend(create(new));
    Ok(ChangeSet::single(new, ops))
}

/// Plans the removal of moat's table for `table`'s family and stage.
pub fn plan_delete(table: &Table) -> ChangeSet {
    ChangeSet::single(table, vec![Op::DeleteTable])
}

fn same_rule(old: &KernelRule, new: &Rule) -> bool {
    new.source.is_some() && old.source == new.source && old.counters == new.counters
}

fn add_rules(ops: &mut Vec<Op>, chain: &Chain) {
    for (i, rule) in chain.rules.iter().enumerate() {
        ops.push(Op::AddRule {
            chain: chain.name.clone(),
            index: i + 1,
            rule: rule.clone(),
            position: Position::Append,
        });
    }
}

fn create(table: &Table) -> Vec<Op> {
    let mut ops = vec![Op::AddTable];
    ops.extend(table.chains.iter().map(|c| Op::AddChain {
        name: c.name.clone(),
    }));
    for chain in &table.chains {
        add_rules(&mut ops, chain);
    }
    for chain in &table.chains {
        if let Some((hook, policy)) = chain.base {
            ops.push(Op::AddBaseChain {
                hook,
                policy,
                target: chain.name.clone(),
                counters: chain.policy_counters,
            });
        }
    }
    ops
}

fn update(old: &KernelTable, new: &Table) -> Vec<Op> {
    let mut ops = Vec::new();
    for chain in &new.chains {
        if old.chain(&chain.name).is_none() {
            ops.push(Op::AddChain {
                name: chain.name.clone(),
            });
        }
    }
    for chain in &new.chains {
        match old.chain(&chain.name) {
            Some(old_chain) => update_chain(&mut ops, old_chain, chain),
            None => add_rules(&mut ops, chain),
        }
    }
    for chain in &new.chains {
        let Some((hook, policy)) = chain.base else {
            continue;
        };
        match old.chain(&chain.name) {
            Some(old_chain) if old_chain.base.is_some() => {
                update_policy(&mut ops, old_chain, chain, hook, policy)
            }
            _ => ops.push(Op::AddBaseChain {
                hook,
                policy,
                target: chain.name.clone(),
                counters: chain.policy_counters,
            }),
        }
    }
    for old_chain in &old.chains {
        if new.chain(&old_chain.name).is_none() {
            ops.push(Op::FlushChain {
                name: old_chain.name.clone(),
            });
            ops.push(Op::DeleteChain {
                name: old_chain.name.clone(),
            });
        }
    }
    ops
}

fn update_policy(ops: &mut Vec<Op>, old: &KernelChain, new: &Chain, hook: Hook, policy: Policy) {
    if old.base.map(|(_, p)| p) != Some(policy) {
        ops.push(Op::SetPolicy { hook, policy });
    }
    if let Some((handle, counters)) = old.policy_counter {
        if counters != new.policy_counters {
            ops.push(Op::SetPolicyCounters {
                hook,
                handle,
                counters: new.policy_counters,
            });
        }
    }
}

fn update_chain(ops: &mut Vec<Op>, old: &KernelChain, new: &Chain) {
    let (old_rules, new_rules) = (&old.rules, &new.rules);
    let prefix = old_rules
        .iter()
        .zip(new_rules)
        .take_while(|(o, n)| same_rule(o, n))
        .count();
    let max_suffix = old_rules.len().min(new_rules.len()) - prefix;
    let suffix = old_rules
        .iter()
        .rev()
        .zip(new_rules.iter().rev())
        .take(max_suffix)
        .take_while(|(o, n)| same_rule(o, n))
        .count();
    let old_mid = &old_rules[prefix..old_rules.len() - suffix];
    let new_range = prefix..new_rules.len() - suffix;
    let name = &new.name;

    if old_mid.len() == new_range.len() {
        for (old_rule, i) in old_mid.iter().zip(new_range) {
            ops.push(Op::ReplaceRule {
                chain: name.clone(),
                index: i + 1,
                handle: old_rule.handle,
                rule: new_rules[i].clone(),
            });
        }
        return;
    }
    if !old_mid.is_empty() && old_mid.len() == old_rules.len() {
        ops.push(Op::FlushChain { name: name.clone() });
    } else {
        ops.extend(old_mid.iter().map(|r| Op::DeleteRule {
            chain: name.clone(),
            handle: r.handle,
        }));
    }
    let position = match suffix {
        0 => Position::Append,
        _ => Position::Before(old_rules[old_rules.len() - suffix].handle),
    };
    for i in new_range {
        ops.push(Op::AddRule {
            chain: name.clone(),
            index: i + 1,
            rule: new_rules[i].clone(),
            position,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::Action;

    fn rule(source: &str) -> Rule {
        Rule {
            source: Some(source.to_string()),
            ..Rule::new(Action::Accept)
        }
    }

    fn kernel(sources: &[&str]) -> KernelTable {
        KernelTable {
            family: Family::Ipv4,
            stage: Stage::Filter,
            chains: vec![KernelChain {
                name: "INPUT".into(),
                base: Some((Hook::Input, Policy::Accept)),
                policy_counter: Some((100, Counters::default())),
                rules: sources
                    .iter()
                    .enumerate()
                    .map(|(i, s)| KernelRule {
                        handle: i as u32 + 1,
                        source: Some(s.to_string()),
                        counters: Counters::default(),
                    })
                    .collect(),
            }],
        }
    }

    fn table(sources: &[&str]) -> Table {
        let mut t = Table::new(Family::Ipv4, Stage::Filter);
        t.chains.retain(|c| c.name == "INPUT");
        t.chains[0].rules = sources.iter().map(|s| rule(s)).collect();
        t
    }

    fn ops(old: &[&str], new: &[&str]) -> Vec<Op> {
        plan_update(Some(&kernel(old)), &table(new))
            .unwrap()
            .tables
            .remove(0)
            .ops
    }

    #[test]
    fn append_touches_only_the_new_rule() {
        let ops = ops(&["a", "b"], &["a", "b", "c"]);
        assert_eq!(
            ops,
            vec![Op::AddRule {
                chain: "INPUT".into(),
                index: 3,
                rule: rule("c"),
                position: Position::Append
            }]
        );
    }

    #[test]
    fn insert_goes_before_the_first_kept_rule() {
        let ops = ops(&["a", "b"], &["x", "a", "b"]);
        assert_eq!(
            ops,
            vec![Op::AddRule {
                chain: "INPUT".into(),
                index: 1,
                rule: rule("x"),
                position: Position::Before(1)
            }]
        );
    }

    #[test]
    fn delete_and_replace_use_handles() {
        assert_eq!(
            ops(&["a", "b", "c"], &["a", "c"]),
            vec![Op::DeleteRule {
                chain: "INPUT".into(),
                handle: 2
            }]
        );
        assert_eq!(
            ops(&["a", "b", "c"], &["a", "x", "c"]),
            vec![Op::ReplaceRule {
                chain: "INPUT".into(),
                index: 2,
                handle: 2,
                rule: rule("x")
            }]
        );
    }

    #[test]
    fn emptying_a_chain_flushes_it() {
        assert_eq!(
            ops(&["a", "b"], &[]),
            vec![Op::FlushChain {
                name: "INPUT".into()
            }]
        );
        assert!(ops(&["a", "b"], &["a", "b"]).is_empty());
    }

    #[test]
    fn reserved_chain_names_are_refused() {
        let mut t = table(&[]);
        t.chains.push(Chain {
            name: "moat-x".into(),
            base: None,
            policy_counters: Counters::default(),
            rules: vec![],
        });
        assert!(plan_update(None, &t).is_err());
    }
}
