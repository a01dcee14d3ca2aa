//! Carries out iptables commands on the iptables view of a table.

use moat_model::{Counters, Policy, Stage, RESERVED_CHAIN_PREFIX};

use crate::command::{Command, Display, Invocation, ZeroAfter};
use crate::listing::{list_chains, list_rules};
use crate::state::{StateChain, StateRule, TableState};

/// Why a command cannot be carried out; nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    /// What went wrong and how to fix it.
    pub message: String,
    /// Which of iptables' exit statuses it ends the command with.
    pub problem: Problem,
    /// iptables' own words for this failure, when it has words programs
    /// look for in its output (`No chain/target/match by that name.`,
    /// `Chain already exists.`); written after the program's name.
    pub iptables: Option<&'static str>,
}

/// iptables' words for a chain, target or rule position that is not there.
pub const NO_CHAIN: &str = "No chain/target/match by that name.";
/// iptables' words for a rule `-C` or `-D` does not find.
pub const BAD_RULE: &str = "Bad rule (does a matching rule exist in that chain?).";

/// moat's words for a `-D` or `-C` that finds no rule `wanted` in `chain`.
pub(crate) fn no_matching_rule(chain: &str, wanted: &str) -> String {
    format!("bad rule (does a matching rule exist in chain {chain}?): {wanted}")
}
/// iptables' words for `-N` of a chain that exists.
const CHAIN_EXISTS: &str = "Chain already exists.";
/// iptables' words for `-E` to a name another chain has.
const NAME_TAKEN: &str = "File exists.";
/// iptables' words for `-I` past the chain's end.
const INSERT_TOO_BIG: &str = "Index of insertion too big.";
/// iptables' words for `-D NUM` past the chain's end.
const DELETE_TOO_BIG: &str = "Index of deletion too big.";
/// iptables' words for `-R NUM` past the chain's end.
const REPLACE_TOO_BIG: &str = "Index of replacement too big.";
/// iptables' words for `-P` of a chain that is not built in.
const NOT_BUILT_IN: &str = "Bad built-in chain name.";

/// The kinds of failure iptables tells apart by its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Problem {
    /// Anything else (exit status 1): no such rule, chain or index.
    #[default]
    Other,
    /// A command line iptables itself refuses (2).
    Parameter,
    /// A table the kernel does not have (3, iptables' "version problem").
    Version,
    /// A change the kernel refuses (4): a chain in use, a target or
    /// match where its module does not work.
    Resource,
}

impl Problem {
    /// iptables' exit status for it.
    pub fn exit_status(self) -> u8 {
        match self {
            Problem::Other => 1,
            Problem::Parameter => 2,
            Problem::Version => 3,
            Problem::Resource => 4,
        }
    }
}

impl EngineError {
    fn new(message: impl Into<String>) -> Self {
        EngineError {
            message: message.into(),
            problem: Problem::Other,
            iptables: None,
        }
    }

    /// The error with iptables' own `words` for it.
    fn in_iptables_words(self, words: &'static str) -> Self {
        EngineError {
            iptables: Some(words),
            ..self
        }
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError::new(message))
}

/// [`fail`] with iptables' own `words` for the failure.
fn fail_in<T>(words: &'static str, message: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError::new(message).in_iptables_words(words))
}

/// [`fail`] for what the kernel would refuse.
fn refused<T>(message: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError {
        problem: Problem::Resource,
        ..EngineError::new(message)
    })
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The table as it must be after the command, when the command changes it.
    pub changed: Option<TableState>,
    /// Text for standard output.
    pub output: String,
    /// For `-C`: whether the rule exists.
    pub check: Option<bool>,
}

const MAX_CHAIN_NAME: usize = 28;

fn no_chain(state: &TableState, name: &str) -> EngineError {
    let closest = state
        .chains
        .iter()
        .map(|c| (strsim::levenshtein(&c.name, name), &c.name))
        .min()
        .filter(|(d, _)| *d <= 2 || name.eq_ignore_ascii_case(&state.chains[0].name))
        .map(|(_, n)| format!("; did you mean {n}?"))
        .unwrap_or_default();
    let table = format!("{:?}", state.stage).to_lowercase();
    EngineError::new(format!("no chain `{name}' in table `{table}'{closest}"))
        .in_iptables_words(NO_CHAIN)
}

