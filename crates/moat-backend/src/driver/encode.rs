//! Encodes a [`ChangeSet`] as one nf_tables netlink batch, in the order and
//! with the objects the `nft` driver's JSON batch creates (per table: table
//! commands, then the sets rules fill, then port maps' maps and elements,
//! then the rest, and last the port maps and sets to delete; base chains
//! that jump to the user's chain and then count policy hits; the rule's
//! source as its comment).

use std::collections::HashMap;

use moat_model::{Counters, Family, Hook, Policy, Rule, Stage};
use moat_nft::layout::{base_chain_name, chain_type, family_word};
use moat_nft::nft_json::EncodeError;
use moat_nft::portmap::{self, PortMap};
use moat_nft::rule::{compile_rule, declares_sets, CompileError, CompiledRule, RuleContext};
use moat_nft::{ChangeSet, CtObject, Op, Position, TableChanges};
use nftables::schema::Set;
use nftables::types::NfChainType;

use super::anon_set::{ANON_MAP_NAME, ANON_SET_NAME};
use super::batch::{Batch, Origin, Sealed};
use super::dyn_set;
use super::error::{DriverError, Unsupported};
use super::expr::NlExpr;
use super::list_set;
use super::long_text;
use super::lower::{lower_rule, Lowered};
use super::portmap::{SetIds, Target};
use super::udata;
use crate::netlink::consts::*;
use crate::netlink::hook_number;
use crate::netlink::wire::Writer;
use crate::netlink::{NfSocket, TimeoutPolicy};

/// The kernel's NFPROTO_* number of a family.
pub(crate) fn nfproto(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 2,
        Family::Ipv6 => 10,
    }
}

/// When the `nft` driver's JSON batch sends an operation within its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Table commands.
    Table,
    /// Block lists' copies.
    Lists,
    /// Port maps' maps and elements.
    Maps,
    /// Chains and rules.
    Body,
    /// Port maps to delete, once their rules are gone.
    Last,
}

fn step_of(op: &Op) -> Step {
    match op {
        Op::DeleteTable | Op::AddTable => Step::Table,
        Op::AddSet(_) => Step::Lists,
        Op::PortMapElements { .. } => Step::Maps,
        Op::DeletePortMap { .. } | Op::DeleteSet { .. } | Op::DeleteCtObject(_) => Step::Last,
        _ => Step::Body,
    }
}

/// The kernel's timeout policies that the change's `CT --timeout` rules
/// copy, by name.
pub(crate) type Policies = HashMap<String, TimeoutPolicy>;

/// The nf_tables object type of `object`.
fn object_type(object: &CtObject) -> u32 {
    if object.timeout {
        NFT_OBJECT_CT_TIMEOUT
    } else {
        NFT_OBJECT_CT_HELPER
    }
}

/// The timeout policies `changes` copies, read from the kernel (no socket
/// is opened when there are none): from nfct's policy, else, once that was
/// deleted (iptables' xt_CT would have kept it), from the copy moat's
/// table holds. A missing one is refused as the kernel refuses xt_CT's:
/// nothing is sent.
pub(crate) fn policies(changes: &ChangeSet) -> Result<Policies, DriverError> {
    let mut policies = Policies::new();
    let mut sock = None;
    for table in &changes.tables {
        for op in &table.ops {
            let Op::AddCtTimeout { name, policy, .. } = op else {
                continue;
            };
            if policies.contains_key(policy) {
                continue;
            }
            let sock = match &mut sock {
                Some(sock) => sock,
                None => sock.insert(NfSocket::open()?),
            };
            let found = match sock.timeout_policy(policy)? {
                Some(found) => Some(found),
                None => {
                    let table_name = moat_nft::layout::table_name(table.stage);
                    sock.timeout_object(nfproto(table.family), table_name, name)?
                }
            };
            let found = found.ok_or_else(|| DriverError::Refused {
                what: format!("CT --timeout {policy}"),
                errno: libc::ENOENT,
                detail: Some(format!(
                    "no timeout policy of that name; make it first, e.g. `nfct add timeout \
                     {policy} inet udp unreplied 10 replied 30`"
                )),
            })?;
            policies.insert(policy.clone(), found);
        }
    }
    Ok(policies)
}

/// Encodes `changes` into a batch numbered from `first_seq`; `None` when
/// there is nothing to send. With `commit` false the batch has no end, so
/// the kernel checks it and applies nothing.
pub(crate) fn encode(
    changes: &ChangeSet,
    first_seq: u32,
    commit: bool,
    policies: &Policies,
) -> Result<Option<Sealed>, DriverError> {
    let mut batch = Batch::new(first_seq);
    let mut ids = SetIds::default();
    for (index, table) in changes.tables.iter().enumerate() {
        TableEncoder::new(index, table, policies).encode(&mut batch, &mut ids)?;
    }
    Ok((!batch.is_empty()).then(|| batch.seal(commit)))
}

