//! Plans the nf_tables commands that take the kernel from what it holds to
//! what the model says, as one batch for one atomic transaction.
//!
//! Unchanged rules are left alone (their counters and any dynamic state keep
//! counting); a chain's changed middle is deleted and re-inserted in place.

use std::borrow::Cow;

use moat_model::{Chain, Counters, Hook, Policy, Rule, Table};
use nftables::schema::{self, FlushObject, NfCmd, NfListObject, NfObject};
use nftables::stmt::{AnonymousCounter, Counter, JumpTarget, Statement};
use nftables::types::{NfChainPolicy, NfFamily};

use crate::kernel::{KernelChain, KernelRule, KernelTable};
use crate::layout::{
    base_chain_name, chain_type, nf_family, nf_hook, table_name, BASE_CHAIN_PREFIX,
};
use crate::rule::{compile_rule, finish_json, merge_sets, CompileError, RuleContext};

/// Why a change cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A rule could not be compiled.
    #[error("chain {chain}, rule {index}: {error}")]
    Compile {
        chain: String,
        index: usize,
        error: CompileError,
    },
    /// Two rules need incompatible declarations of one set.
    #[error("{0}")]
    Sets(CompileError),
    /// The batch could not be encoded for nft.
    #[error("cannot encode the change for nft: {0}")]
    Encode(CompileError),
    /// A chain name that moat keeps for itself.
    #[error("chain name {0:?} is reserved: names starting with {BASE_CHAIN_PREFIX:?} belong to moat's hook chains")]
    ReservedName(String),
}

/// A batch of nf_tables commands, applied in one transaction.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    objects: Vec<NfObject<'static>>,
}

impl Batch {
    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The batch as the JSON document `nft -j -f -` reads.
    pub fn to_json(&self) -> Result<String, PlanError> {
        let mut doc = serde_json::json!({ "nftables": &self.objects });
        finish_json(&mut doc).map_err(PlanError::Encode)?;
        wrap_replaced_rules(&mut doc);
        Ok(doc.to_string())
    }

    /// Appends another batch's commands.
    pub fn extend(&mut self, other: Batch) {
        self.objects.extend(other.objects);
    }

    fn push(&mut self, cmd: NfCmd<'static>) {
        self.objects.push(NfObject::CmdObject(cmd));
    }
}

struct Planner<'a> {
    table: &'a Table,
    ctx: RuleContext,
    family: NfFamily,
    /// Table-level commands, run first.
    prelude: Batch,
    /// Sets the compiled rules need, merged, declared before any rule.
    sets: Vec<schema::Set<'static>>,
    /// Chain and rule commands.
    batch: Batch,
}

/// Plans the commands that make the kernel's `old` table (None when absent) equal `new`.
pub fn plan_update(old: Option<&KernelTable>, new: &Table) -> Result<Batch, PlanError> {
    let mut planner = Planner::new(new)?;
    match old {
        None => planner.create()?,
        Some(old) => planner.update(old)?,
    }
    Ok(planner.finish())
}

/// Plans the commands that replace whatever moat's table holds with `new`,
/// dropping all old state (rules, counters, dynamic sets).
pub fn plan_replace(new: &Table) -> Result<Batch, PlanError> {
    let mut planner = Planner::new(new)?;
    let table = planner.nf_table();
    planner
        .prelude
        .push(NfCmd::Add(NfListObject::Table(table.clone())));
    planner
        .prelude
        .push(NfCmd::Delete(NfListObject::Table(table)));
    planner.create()?;
    Ok(planner.finish())
}

/// Plans the commands that remove moat's table for `new`'s family and stage.
pub fn plan_delete(table: &Table) -> Batch {
    let mut batch = Batch::default();
    let nf_table = schema::Table {
        family: nf_family(table.family),
        name: Cow::Borrowed(table_name(table.stage)),
        handle: None,
    };
    batch.push(NfCmd::Add(NfListObject::Table(nf_table.clone())));
    batch.push(NfCmd::Delete(NfListObject::Table(nf_table)));
    batch
}

/// nft reads `{"replace": {"rule": {...}}}`, while the nftables crate writes
/// the rule's fields straight under `replace`: add the missing level.
fn wrap_replaced_rules(doc: &mut serde_json::Value) {
    let Some(items) = doc.get_mut("nftables").and_then(|v| v.as_array_mut()) else { return };
    for item in items {
        if let Some(replace) = item.get_mut("replace") {
            if replace.get("rule").is_none() {
                let rule = replace.take();
                *replace = serde_json::json!({ "rule": rule });
            }
        }
    }
}

