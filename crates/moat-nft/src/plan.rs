//! Plans the changes that take the kernel from what it holds to what the
//! model says, as driver-neutral operations for one atomic transaction.
//!
//! Unchanged rules are left alone (their counters and any dynamic state keep
//! counting); a chain's changed middle is deleted and re-inserted in place.

use moat_model::{Action, Chain, Counters, Family, Hook, Policy, Rule, Stage, Table};

use std::collections::{HashMap, HashSet};

use crate::kernel::{CtObject, KernelChain, KernelMember, KernelRule, KernelSet, KernelTable};
use crate::layout::{
    ct_helper_object_name, ct_timeout_object_name, needs_after_conntrack_copy,
    runs_after_conntrack, table_name, works_after_conntrack, BASE_CHAIN_PREFIX,
};
use crate::portmap::{units, Member, PortMap, Unit, ORDER_STEP};
use crate::rule::{declares_sets, filled_set_names, RuleContext};

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
    /// At the start.
    First,
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
    /// Declare the ct helper object `name` for kernel helper `helper` and
    /// layer-4 protocol `proto` (no-op if the table has it).
    AddCtHelper {
        name: String,
        helper: String,
        proto: u8,
    },
    /// Declare the ct timeout object `name`, a copy of the kernel's timeout
    /// policy `policy` for layer-4 protocol `proto` (no-op if the table has it).
    AddCtTimeout {
        name: String,
        policy: String,
        proto: u8,
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
    /// Change the elements of port map `name` before the rules run: create
    /// its maps first when `create`, remove the rules on `delete` ports,
    /// then add `add`.
    PortMapElements {
        name: String,
        create: bool,
        delete: Vec<u16>,
        add: Vec<Member>,
    },
    /// Add the rule of a port map, whose maps an earlier
    /// [`Op::PortMapElements`] filled; `index` is its first rule's 1-based place.
    AddPortMapRule {
        chain: String,
        index: usize,
        map: Box<PortMap>,
        position: Position,
    },
    /// Delete port map `name`'s maps, once its rule is gone.
    DeletePortMap { name: String },
    /// Delete the dynamic set `name` (see [`DYNAMIC_SET_PREFIXES`]), once
    /// the rules that filled it are gone.
    DeleteSet { name: String },
    /// Delete a ct object once no rule refers to it.
    DeleteCtObject(CtObject),
}

/// Prefixes of the sets rules fill while packets pass (`-m connlimit`,
/// `-m hashlimit`; `recent_` sets are what moat before xt_recent lists made):
/// the planner removes those no rule needs.
pub const DYNAMIC_SET_PREFIXES: [&str; 3] = ["connlimit_", "hashlimit_", "recent_"];

/// The operations on one of moat's tables.
#[derive(Debug, Clone, PartialEq)]
pub struct TableChanges {
    /// The table's family.
    pub family: Family,
    /// The table's stage.
    pub stage: Stage,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// The named sets the table already holds: rules that fill one of
    /// them do not declare it again (the kernel refuses a second declaration).
    pub existing_sets: Vec<KernelSet>,
    /// Whether base chains it adds or changes run just after connection
    /// tracking (see [`crate::layout::AFTER_CONNTRACK_PRIORITY`]).
    pub after_conntrack: bool,
    /// Whether these are the changes of a raw table's copy that runs after
    /// conntrack ([`crate::layout::AFTER_CONNTRACK_COPY`]) rather than of
    /// the stage's own table.
    pub conntrack_copy: bool,
}

impl TableChanges {
    /// The name of the kernel table the changes are for.
    pub fn table_name(&self) -> &'static str {
        if self.conntrack_copy {
            crate::layout::AFTER_CONNTRACK_COPY
        } else {
            table_name(self.stage)
        }
    }

    /// The hook priority of the table's base chain at `hook`.
    pub fn priority(&self, hook: Hook) -> i32 {
        if self.after_conntrack {
            crate::layout::AFTER_CONNTRACK_PRIORITY
        } else {
            self.stage.priority(hook)
        }
    }
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

    /// Whether a rule it adds runs in a kernel xtables module (`-m recent`,
    /// `-m string`, ...) or has a statement the `nftables` crate cannot
    /// express (TCPOPTSTRIP, TOS changes within a part of the byte), which
    /// only the netlink driver can write.
    pub fn needs_netlink(&self) -> bool {
        self.tables.iter().flat_map(|t| &t.ops).any(|op| match op {
            Op::AddRule { rule, .. } | Op::ReplaceRule { rule, .. } => {
                crate::rule::action_needs_netlink(&rule.action)
                    || (rule.matches.iter().enumerate())
                        .any(|(i, m)| crate::rule::match_needs_netlink(m, &rule.matches[..i]))
            }
            _ => false,
        })
    }

    /// Appends another change set's tables.
    pub fn extend(&mut self, other: ChangeSet) {
        self.tables.extend(other.tables);
    }

    fn single(shape: Shape, ops: Vec<Op>, existing_sets: Vec<KernelSet>) -> ChangeSet {
        // The copy after conntrack follows the table: when the table
        // stays as it is (declaring a ct object it holds changes nothing),
        // so does its copy.
        let changes = ops
            .iter()
            .any(|op| !matches!(op, Op::AddCtHelper { .. } | Op::AddCtTimeout { .. }));
        let copy = shape.conntrack_copy.filter(|_| changes);
        // A table made again declares every set anew.
        let existing_sets = match ops.first() {
            Some(Op::DeleteTable) => Vec::new(),
            _ => existing_sets,
        };
        let mut tables = vec![TableChanges {
            family: shape.family,
            stage: shape.stage,
            ops,
            existing_sets,
            after_conntrack: shape.after_conntrack,
            conntrack_copy: false,
        }];
        tables.extend(copy);
        ChangeSet { tables }
    }
}