/// The chain called `name`, or a "no such chain" error with a suggestion.
fn chain_mut<'a>(state: &'a mut TableState, name: &str) -> Result<&'a mut StateChain, EngineError> {
    match state.position(name) {
        Some(i) => Ok(&mut state.chains[i]),
        None => Err(no_chain(state, name)),
    }
}

fn check_new_chain_name(state: &TableState, name: &str) -> Result<(), EngineError> {
    // iptables refuses a bad name on its command line (exit status 2).
    let invalid = |message: String| {
        Err(EngineError {
            problem: Problem::Parameter,
            ..EngineError::new(message)
        })
    };
    if name.len() > MAX_CHAIN_NAME {
        return invalid(format!(
            "chain name `{name}' is too long: at most {MAX_CHAIN_NAME} characters"
        ));
    }
    if name.is_empty() || name.starts_with(['-', '!']) || name.chars().any(char::is_whitespace) {
        return invalid(format!(
            "invalid chain name `{name}': it may not be empty, start with `-' or `!', or contain spaces"
        ));
    }
    if crate::rule::is_target_name(name, state.family) {
        return invalid(format!(
            "invalid chain name `{name}': it is the name of a target"
        ));
    }
    if name.starts_with(RESERVED_CHAIN_PREFIX) {
        return invalid(format!(
            "invalid chain name `{name}': names starting with `{RESERVED_CHAIN_PREFIX}' are moat's own"
        ));
    }
    if state.chain(name).is_some() {
        return fail_in(CHAIN_EXISTS, format!("chain `{name}' already exists"));
    }
    Ok(())
}

/// iptables' refusal of DROP in the nat table, as a rule's target or a
/// chain's policy.
fn no_drop_in_nat(state: &TableState) -> Result<(), EngineError> {
    if state.stage != Stage::Nat {
        return Ok(());
    }
    Err(EngineError {
        problem: Problem::Parameter,
        ..EngineError::new(
            "the nat table is not for filtering, so iptables does not allow DROP there: \
             drop in the filter table (or -t raw/mangle), and use -j RETURN to leave the nat \
             chain",
        )
    })
}

/// The rule to add to `chain`, refused in iptables' order: what its command
/// line refuses, then a chain that does not exist, then what the kernel
/// refuses.
fn new_rule(
    state: &TableState,
    chain: &str,
    rule: crate::rule::RuleSpec,
) -> Result<StateRule, EngineError> {
    command_line_checks(state, &rule)?;
    if state.chain(chain).is_none() {
        return Err(no_chain(state, chain));
    }
    if let Some(target) = rule.jump_target() {
        if state.chain(target).is_some_and(|c| c.base.is_some()) {
            return Err(jump_to_builtin(target));
        }
    }
    StateRule::new(rule, state.family, Counters::default()).map_err(|e| EngineError::new(e.message))
}

/// Refuses a rule to check or delete that iptables refuses on its command
/// line: one that jumps to no chain of `state`, or drops in the nat table.
fn command_line_checks(
    state: &TableState,
    rule: &crate::rule::RuleSpec,
) -> Result<(), EngineError> {
    if rule.drops() {
        no_drop_in_nat(state)?;
    }
    match rule.jump_target() {
        Some(target) if state.chain(target).is_none() => Err(missing_jump_target(state, target)),
        _ => Ok(()),
    }
}

/// The error for a rule jumping to the built-in chain `target`: only its
/// hook's packets enter a built-in chain, and the kernel refuses the jump
/// (iptables-nft fails the same rule with exit status 4).
fn jump_to_builtin(target: &str) -> EngineError {
    EngineError {
        problem: Problem::Resource,
        ..EngineError::new(format!(
            "a rule cannot jump to the built-in chain {target}: only its hook's packets enter \
             it; put the shared rules in a user chain (-N) and jump to that from both"
        ))
    }
}

