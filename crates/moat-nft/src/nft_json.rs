//! Encodes a [`ChangeSet`] as the JSON batch `nft -j -f -` applies in one transaction.

use std::borrow::Cow;

use moat_model::{Counters, Hook, Policy, Rule, Stage};
use nftables::schema::{self, FlushObject, NfCmd, NfListObject, NfObject};
use nftables::stmt::{AnonymousCounter, Counter, JumpTarget, Statement};
use nftables::types::{NfChainPolicy, NfFamily};

use crate::layout::{base_chain_name, chain_type, family_word, nf_family, nf_hook};
use serde_json::Value;

use crate::plan::{ChangeSet, Op, Position, TableChanges};
use crate::portmap;
use crate::rule::{
    check_existing, compile_rule, finish_json, merge_sets, CompileError, RuleContext,
};

/// Why a change set cannot be encoded for nft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
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
    /// The JSON could not be finished for nft.
    #[error("cannot encode the change for nft: {0}")]
    Json(CompileError),
}

/// The longest rule text nft keeps with a rule: a rule's user data holds
/// 256 bytes, less the comment's type, length and NUL.
const NFT_TEXT_MAX: usize = 253;

/// Encodes `changes` as one nft JSON batch.
pub fn encode(changes: &ChangeSet) -> Result<String, EncodeError> {
    let mut objects: Vec<Value> = Vec::new();
    for table in &changes.tables {
        TableEncoder::new(table).encode(&mut objects)?;
    }
    let mut doc = serde_json::json!({ "nftables": objects });
    finish_json(&mut doc).map_err(EncodeError::Json)?;
    wrap_replaced_rules(&mut doc);
    Ok(doc.to_string())
}