/// What a plan takes from the new table before its rules move into the
/// ops: where its base chains run, and the changes of its copy after
/// conntrack.
struct Shape {
    family: Family,
    stage: Stage,
    after_conntrack: bool,
    conntrack_copy: Option<TableChanges>,
}

impl Shape {
    fn of(table: &Table) -> Shape {
        Shape {
            family: table.family,
            stage: table.stage,
            after_conntrack: runs_after_conntrack(table),
            conntrack_copy: conntrack_copy(table),
        }
    }
}

/// The changes of a raw table's copy after conntrack: made anew from
/// `table` when it needs one (see [`needs_after_conntrack_copy`]), else
/// removed should an earlier table have left one. `None` for other stages.
fn conntrack_copy(table: &Table) -> Option<TableChanges> {
    if table.stage != Stage::Raw {
        return None;
    }
    let mut ops = vec![Op::DeleteTable];
    if needs_after_conntrack_copy(table) {
        let chains = table.chains.iter().map(|c| Chain {
            name: c.name.clone(),
            // What the first table lets through reaches the copy.
            base: c.base.map(|(hook, _)| (hook, Policy::Accept)),
            policy_counters: Counters::default(),
            rules: c.rules.iter().filter_map(after_conntrack_rule).collect(),
        });
        let mut copy = Table {
            chains: chains.collect(),
            ..Table::new(table.family, table.stage)
        };
        let created = create(&copy);
        ops.extend(moving_rules(created, &mut copy));
    }
    Some(TableChanges {
        family: table.family,
        stage: table.stage,
        ops,
        existing_sets: Vec::new(),
        after_conntrack: true,
        conntrack_copy: true,
    })
}

/// A rule of the copy after conntrack: one that assigns what works after
/// conntrack, or gives a verdict, as it is. The copy leaves out the others,
/// whose actions the first table did (so their matches do not see a packet
/// twice).
fn after_conntrack_rule(rule: &Rule) -> Option<Rule> {
    let keeps = works_after_conntrack(&rule.action)
        || matches!(
            rule.action,
            Action::Accept | Action::Drop | Action::Return | Action::Jump(_) | Action::Goto(_)
        );
    keeps.then(|| Rule {
        // Only the first table's rules are read back.
        source: None,
        ..rule.clone()
    })
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

/// What an update does with a rule that stays (same text and counters)
/// but keeps state of its own in the kernel ([`Rule::has_own_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnState {
    /// Leave the rule, its state running on (`moat apply` of a ruleset
    /// that did not change).
    Keep,
    /// Write the rule again, its state afresh, as iptables-restore does to
    /// every rule of the file (a quota full again, a limit's bucket too).
    Renew,
}

/// Plans the changes that make the kernel's `old` table (None when absent) equal `new`.
pub fn plan_update(old: Option<&KernelTable>, new: &Table) -> Result<ChangeSet, PlanError> {
    let ops = copying_rules(update_ops(old, new, OwnState::Keep)?, new);
    Ok(ChangeSet::single(Shape::of(new), ops, existing_sets(old)))
}

/// [`plan_update`] for a table the caller lets go: the rules the change
/// adds move out of `new` instead of being copied, so a large restore
/// holds each rule once; `own_state` says what happens to the rules that
/// stay but keep state of their own.
pub fn plan_update_owned(
    old: Option<&KernelTable>,
    mut new: Table,
    own_state: OwnState,
) -> Result<ChangeSet, PlanError> {
    let shape = Shape::of(&new);
    let ops = moving_rules(update_ops(old, &new, own_state)?, &mut new);
    Ok(ChangeSet::single(shape, ops, existing_sets(old)))
}

/// Plans the changes that replace whatever moat's table holds with `new`,
/// dropping all old state (rules, counters, dynamic sets).
pub fn plan_replace(new: &Table) -> Result<ChangeSet, PlanError> {
    let ops = copying_rules(replace_ops(new)?, new);
    Ok(ChangeSet::single(Shape::of(new), ops, Vec::new()))
}

/// [`plan_replace`] for a table the caller lets go, its rules moved into
/// the change set as [`plan_update_owned`] does.
pub fn plan_replace_owned(mut new: Table) -> Result<ChangeSet, PlanError> {
    let shape = Shape::of(&new);
    let ops = moving_rules(replace_ops(&new)?, &mut new);
    Ok(ChangeSet::single(shape, ops, Vec::new()))
}

fn update_ops(
    old: Option<&KernelTable>,
    new: &Table,
    own_state: OwnState,
) -> Result<Vec<Op>, PlanError> {
    check_names(new)?;
    Ok(match old {
        None => create(new),
        // Base chains keep their priority: a table whose rules now need
        // the other side of conntrack is made again.
        Some(old) if old.after_conntrack != runs_after_conntrack(new) => {
            let mut ops = vec![Op::DeleteTable];
            ops.extend(create(new));
            ops
        }
        Some(old) => update(old, new, own_state),
    })
}

fn replace_ops(new: &Table) -> Result<Vec<Op>, PlanError> {
    check_names(new)?;
    let mut ops = vec![Op::DeleteTable];
    ops.extend(create(new));
    Ok(ops)
}