/// The error for a rule jumping to `target`, which is no chain of `state`:
/// iptables' words first (programs look for "does not exist": Kubernetes'
/// IsNotFoundError), then a likely misspelt target, then how to make such
/// a chain.
fn missing_jump_target(state: &TableState, target: &str) -> EngineError {
    let why = match crate::rule::closest_target(target) {
        Some(t) => format!(
            "unknown target `{target}'; did you mean {t}? (to jump to a chain `{target}', create it first with -N {target})"
        ),
        None => format!(
            "{} (the rule jumps to it: create it first with -N {target})",
            no_chain(state, target)
        ),
    };
    let message = format!("Chain '{target}' does not exist: {why}");
    // iptables refuses it on its command line.
    EngineError {
        problem: Problem::Parameter,
        ..EngineError::new(message)
    }
}

/// What a command did to a table changed in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Whether the table changed.
    pub changed: bool,
    /// Text for standard output.
    pub output: String,
    /// For `-C`: whether the rule exists.
    pub check: Option<bool>,
}

/// Answers a command that only reads the table (`-L` without `-Z`, `-S`,
/// `-C`); `None` for the others.
fn query(inv: &Invocation, state: &TableState) -> Option<Result<Applied, EngineError>> {
    let listed = |output: Result<String, String>| {
        output
            .map(|output| Applied {
                output,
                ..Applied::default()
            })
            .map_err(|message| EngineError::new(message).in_iptables_words(NO_CHAIN))
    };
    match &inv.command {
        Command::List {
            chain,
            num,
            zero: ZeroAfter::Nothing,
        } => Some(listed(list_chains(
            state,
            chain.as_deref(),
            *num,
            inv.display,
        ))),
        Command::ListRules {
            chain,
            num,
            zero: ZeroAfter::Nothing,
        } => Some(listed(list_rules(
            state,
            chain.as_deref(),
            *num,
            inv.display,
        ))),
        Command::Check { chain, rule, also } => {
            Some(command_line_checks(state, rule).and_then(|()| {
                state.chain(chain).map_or_else(
                    // iptables finds no such rule in a chain that is not there.
                    || Err(no_chain(state, chain).in_iptables_words(BAD_RULE)),
                    |c| {
                        let has = |rule: &crate::rule::RuleSpec| {
                            let wanted = rule.to_args();
                            c.rules.iter().any(|r| r.text() == wanted)
                        };
                        Ok(Applied {
                            check: Some(std::iter::once(rule).chain(also).all(has)),
                            ..Applied::default()
                        })
                    },
                )
            }))
        }
        _ => None,
    }
}

/// Carries out `inv` on `state`: the result holds the changed table, checked as a whole.
pub fn execute(inv: &Invocation, state: &TableState) -> Result<Outcome, EngineError> {
    match query(inv, state) {
        Some(answer) => answered(answer),
        None => change(inv, state.clone()),
    }
}

/// [`execute`] on a table the caller lets go: it becomes the changed table
/// without a copy of every rule.
pub fn execute_owned(inv: &Invocation, state: TableState) -> Result<Outcome, EngineError> {
    match query(inv, &state) {
        Some(answer) => answered(answer),
        None => change(inv, state),
    }
}

/// The outcome of a command that changes nothing.
fn answered(answer: Result<Applied, EngineError>) -> Result<Outcome, EngineError> {
    let answer = answer?;
    Ok(Outcome {
        changed: None,
        output: answer.output,
        check: answer.check,
    })
}

/// Carries out a changing command on `next`, then checks the table.
fn change(inv: &Invocation, mut next: TableState) -> Result<Outcome, EngineError> {
    let applied = apply(inv.clone(), &mut next)?;
    if applied.changed {
        next.validate().map_err(|e| EngineError {
            problem: if e.kernel {
                Problem::Resource
            } else {
                Problem::Parameter
            },
            ..EngineError::new(e.to_string())
        })?;
    }
    Ok(Outcome {
        changed: applied.changed.then_some(next),
        output: applied.output,
        check: applied.check,
    })
}

