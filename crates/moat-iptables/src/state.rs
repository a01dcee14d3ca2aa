//! The iptables view of one of moat's tables: chains and rules as the
//! iptables front-end knows them, built from what the kernel holds.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use moat_model::{validate_rule, Chain, Counters, Family, Hook, Policy, Rule, Stage, Table};

use crate::parallel::map_ordered;
use crate::rule::RuleSpec;

/// A rule in its model form, which keeps its canonical iptables spelling
/// as its `source` (the parsed iptables form is read again from that text
/// when needed, so a large table does not hold every rule twice).
#[derive(Debug, Clone, PartialEq)]
pub struct StateRule {
    /// The rule in the model (its `source` is the canonical spelling).
    pub rule: Rule,
}

/// A chain of the iptables view.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChain {
    /// The chain's name.
    pub name: String,
    /// For a built-in chain: its hook and policy.
    pub base: Option<(Hook, Policy)>,
    /// Policy hits of a built-in chain.
    pub policy_counters: Counters,
    /// The rules in order.
    pub rules: Vec<StateRule>,
}

/// One table of the iptables view.
#[derive(Debug, Clone, PartialEq)]
pub struct TableState {
    /// The family.
    pub family: Family,
    /// The table.
    pub stage: Stage,
    /// Built-in chains in hook order, then user chains.
    pub chains: Vec<StateChain>,
    /// Where chains were last found by name.
    places: ChainPlaces,
}

/// Up to this many chains, a chain is searched for by name, as fast as
/// a look-up in [`ChainPlaces`].
const FEW_CHAINS: usize = 16;

/// Where each chain of a view was last found by name, for tables of
/// thousands of chains (Kubernetes' nat table). Only a hint: a place is
/// used when the chain there still has that name (names are unique), else
/// the chains are searched and the place noted again, so that changes to
/// the chains never need to tell it.
#[derive(Default)]
struct ChainPlaces(RefCell<HashMap<String, usize>>);

impl Clone for ChainPlaces {
    fn clone(&self) -> Self {
        ChainPlaces::default()
    }
}

impl PartialEq for ChainPlaces {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ChainPlaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainPlaces")
    }
}

/// A rule stored in the kernel that the front-end cannot read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain {chain}, rule {index}: {reason}")]
pub struct StateError {
    /// The chain.
    pub chain: String,
    /// The 1-based rule number.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
    /// iptables would learn of it from the kernel's refusal (see
    /// [`moat_model::RuleError::found_by_kernel`]).
    pub kernel: bool,
}

/// A rule as read back: its stored source text and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    /// The source text stored with the rule, if any.
    pub source: Option<String>,
    /// The rule's counters.
    pub counters: Counters,
}

/// A chain as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChain {
    /// The chain's name.
    pub name: String,
    /// For a built-in chain: its hook and policy.
    pub base: Option<(Hook, Policy)>,
    /// Policy hits.
    pub policy_counters: Counters,
    /// The rules.
    pub rules: Vec<StoredRule>,
}

/// Every rule of `chains` read back from its stored source, chain by
/// chain; the error is the first rule's that does not read.
fn read_sources(family: Family, chains: &[StoredChain]) -> Result<Vec<Vec<StateRule>>, StateError> {
    let chains: Vec<&StoredChain> = chains.iter().collect();
    read_per_chain(&chains, |chain, i, rule| {
        let error = |reason: String| StateError {
            chain: chain.name.clone(),
            index: i + 1,
            reason,
            kernel: false,
        };
        let source = rule.source.as_deref().ok_or_else(|| {
            error(
                "rule was not written by moat (it has no stored source); remove it with nft".into(),
            )
        })?;
        StateRule::from_source(source, family, rule.counters).map_err(error)
    })
}

/// `read(chain, index, rule)` of every rule of `chains`, chain by chain; a
/// large table's rules are read on several threads (reading one touches
/// nothing else). The error is the first failing rule's.
pub(crate) fn read_per_chain<'a, T: Send, E: Send>(
    chains: &[&'a StoredChain],
    read: impl Fn(&'a StoredChain, usize, &'a StoredRule) -> Result<T, E> + Sync,
) -> Result<Vec<Vec<T>>, E> {
    let all: Vec<(usize, usize, &StoredRule)> = chains
        .iter()
        .enumerate()
        .flat_map(|(c, chain)| chain.rules.iter().enumerate().map(move |(i, r)| (c, i, r)))
        .collect();
    let values = map_ordered(&all, |&(c, i, rule)| read(chains[c], i, rule))?;
    let mut out: Vec<Vec<T>> = chains
        .iter()
        .map(|c| Vec::with_capacity(c.rules.len()))
        .collect();
    for ((c, _, _), value) in all.iter().zip(values) {
        out[*c].push(value);
    }
    Ok(out)
}