/// nft reads `{"replace": {"rule": {...}}}`, while the nftables crate writes
/// the rule's fields straight under `replace`: add the missing level.
fn wrap_replaced_rules(doc: &mut serde_json::Value) {
    let Some(items) = doc.get_mut("nftables").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for item in items {
        if let Some(replace) = item.get_mut("replace") {
            if replace.get("rule").is_none() {
                let rule = replace.take();
                *replace = serde_json::json!({ "rule": rule });
            }
        }
    }
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

fn cmd(c: NfCmd<'static>) -> NfObject<'static> {
    NfObject::CmdObject(c)
}

struct TableEncoder<'a> {
    changes: &'a TableChanges,
    ctx: RuleContext,
    family: NfFamily,
    stage: Stage,
}

impl<'a> TableEncoder<'a> {
    fn new(changes: &'a TableChanges) -> Self {
        TableEncoder {
            changes,
            ctx: RuleContext {
                family: changes.family,
                stage: changes.stage,
                table: changes.table_name().to_string(),
            },
            family: nf_family(changes.family),
            stage: changes.stage,
        }
    }

    fn table(&self) -> schema::Table<'static> {
        schema::Table {
            family: self.family,
            name: Cow::Borrowed(self.changes.table_name()),
            handle: None,
        }
    }

    fn chain(&self, name: &str) -> schema::Chain<'static> {
        schema::Chain {
            family: self.family,
            table: Cow::Borrowed(self.changes.table_name()),
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

    fn base_chain(&self, hook: Hook, policy: Policy) -> schema::Chain<'static> {
        schema::Chain {
            _type: Some(chain_type(self.stage, hook)),
            hook: Some(nf_hook(hook)),
            prio: Some(self.changes.priority(hook)),
            policy: Some(policy_of(policy)),
            ..self.chain(base_chain_name(hook))
        }
    }

    fn rule(
        &self,
        chain: &str,
        expr: Vec<Statement<'static>>,
        comment: Option<String>,
    ) -> schema::Rule<'static> {
        schema::Rule {
            family: self.family,
            table: Cow::Borrowed(self.changes.table_name()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: comment.map(Cow::Owned),
        }
    }

    fn compiled(
        &self,
        chain: &str,
        index: usize,
        rule: &Rule,
        sets: &mut Vec<schema::Set<'static>>,
    ) -> Result<schema::Rule<'static>, EncodeError> {
        let refused = |error| EncodeError::Compile {
            chain: chain.to_string(),
            index,
            error,
        };
        if let Some(text) = rule.source.as_deref().filter(|t| t.len() > NFT_TEXT_MAX) {
            return Err(refused(CompileError(format!(
                "its iptables text is {} bytes, and a rule moat has nft write (a change \
                 holding something moat's netlink writer does not cover goes to nft whole) \
                 keeps at most {NFT_TEXT_MAX}: shorten a --comment, or leave out options \
                 given at their defaults",
                text.len()
            ))));
        }
        let compiled = compile_rule(rule, chain, &self.ctx).map_err(refused)?;
        for set in compiled.sets {
            let existing = self
                .changes
                .existing_sets
                .iter()
                .find(|k| k.name == set.name);
            match existing {
                None => merge_sets(sets, set).map_err(EncodeError::Sets)?,
                Some(k) => check_existing(k, &set, chain, index).map_err(EncodeError::Sets)?,
            }
        }
        let expr = compiled
            .stmts
            .into_iter()
            .map(|stmt| match stmt {
                Statement::Counter(Counter::Anonymous(_)) => counter_stmt(rule.counters),
                other => other,
            })
            .collect();
        Ok(self.rule(chain, expr, rule.source.clone()))
    }

    /// Appends this table's commands: table commands, the sets rules need,
    /// port map elements, then the rest, and last the port maps to delete.
    fn encode(&self, out: &mut Vec<Value>) -> Result<(), EncodeError> {
        let mut prelude = Vec::new();
        let mut sets = Vec::new();
        let mut maps: Vec<Value> = Vec::new();
        let mut body = Vec::new();
        let mut last: Vec<Value> = Vec::new();
        let family = self.changes.family;
        for op in &self.changes.ops {
            match op {
                Op::DeleteTable => {
                    prelude.push(cmd(NfCmd::Add(NfListObject::Table(self.table()))));
                    prelude.push(cmd(NfCmd::Delete(NfListObject::Table(self.table()))));
                }
                Op::AddTable => prelude.push(cmd(NfCmd::Add(NfListObject::Table(self.table())))),
                Op::AddChain { name } => {
                    body.push(cmd(NfCmd::Add(NfListObject::Chain(self.chain(name)))))
                }
                Op::AddBaseChain {
                    hook,
                    policy,
                    target,
                    counters,
                } => {
                    let base = base_chain_name(*hook);
                    body.push(cmd(NfCmd::Add(NfListObject::Chain(
                        self.base_chain(*hook, *policy),
                    ))));
                    let jump = Statement::Jump(JumpTarget {
                        target: Cow::Owned(target.clone()),
                    });
                    body.push(cmd(NfCmd::Add(NfListObject::Rule(self.rule(
                        base,
                        vec![jump],
                        None,
                    )))));
                    body.push(cmd(NfCmd::Add(NfListObject::Rule(self.rule(
                        base,
                        vec![counter_stmt(*counters)],
                        None,
                    )))));
                }
                Op::SetPolicy { hook, policy } => body.push(cmd(NfCmd::Add(NfListObject::Chain(
                    self.base_chain(*hook, *policy),
                )))),
                Op::SetPolicyCounters {
                    hook,
                    handle,
                    counters,
                } => {
                    let mut rule =
                        self.rule(base_chain_name(*hook), vec![counter_stmt(*counters)], None);
                    rule.handle = Some(*handle);
                    body.push(cmd(NfCmd::Replace(rule)));
                }
                Op::AddRule {
                    chain,
                    index,
                    rule,
                    position,
                } => {
                    let mut nf_rule = self.compiled(chain, *index, rule, &mut sets)?;
                    match position {
                        Position::Append => body.push(cmd(NfCmd::Add(NfListObject::Rule(nf_rule)))),
                        Position::First => body.push(cmd(NfCmd::Insert(NfListObject::Rule(nf_rule)))),
                        Position::Before(handle) => {
                            nf_rule.handle = Some(*handle);
                            body.push(cmd(NfCmd::Insert(NfListObject::Rule(nf_rule))));
                        }
                    }
                }
                Op::ReplaceRule {
                    chain,
                    index,
                    handle,
                    rule,
                } => {
                    let mut nf_rule = self.compiled(chain, *index, rule, &mut sets)?;
                    nf_rule.handle = Some(*handle);
                    body.push(cmd(NfCmd::Replace(nf_rule)));
                }
                Op::DeleteRule { chain, handle } => {
                    let mut rule = self.rule(chain, Vec::new(), None);
                    rule.handle = Some(*handle);
                    body.push(cmd(NfCmd::Delete(NfListObject::Rule(rule))));
                }
                Op::FlushChain { name } => {
                    body.push(cmd(NfCmd::Flush(FlushObject::Chain(self.chain(name)))))
                }
                Op::DeleteChain { name } => {
                    body.push(cmd(NfCmd::Delete(NfListObject::Chain(self.chain(name)))))
                }
                Op::AddSet(set) => {
                    prelude.push(cmd(NfCmd::Add(NfListObject::Set(set.clone()))));
                }
                Op::AddCtHelper {
                    name,
                    helper,
                    proto,
                } => {
                    let protocol = if *proto == 17 { "udp" } else { "tcp" };
                    prelude.push(cmd(NfCmd::Add(NfListObject::CTHelper(schema::CTHelper {
                        family: self.family,
                        table: Cow::Borrowed(self.changes.table_name()),
                        name: Cow::Owned(name.clone()),
                        handle: None,
                        _type: Cow::Owned(helper.clone()),
                        protocol: Some(Cow::Borrowed(protocol)),
                        l3proto: Some(Cow::Borrowed(family_word(family))),
                    }))));
                }
                Op::AddCtTimeout { policy, .. } => {
                    return Err(EncodeError::Json(CompileError(format!(
                        "CT --timeout {policy}: only moat's netlink driver copies a timeout policy"
                    ))))
                }
                Op::PortMapElements {
                    name,
                    create,
                    delete,
                    add,
                } => {
                    if *create {
                        maps.extend(portmap::declare_json(family, name));
                    }
                    maps.extend(portmap::delete_elements_json(family, name, delete));
                    maps.extend(portmap::add_elements_json(family, name, add));
                }
                Op::AddPortMapRule {
                    chain,
                    index,
                    map,
                    position,
                } => {
                    let compiled =
                        portmap::compile(map, chain, &self.ctx).map_err(|error| EncodeError::Compile {
                            chain: chain.clone(),
                            index: *index,
                            error,
                        })?;
                    let mut nf_rule =
                        self.rule(chain, compiled.stmts, Some(portmap::marker(&map.name)));
                    match position {
                        Position::Append => body.push(cmd(NfCmd::Add(NfListObject::Rule(nf_rule)))),
                        Position::First => body.push(cmd(NfCmd::Insert(NfListObject::Rule(nf_rule)))),
                        Position::Before(handle) => {
                            nf_rule.handle = Some(*handle);
                            body.push(cmd(NfCmd::Insert(NfListObject::Rule(nf_rule))));
                        }
                    }
                }
                Op::DeletePortMap { name } => last.extend(portmap::delete_json(family, name)),
                Op::DeleteSet { name } => last.push(serde_json::json!({"delete": {"set": {
                    "family": family_word(family), "table": self.changes.table_name(), "name": name}}})),
                Op::DeleteCtObject(object) => {
                    let kind = if object.timeout { "ct timeout" } else { "ct helper" };
                    last.push(serde_json::json!({"delete": {kind: {
                        "family": family_word(family), "table": self.changes.table_name(),
                        "name": object.name}}}))
                }
            }
        }
        let to_value = |o: NfObject<'static>| {
            serde_json::to_value(o).map_err(|e| EncodeError::Json(CompileError(e.to_string())))
        };
        for object in prelude {
            out.push(to_value(object)?);
        }
        for set in sets {
            out.push(to_value(cmd(NfCmd::Add(NfListObject::Set(Box::new(set)))))?);
        }
        out.extend(maps);
        for object in body {
            out.push(to_value(object)?);
        }
        out.extend(last);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Family, Table};

    use super::*;
    use crate::plan_replace;

    #[test]
    fn rule_texts_nft_cannot_keep_are_refused_with_the_reason() {
        let with_text = |len: usize| {
            let mut table = Table::new(Family::Ipv4, Stage::Filter);
            table.chains[0].rules.push(Rule {
                source: Some("x".repeat(len)),
                ..Rule::new(Action::Accept)
            });
            encode(&plan_replace(&table).unwrap())
        };
        assert!(with_text(NFT_TEXT_MAX).is_ok());
        let err = with_text(NFT_TEXT_MAX + 1).unwrap_err().to_string();
        assert!(
            err.contains("chain INPUT, rule 1: its iptables text is 254 bytes"),
            "{err}"
        );
    }
}