/// What a message of the batch did, for error messages.
pub(crate) fn describe(changes: &ChangeSet, origin: Origin) -> String {
    let Some(table) = changes.tables.get(origin.table) else {
        return "the transaction".to_string();
    };
    let t = format!("table {} {}", family_word(table.family), table.table_name());
    let rule = |chain: &str, index: &usize, rule: &Rule| match &rule.source {
        Some(source) => format!("{t}, chain {chain}, rule {index} ({source})"),
        None => format!("{t}, chain {chain}, rule {index}"),
    };
    match table.ops.get(origin.op) {
        None => t,
        Some(Op::DeleteTable) => format!("{t}: delete table"),
        Some(Op::AddTable) => format!("{t}: add table"),
        Some(Op::AddChain { name }) => format!("{t}: add chain {name}"),
        Some(Op::AddBaseChain { hook, target, .. }) => {
            format!(
                "{t}: add base chain {} jumping to {target}",
                base_chain_name(*hook)
            )
        }
        Some(Op::SetPolicy { hook, .. }) => {
            format!("{t}: set the policy of {}", base_chain_name(*hook))
        }
        Some(Op::SetPolicyCounters { hook, handle, .. }) => {
            format!(
                "{t}: reset the policy counter of {} (rule handle {handle})",
                base_chain_name(*hook)
            )
        }
        Some(Op::AddRule {
            chain,
            index,
            rule: r,
            ..
        }) => format!("{}: add rule", rule(chain, index, r)),
        Some(Op::ReplaceRule {
            chain,
            index,
            handle,
            rule: r,
        }) => {
            format!("{}: replace rule handle {handle}", rule(chain, index, r))
        }
        Some(Op::DeleteRule { chain, handle }) => {
            format!("{t}, chain {chain}: delete rule handle {handle}")
        }
        Some(Op::FlushChain { name }) => format!("{t}: flush chain {name}"),
        Some(Op::DeleteChain { name }) => format!("{t}: delete chain {name}"),
        Some(Op::AddSet(set)) => format!("{t}: add set {}", set.name),
        Some(Op::AddCtHelper { helper, .. }) => {
            format!("{t}: add ct helper {helper} (is the kernel's helper module there?)")
        }
        Some(Op::AddCtTimeout { policy, .. }) => {
            format!("{t}: add ct timeout object copying policy {policy}")
        }
        Some(Op::PortMapElements { name, .. }) => format!("{t}: fill port map {name}"),
        Some(Op::AddPortMapRule { chain, map, .. }) => {
            format!("{t}, chain {chain}: add the rule of port map {}", map.name)
        }
        Some(Op::DeletePortMap { name }) => format!("{t}: delete port map {name}"),
        Some(Op::DeleteSet { name }) => format!("{t}: delete set {name}"),
        Some(Op::DeleteCtObject(object)) => format!("{t}: delete ct object {}", object.name),
    }
}

fn chain_type_name(stage: Stage, hook: Hook) -> &'static str {
    match chain_type(stage, hook) {
        NfChainType::NAT => "nat",
        NfChainType::Route => "route",
        NfChainType::Filter => "filter",
    }
}

fn policy_code(policy: Policy) -> u32 {
    match policy {
        Policy::Accept => 1,
        Policy::Drop => 0,
    }
}

fn counter(counters: Counters) -> NlExpr {
    NlExpr::Counter {
        packets: counters.packets,
        bytes: counters.bytes,
    }
}

/// Where a rule message puts its rule.
enum Place {
    /// At the end of the chain.
    Append,
    /// At the start of the chain.
    First,
    /// Before the rule with this handle.
    Before(u32),
    /// Instead of the rule with this handle.
    Replace(u32),
}

struct TableEncoder<'a> {
    index: usize,
    changes: &'a TableChanges,
    family: u8,
    table: &'static str,
    ctx: RuleContext,
    policies: &'a Policies,
}

impl<'a> TableEncoder<'a> {
    fn new(index: usize, changes: &'a TableChanges, policies: &'a Policies) -> Self {
        let table = changes.table_name();
        TableEncoder {
            index,
            policies,
            changes,
            family: nfproto(changes.family),
            table,
            ctx: RuleContext {
                family: changes.family,
                stage: changes.stage,
                table: table.to_string(),
            },
        }
    }

    /// Declares the stateful object `name` of type `ty` (NFT_OBJECT_*),
    /// its data written by `data`. Without NLM_F_EXCL: a table that has the
    /// object keeps it.
    fn object(
        &self,
        b: &mut Batch,
        origin: Origin,
        name: &str,
        ty: u32,
        data: &dyn Fn(&mut Writer),
    ) {
        let m = b.begin(NFT_MSG_NEWOBJ, NLM_F_CREATE, self.family, origin);
        let w = b.w();
        w.attr_str(NFTA_OBJ_TABLE, self.table);
        w.attr_str(NFTA_OBJ_NAME, name);
        w.attr_u32(NFTA_OBJ_TYPE, ty);
        let nest = w.begin_nest(NFTA_OBJ_DATA);
        data(w);
        w.end_nest(nest);
        b.end(m);
    }