fn same_rule(old: &KernelRule, new: &Rule) -> bool {
    new.source.is_some() && old.source == new.source && old.counters == new.counters
}

fn policy_of(policy: Policy) -> NfChainPolicy {
    match policy {
        Policy::Accept => NfChainPolicy::Accept,
        Policy::Drop => NfChainPolicy::Drop,
    }
}

fn counter_stmt(counters: Counters) -> Statement<'static> {
    Statement::Counter(Counter::Anonymous(Some(AnonymousCounter {
        packets: Some(counters.packets as usize),
        bytes: Some(counters.bytes as usize),
    })))
}

impl<'a> Planner<'a> {
    fn new(table: &'a Table) -> Result<Self, PlanError> {
        if let Some(chain) = table
            .chains
            .iter()
            .find(|c| c.base.is_none() && c.name.starts_with(BASE_CHAIN_PREFIX))
        {
            return Err(PlanError::ReservedName(chain.name.clone()));
        }
        Ok(Planner {
            table,
            ctx: RuleContext {
                family: table.family,
                stage: table.stage,
                table: table_name(table.stage).to_string(),
            },
            family: nf_family(table.family),
            prelude: Batch::default(),
            sets: Vec::new(),
            batch: Batch::default(),
        })
    }

    /// The whole batch: table commands, then set declarations, then chains and rules.
    fn finish(self) -> Batch {
        let mut batch = self.prelude;
        for set in self.sets {
            batch.push(NfCmd::Add(NfListObject::Set(Box::new(set))));
        }
        batch.extend(self.batch);
        batch
    }