/// Splits rule words a person wrote (a moat.toml rule) into words,
/// honouring quotes the way iptables-restore does: a quote inside a word
/// opens a quoted part too (`--log-prefix="New: "`).
pub fn split_words(text: &str) -> Option<Vec<String>> {
    let words = crate::rule::SavedWords::all(text)?;
    Some(
        words
            .into_iter()
            .map(std::borrow::Cow::into_owned)
            .collect(),
    )
}

impl StateRule {
    /// Builds a rule from its iptables syntax.
    pub fn new(
        spec: RuleSpec,
        family: Family,
        counters: Counters,
    ) -> Result<Self, crate::rule::RuleParseError> {
        let mut rule = spec.to_model(family)?;
        rule.counters = counters;
        Ok(StateRule { rule })
    }

    /// The rule's canonical iptables words, as `-S` prints them.
    pub fn text(&self) -> &str {
        self.rule.source.as_deref().unwrap_or_default()
    }

    /// The rule as iptables spells it, read again from [`StateRule::text`].
    pub fn spec(&self, family: Family) -> Result<RuleSpec, String> {
        spec_of_source(self.text(), family)
    }

    /// The chain the rule jumps or goes to.
    pub fn jump_target(&self) -> Option<&str> {
        self.rule.chain_target()
    }

    /// Reads a rule back from its stored source text (its `-S` words); the
    /// error says why it does not read.
    pub fn from_source(source: &str, family: Family, counters: Counters) -> Result<Self, String> {
        StateRule::new(spec_of_source(source, family)?, family, counters).map_err(|e| e.message)
    }
}

/// A rule's iptables form read back from its stored source text (its `-S`
/// words).
pub(crate) fn spec_of_source(source: &str, family: Family) -> Result<RuleSpec, String> {
    let words = crate::rule::SavedWords::all_stored(source)
        .ok_or_else(|| format!("unreadable stored rule {source:?}"))?;
    RuleSpec::parse(&words, family)
        .map(|(spec, _)| spec)
        .map_err(|e| e.message)
}

impl TableState {
    /// An empty table: built-in chains with policy ACCEPT and no rules.
    pub fn empty(family: Family, stage: Stage) -> Self {
        TableState::from_table(&Table::new(family, stage))
    }

    /// The table as a flush of each chain leaves it: the built-in chains
    /// without rules, their policies and counters kept, and no user chain.
    pub fn flushed(mut self) -> Self {
        self.chains.retain(|c| c.base.is_some());
        for chain in &mut self.chains {
            chain.rules.clear();
        }
        self
    }

    fn from_table(table: &Table) -> Self {
        TableState {
            places: ChainPlaces::default(),
            family: table.family,
            stage: table.stage,
            chains: table
                .chains
                .iter()
                .map(|c| StateChain {
                    name: c.name.clone(),
                    base: c.base,
                    policy_counters: c.policy_counters,
                    rules: Vec::new(),
                })
                .collect(),
        }
    }

    /// Rebuilds the iptables view from stored chains, re-reading each rule's source text.
    pub fn from_stored(
        family: Family,
        stage: Stage,
        stored: Vec<StoredChain>,
    ) -> Result<Self, StateError> {
        let rules = read_sources(family, &stored)?;
        let mut state = TableState::empty(family, stage);
        // The stored chains are each there once: only a built-in one takes
        // the place of the empty table's.
        let builtin = state.chains.len();
        state.chains.reserve(stored.len());
        for (chain, rules) in stored.into_iter().zip(rules) {
            let new_chain = StateChain {
                name: chain.name,
                base: chain.base,
                policy_counters: chain.policy_counters,
                rules,
            };
            match state.chains[..builtin]
                .iter()
                .position(|c| c.name == new_chain.name)
            {
                Some(i) => state.chains[i] = new_chain,
                None => state.chains.push(new_chain),
            }
        }
        Ok(state)
    }

    /// The chain called `name`.
    pub fn chain(&self, name: &str) -> Option<&StateChain> {
        self.position(name).map(|i| &self.chains[i])
    }

    /// The chain called `name`, mutably.
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut StateChain> {
        self.position(name).map(|i| &mut self.chains[i])
    }