/// The ct helper and timeout objects `rules` refer to, each once.
fn ct_objects<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<Op> {
    let mut seen = HashSet::new();
    rules
        .into_iter()
        .flat_map(|r| r.action.ct_settings())
        .filter_map(|action| match action {
            Action::CtHelper { helper, proto } => {
                let name = ct_helper_object_name(helper, *proto);
                seen.insert(name.clone()).then(|| Op::AddCtHelper {
                    name,
                    helper: helper.clone(),
                    proto: *proto,
                })
            }
            Action::CtTimeout { policy, proto } => {
                let name = ct_timeout_object_name(policy, *proto);
                seen.insert(name.clone()).then(|| Op::AddCtTimeout {
                    name,
                    policy: policy.clone(),
                    proto: *proto,
                })
            }
            _ => None,
        })
        .collect()
}

fn existing_sets(old: Option<&KernelTable>) -> Vec<KernelSet> {
    old.map(|o| o.sets.clone()).unwrap_or_default()
}

/// Each chain's place in `table`, by name.
fn chains_by_name(table: &Table) -> HashMap<String, usize> {
    table
        .chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect()
}

/// `ops` with copies of the rules they add or replace.
fn copying_rules(mut ops: Vec<Op>, new: &Table) -> Vec<Op> {
    let chains = chains_by_name(new);
    fill_rules(&mut ops, |chain, i| {
        new.chains[chains[chain]].rules[i].clone()
    });
    ops
}

/// `ops` with the rules they add or replace moved out of `new`.
fn moving_rules(mut ops: Vec<Op>, new: &mut Table) -> Vec<Op> {
    let chains = chains_by_name(new);
    fill_rules(&mut ops, |chain, i| {
        std::mem::replace(
            &mut new.chains[chains[chain]].rules[i],
            Rule::new(Action::Continue),
        )
    });
    ops
}

/// Puts in each op that adds or replaces a rule the rule it stands for:
/// planning leaves a placeholder, and `rule_at` gives the new table's rule
/// by chain name and 0-based place.
fn fill_rules(ops: &mut [Op], mut rule_at: impl FnMut(&str, usize) -> Rule) {
    for op in ops {
        if let Op::AddRule {
            chain, index, rule, ..
        }
        | Op::ReplaceRule {
            chain, index, rule, ..
        } = op
        {
            *rule = rule_at(chain, *index - 1);
        }
    }
}

/// Plans the removal of moat's table for `table`'s family and stage.
pub fn plan_delete(table: &Table) -> ChangeSet {
    // A raw table's copy after conntrack goes with it.
    let shape = Shape::of(&Table::new(table.family, table.stage));
    ChangeSet::single(shape, vec![Op::DeleteTable], Vec::new())
}

fn same_rule(old: &KernelRule, new: &Rule) -> bool {
    let log_group = match new.action {
        moat_model::Action::NfLog { group, .. } => Some(group),
        _ => None,
    };
    // Whether NETMAP maps sources or destinations depends on the hooks that
    // reach its chain, which its text does not say.
    let side_kept = match new.action {
        moat_model::Action::Netmap { side, .. } => old.nat_side == Some(side),
        _ => true,
    };
    new.source.is_some()
        && old.source == new.source
        && old.counters == new.counters
        && old.log_group == log_group
        && side_kept
}

/// Adds `units` of chain `chain` at `position`; port maps reused from the
/// old chain (in `kept`) already have their elements.
fn add_units(ops: &mut Vec<Op>, chain: &str, units: &[Unit], position: Position, kept: &[&str]) {
    for unit in units {
        match unit {
            Unit::Rule { index, .. } => ops.push(Op::AddRule {
                chain: chain.to_string(),
                index: index + 1,
                rule: Rule::new(Action::Continue),
                position,
            }),
            Unit::Map { map, index } => {
                if !kept.contains(&map.name.as_str()) {
                    ops.push(Op::PortMapElements {
                        name: map.name.clone(),
                        create: true,
                        delete: Vec::new(),
                        add: map.members.clone(),
                    });
                }
                ops.push(Op::AddPortMapRule {
                    chain: chain.to_string(),
                    index: index + 1,
                    map: Box::new(map.clone()),
                    position,
                });
            }
        }
    }
}

fn add_rules(ops: &mut Vec<Op>, chain: &Chain, stage: Stage) {
    add_units(
        ops,
        &chain.name,
        &units(chain, stage),
        Position::Append,
        &[],
    );
}

fn same_unit(old: &KernelRule, new: &Unit) -> bool {
    match new {
        Unit::Rule { rule, .. } => old.port_map().is_none() && same_rule(old, rule),
        Unit::Map { map, .. } => old.port_map() == Some(map.name.as_str()),
    }
}

