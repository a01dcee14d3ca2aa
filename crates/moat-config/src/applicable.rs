//! What `moat apply` would refuse that is known without the kernel, so that
//! `moat check` refuses it too: every rule compiles to nf_tables
//! expressions and the sets rules declare agree. Whether a set `-m set` or
//! `-j SET` names exists, as a moat block list or one of the kernel's
//! ipsets, is the kernel's to say: [`lists_needed`] names the sets apply
//! will look for.

use std::collections::BTreeSet;
use std::ops::Range;

use moat_blocklist::nftables::schema::Set;
use moat_iptables::save::stage_name;
use moat_iptables::state::StateChain;
use moat_iptables::{ipset_match, ipset_update_target, TableState};
use moat_model::{Action, Match, Rule, SetMatchOptions};
use moat_nft::layout::table_name;
use moat_nft::rule::{compile_rule, merge_sets, RuleContext};

use crate::error::Diagnostic;
use crate::model::Config;

/// The block lists or ipsets `rule` names.
fn set_names(rule: &Rule) -> impl Iterator<Item = &str> {
    let updated = match &rule.action {
        Action::IpSetUpdate(u) => vec![&u.add, &u.del],
        _ => Vec::new(),
    };
    let looked_up = rule.matches.iter().filter_map(|m| match m {
        Match::InSet { name, .. } => Some(name.as_str()),
        _ => None,
    });
    looked_up.chain(
        updated
            .into_iter()
            .filter_map(|set| set.as_ref().map(|(name, _)| name.as_str())),
    )
}

/// `rule` as `moat apply` compiles it when the sets it names are the
/// kernel's ipsets: `-j SET` always is, and so is a `-m set` match no block
/// list could serve (several flags, an ipset's options, a name no block
/// list can have). Index 0 stands for the one the kernel gives.
fn as_applied(rule: &Rule) -> Rule {
    let mut rule = rule.clone();
    for m in &mut rule.matches {
        let ipset_only = match m {
            Match::InSet {
                name,
                sides,
                options,
                ..
            } => {
                sides.len() != 1
                    || *options != SetMatchOptions::default()
                    || moat_blocklist::layout::check_name(name).is_err()
            }
            _ => false,
        };
        if let Some(ext) = ipset_only.then(|| ipset_match(m, 0)).flatten() {
            *m = Match::Xt(ext);
        }
    }
    if let Action::IpSetUpdate(u) = &rule.action {
        let index = |set: &Option<_>| set.as_ref().map(|_| 0);
        rule.action = Action::Xt(ipset_update_target(u, index(&u.add), index(&u.del)));
    }
    rule
}

/// Where the words `args` of a rule stand in `text`, if they appear as written.
fn span_of(text: &str, args: &str) -> Option<Range<usize>> {
    text.find(args).map(|i| i..i + args.len())
}

/// The sets `rule` of chain `chain` declares, or why it cannot be applied
/// (known without the kernel).
fn rule_problem(rule: &Rule, chain: &str, ctx: &RuleContext) -> Result<Vec<Set<'static>>, String> {
    compile_rule(&as_applied(rule), chain, ctx)
        .map(|compiled| compiled.sets)
        .map_err(|e| e.to_string())
}

/// The problems of one chain, each with the rule's place in `text` if found.
fn chain_problems(
    chain: &StateChain,
    ctx: &RuleContext,
    text: &str,
    sets: &mut Vec<Set<'static>>,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for (i, r) in chain.rules.iter().enumerate() {
        let args = r.text();
        let place = format!(
            "{} {} table, chain {}, rule {} (`{args}`)",
            ctx.family.name(),
            stage_name(ctx.stage),
            chain.name,
            i + 1
        );
        let merged = rule_problem(&r.rule, &chain.name, ctx).and_then(|declared| {
            declared
                .into_iter()
                .try_for_each(|set| merge_sets(sets, set))
                .map_err(|e| e.to_string())
        });
        if let Err(e) = merged {
            problems.push(Diagnostic::new(
                span_of(text, args),
                format!("apply would refuse the {place}: {e}"),
            ));
        }
    }
    problems
}

/// What apply would refuse in `tables` (read from `text`) without asking the kernel.
pub(crate) fn problems(tables: &[TableState], text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for state in tables {
        let ctx = RuleContext {
            family: state.family,
            stage: state.stage,
            table: table_name(state.stage).to_string(),
        };
        if let Err(e) = moat_nft::plan_replace(&state.to_table()) {
            out.push(Diagnostic::new(None, e.to_string()));
        }
        let mut sets = Vec::new();
        for chain in &state.chains {
            out.extend(chain_problems(chain, &ctx, text, &mut sets));
        }
    }
    out
}

/// The block lists or ipsets the rules of `tables` name that `config` does
/// not load itself (`[[block]]`): they must exist in the kernel when applied.
pub fn lists_needed(tables: &[TableState], config: Option<&Config>) -> Vec<String> {
    let own: BTreeSet<&str> = config
        .map(|c| c.blocks.iter().map(|b| b.name.as_str()).collect())
        .unwrap_or_default();
    let used: BTreeSet<&str> = tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .flat_map(|r| set_names(&r.rule))
        .collect();
    used.difference(&own).map(|s| s.to_string()).collect()
}