    fn nf_table(&self) -> schema::Table<'static> {
        schema::Table {
            family: self.family,
            name: Cow::Borrowed(table_name(self.table.stage)),
            handle: None,
        }
    }

    fn nf_chain(&self, name: &str) -> schema::Chain<'static> {
        schema::Chain {
            family: self.family,
            table: Cow::Borrowed(table_name(self.table.stage)),
            name: Cow::Owned(name.to_string()),
            newname: None,
            handle: None,
            _type: None,
            hook: None,
            prio: None,
            dev: None,
            policy: None,
        }
    }

    fn nf_base_chain(&self, hook: Hook, policy: Policy) -> schema::Chain<'static> {
        schema::Chain {
            _type: Some(chain_type(self.table.stage, hook)),
            hook: Some(nf_hook(hook)),
            prio: Some(self.table.stage.priority(hook)),
            policy: Some(policy_of(policy)),
            ..self.nf_chain(base_chain_name(hook))
        }
    }

    fn nf_rule(
        &self,
        chain: &str,
        expr: Vec<Statement<'static>>,
        comment: Option<String>,
    ) -> schema::Rule<'static> {
        schema::Rule {
            family: self.family,
            table: Cow::Borrowed(table_name(self.table.stage)),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: comment.map(Cow::Owned),
        }
    }

    /// Compiles a rule, declaring the sets it needs, into an nf_tables rule object.
    fn compiled(
        &mut self,
        chain: &str,
        index: usize,
        rule: &Rule,
    ) -> Result<schema::Rule<'static>, PlanError> {
        let compiled = compile_rule(rule, &self.ctx).map_err(|error| PlanError::Compile {
            chain: chain.to_string(),
            index: index + 1,
            error,
        })?;
        for set in compiled.sets {
            merge_sets(&mut self.sets, set).map_err(PlanError::Sets)?;
        }
        let expr = compiled
            .stmts
            .into_iter()
            .map(|stmt| match stmt {
                Statement::Counter(Counter::Anonymous(_)) => counter_stmt(rule.counters),
                other => other,
            })
            .collect();
        Ok(self.nf_rule(chain, expr, rule.source.clone()))
    }

    fn add_base_chain(&mut self, chain: &Chain, hook: Hook, policy: Policy) {
        self.batch.push(NfCmd::Add(NfListObject::Chain(
            self.nf_base_chain(hook, policy),
        )));
        let base = base_chain_name(hook);
        let jump = Statement::Jump(JumpTarget {
            target: Cow::Owned(chain.name.clone()),
        });
        let rule = self.nf_rule(base, vec![jump], None);
        self.batch.push(NfCmd::Add(NfListObject::Rule(rule)));
        let rule = self.nf_rule(base, vec![counter_stmt(chain.policy_counters)], None);
        self.batch.push(NfCmd::Add(NfListObject::Rule(rule)));
    }

    fn create(&mut self) -> Result<(), PlanError> {
        self.prelude
            .push(NfCmd::Add(NfListObject::Table(self.nf_table())));
        for chain in &self.table.chains {
            self.batch
                .push(NfCmd::Add(NfListObject::Chain(self.nf_chain(&chain.name))));
        }
        for chain in &self.table.chains {
            for (index, rule) in chain.rules.iter().enumerate() {
                let rule = self.compiled(&chain.name, index, rule)?;
                self.batch.push(NfCmd::Add(NfListObject::Rule(rule)));
            }
        }
        for chain in &self.table.chains {
            if let Some((hook, policy)) = chain.base {
                self.add_base_chain(chain, hook, policy);
            }
        }
        Ok(())
    }

    fn update(&mut self, old: &KernelTable) -> Result<(), PlanError> {
        let table = self.table;
        for chain in &table.chains {
            if old.chain(&chain.name).is_none() {
                self.batch
                    .push(NfCmd::Add(NfListObject::Chain(self.nf_chain(&chain.name))));
            }
        }
        for chain in &table.chains {
            match old.chain(&chain.name) {
                Some(old_chain) => self.update_chain(old_chain, chain)?,
                None => {
                    for (index, rule) in chain.rules.iter().enumerate() {
                        let rule = self.compiled(&chain.name, index, rule)?;
                        self.batch.push(NfCmd::Add(NfListObject::Rule(rule)));
                    }
                }
            }
        }
        for chain in &table.chains {
            let Some((hook, policy)) = chain.base else {
                continue;
            };
            match old.chain(&chain.name) {
                Some(old_chain) if old_chain.base.is_some() => {
                    self.update_policy(old_chain, chain, hook, policy)
                }
                _ => self.add_base_chain(chain, hook, policy),
            }
        }
        for old_chain in &old.chains {
            if table.chain(&old_chain.name).is_none() {
                self.batch.push(NfCmd::Flush(FlushObject::Chain(
                    self.nf_chain(&old_chain.name),
                )));
                self.batch.push(NfCmd::Delete(NfListObject::Chain(
                    self.nf_chain(&old_chain.name),
                )));
            }
        }
        Ok(())
    }

    fn update_policy(&mut self, old: &KernelChain, new: &Chain, hook: Hook, policy: Policy) {
        if old.base.map(|(_, p)| p) != Some(policy) {
            self.batch.push(NfCmd::Add(NfListObject::Chain(
                self.nf_base_chain(hook, policy),
            )));
        }
        if let Some((handle, counters)) = old.policy_counter {
            if counters != new.policy_counters {
                let mut rule = self.nf_rule(
                    base_chain_name(hook),
                    vec![counter_stmt(new.policy_counters)],
                    None,
                );
                rule.handle = Some(handle);
                self.batch.push(NfCmd::Replace(rule));
            }
        }
    }

    fn update_chain(&mut self, old: &KernelChain, new: &Chain) -> Result<(), PlanError> {
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

        if old_mid.len() == new_range.len() {
            for (old_rule, index) in old_mid.iter().zip(new_range) {
                let mut rule = self.compiled(&new.name, index, &new_rules[index])?;
                rule.handle = Some(old_rule.handle);
                self.batch.push(NfCmd::Replace(rule));
            }
            return Ok(());
        }
        if !old_mid.is_empty() && old_mid.len() == old_rules.len() {
            self.batch
                .push(NfCmd::Flush(FlushObject::Chain(self.nf_chain(&new.name))));
        } else {
            for old_rule in old_mid {
                let mut rule = self.nf_rule(&new.name, Vec::new(), None);
                rule.handle = Some(old_rule.handle);
                self.batch.push(NfCmd::Delete(NfListObject::Rule(rule)));
            }
        }
        let anchor = (suffix > 0).then(|| old_rules[old_rules.len() - suffix].handle);
        for index in new_range {
            let mut rule = self.compiled(&new.name, index, &new_rules[index])?;
            match anchor {
                Some(handle) => {
                    rule.handle = Some(handle);
                    self.batch.push(NfCmd::Insert(NfListObject::Rule(rule)));
                }
                None => self.batch.push(NfCmd::Add(NfListObject::Rule(rule))),
            }
        }
        Ok(())
    }
}