/// Carries out `inv` on `next` in place, without checking the table as a
/// whole (callers that apply many commands check once at the end). On
/// error `next` may be partly changed. The rules `inv` adds move into
/// `next`, so a restore holds each once.
pub fn apply(inv: Invocation, next: &mut TableState) -> Result<Applied, EngineError> {
    if let Some(answer) = query(&inv, next) {
        return answer;
    }
    let mut outcome = Applied::default();
    let Invocation {
        command,
        display,
        counters,
        ..
    } = inv;
    match command {
        // With `-Z` (without it, answered by `query` above): the listing,
        // then the chain's or every chain's counters zeroed.
        Command::List { chain, num, zero } => {
            return list_then_zero(next, list_chains, chain.as_deref(), num, zero, display)
        }
        Command::ListRules { chain, num, zero } => {
            return list_then_zero(next, list_rules, chain.as_deref(), num, zero, display)
        }
        // Answered by `query` above.
        Command::Check { .. } => return Ok(outcome),
        Command::Append { chain, rule, also } => {
            let added = 1 + also.len();
            for rule in std::iter::once(rule).chain(also) {
                let r = new_rule(next, &chain, rule)?;
                chain_mut(next, &chain)?.rules.push(r);
            }
            set_added_counters(next, &chain, None, added, counters);
        }
        Command::Insert {
            chain,
            num,
            rule,
            also,
        } => {
            let added = 1 + also.len();
            // Each at the same place, as iptables inserts them.
            for rule in std::iter::once(rule).chain(also) {
                let r = new_rule(next, &chain, rule)?;
                let c = chain_mut(next, &chain)?;
                if num > c.rules.len() + 1 {
                    return fail_in(INSERT_TOO_BIG, format!(
                        "index of insertion too big: chain {chain} has {} rules, so -I takes 1 to {}",
                        c.rules.len(),
                        c.rules.len() + 1
                    ));
                }
                c.rules.insert(num - 1, r);
            }
            set_added_counters(next, &chain, Some(num - 1), added, counters);
        }
        Command::Replace { chain, num, rule } => {
            let r = new_rule(next, &chain, rule)?;
            let c = chain_mut(next, &chain)?;
            match c.rules.get_mut(num - 1) {
                Some(slot) => *slot = r,
                None => {
                    return fail_in(
                        REPLACE_TOO_BIG,
                        format!(
                            "index of replacement too big: chain {chain} has {} rules",
                            c.rules.len()
                        ),
                    )
                }
            }
            set_added_counters(next, &chain, Some(num - 1), 1, counters);
        }
        Command::DeleteNum { chain, num } => {
            let c = chain_mut(next, &chain)?;
            if num > c.rules.len() {
                return fail_in(
                    DELETE_TOO_BIG,
                    format!(
                        "index of deletion too big: chain {chain} has {} rules",
                        c.rules.len()
                    ),
                );
            }
            c.rules.remove(num - 1);
        }
        Command::DeleteRule { chain, rule, also } => {
            command_line_checks(next, &rule)?;
            // iptables-nft finds no such rule in a chain that is not there.
            let c = chain_mut(next, &chain).map_err(|e| e.in_iptables_words(BAD_RULE))?;
            for rule in std::iter::once(rule).chain(also) {
                let wanted = rule.to_args();
                match c.rules.iter().position(|r| r.text() == wanted) {
                    Some(i) => {
                        c.rules.remove(i);
                    }
                    None => return fail_in(BAD_RULE, no_matching_rule(&chain, &wanted)),
                }
            }
        }
        Command::Flush { chain } => {
            for name in named_or_all(next, chain.as_deref()) {
                chain_mut(next, &name)?.rules.clear();
                outcome.output += &said(display, "Flushing", &name);
            }
        }
        Command::Zero { chain, num } => {
            outcome.output = zero_counters(next, chain.as_deref(), num, display)?;
        }
        Command::NewChain { chain } => {
            check_new_chain_name(next, &chain)?;
            next.chains.push(StateChain {
                name: chain,
                base: None,
                policy_counters: Counters::default(),
                rules: Vec::new(),
            });
        }
        Command::DeleteChain { chain } => {
            for name in delete_chains(next, chain.as_deref())? {
                outcome.output += &said(display, "Deleting", &name);
            }
        }
        Command::RenameChain { from, to } => {
            // As iptables: the new name first, then the chain to rename.
            check_new_chain_name(next, &to).map_err(|e| match e.iptables {
                Some(CHAIN_EXISTS) => e.in_iptables_words(NAME_TAKEN),
                _ => e,
            })?;
            let c = next.chain(&from).ok_or_else(|| no_chain(next, &from))?;
            if c.base.is_some() {
                return fail(format!("built-in chain {from} cannot be renamed"));
            }
            for chain in &mut next.chains {
                if chain.name == from {
                    chain.name = to.clone();
                }
                for r in &mut chain.rules {
                    if r.jump_target() == Some(from.as_str()) {
                        let mut spec = r.spec(next.family).map_err(EngineError::new)?;
                        spec.rename_target(&from, &to);
                        let counters = r.rule.counters;
                        *r = StateRule::new(spec, next.family, counters)
                            .map_err(|e| EngineError::new(e.message))?;
                    }
                }
            }
        }
        Command::SetPolicy { chain, policy } => {
            if policy == Policy::Drop {
                no_drop_in_nat(next)?;
            }
            let c = chain_mut(next, &chain).map_err(|e| e.in_iptables_words(NOT_BUILT_IN))?;
            match &mut c.base {
                // As iptables-nft 1.8.9: the policy's counters start again
                // from zero (it takes `-c` beside `-P` and drops it).
                Some((_, p)) => {
                    *p = policy;
                    c.policy_counters = Counters::default();
                }
                None => {
                    return fail_in(
                        NOT_BUILT_IN,
                        format!(
                        "chain {chain} is a user-defined chain: only built-in chains have a policy"
                    ),
                    )
                }
            }
        }
    }
    outcome.changed = true;
    Ok(outcome)
}