    /// Where the chain called `name` is in [`TableState::chains`].
    pub fn position(&self, name: &str) -> Option<usize> {
        if self.chains.len() <= FEW_CHAINS {
            return self.chains.iter().position(|c| c.name == name);
        }
        let at = |i: usize| self.chains.get(i).is_some_and(|c| c.name == name);
        let mut places = self.places.0.borrow_mut();
        if places.is_empty() {
            places.extend(
                self.chains
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name.clone(), i)),
            );
        }
        match places.get(name) {
            Some(&i) if at(i) => Some(i),
            _ => {
                let found = self.chains.iter().position(|c| c.name == name);
                match found {
                    Some(i) => places.insert(name.to_string(), i),
                    None => places.remove(name),
                };
                found
            }
        }
    }

    /// User chains sorted by name, as iptables lists them.
    pub fn user_chains_sorted(&self) -> Vec<&StateChain> {
        let mut user: Vec<&StateChain> = self.chains.iter().filter(|c| c.base.is_none()).collect();
        user.sort_by(|a, b| a.name.cmp(&b.name));
        user
    }

    /// Chains in listing order: built-in chains, then user chains by name.
    pub fn listing_order(&self) -> Vec<&StateChain> {
        let mut all: Vec<&StateChain> = self.chains.iter().filter(|c| c.base.is_some()).collect();
        all.extend(self.user_chains_sorted());
        all
    }

    /// How many rules jump or go to chain `name`.
    pub fn references(&self, name: &str) -> usize {
        self.chains
            .iter()
            .flat_map(|c| &c.rules)
            .filter(|r| r.jump_target() == Some(name))
            .count()
    }

    /// For every chain, the hooks whose packets can reach it (through
    /// jumps, transitively), in the order of the built-in chains.
    pub fn hooks_by_chain(&self) -> HashMap<&str, Vec<Hook>> {
        let index: HashMap<&str, &StateChain> =
            self.chains.iter().map(|c| (c.name.as_str(), c)).collect();
        let mut out: HashMap<&str, Vec<Hook>> = HashMap::new();
        for base in &self.chains {
            let Some((hook, _)) = base.base else { continue };
            let mut seen = HashSet::from([base.name.as_str()]);
            let mut todo = vec![base.name.as_str()];
            while let Some(current) = todo.pop() {
                out.entry(current).or_default().push(hook);
                let Some(chain) = index.get(current) else {
                    continue;
                };
                for target in chain.rules.iter().filter_map(StateRule::jump_target) {
                    if seen.insert(target) {
                        todo.push(target);
                    }
                }
            }
        }
        out
    }

    /// Checks every rule can work where it is; returns the first problem.
    pub fn validate(&self) -> Result<(), StateError> {
        let reaching = self.hooks_by_chain();
        for chain in &self.chains {
            let hooks = reaching
                .get(chain.name.as_str())
                .map_or(&[][..], Vec::as_slice);
            for (i, r) in chain.rules.iter().enumerate() {
                // Copied only when its action is settled by the hooks.
                let placed;
                let rule = if r.rule.action.depends_on_hooks() {
                    let mut copy = r.rule.clone();
                    copy.action.place(hooks);
                    placed = copy;
                    &placed
                } else {
                    &r.rule
                };
                validate_rule(rule, self.family, self.stage, hooks, chain.base.is_some()).map_err(
                    |e| StateError {
                        chain: chain.name.clone(),
                        index: i + 1,
                        reason: e.to_string(),
                        kernel: e.found_by_kernel(),
                    },
                )?;
            }
        }
        Ok(())
    }

    /// The model table to apply.
    ///
    /// Each rule's action is settled for the hooks that reach its chain
    /// ([`moat_model::Action::place`]), and the hashlimit rules of a name
    /// use the first one's table, as in the kernel.
    pub fn to_table(&self) -> Table {
        let reaching = self.hooks_by_chain();
        let mut table = Table {
            family: self.family,
            stage: self.stage,
            chains: self
                .chains
                .iter()
                .map(|c| {
                    let rules = c.rules.iter().map(|r| r.rule.clone());
                    placed_chain(c, rules, reaching.get(c.name.as_str()))
                })
                .collect(),
        };
        crate::shared_limits::share_hashlimit_tables(&mut table);
        table
    }

    /// [`TableState::to_table`] without copying the rules: for a large
    /// restore, which needs the iptables view no longer.
    pub fn into_table(self) -> Table {
        let reaching: HashMap<String, Vec<Hook>> = self
            .hooks_by_chain()
            .into_iter()
            .map(|(name, hooks)| (name.to_string(), hooks))
            .collect();
        let mut table = Table {
            family: self.family,
            stage: self.stage,
            chains: self
                .chains
                .into_iter()
                .map(|mut c| {
                    let rules = std::mem::take(&mut c.rules).into_iter().map(|r| r.rule);
                    placed_chain(&c, rules, reaching.get(c.name.as_str()))
                })
                .collect(),
        };
        crate::shared_limits::share_hashlimit_tables(&mut table);
        table
    }
}

/// The model chain of `chain` with `rules`, each rule's action settled for
/// `hooks` (the hooks that reach the chain).
fn placed_chain(
    chain: &StateChain,
    rules: impl Iterator<Item = moat_model::Rule>,
    hooks: Option<&Vec<Hook>>,
) -> Chain {
    let hooks = hooks.map_or(&[][..], Vec::as_slice);
    let mut rules: Vec<moat_model::Rule> = rules
        .map(|mut rule| {
            rule.action.place(hooks);
            rule
        })
        .collect();
    // Collected in place from the view's rules, the vector keeps their
    // larger slots (rule and spelling, 668 bytes against 168) until shrunk.
    rules.shrink_to_fit();
    Chain {
        name: chain.name.clone(),
        base: chain.base,
        policy_counters: chain.policy_counters,
        rules,
    }
}