    /// The operations step by step, as the `nft` driver orders them, with
    /// the sets the rules fill declared after the table commands.
    ///
    /// The rules that fill sets are compiled first for their sets, then
    /// again when their messages are written (holding every rule's
    /// expressions until then would double a large restore's memory); the
    /// others once. A rule's compile error still comes before any other
    /// error, as if every rule had been compiled first.
    fn encode(&self, b: &mut Batch, ids: &mut SetIds) -> Result<(), DriverError> {
        let sets = self.rule_sets()?;
        self.encode_steps(b, ids, &sets).map_err(|e| {
            self.first_compile_error(self.changes.ops.len())
                .unwrap_or(e)
        })
    }

    fn encode_steps(
        &self,
        b: &mut Batch,
        ids: &mut SetIds,
        sets: &[(Origin, Set<'static>)],
    ) -> Result<(), DriverError> {
        let ops = &self.changes.ops;
        for step in [Step::Table, Step::Lists, Step::Maps, Step::Body, Step::Last] {
            if step == Step::Maps {
                for (origin, set) in sets {
                    dyn_set::declare(b, ids, &self.target(*origin), set)?;
                }
            }
            for (op_index, op) in ops.iter().enumerate() {
                if step_of(op) != step {
                    continue;
                }
                let origin = Origin {
                    table: self.index,
                    op: op_index,
                };
                self.op(b, ids, origin, op)?;
            }
        }
        Ok(())
    }

    /// The sets the compiled rules fill that the table does not hold yet,
    /// each with the operation of the first rule that declares it.
    fn rule_sets(&self) -> Result<Vec<(Origin, Set<'static>)>, DriverError> {
        let mut sets = Vec::new();
        let mut origins = Vec::new();
        for (op_index, (chain, index, rule)) in self.rules() {
            if !declares_sets(rule) {
                continue;
            }
            let collected = self
                .compiled(chain, index, compile_rule(rule, chain, &self.ctx))
                .and_then(|compiled| {
                    let existing = &self.changes.existing_sets;
                    dyn_set::collect(&mut sets, &compiled.sets, existing, chain, index)
                });
            if let Err(e) = collected {
                return Err(self.first_compile_error(op_index).unwrap_or(e));
            }
            let origin = Origin {
                table: self.index,
                op: op_index,
            };
            origins.resize(sets.len(), origin);
        }
        Ok(origins.into_iter().zip(sets).collect())
    }

    /// The rules the operations add or replace, with their operations'
    /// indexes: (chain, index in the chain, rule).
    fn rules(&self) -> impl Iterator<Item = (usize, (&'a str, usize, &'a Rule))> {
        let ops: &'a [Op] = &self.changes.ops;
        ops.iter()
            .enumerate()
            .filter_map(|(op_index, op)| match op {
                Op::AddRule {
                    chain, index, rule, ..
                }
                | Op::ReplaceRule {
                    chain, index, rule, ..
                } => Some((op_index, (chain.as_str(), *index, rule))),
                _ => None,
            })
    }

    /// The first compile error of the rules of the first `count`
    /// operations: the error compiling every rule before anything else
    /// would give.
    fn first_compile_error(&self, count: usize) -> Option<DriverError> {
        self.rules()
            .take_while(|(op_index, _)| *op_index < count)
            .find_map(|(_, (chain, index, rule))| {
                self.compiled(chain, index, compile_rule(rule, chain, &self.ctx))
                    .err()
            })
    }

    fn target(&self, origin: Origin) -> Target<'_> {
        Target {
            family: self.changes.family,
            table: self.table,
            origin,
        }
    }

    fn op(
        &self,
        b: &mut Batch,
        ids: &mut SetIds,
        origin: Origin,
        op: &Op,
    ) -> Result<(), DriverError> {
        match op {
            Op::DeleteTable => {
                // Creating it first makes deleting it succeed when it is absent.
                self.table_msg(b, origin, NFT_MSG_NEWTABLE, NLM_F_CREATE);
                self.table_msg(b, origin, NFT_MSG_DELTABLE, 0);
            }
            Op::AddTable => self.table_msg(b, origin, NFT_MSG_NEWTABLE, NLM_F_CREATE),
            Op::AddChain { name } => {
                let m = b.begin(NFT_MSG_NEWCHAIN, NLM_F_CREATE, self.family, origin);
                b.w().attr_str(NFTA_CHAIN_TABLE, self.table);
                b.w().attr_str(NFTA_CHAIN_NAME, name);
                b.end(m);
            }
            Op::AddBaseChain {
                hook,
                policy,
                target,
                counters,
            } => {
                self.base_chain(b, origin, *hook, *policy);
                let base = base_chain_name(*hook);
                let jump = NlExpr::Verdict {
                    code: NFT_JUMP,
                    chain: Some(target.clone()),
                };
                self.rule_msg(b, origin, base, Place::Append, &[jump], None);
                self.rule_msg(b, origin, base, Place::Append, &[counter(*counters)], None);
            }
            Op::SetPolicy { hook, policy } => self.base_chain(b, origin, *hook, *policy),
            Op::SetPolicyCounters {
                hook,
                handle,
                counters,
            } => {
                let place = Place::Replace(*handle);
                self.rule_msg(
                    b,
                    origin,
                    base_chain_name(*hook),
                    place,
                    &[counter(*counters)],
                    None,
                );
            }
            Op::AddRule {
                chain,
                index,
                rule,
                position,
            } => {
                let (lowered, udata) = self.compile_and_lower(chain, *index, rule)?;
                let exprs = self.anon_sets(b, ids, origin, lowered)?;
                let place = match position {
                    Position::Append => Place::Append,
                    Position::First => Place::First,
                    Position::Before(handle) => Place::Before(*handle),
                };
                self.rule_msg(b, origin, chain, place, &exprs, udata.as_deref());
            }
            Op::ReplaceRule {
                chain,
                index,
                handle,
                rule,
            } => {
                let (lowered, udata) = self.compile_and_lower(chain, *index, rule)?;
                let exprs = self.anon_sets(b, ids, origin, lowered)?;
                self.rule_msg(
                    b,
                    origin,
                    chain,
                    Place::Replace(*handle),
                    &exprs,
                    udata.as_deref(),
                );
            }
            Op::DeleteRule { chain, handle } => {
                let m = b.begin(NFT_MSG_DELRULE, 0, self.family, origin);
                b.w().attr_str(NFTA_RULE_TABLE, self.table);
                b.w().attr_str(NFTA_RULE_CHAIN, chain);
                b.w().attr_u64(NFTA_RULE_HANDLE, u64::from(*handle));
                b.end(m);
            }
            Op::FlushChain { name } => {
                let m = b.begin(NFT_MSG_DELRULE, 0, self.family, origin);
                b.w().attr_str(NFTA_RULE_TABLE, self.table);
                b.w().attr_str(NFTA_RULE_CHAIN, name);
                b.end(m);
            }
            Op::DeleteChain { name } => {
                let m = b.begin(NFT_MSG_DELCHAIN, 0, self.family, origin);
                b.w().attr_str(NFTA_CHAIN_TABLE, self.table);
                b.w().attr_str(NFTA_CHAIN_NAME, name);
                b.end(m);
            }
            Op::AddSet(set) => list_set::declare(b, ids, &self.target(origin), set)?,
            Op::AddCtHelper {
                name,
                helper,
                proto,
            } => {
                self.object(b, origin, name, NFT_OBJECT_CT_HELPER, &|w| {
                    w.attr_str(NFTA_CT_HELPER_NAME, helper);
                    w.attr_u16(NFTA_CT_HELPER_L3PROTO, u16::from(self.family));
                    w.attr_u8(NFTA_CT_HELPER_L4PROTO, *proto);
                });
            }
            Op::AddCtTimeout {
                name,
                policy,
                proto,
            } => {
                let found = self.policies.get(policy).ok_or_else(|| {
                    DriverError::Compile(format!("CT --timeout {policy}: the policy was not read"))
                })?;
                if found.l4proto != *proto {
                    return Err(DriverError::Refused {
                        what: format!("CT --timeout {policy}"),
                        errno: libc::EINVAL,
                        detail: Some(format!(
                            "the policy is for layer-4 protocol {}, the rule's -p is {proto}",
                            found.l4proto
                        )),
                    });
                }
                self.object(b, origin, name, NFT_OBJECT_CT_TIMEOUT, &|w| {
                    w.attr_u16(NFTA_CT_TIMEOUT_L3PROTO, u16::from(self.family));
                    w.attr_u8(NFTA_CT_TIMEOUT_L4PROTO, *proto);
                    w.nest_bytes(NFTA_CT_TIMEOUT_DATA, &found.data);
                });
            }
            Op::PortMapElements {
                name,
                create,
                delete,
                add,
            } => {
                let target = self.target(origin);
                super::portmap::elements(b, ids, &target, name, *create, delete, add)?;
            }
            Op::AddPortMapRule {
                chain,
                index,
                map,
                position,
            } => {
                let (exprs, udata) = self.lower_port_map(ids, chain, *index, map)?;
                let place = match position {
                    Position::Append => Place::Append,
                    Position::First => Place::First,
                    Position::Before(handle) => Place::Before(*handle),
                };
                self.rule_msg(b, origin, chain, place, &exprs, Some(&udata));
            }
            Op::DeletePortMap { name } => super::portmap::delete(b, &self.target(origin), name),
            Op::DeleteSet { name } => {
                let m = b.begin(NFT_MSG_DELSET, 0, self.family, origin);
                b.w().attr_str(NFTA_SET_TABLE, self.table);
                b.w().attr_str(NFTA_SET_NAME, name);
                b.end(m);
            }
            Op::DeleteCtObject(object) => {
                let m = b.begin(NFT_MSG_DELOBJ, 0, self.family, origin);
                let w = b.w();
                w.attr_str(NFTA_OBJ_TABLE, self.table);
                w.attr_str(NFTA_OBJ_NAME, &object.name);
                w.attr_u32(NFTA_OBJ_TYPE, object_type(object));
                b.end(m);
            }
        }
        Ok(())
    }

    fn table_msg(&self, b: &mut Batch, origin: Origin, msg: u8, flags: u16) {
        let m = b.begin(msg, flags, self.family, origin);
        b.w().attr_str(NFTA_TABLE_NAME, self.table);
        b.end(m);
    }

    /// Creates (or, when it exists, updates the policy of) a base chain.
    fn base_chain(&self, b: &mut Batch, origin: Origin, hook: Hook, policy: Policy) {
        let stage = self.changes.stage;
        let m = b.begin(NFT_MSG_NEWCHAIN, NLM_F_CREATE, self.family, origin);
        let w: &mut Writer = b.w();
        w.attr_str(NFTA_CHAIN_TABLE, self.table);
        w.attr_str(NFTA_CHAIN_NAME, base_chain_name(hook));
        let h = w.begin_nest(NFTA_CHAIN_HOOK);
        w.attr_u32(NFTA_HOOK_HOOKNUM, hook_number(hook));
        w.attr(
            NFTA_HOOK_PRIORITY,
            &self.changes.priority(hook).to_be_bytes(),
        );
        w.end_nest(h);
        w.attr_u32(NFTA_CHAIN_POLICY, policy_code(policy));
        w.attr_str(NFTA_CHAIN_TYPE, chain_type_name(stage, hook));
        b.end(m);
    }

    /// Why the rule at `index` of `chain` cannot be written by this driver.
    fn unsupported(&self, chain: &str, index: usize, what: String) -> DriverError {
        let place = format!(
            "table {} {}, chain {chain}, rule {index}",
            family_word(self.changes.family),
            self.table
        );
        DriverError::Unsupported(Unsupported { place, what })
    }

    /// A compiled rule, or why it did not compile.
    fn compiled(
        &self,
        chain: &str,
        index: usize,
        compiled: Result<CompiledRule, CompileError>,
    ) -> Result<CompiledRule, DriverError> {
        compiled.map_err(|error| {
            DriverError::Compile(
                EncodeError::Compile {
                    chain: chain.to_string(),
                    index,
                    error,
                }
                .to_string(),
            )
        })
    }

    /// The expressions of a compiled rule, or why this driver cannot write them.
    fn lower_compiled(
        &self,
        chain: &str,
        index: usize,
        compiled: &CompiledRule,
    ) -> Result<Lowered, DriverError> {
        lower_rule(&compiled.stmts, self.changes.family)
            .map_err(|what| self.unsupported(chain, index, what))
    }

    /// Declares the rule's anonymous sets and maps and its bound chain,
    /// each with a fresh ID, and returns its expressions, their lookups and
    /// jump naming those IDs and their set statements the IDs of the named
    /// sets they fill.
    fn anon_sets(
        &self,
        b: &mut Batch,
        ids: &mut SetIds,
        origin: Origin,
        lowered: Lowered,
    ) -> Result<Vec<NlExpr>, DriverError> {
        let Lowered {
            mut exprs,
            sets,
            bound,
        } = lowered;
        for expr in &mut exprs {
            match expr {
                NlExpr::Dynset { set, set_id, .. } => {
                    *set_id = Some(ids.get(self.changes.family, set));
                }
                NlExpr::SetLookup { set, set_id, .. } if set != ANON_SET_NAME => {
                    *set_id = Some(ids.get(self.changes.family, set));
                }
                _ => {}
            }
        }
        let target = self.target(origin);
        let mut lookups = exprs.iter_mut().filter_map(|expr| match expr {
            NlExpr::SetLookup { set, set_id, .. } if set == ANON_SET_NAME => Some(set_id),
            NlExpr::Lookup { set, set_id, .. } if set == ANON_MAP_NAME => Some(set_id),
            _ => None,
        });
        for set in &sets {
            let id = ids.fresh();
            set.write(b, &target, id)?;
            if let Some(set_id) = lookups.next() {
                *set_id = Some(id);
            }
        }
        if let Some(rules) = bound {
            let id = ids.fresh();
            self.bound_chain(b, origin, id, &rules);
            for expr in &mut exprs {
                if let NlExpr::BoundJump { chain_id } = expr {
                    *chain_id = Some(id);
                }
            }
        }
        Ok(exprs)
    }

    /// Declares a chain bound to the rule that jumps to it, with batch ID
    /// `id` and these rules, as nft does for `jump { ... }`: the kernel
    /// names it and deletes it with that rule.
    fn bound_chain(&self, b: &mut Batch, origin: Origin, id: u32, rules: &[Vec<NlExpr>]) {
        let m = b.begin(NFT_MSG_NEWCHAIN, NLM_F_CREATE, self.family, origin);
        let w = b.w();
        w.attr_str(NFTA_CHAIN_TABLE, self.table);
        w.attr_u32(NFTA_CHAIN_ID, id);
        w.attr_u32(NFTA_CHAIN_FLAGS, NFT_CHAIN_BINDING);
        b.end(m);
        for exprs in rules {
            let m = b.begin(
                NFT_MSG_NEWRULE,
                NLM_F_CREATE | NLM_F_APPEND,
                self.family,
                origin,
            );
            let w = b.w();
            w.attr_str(NFTA_RULE_TABLE, self.table);
            w.attr_u32(NFTA_RULE_CHAIN_ID, id);
            write_expressions(w, exprs);
            b.end(m);
        }
    }

    /// The expressions of port map `map`'s rule, its lookups naming the
    /// maps' IDs in the batch, and its comment; or why this driver cannot
    /// write them.
    fn lower_port_map(
        &self,
        ids: &mut SetIds,
        chain: &str,
        index: usize,
        map: &PortMap,
    ) -> Result<(Vec<NlExpr>, Vec<u8>), DriverError> {
        let compiled = self.compiled(chain, index, portmap::compile(map, chain, &self.ctx))?;
        if !compiled.sets.is_empty() {
            let what = "a port map rule that fills a set".to_string();
            return Err(self.unsupported(chain, index, what));
        }
        let Lowered {
            mut exprs,
            sets,
            bound,
        } = self.lower_compiled(chain, index, &compiled)?;
        if !sets.is_empty() || bound.is_some() {
            let what = "a port map rule with an inline set or chain".to_string();
            return Err(self.unsupported(chain, index, what));
        }
        for expr in &mut exprs {
            if let NlExpr::Lookup { set, set_id, .. } = expr {
                *set_id = Some(ids.get(self.changes.family, set));
            }
        }
        let marker = portmap::marker(&map.name);
        let udata = udata::comment(UDATA_RULE_COMMENT, &marker).ok_or_else(|| {
            self.unsupported(chain, index, format!("a comment of {} bytes", marker.len()))
        })?;
        Ok((exprs, udata))
    }

    /// The rule's expressions and comment, or why this driver cannot write them.
    fn lower(
        &self,
        chain: &str,
        index: usize,
        rule: &Rule,
        compiled: &CompiledRule,
    ) -> Result<(Lowered, Option<Vec<u8>>), DriverError> {
        let mut lowered = self.lower_compiled(chain, index, compiled)?;
        let udata = match &rule.source {
            None => None,
            Some(text) => {
                let (head, rest) = long_text::split(text);
                lowered.exprs.extend(rest);
                // A NUL cannot be kept in the rule's text, by nft either,
                // whose JSON reader stops there and applies nothing: an
                // error, not a reason to hand the change to nft.
                Some(udata::comment(UDATA_RULE_COMMENT, head).ok_or_else(|| {
                    DriverError::Compile(format!(
                        "chain {chain}, rule {index}: the rule's text holds a NUL byte, which \
                         its comment in the kernel cannot hold"
                    ))
                })?)
            }
        };
        Ok((lowered, udata))
    }

    /// The expressions and comment of the rule an operation adds or
    /// replaces, compiled and lowered when its message is written.
    fn compile_and_lower(
        &self,
        chain: &str,
        index: usize,
        rule: &Rule,
    ) -> Result<(Lowered, Option<Vec<u8>>), DriverError> {
        let compiled = self.compiled(chain, index, compile_rule(rule, chain, &self.ctx))?;
        self.lower(chain, index, rule, &compiled)
    }

    fn rule_msg(
        &self,
        b: &mut Batch,
        origin: Origin,
        chain: &str,
        place: Place,
        exprs: &[NlExpr],
        udata: Option<&[u8]>,
    ) {
        let flags = match place {
            Place::Append => NLM_F_CREATE | NLM_F_APPEND,
            Place::First | Place::Before(_) => NLM_F_CREATE,
            Place::Replace(_) => NLM_F_REPLACE,
        };
        let m = b.begin(NFT_MSG_NEWRULE, flags, self.family, origin);
        let w = b.w();
        w.attr_str(NFTA_RULE_TABLE, self.table);
        w.attr_str(NFTA_RULE_CHAIN, chain);
        match place {
            Place::Append | Place::First => {}
            Place::Before(handle) => w.attr_u64(NFTA_RULE_POSITION, u64::from(handle)),
            Place::Replace(handle) => w.attr_u64(NFTA_RULE_HANDLE, u64::from(handle)),
        }
        write_expressions(w, exprs);
        // As iptables-nft: xtables extensions bound to a protocol (esp, ah,
        // mh, SYNPROXY) check it against the rule's.
        let proto = exprs.iter().find_map(|e| match e {
            NlExpr::XtMatch { proto, .. } | NlExpr::XtTarget { proto, .. } => *proto,
            _ => None,
        });
        if let Some(proto) = proto {
            let compat = w.begin_nest(NFTA_RULE_COMPAT);
            w.attr_u32(NFTA_RULE_COMPAT_PROTO, u32::from(proto));
            w.attr_u32(NFTA_RULE_COMPAT_FLAGS, 0);
            w.end_nest(compat);
        }
        if let Some(udata) = udata {
            w.attr(NFTA_RULE_USERDATA, udata);
        }
        b.end(m);
    }
}

/// A rule's expression list.
fn write_expressions(w: &mut Writer, exprs: &[NlExpr]) {
    let list = w.begin_nest(NFTA_RULE_EXPRESSIONS);
    for expr in exprs {
        expr.write(w);
    }
    w.end_nest(list);
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Match, PortRange, Table};
    use moat_nft::plan_replace;