/// A listing of a table's chains (`-L`) or rules (`-S`).
type Listing = fn(&TableState, Option<&str>, Option<usize>, Display) -> Result<String, String>;

/// A listing with `-Z` (`list`: `-L` or `-S`): the listing, then the
/// chain's or every chain's counters zeroed (or the one rule's, for
/// `-Z CHAIN NUM`).
fn list_then_zero(
    next: &mut TableState,
    list: Listing,
    chain: Option<&str>,
    num: Option<usize>,
    zero: ZeroAfter,
    display: Display,
) -> Result<Applied, EngineError> {
    let mut output = list(next, chain, num, display).map_err(EngineError::new)?;
    let zeroed = num.filter(|_| zero == ZeroAfter::Rule);
    output += &zero_counters(next, chain, zeroed, display)?;
    Ok(Applied {
        changed: true,
        output,
        check: None,
    })
}

fn zero_counters(
    state: &mut TableState,
    chain: Option<&str>,
    num: Option<usize>,
    display: Display,
) -> Result<String, EngineError> {
    let mut out = String::new();
    for name in named_or_all(state, chain) {
        // iptables finds no rule to zero in a chain that is not there.
        let c = chain_mut(state, &name).map_err(|e| match num {
            Some(_) => e.in_iptables_words(BAD_RULE),
            None => e,
        })?;
        match num {
            // A rule that is not there is no error, as with iptables-nft.
            Some(n) => {
                if let Some(r) = c.rules.get_mut(n - 1) {
                    r.rule.counters = Counters::default();
                }
            }
            None => {
                c.policy_counters = Counters::default();
                c.rules
                    .iter_mut()
                    .for_each(|r| r.rule.counters = Counters::default());
                out += &said(display, "Zeroing", &c.name);
            }
        }
    }
    Ok(out)
}

/// Gives the `added` rules of `chain` from `index` (or the last `added`
/// ones: a command adds one per address of its lists) the command's
/// counters, if it has any (`-c`, or a restore line's `[packets:bytes]`).
fn set_added_counters(
    state: &mut TableState,
    chain: &str,
    index: Option<usize>,
    added: usize,
    counters: Option<Counters>,
) {
    let Some(counters) = counters else { return };
    if let Some(c) = state.chain_mut(chain) {
        let first = index.unwrap_or(c.rules.len().saturating_sub(added));
        for r in c.rules.iter_mut().skip(first).take(added) {
            r.rule.counters = counters;
        }
    }
}