/// Brings the elements of a port map the kernel keeps up to `map`: rules
/// that stay (same source and counters, in order) keep their elements and
/// counters; the others are removed and added with order keys between
/// their neighbours'. With `create` the maps are declared first.
fn sync_map(ops: &mut Vec<Op>, old: &[KernelMember], map: &PortMap, create: bool) {
    let by_port: HashMap<u16, &KernelMember> = old.iter().map(|m| (m.port, m)).collect();
    let mut keep = vec![false; map.members.len()];
    let mut last = 0;
    for (i, m) in map.members.iter().enumerate() {
        if let Some(o) = by_port.get(&m.port) {
            if Some(o.source.as_str()) == m.rule.source.as_deref()
                && o.counters == m.rule.counters
                && o.order > last
            {
                keep[i] = true;
                last = o.order;
            }
        }
    }
    let mut members = map.members.clone();
    if !assign_orders(&mut members, &keep, &by_port) {
        keep.iter_mut().for_each(|k| *k = false);
        for (i, m) in members.iter_mut().enumerate() {
            m.order = ORDER_STEP.saturating_mul(i as u32 + 1);
        }
    }
    let kept_ports: Vec<u16> = members
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(m, _)| m.port)
        .collect();
    let delete: Vec<u16> = old
        .iter()
        .map(|m| m.port)
        .filter(|p| !kept_ports.contains(p))
        .collect();
    let add: Vec<Member> = members
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|(m, _)| m)
        .collect();
    if create || !delete.is_empty() || !add.is_empty() {
        ops.push(Op::PortMapElements {
            name: map.name.clone(),
            create,
            delete,
            add,
        });
    }
}

/// Gives the members that are not kept order keys between their kept
/// neighbours' (kept members keep theirs); false when there is no room.
fn assign_orders(members: &mut [Member], keep: &[bool], old: &HashMap<u16, &KernelMember>) -> bool {
    let mut i = 0;
    let mut low = 0u64;
    while i < members.len() {
        if keep[i] {
            low = u64::from(old[&members[i].port].order);
            members[i].order = low as u32;
            i += 1;
            continue;
        }
        let end = (i..members.len())
            .find(|&j| keep[j])
            .unwrap_or(members.len());
        let high = match members.get(end) {
            Some(m) => u64::from(old[&m.port].order),
            None => low + u64::from(ORDER_STEP) * (end - i + 1) as u64,
        };
        let gap = (high - low) / (end - i + 1) as u64;
        if gap == 0 || high > u64::from(u32::MAX) {
            return false;
        }
        for (k, m) in members[i..end].iter_mut().enumerate() {
            m.order = (low + gap * (k as u64 + 1)) as u32;
        }
        low += gap * (end - i) as u64;
        i = end;
    }
    true
}