    use super::*;
    use crate::netlink::wire::{be_u32, messages, nft_type, string, string_is, Attrs};

    #[test]
    fn a_replace_creates_and_deletes_the_table_first() {
        let mut table = Table::new(Family::Ipv4, Stage::Filter);
        table.chains[0].rules.push(Rule::new(Action::Accept));
        let changes = plan_replace(&table).unwrap();
        let sealed = encode(&changes, 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let types: Vec<u16> = messages(&sealed.bytes)
            .unwrap()
            .iter()
            .map(|m| m.ty)
            .collect();
        let t = |m| nft_type(m);
        assert_eq!(
            types,
            [
                NFNL_MSG_BATCH_BEGIN,
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_DELTABLE),
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWRULE),
                // Each base chain: the chain, its jump, its policy counter.
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
                NFNL_MSG_BATCH_END,
            ]
        );
        let origin = sealed.origin(8).unwrap();
        assert_eq!(
            describe(&changes, origin),
            "table ip moat_filter, chain INPUT, rule 1: add rule"
        );
    }

    #[test]
    fn long_rule_texts_keep_their_tail_in_comment_matches_after_the_verdict() {
        let mut table = Table::new(Family::Ipv4, Stage::Filter);
        let text = format!("-m comment --comment {} -j ACCEPT", "x".repeat(400));
        table.chains[0].rules.push(Rule {
            source: Some(text.clone()),
            ..Rule::new(Action::Accept)
        });
        let sealed = encode(&plan_replace(&table).unwrap(), 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let msgs = messages(&sealed.bytes).unwrap();
        let rule = msgs
            .iter()
            .find(|m| {
                m.ty == nft_type(NFT_MSG_NEWRULE)
                    && m.attrs()
                        .get(NFTA_RULE_CHAIN)
                        .is_some_and(|c| string_is(c, "INPUT"))
            })
            .unwrap();
        let exprs: Vec<Attrs> = Attrs(rule.attrs().get(NFTA_RULE_EXPRESSIONS).unwrap())
            .map(|(_, e)| Attrs(e))
            .collect();
        let names: Vec<String> = exprs
            .iter()
            .map(|e| string(e.get(NFTA_EXPR_NAME).unwrap()))
            .collect();
        assert_eq!(
            names[names.len() - 2..],
            ["immediate", "match"],
            "{names:?}"
        );
        let mut joined = crate::netlink::udata::udata_string(
            rule.attrs().get(NFTA_RULE_USERDATA).unwrap(),
            UDATA_RULE_COMMENT,
        )
        .unwrap();
        assert_eq!(joined.len(), long_text::TEXT_IN_UDATA);
        let data = Attrs(exprs.last().unwrap().get(NFTA_EXPR_DATA).unwrap());
        joined.push_str(
            &long_text::piece(
                data.get(NFTA_MATCH_NAME).unwrap(),
                data.get(NFTA_MATCH_INFO).unwrap(),
            )
            .unwrap(),
        );
        assert_eq!(joined, text);
    }

    #[test]
    fn port_maps_are_filled_before_rules_and_deleted_last_as_nft_orders_them() {
        let map = PortMap {
            name: "portmap.ab".into(),
            proto: 6,
            common: Vec::new(),
            members: Vec::new(),
        };
        let ops = vec![
            Op::AddRule {
                chain: "PREROUTING".into(),
                index: 1,
                rule: Rule::new(Action::Accept),
                position: Position::Append,
            },
            Op::DeletePortMap {
                name: "portmap.old".into(),
            },
            Op::AddPortMapRule {
                chain: "PREROUTING".into(),
                index: 2,
                map: Box::new(map),
                position: Position::Append,
            },
            Op::PortMapElements {
                name: "portmap.ab".into(),
                create: true,
                delete: vec![22],
                add: Vec::new(),
            },
            Op::AddTable,
        ];
        let changes = ChangeSet {
            tables: vec![TableChanges {
                family: Family::Ipv4,
                stage: Stage::Nat,
                ops,
                existing_sets: Vec::new(),
                after_conntrack: false,
                conntrack_copy: false,
            }],
        };
        let sealed = encode(&changes, 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let msgs: Vec<_> = messages(&sealed.bytes).unwrap();
        let t = |m| nft_type(m);
        assert_eq!(
            msgs.iter().map(|m| m.ty).collect::<Vec<_>>(),
            [
                NFNL_MSG_BATCH_BEGIN,
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_NEWSET),
                t(NFT_MSG_NEWSET),
                t(NFT_MSG_DELSETELEM),
                t(NFT_MSG_DELSETELEM),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_DELSET),
                t(NFT_MSG_DELSET),
                NFNL_MSG_BATCH_END,
            ]
        );
        let set_ids: Vec<Option<u32>> = msgs[2..4]
            .iter()
            .map(|m| m.attrs().get(NFTA_SET_ID).and_then(be_u32))
            .collect();
        assert_eq!(set_ids, [Some(1), Some(2)]);
        // The rule's lookups name the maps by name and by their IDs.
        let exprs = msgs[7].attrs().get(NFTA_RULE_EXPRESSIONS).unwrap();
        let lookups: Vec<(String, Option<u32>)> = Attrs(exprs)
            .map(|(_, e)| Attrs(e))
            .filter(|e| {
                e.get(NFTA_EXPR_NAME)
                    .is_some_and(|n| string_is(n, "lookup"))
            })
            .map(|e| {
                let data = Attrs(e.get(NFTA_EXPR_DATA).unwrap());
                (
                    string(data.get(NFTA_LOOKUP_SET).unwrap()),
                    data.get(NFTA_LOOKUP_SET_ID).and_then(be_u32),
                )
            })
            .collect();
        assert_eq!(
            lookups,
            [
                ("portmap.ab".to_string(), Some(1)),
                ("portmap.ab.ports".to_string(), Some(2))
            ]
        );
        assert_eq!(
            describe(&changes, sealed.origin(10).unwrap()),
            "table ip moat_nat: delete port map portmap.old"
        );
    }

    /// A set of MAC addresses in `table`: moat declares none, and this
    /// driver cannot write one.
    fn macs(table: &str) -> Set<'static> {
        Set {
            family: nftables::types::NfFamily::IP,
            table: table.to_string().into(),
            name: "macs".into(),
            handle: None,
            set_type: nftables::schema::SetTypeValue::Single(nftables::schema::SetType::EtherAddr),
            policy: None,
            flags: None,
            elem: None,
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        }
    }

    #[test]
    fn unsupported_changes_are_refused_before_anything_is_sent() {
        let table = Table::new(Family::Ipv4, Stage::Filter);
        let mut changes = plan_replace(&table).unwrap();
        changes.tables[0]
            .ops
            .push(Op::AddSet(Box::new(macs("moat_filter"))));
        let err = encode(&changes, 1, true, &Default::default()).unwrap_err();
        assert!(matches!(err, DriverError::Unsupported(_)), "{err}");
        assert!(err.to_string().contains("set macs"), "{err}");
        assert!(encode(&ChangeSet::default(), 1, true, &Default::default())
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_rule_that_does_not_compile_is_the_error_before_any_driver_limit() {
        let mut table = Table::new(Family::Ipv4, Stage::Mangle);
        table.chains[0].rules = vec![Rule::new(Action::Accept), Rule::new(Action::Dscp(64))];
        let mut changes = plan_replace(&table).unwrap();
        // A set this driver cannot write, before the rules in the batch.
        changes.tables[0]
            .ops
            .push(Op::AddSet(Box::new(macs("moat_mangle"))));
        let err = encode(&changes, 1, true, &Default::default()).unwrap_err();
        assert!(matches!(err, DriverError::Compile(_)), "{err}");
        assert!(err.to_string().contains("DSCP 64"), "{err}");
        assert!(err.to_string().contains("rule 2"), "{err}");
    }

    #[test]
    fn anonymous_sets_come_right_before_their_rule_with_fresh_ids() {
        let mut table = Table::new(Family::Ipv4, Stage::Filter);
        // More ports than xt_multiport's 15 slots: an anonymous set.
        let multiport = |first: u16| Match::DestPort {
            proto: 6,
            ports: (0..16)
                .map(|i| PortRange {
                    first: first + 2 * i,
                    last: first + 2 * i,
                })
                .collect(),
            negate: false,
        };
        table.chain_mut("OUTPUT").unwrap().rules = vec![
            Rule {
                matches: vec![multiport(1)],
                ..Rule::new(Action::Accept)
            },
            Rule {
                matches: vec![multiport(100)],
                ..Rule::new(Action::Drop)
            },
        ];
        let sealed = encode(&plan_replace(&table).unwrap(), 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let msgs = messages(&sealed.bytes).unwrap();
        let kinds: Vec<u16> = msgs.iter().map(|m| m.ty).collect();
        let set_at = kinds
            .iter()
            .position(|&t| t == nft_type(NFT_MSG_NEWSET))
            .unwrap();
        for (k, id) in [(set_at, 1), (set_at + 3, 2)] {
            assert_eq!(
                kinds[k..k + 3],
                [
                    nft_type(NFT_MSG_NEWSET),
                    nft_type(NFT_MSG_NEWSETELEM),
                    nft_type(NFT_MSG_NEWRULE)
                ]
            );
            let set = msgs[k].attrs();
            assert_eq!(set.get(NFTA_SET_ID).and_then(be_u32), Some(id));
            assert_eq!(
                set.get(NFTA_SET_FLAGS).and_then(be_u32),
                Some(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT)
            );
            let elements = msgs[k + 1].attrs();
            assert_eq!(
                elements.get(NFTA_SET_ELEM_LIST_SET_ID).and_then(be_u32),
                Some(id)
            );
            let rule = msgs[k + 2].attrs();
            let exprs = rule.get(NFTA_RULE_EXPRESSIONS).unwrap();
            let lookup = Attrs(exprs)
                .map(|(_, e)| Attrs(e))
                .find(|e| {
                    e.get(NFTA_EXPR_NAME)
                        .is_some_and(|n| string_is(n, "lookup"))
                })
                .unwrap();
            let data = Attrs(lookup.get(NFTA_EXPR_DATA).unwrap());
            assert_eq!(data.get(NFTA_LOOKUP_SET_ID).and_then(be_u32), Some(id));
            assert!(data
                .get(NFTA_LOOKUP_SET)
                .is_some_and(|n| string_is(n, "__set%d")));
        }
    }
}