/// Deletes `chain`, or every user chain, and gives their names.
fn delete_chains(state: &mut TableState, chain: Option<&str>) -> Result<Vec<String>, EngineError> {
    let names: Vec<String> = match chain {
        Some(name) => {
            let c = state.chain(name).ok_or_else(|| no_chain(state, name))?;
            if let Some((_, policy)) = c.base {
                return delete_builtin(c, policy);
            }
            vec![name.to_string()]
        }
        None => state
            .user_chains_sorted()
            .iter()
            .map(|c| c.name.clone())
            .collect(),
    };
    for name in &names {
        let referrers: Vec<&str> = state
            .chains
            .iter()
            .filter(|c| !names.contains(&c.name))
            .filter(|c| c.rules.iter().any(|r| r.jump_target() == Some(name)))
            .map(|c| c.name.as_str())
            .collect();
        if !referrers.is_empty() {
            return refused(format!(
                "chain {name} is still in use by rules in {}: delete those rules first",
                referrers.join(", ")
            ));
        }
        // Also for -X without a chain: iptables deletes none while one is not empty.
        if state.chain(name).is_some_and(|c| !c.rules.is_empty()) {
            return refused(format!(
                "chain {name} is not empty: flush it first with -F {name}"
            ));
        }
    }
    state.chains.retain(|c| !names.contains(&c.name));
    Ok(names)
}

/// `-X` of built-in chain `chain` with `policy`, as iptables-nft takes it:
/// an empty chain whose policy is ACCEPT lets every packet pass as if it
/// were not there, and iptables-nft deletes it from the kernel (without a
/// word for `-v`) while still listing it, so moat keeps it and succeeds,
/// naming no chain deleted; a chain with rules or with policy DROP stays,
/// refused in iptables-nft's words.
fn delete_builtin(chain: &StateChain, policy: Policy) -> Result<Vec<String>, EngineError> {
    let name = &chain.name;
    if !chain.rules.is_empty() {
        return refused(format!(
            "built-in chain {name} is not empty: flush it first with -F {name}"
        ));
    }
    if policy == Policy::Drop {
        return fail_in(
            "Directory not empty.",
            format!(
                "built-in chain {name} has policy DROP: a built-in chain is deleted only while \
                 it is empty with policy ACCEPT"
            ),
        );
    }
    Ok(Vec::new())
}

/// The chain a command names, or every chain in iptables' listing order.
fn named_or_all(state: &TableState, chain: Option<&str>) -> Vec<String> {
    match chain {
        Some(name) => vec![name.to_string()],
        None => state
            .listing_order()
            .iter()
            .map(|c| c.name.clone())
            .collect(),
    }
}

/// What iptables says with `-v` for each chain a command (or a restore)
/// flushes, zeroes or deletes: "Flushing chain `INPUT'", with its newline.
pub fn chain_line(doing: &str, chain: &str) -> String {
    format!("{doing} chain `{chain}'\n")
}

/// [`chain_line`] when the command was given `-v`.
fn said(display: Display, doing: &str, chain: &str) -> String {
    if display.verbose {
        chain_line(doing, chain)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse_command_line;
    use moat_model::{Family, Stage};

    fn run(line: &str, state: &TableState) -> Result<Outcome, EngineError> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        let inv = parse_command_line(&args, Family::Ipv4).expect("parses");
        execute(&inv, state)
    }

    #[test]
    fn a_misspelt_target_is_named_before_creating_a_chain() {
        let state = TableState::empty(Family::Ipv4, Stage::Filter);
        let err = run("-A INPUT -j ACCEPTT", &state).unwrap_err().message;
        assert!(
            err.starts_with(
                "Chain 'ACCEPTT' does not exist: unknown target `ACCEPTT'; did you mean ACCEPT?"
            ),
            "{err}"
        );
        let err = run("-A INPUT -j mychain", &state).unwrap_err().message;
        assert!(err.starts_with("Chain 'mychain' does not exist"), "{err}");
        assert!(err.contains("create it first with -N mychain"), "{err}");
        assert!(!err.contains("did you mean"), "{err}");
        // A target in the wrong case, unless a chain has that name.
        let err = run("-A INPUT -j accept", &state).unwrap_err().message;
        assert!(err.contains("did you mean ACCEPT?"), "{err}");
        let with_chain = run("-N reject", &state).unwrap().changed.unwrap();
        assert!(run("-A INPUT -j reject", &with_chain).is_ok());
    }
}