fn create(table: &Table) -> Vec<Op> {
    // Room for every op at once: a table, a chain and a base chain per
    // chain, a rule per rule (a port map takes two ops for several rules).
    let rules: usize = table.chains.iter().map(|c| c.rules.len()).sum();
    let mut ops = Vec::with_capacity(1 + 2 * table.chains.len() + rules);
    ops.push(Op::AddTable);
    ops.extend(ct_objects(table.chains.iter().flat_map(|c| &c.rules)));
    ops.extend(table.chains.iter().map(|c| Op::AddChain {
        name: c.name.clone(),
    }));
    for chain in &table.chains {
        add_rules(&mut ops, chain, table.stage);
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

fn update(old: &KernelTable, new: &Table, own_state: OwnState) -> Vec<Op> {
    let mut ops = Vec::new();
    // By name, for tables of thousands of chains (Kubernetes' nat table).
    let old_chains: HashMap<&str, &KernelChain> =
        old.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let new_names: HashSet<&str> = new.chains.iter().map(|c| c.name.as_str()).collect();
    for chain in &new.chains {
        if !old_chains.contains_key(chain.name.as_str()) {
            ops.push(Op::AddChain {
                name: chain.name.clone(),
            });
        }
    }
    for chain in &new.chains {
        match old_chains.get(chain.name.as_str()) {
            Some(old_chain) => update_chain(&mut ops, old_chain, chain, new.stage, own_state),
            None => add_rules(&mut ops, chain, new.stage),
        }
    }
    for chain in &new.chains {
        let Some((hook, policy)) = chain.base else {
            continue;
        };
        match old_chains.get(chain.name.as_str()) {
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
    // Every removed chain is flushed before any is deleted: a jump from
    // one removed chain to another holds the target until its rule goes
    // (firewalld's reload, `-F` and `-X` in one restore).
    let removed: Vec<_> = old
        .chains
        .iter()
        .filter(|c| !new_names.contains(c.name.as_str()))
        .collect();
    ops.extend(removed.iter().map(|c| Op::FlushChain {
        name: c.name.clone(),
    }));
    for old_chain in removed {
        ops.push(Op::DeleteChain {
            name: old_chain.name.clone(),
        });
        ops.extend(old_chain.rules.iter().filter_map(|r| {
            r.port_map().map(|name| Op::DeletePortMap {
                name: name.to_string(),
            })
        }));
    }
    // First, the ct objects of the rules it writes (those of the rules
    // that stay are there: a timeout policy deleted since with `nfct`,
    // which cannot be while iptables' xt_CT holds it, is not read again).
    let objects = ct_objects(added_rules(&ops, new).map(|(_, rule)| rule));
    ops.splice(0..0, objects);
    // Last: a set or ct object goes once the rules using it are gone.
    let (kept, gone) = old_rules_kept_and_gone(old, &ops);
    let unused = unused_dynamic_sets(old, new, &ops, &kept);
    ops.extend(unused.into_iter().map(|name| Op::DeleteSet { name }));
    let unused = unused_ct_objects(&ops, &kept, &gone);
    ops.extend(unused.into_iter().map(Op::DeleteCtObject));
    ops
}

/// The dynamic sets the kernel table holds that neither a rule `ops` add
/// nor a rule of `old` they leave in place fills. A kept rule goes by the
/// sets its expressions name, whatever name its model would get now (its
/// `-m set` was resolved to the kernel's ipset when it was added; an older
/// moat may have named it otherwise).
fn unused_dynamic_sets(
    old: &KernelTable,
    new: &Table,
    ops: &[Op],
    kept: &[&KernelRule],
) -> Vec<String> {
    let candidates: Vec<&String> = old
        .sets
        .iter()
        .map(|s| &s.name)
        .filter(|name| DYNAMIC_SET_PREFIXES.iter().any(|p| name.starts_with(p)))
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let ctx = RuleContext {
        family: new.family,
        stage: new.stage,
        table: table_name(new.stage).to_string(),
    };
    let mut needed: HashSet<String> = kept.iter().flat_map(|r| r.fills.iter().cloned()).collect();
    for (chain, rule) in added_rules(ops, new).filter(|(_, r)| declares_sets(r)) {
        match filled_set_names(rule, chain, &ctx) {
            Ok(names) => needed.extend(names),
            // The rule is refused later, with the reason.
            Err(_) => return Vec::new(),
        }
    }
    candidates
        .into_iter()
        .filter(|name| !needed.contains(*name))
        .cloned()
        .collect()
}

/// The rules of `new` that `ops` add or replace, with their chains (the
/// ops hold placeholders until planning ends).
fn added_rules<'a>(ops: &'a [Op], new: &'a Table) -> impl Iterator<Item = (&'a str, &'a Rule)> {
    ops.iter().filter_map(move |op| match op {
        Op::AddRule { chain, index, .. } | Op::ReplaceRule { chain, index, .. } => {
            let rule = new.chain(chain)?.rules.get(index.checked_sub(1)?)?;
            Some((chain.as_str(), rule))
        }
        _ => None,
    })
}

/// The ct objects the `gone` rules refer to that neither a `kept` rule nor
/// a declaration of `ops` (for the rules they add) names.
fn unused_ct_objects(ops: &[Op], kept: &[&KernelRule], gone: &[&KernelRule]) -> Vec<CtObject> {
    let mut needed: HashSet<CtObject> = ops.iter().filter_map(declared_object).collect();
    needed.extend(kept.iter().flat_map(|r| r.ct_objects.iter().cloned()));
    let mut unused: Vec<CtObject> = Vec::new();
    for object in gone.iter().flat_map(|r| &r.ct_objects) {
        if !needed.contains(object) && !unused.contains(object) {
            unused.push(object.clone());
        }
    }
    unused
}

/// The ct object an op declares, if it declares one.
fn declared_object(op: &Op) -> Option<CtObject> {
    let (timeout, name) = match op {
        Op::AddCtHelper { name, .. } => (false, name),
        Op::AddCtTimeout { name, .. } => (true, name),
        _ => return None,
    };
    Some(CtObject {
        timeout,
        name: name.clone(),
    })
}

/// The rules of `old` that stay and those that go: deleted or replaced by
/// `ops`, or in a chain they flush (every chain the change removes is
/// flushed by then).
fn old_rules_kept_and_gone<'a>(
    old: &'a KernelTable,
    ops: &[Op],
) -> (Vec<&'a KernelRule>, Vec<&'a KernelRule>) {
    let mut gone_rules = HashSet::new();
    let mut gone_chains = HashSet::new();
    for op in ops {
        match op {
            Op::DeleteRule { handle, .. } | Op::ReplaceRule { handle, .. } => {
                gone_rules.insert(*handle);
            }
            Op::FlushChain { name } => {
                gone_chains.insert(name.as_str());
            }
            _ => {}
        }
    }
    let (mut kept, mut gone) = (Vec::new(), Vec::new());
    for chain in &old.chains {
        let flushed = gone_chains.contains(chain.name.as_str());
        for rule in &chain.rules {
            if flushed || gone_rules.contains(&rule.handle) {
                gone.push(rule);
            } else {
                kept.push(rule);
            }
        }
    }
    (kept, gone)
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

fn update_chain(
    ops: &mut Vec<Op>,
    old: &KernelChain,
    new: &Chain,
    stage: Stage,
    own_state: OwnState,
) {
    let old_rules = &old.rules;
    let new_units = units(new, stage);
    let prefix = old_rules
        .iter()
        .zip(&new_units)
        .take_while(|(o, n)| same_unit(o, n))
        .count();
    let max_suffix = old_rules.len().min(new_units.len()) - prefix;
    let suffix = old_rules
        .iter()
        .rev()
        .zip(new_units.iter().rev())
        .take(max_suffix)
        .take_while(|(o, n)| same_unit(o, n))
        .count();
    let kept_pairs = old_rules[..prefix].iter().zip(&new_units[..prefix]).chain(
        old_rules[old_rules.len() - suffix..]
            .iter()
            .zip(&new_units[new_units.len() - suffix..]),
    );
    for (o, n) in kept_pairs {
        match n {
            Unit::Map { map, .. } => sync_map(ops, &o.members, map, false),
            Unit::Rule { rule, index } if own_state == OwnState::Renew && rule.has_own_state() => {
                ops.push(Op::ReplaceRule {
                    chain: new.name.clone(),
                    index: index + 1,
                    handle: o.handle,
                    rule: Rule::new(Action::Continue),
                })
            }
            Unit::Rule { .. } => {}
        }
    }
    let old_mid = &old_rules[prefix..old_rules.len() - suffix];
    let new_mid = &new_units[prefix..new_units.len() - suffix];
    let name = &new.name;

    let plain = old_mid.iter().all(|r| r.port_map().is_none())
        && new_mid.iter().all(|u| matches!(u, Unit::Rule { .. }));
    if plain && old_mid.len() == new_mid.len() {
        for (old_rule, unit) in old_mid.iter().zip(new_mid) {
            if let Unit::Rule { index, .. } = unit {
                ops.push(Op::ReplaceRule {
                    chain: name.clone(),
                    index: index + 1,
                    handle: old_rule.handle,
                    rule: Rule::new(Action::Continue),
                });
            }
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
    let mut kept = Vec::new();
    for old_rule in old_mid {
        let Some(map_name) = old_rule.port_map() else {
            continue;
        };
        let reused = new_mid.iter().find_map(|u| match u {
            Unit::Map { map, .. } if map.name == map_name => Some(map),
            _ => None,
        });
        match reused {
            Some(map) => {
                sync_map(ops, &old_rule.members, map, false);
                kept.push(map_name);
            }
            None => ops.push(Op::DeletePortMap {
                name: map_name.to_string(),
            }),
        }
    }
    let position = match suffix {
        0 => Position::Append,
        _ => Position::Before(old_rules[old_rules.len() - suffix].handle),
    };
    add_units(ops, name, new_mid, position, &kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::{Action, Match, NatSide};

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
                uses: None,
                rules: sources
                    .iter()
                    .enumerate()
                    .map(|(i, s)| kernel_rule(i as u32 + 1, s))
                    .collect(),
            }],
            sets: Vec::new(),
            after_conntrack: false,
        }
    }

    /// A kernel rule of `handle` whose stored text is `source`.
    fn kernel_rule(handle: u32, source: &str) -> KernelRule {
        KernelRule {
            handle,
            source: Some(source.to_string()),
            counters: Counters::default(),
            members: Vec::new(),
            log_group: None,
            nat_side: None,
            fills: Vec::new(),
            ct_objects: Vec::new(),
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

    /// A set the kernel says a kept rule fills stays, whatever name the
    /// rule's model would give it; the set of a deleted rule goes, last.
    #[test]
    fn sets_of_kept_rules_stay_and_others_go_last() {
        let mut old = kernel(&["-m connlimit --connlimit-above 2", "-j DROP"]);
        old.chains[0].rules[0].fills = vec!["connlimit_named_by_an_older_moat".into()];
        old.chains[0].rules[1].fills = vec!["hashlimit_gone".into()];
        old.sets = ["connlimit_named_by_an_older_moat", "hashlimit_gone"]
            .map(|name| KernelSet {
                name: name.into(),
                timeout: None,
            })
            .to_vec();
        let mut new = table(&["-m connlimit --connlimit-above 2"]);
        new.chains[0].rules[0].matches = vec![Match::ConnLimit {
            count: 2,
            above: true,
            prefix: 32,
            by_source: true,
        }];
        let ops = plan_update(Some(&old), &new).unwrap().tables.remove(0).ops;
        assert_eq!(
            ops,
            [
                Op::DeleteRule {
                    chain: "INPUT".into(),
                    handle: 2
                },
                Op::DeleteSet {
                    name: "hashlimit_gone".into()
                }
            ]
        );
    }

    /// A raw table whose PREROUTING chain holds `actions`, one rule each.
    fn raw_table(actions: Vec<Action>) -> Table {
        let mut t = Table::new(Family::Ipv4, Stage::Raw);
        t.chains[0].rules = actions
            .into_iter()
            .map(|action| Rule {
                source: Some(format!("{action:?}")),
                ..Rule::new(action)
            })
            .collect();
        t
    }

    fn helper(name: &str) -> Action {
        Action::CtHelper {
            helper: name.into(),
            proto: 6,
        }
    }

    #[test]
    fn timeout_policies_are_objects_of_a_raw_table_after_conntrack() {
        let timeout = |policy: &str| Action::CtTimeout {
            policy: policy.into(),
            proto: 17,
        };
        let new = raw_table(vec![timeout("dns"), timeout("dns"), timeout("sip")]);
        let changes = plan_update(None, &new).unwrap();
        let table = &changes.tables[0];
        assert!(table.after_conntrack);
        let objects: Vec<(&str, &str)> = table
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::AddCtTimeout { name, policy, .. } => Some((name.as_str(), policy.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            objects,
            [("timeout-dns-17", "dns"), ("timeout-sip-17", "sip")]
        );
    }

    #[test]
    fn helpers_move_the_raw_table_after_conntrack() {
        let new = raw_table(vec![helper("ftp"), helper("ftp"), helper("irc")]);
        let early = KernelTable {
            stage: Stage::Raw,
            chains: Vec::new(),
            ..kernel(&[])
        };
        let changes = plan_update(Some(&early), &new).unwrap();
        let table = &changes.tables[0];
        assert!(table.after_conntrack);
        assert_eq!(table.priority(Hook::Prerouting), -199);
        // Base chains cannot change their priority: the table is made again.
        assert_eq!(table.ops[..2], [Op::DeleteTable, Op::AddTable]);
        let objects: Vec<&str> = table
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::AddCtHelper { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(objects, ["helper-ftp-6", "helper-irc-6"]);
        let late = KernelTable {
            after_conntrack: true,
            ..early
        };
        let again = plan_update(Some(&late), &new).unwrap();
        assert!(!again.tables[0].ops.contains(&Op::DeleteTable));
    }

    /// A raw table with helpers and NOTRACK runs where iptables' raw table
    /// runs, and a copy of it after conntrack does the helpers: the copy
    /// keeps the rules that give a verdict or act after conntrack.
    #[test]
    fn helpers_beside_notrack_go_to_a_copy_after_conntrack() {
        let both = raw_table(vec![helper("ftp"), Action::NoTrack, Action::Accept]);
        let plan = plan_replace(&both).unwrap();
        let [first, copy] = &plan.tables[..] else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (first.table_name(), first.priority(Hook::Prerouting)),
            ("moat_raw", -300)
        );
        assert_eq!(
            (copy.table_name(), copy.priority(Hook::Prerouting)),
            ("moat_raw_ct", -199)
        );
        let actions = |t: &TableChanges| -> Vec<Action> {
            t.ops
                .iter()
                .filter_map(|op| match op {
                    Op::AddRule { rule, .. } => Some(rule.action.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            actions(first),
            [helper("ftp"), Action::NoTrack, Action::Accept]
        );
        assert_eq!(actions(copy), [helper("ftp"), Action::Accept]);
        assert!(copy
            .ops
            .iter()
            .any(|op| matches!(op, Op::AddCtHelper { .. })));
        // Without helpers the copy goes, should there be one.
        let plain = plan_replace(&raw_table(vec![Action::NoTrack])).unwrap();
        assert_eq!(plain.tables[0].priority(Hook::Prerouting), -300);
        assert_eq!(plain.tables[1].ops, [Op::DeleteTable]);
        assert_eq!(
            plan_replace(&table(&["-j ACCEPT"])).unwrap().tables.len(),
            1
        );
    }

    /// One CT rule with a zone and a helper is kept by both tables (each
    /// does its half), and its helper object is declared.
    #[test]
    fn a_zone_and_helper_rule_goes_to_both_tables() {
        let several = Action::CtSeveral(vec![helper("ftp"), Action::CtZone { id: 7, dir: None }]);
        let plan = plan_replace(&raw_table(vec![several.clone()])).unwrap();
        let [first, copy] = &plan.tables[..] else {
            panic!("{plan:?}")
        };
        assert_eq!(first.priority(Hook::Prerouting), -300);
        for table in [first, copy] {
            assert!(
                table
                    .ops
                    .iter()
                    .any(|op| matches!(op, Op::AddRule { rule, .. } if rule.action == several)),
                "{table:?}"
            );
            assert!(table
                .ops
                .iter()
                .any(|op| matches!(op, Op::AddCtHelper { name, .. } if name == "helper-ftp-6")));
        }
    }

    /// A raw table planned over itself changes nothing, its copy neither.
    #[test]
    fn an_unchanged_raw_table_leaves_its_copy_alone() {
        let both = raw_table(vec![helper("ftp"), Action::NoTrack]);
        let chains = both.chains.iter().enumerate().map(|(i, c)| KernelChain {
            name: c.name.clone(),
            base: c.base,
            policy_counter: Some((100 + i as u32, Counters::default())),
            uses: None,
            rules: (c.rules.iter().enumerate())
                .map(|(j, r)| KernelRule {
                    handle: (10 * i + j + 1) as u32,
                    source: r.source.clone(),
                    ..kernel(&["-j ACCEPT"]).chains[0].rules[0].clone()
                })
                .collect(),
        });
        let old = KernelTable {
            stage: Stage::Raw,
            chains: chains.collect(),
            ..kernel(&[])
        };
        let plan = plan_update(Some(&old), &both).unwrap();
        assert_eq!(plan.tables.len(), 1, "{plan:?}");
        // Its ct helper object is there already: not declared again.
        assert!(plan.tables[0].ops.is_empty(), "{plan:?}");
    }

    /// A restore moves its rules into the plan: where the base chains run
    /// is decided before (a fresh raw table with helpers ran before
    /// conntrack, where a helper does nothing).
    #[test]
    fn owned_plans_place_a_helpers_raw_table_after_conntrack() {
        let helpers = raw_table(vec![helper("ftp")]);
        for plan in [
            plan_replace_owned(helpers.clone()).unwrap(),
            plan_update_owned(None, helpers, OwnState::Keep).unwrap(),
        ] {
            assert_eq!(plan.tables[0].priority(Hook::Prerouting), -199);
            assert_eq!(plan.tables[1].ops, [Op::DeleteTable]);
        }
    }

    #[test]
    fn a_netmap_is_written_again_only_when_its_side_changes() {
        let netmap = |side| {
            let mut t = table(&["-j NETMAP --to 10.2.0.0/24"]);
            t.chains[0].rules[0].action = Action::Netmap {
                to: "10.2.0.0/24".parse().unwrap(),
                side,
            };
            t
        };
        let mut old = kernel(&["-j NETMAP --to 10.2.0.0/24"]);
        old.chains[0].rules[0].nat_side = Some(NatSide::Source);
        let plan = |new: &Table| plan_update(Some(&old), new).unwrap().tables.remove(0).ops;
        assert!(plan(&netmap(NatSide::Source)).is_empty());
        assert!(!plan(&netmap(NatSide::Destination)).is_empty());
    }

    #[test]
    fn a_rule_with_state_of_its_own_is_written_again_only_when_renewed() {
        let texts = ["-s 10.0.0.1", "-m limit --limit 1/min", "-j DROP"];
        let mut new = table(&texts);
        new.chains[0].rules[1].matches = vec![Match::Limit {
            rate: moat_model::Rate {
                count: 1,
                unit: moat_model::RateUnit::Minute,
            },
            burst: 5,
            over: false,
        }];
        let old = kernel(&texts);
        let ops = |own_state| {
            plan_update_owned(Some(&old), new.clone(), own_state)
                .unwrap()
                .tables
                .remove(0)
                .ops
        };
        assert!(ops(OwnState::Keep).is_empty());
        let renewed = ops(OwnState::Renew);
        assert_eq!(renewed.len(), 1, "{renewed:?}");
        let Op::ReplaceRule {
            index,
            handle,
            rule,
            ..
        } = &renewed[0]
        else {
            panic!("{renewed:?}");
        };
        assert_eq!((*index, *handle), (2, old.chains[0].rules[1].handle));
        assert!(rule.has_own_state());
    }

    #[test]
    fn owned_plans_move_the_same_rules_the_borrowed_ones_copy() {
        let mut new = table(&["x", "a", "y", "c", "z"]);
        new.chains.push(Chain {
            name: "LOGDROP".into(),
            base: None,
            policy_counters: Counters::default(),
            rules: vec![rule("-j LOG"), rule("-j DROP")],
        });
        for old in [None, Some(kernel(&["a", "b", "c"]))] {
            let borrowed = plan_update(old.as_ref(), &new).unwrap();
            assert_eq!(
                plan_update_owned(old.as_ref(), new.clone(), OwnState::Keep).unwrap(),
                borrowed
            );
            let added: Vec<&str> = borrowed.tables[0]
                .ops
                .iter()
                .filter_map(|op| match op {
                    Op::AddRule { rule, .. } | Op::ReplaceRule { rule, .. } => {
                        rule.source.as_deref()
                    }
                    _ => None,
                })
                .collect();
            assert!(
                added.contains(&"-j DROP") && added.contains(&"z"),
                "{added:?}"
            );
        }
        assert_eq!(
            plan_replace_owned(new.clone()).unwrap(),
            plan_replace(&new).unwrap()
        );
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
    fn removed_chains_are_all_flushed_before_any_is_deleted() {
        let mut old = kernel(&[]);
        for (name, source) in [("P", None), ("Z", Some("-j P"))] {
            old.chains.push(KernelChain {
                name: name.into(),
                base: None,
                policy_counter: None,
                uses: None,
                rules: source.into_iter().map(|s| kernel_rule(7, s)).collect(),
            });
        }
        let ops = plan_update(Some(&old), &table(&[]))
            .unwrap()
            .tables
            .remove(0)
            .ops;
        let at = |wanted: &Op| ops.iter().position(|op| op == wanted).unwrap();
        let flush_z = at(&Op::FlushChain { name: "Z".into() });
        let delete_p = at(&Op::DeleteChain { name: "P".into() });
        assert!(flush_z < delete_p, "{ops:?}");
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

    /// A nat table whose PREROUTING holds `rules`, and the kernel's version
    /// of it with those rules' port map (counters `i` for rule `i`).
    fn port_map_case(rules: Vec<Rule>) -> (KernelTable, Table) {
        let mut t = Table::new(Family::Ipv4, Stage::Nat);
        t.chains.retain(|c| c.name == "PREROUTING");
        t.chains[0].rules = rules;
        let Unit::Map { map, .. } = units(&t.chains[0], Stage::Nat).remove(0) else {
            panic!("a port map");
        };
        let members = map
            .members
            .iter()
            .map(|m| KernelMember {
                port: m.port,
                order: m.order,
                source: m.rule.source.clone().unwrap(),
                counters: m.rule.counters,
            })
            .collect();
        let kernel = KernelTable {
            family: Family::Ipv4,
            stage: Stage::Nat,
            chains: vec![KernelChain {
                name: "PREROUTING".into(),
                base: Some((Hook::Prerouting, Policy::Accept)),
                policy_counter: Some((100, Counters::default())),
                uses: None,
                rules: vec![KernelRule {
                    handle: 7,
                    source: Some(crate::portmap::marker(&map.name)),
                    counters: Counters::default(),
                    members,
                    log_group: None,
                    nat_side: None,
                    fills: Vec::new(),
                    ct_objects: Vec::new(),
                }],
            }],
            sets: Vec::new(),
            after_conntrack: false,
        };
        (kernel, t)
    }

    #[test]
    fn port_map_edits_touch_only_their_elements() {
        use crate::portmap::tests::forward_rule;
        let rules: Vec<Rule> = (0..10u16)
            .map(|i| Rule {
                counters: Counters {
                    packets: u64::from(i),
                    bytes: 60 * u64::from(i),
                },
                ..forward_rule(6, 100 + i, 80)
            })
            .collect();
        let (kernel, mut table) = port_map_case(rules);
        let chain = &mut table.chains[0].rules;
        chain.remove(2);
        chain.insert(4, forward_rule(6, 150, 80));
        chain[7].counters = Counters::default();
        let ops = plan_update(Some(&kernel), &table)
            .unwrap()
            .tables
            .remove(0)
            .ops;
        let [Op::PortMapElements {
            create: false,
            delete,
            add,
            ..
        }] = ops.as_slice()
        else {
            panic!("one element change, no rule change: {ops:?}");
        };
        assert_eq!(delete, &[102, 107]);
        let added: Vec<(u16, u32)> = add.iter().map(|m| (m.port, m.order)).collect();
        assert_eq!(
            added,
            [
                (150, 5 * ORDER_STEP + ORDER_STEP / 2),
                (107, 8 * ORDER_STEP)
            ],
            "new rules slot in between their neighbours"
        );
        table.chains[0].rules.clear();
        assert!(plan_update(Some(&kernel), &table).unwrap().tables[0]
            .ops
            .contains(&Op::DeletePortMap {
                name: kernel.chains[0].rules[0].port_map().unwrap().to_string()
            }));
    }
}
