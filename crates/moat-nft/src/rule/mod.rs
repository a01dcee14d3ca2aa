//! Compiles one model rule into native nf_tables statements.
//!
//! A rule becomes its matches' statements in order, one anonymous counter,
//! then the action's statements. Constructs are native nf_tables
//! expressions chosen to behave exactly like the iptables match or target
//! they stand for; where nf_tables has none, the kernel's own xtables module
//! runs the match through `nft_compat` ([`xt`]: `-m recent`, `-m string`,
//! ...), as iptables-nft does; anything else is refused with a
//! [`CompileError`] that says why.
//!
//! Some statements cannot be written as `nft` reads them with the nftables
//! crate's types (per-key limits and connection counts inside a set
//! statement, `notrack`). [`finish_json`] puts
//! them right; it must run on the JSON document before it goes to `nft`
//! (or use [`CompiledRule::expr_json`]). Unfinished, `nft` refuses them.

mod action;
mod addr;
mod addrtype;
mod build;
pub mod carried;
mod connbytes;
mod conntrack;
mod decl;
mod dynset;
mod finish;
mod limit;
mod matches;
mod nat;
mod owner;
mod packet;
mod ports;
mod queue;
mod quota;
mod recent;
mod statistic;
mod tcpmss;
mod ttl;
pub mod xt;

#[cfg(test)]
mod testutil;

use moat_model::{Family, Match, Rule, Stage};
use nftables::schema::Set;
use nftables::stmt::{AnonymousCounter, Counter, Statement};

pub(crate) use action::needs_netlink as action_needs_netlink;
pub(crate) use decl::digest;
pub use decl::{check_existing, merge_sets};
pub use finish::finish_json;
pub(crate) use matches::needs_netlink as match_needs_netlink;
pub use quota::quota_bytes;

/// Where a rule is compiled for.
#[derive(Debug, Clone)]
pub struct RuleContext {
    /// The family of the table.
    pub family: Family,
    /// The stage (table kind).
    pub stage: Stage,
    /// The nf_tables table name the rule goes into (sets are declared there).
    pub table: String,
}

/// A compiled rule: its statements and the named sets it needs declared first.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's statements: matches, a counter, then the action.
    ///
    /// Serialize them with [`CompiledRule::expr_json`], or run [`finish_json`]
    /// on the document that holds them: some set statements are incomplete
    /// until then, and `nft` refuses them as they are.
    pub stmts: Vec<Statement<'static>>,
    /// Sets the statements refer to (dynamic sets for per-key limits, ...).
    ///
    /// Several rules can declare the same set (a recently-seen list, a named
    /// per-key limit): combine the declarations of a table with [`merge_sets`].
    pub sets: Vec<Set<'static>>,
}

impl CompiledRule {
    /// The statements as the JSON array of an nftables rule's `expr`, complete.
    pub fn expr_json(&self) -> Result<serde_json::Value, CompileError> {
        let mut value = serde_json::to_value(&self.stmts)
            .map_err(|e| CompileError(format!("cannot serialize the rule: {e}")))?;
        finish::finish_stmt_list(&mut value)?;
        Ok(value)
    }
}

/// Why a rule cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

/// Returns a [`CompileError`] with `message`.
fn refuse<T>(message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError(message.into()))
}

/// What the compilers of one part of a rule need to know.
struct Cx<'a> {
    family: Family,
    table: &'a str,
    /// The chain the rule is in.
    chain: &'a str,
    rule: &'a Rule,
    /// The position of the part being compiled: the matches before it run first.
    position: usize,
}

impl<'a> Cx<'a> {
    /// The context of the part at `position` of `rule` in `chain`.
    fn at(ctx: &'a RuleContext, chain: &'a str, rule: &'a Rule, position: usize) -> Self {
        Cx {
            family: ctx.family,
            table: &ctx.table,
            chain,
            rule,
            position,
        }
    }

    /// The matches that run before the part being compiled.
    fn earlier(&self) -> &[Match] {
        self.rule.matches.get(..self.position).unwrap_or(&[])
    }

    /// The layer-4 protocol an earlier `-p` match requires, if any.
    fn protocol(&self) -> Option<u8> {
        self.earlier().iter().find_map(|m| match m {
            Match::Protocol {
                proto,
                negate: false,
            } if *proto != 0 => Some(*proto),
            _ => None,
        })
    }
}

/// Compiles `rule` of chain `chain` into nf_tables statements.
pub fn compile_rule(
    rule: &Rule,
    chain: &str,
    ctx: &RuleContext,
) -> Result<CompiledRule, CompileError> {
    let mut out = compile_matches(rule, chain, ctx, |_| true)?;
    out.stmts.push(counter(rule));
    let cx = Cx::at(ctx, chain, rule, rule.matches.len());
    out.stmts.extend(action::compile(&rule.action, &cx)?);
    Ok(out)
}

/// The statements and sets of the matches of `rule` that `wanted` picks.
fn compile_matches(
    rule: &Rule,
    chain: &str,
    ctx: &RuleContext,
    wanted: fn(&Match) -> bool,
) -> Result<CompiledRule, CompileError> {
    let mut out = CompiledRule {
        stmts: Vec::new(),
        sets: Vec::new(),
    };
    for (position, m) in rule.matches.iter().enumerate() {
        if wanted(m) {
            matches::compile(m, &Cx::at(ctx, chain, rule, position), &mut out)?;
        }
    }
    Ok(out)
}

/// Whether compiling `rule` may declare sets ([`CompiledRule::sets`]):
/// only its per-key limits (`hashlimit` with a key, `connlimit`) do, so a
/// caller after the sets alone can leave the other rules uncompiled.
pub fn declares_sets(rule: &Rule) -> bool {
    rule.matches.iter().any(fills_a_set)
}

fn fills_a_set(m: &Match) -> bool {
    matches!(m, Match::HashLimit { .. } | Match::ConnLimit { .. })
}

/// The names of the sets `rule` of chain `chain` fills, from its per-key
/// limits alone: what its other matches are (a `-m set` lookup not yet
/// resolved to an ipset) does not matter.
pub fn filled_set_names(
    rule: &Rule,
    chain: &str,
    ctx: &RuleContext,
) -> Result<Vec<String>, CompileError> {
    let out = compile_matches(rule, chain, ctx, fills_a_set)?;
    Ok(out.sets.into_iter().map(|s| s.name.into_owned()).collect())
}

/// The rule's counter, starting from the counts the rule carries.
fn counter(rule: &Rule) -> Statement<'static> {
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Statement::Counter(Counter::Anonymous(Some(AnonymousCounter {
        packets: Some(to_usize(rule.counters.packets)),
        bytes: Some(to_usize(rule.counters.bytes)),
    })))
}
