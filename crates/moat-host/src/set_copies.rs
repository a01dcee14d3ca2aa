//! `-m set --match-set NAME` rules look up moat block list NAME through a
//! copy of it in their own table (`blocklist.NAME`, kept current by
//! `moat block`). Before a batch is applied, this adds the declarations of
//! the copies its tables need and do not hold yet. A NAME that is no block
//! list but one of the kernel's ipsets (made with the `ipset` tool, as
//! fail2ban's ipset actions do) is looked up by the kernel's xt_set module,
//! as with iptables: the batch's rules get its match with the set's index,
//! and its `-j SET` rules the kernel's target with their sets' indexes.

use std::collections::{BTreeMap, BTreeSet};

use moat_iptables::save::{SaveError, SaveFile};
use moat_model::{Action, Family, Match, Rule, Stage, Table};
use moat_nft::{ChangeSet, Op, TableChanges};

use crate::HostError;

/// The block lists `rules` look up, in the order their matches name them.
fn sets_matched<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> impl Iterator<Item = &'a str> {
    rules
        .into_iter()
        .flat_map(|rule| &rule.matches)
        .filter_map(|m| match m {
            Match::InSet { name, .. } => Some(name.as_str()),
            _ => None,
        })
}

/// The block lists `rules` look up.
fn lists_used<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> BTreeSet<&'a str> {
    sets_matched(rules).collect()
}

/// Adds to `changes` the copies that `rules` (the table's rules after the
/// change) need: every one when the change recreates the table, else those
/// the kernel table lacks. Fails, naming the list, when one does not exist.
pub fn declare_for<'a>(
    changes: &mut TableChanges,
    rules: impl IntoIterator<Item = &'a Rule>,
) -> Result<(), HostError> {
    declare_names(changes, lists_used(rules))
}

/// Fails as iptables does (exit status 2) when `rule` looks up a set that
/// is neither a block list nor one of the kernel's ipsets. As iptables
/// reads the rule's options in turn, the first such set of its matches is
/// told, then one of its `-j SET` target.
pub fn check_sets_exist(rule: &Rule, family: Family) -> Result<(), HostError> {
    let matched: Vec<&str> = sets_matched([rule]).collect();
    if !matched.is_empty() {
        let lists = moat_blocklist::Blocklists::open().and_then(|mut b| b.names())?;
        for name in matched
            .into_iter()
            .filter(|n| !lists.iter().any(|l| l == n))
        {
            ipset(name, family, "-m set --match-set")?;
        }
    }
    // -j SET works on ipsets only.
    if let Action::IpSetUpdate(update) = &rule.action {
        let sets = [
            (&update.add, "-j SET --add-set"),
            (&update.del, "-j SET --del-set"),
        ];
        for (set, option) in sets {
            if let Some((name, _)) = set {
                ipset(name, family, option)?;
            }
        }
    }
    Ok(())
}

fn declare_names<'a>(
    changes: &mut TableChanges,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), HostError> {
    set_targets(changes)?;
    let mut names = names.into_iter().peekable();
    if names.peek().is_none() {
        return Ok(());
    }
    let lists = moat_blocklist::Blocklists::open().and_then(|mut b| b.names())?;
    let (names, ipsets): (Vec<&str>, Vec<&str>) =
        names.partition(|name| lists.iter().any(|l| l == name));
    for name in ipsets {
        use_ipset(changes, name)?;
    }
    if names.is_empty() {
        return Ok(());
    }
    let fresh = changes.ops.iter().any(|op| matches!(op, Op::DeleteTable));
    let table = changes.table_name();
    let sets = moat_blocklist::copies_to_declare(names, changes.family, table, fresh)?;
    changes
        .ops
        .extend(sets.into_iter().map(|set| Op::AddSet(Box::new(set))));
    Ok(())
}

/// A rule names a set that is neither a block list nor one of the
/// kernel's ipsets; iptables refuses such a rule itself (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error(
    "{option} {name}: there is {} named {name:?} (see `moat block list` and `ipset list -n`)",
    if option.starts_with("-j") { "no ipset" } else { "no block list or ipset" }
)]
pub struct MissingSet {
    /// The option that names it (`-m set --match-set`, `-j SET --add-set`).
    pub option: &'static str,
    /// The set's name.
    pub name: String,
}

/// A rule names an ipset that holds the other family's addresses, which
/// iptables refuses on its command line.
#[derive(Debug, thiserror::Error)]
#[error("{option} {name}: ipset {name} holds {set} addresses, the rule is for {rule}")]
pub struct WrongSetFamily {
    /// The option that names it.
    pub option: &'static str,
    /// The set's name.
    pub name: String,
    /// The set's family (`IPv4`, `IPv6`).
    pub set: &'static str,
    /// The rule's family.
    pub rule: &'static str,
}

/// Where a restore file first names a set.
pub struct SetLine {
    /// How many other sets the file named before it.
    order: usize,
    /// The line's number.
    line: usize,
    /// The line's text.
    text: String,
}

/// The line of `file` where each set a rule names (`--match-set`,
/// `--add-set`, `--del-set`) is first named, with that line's text, so a
/// restore can point at it.
pub fn first_lines(file: &SaveFile) -> BTreeMap<String, SetLine> {
    let mut lines = BTreeMap::new();
    let commands = file.tables.iter().flat_map(|t| &t.commands);
    for command in commands.filter(|c| c.text.contains("-set")) {
        let words = command.words();
        let named = words
            .windows(2)
            .filter(|pair| matches!(pair[0].as_ref(), "--match-set" | "--add-set" | "--del-set"));
        for pair in named {
            let order = lines.len();
            lines.entry(pair[1].to_string()).or_insert_with(|| SetLine {
                order,
                line: command.line,
                text: command.text.clone(),
            });
        }
    }
    lines
}

/// The set `error` is about, if it is about a missing set or one of the
/// other family.
fn set_of(error: &HostError) -> Option<&str> {
    match error {
        HostError::MissingSet(e) => Some(&e.name),
        HostError::WrongSetFamily(e) => Some(&e.name),
        _ => None,
    }
}

/// `error` about a set a restore's tables need, made about the set of
/// `lists` that `lines` (see [`first_lines`]) names first among those
/// that are missing or of the other family, and pointing at that line:
/// iptables-restore stops at the first such set of its file, where the
/// batch meets its tables' sets in another order.
pub fn at_first_failing_line(
    error: HostError,
    lists: &ListsUsed,
    lines: &BTreeMap<String, SetLine>,
) -> HostError {
    let Some(told) = set_of(&error) else {
        return error;
    };
    let order_of = |name: &str| lines.get(name).map_or(usize::MAX, |l| l.order);
    let mut earlier: Vec<(Family, &str)> = lists
        .0
        .iter()
        .flat_map(|(family, _, names)| names.iter().map(move |n| (*family, n.as_str())))
        .filter(|(_, name)| order_of(name) < order_of(told))
        .collect();
    earlier.sort_by_key(|(_, name)| order_of(name));
    let blocklists = moat_blocklist::Blocklists::open()
        .and_then(|mut b| b.names())
        .unwrap_or_default();
    let first = earlier
        .into_iter()
        .filter(|(_, name)| !blocklists.iter().any(|l| l == name))
        .find_map(|(family, name)| {
            ipset(name, family, "-m set --match-set")
                .err()
                .filter(|e| set_of(e).is_some())
        });
    at_first_line(first.unwrap_or(error), lines)
}

/// `error` pointing at the line of `lines` (see [`first_lines`]) that
/// names the set it is about, if it is about a missing set or one of the
/// other family.
fn at_first_line(error: HostError, lines: &BTreeMap<String, SetLine>) -> HostError {
    let Some(name) = set_of(&error) else {
        return error;
    };
    let message = error.to_string();
    let Some(SetLine { line, text, .. }) = lines.get(name) else {
        return error;
    };
    SaveError {
        line: *line,
        message,
        text: text.clone(),
        problem: moat_iptables::Problem::Parameter,
        iptables: None,
    }
    .into()
}

/// Ipset `name` of the kernel, for a rule of `family` whose `option` names
/// it; an error when there is none, or it holds the other family's
/// addresses.
fn ipset(
    name: &str,
    family: Family,
    option: &'static str,
) -> Result<moat_backend::IpSet, HostError> {
    let set = moat_backend::find_ipset(name)
        .map_err(HostError::io(format!(
            "{option} {name}: cannot ask the kernel for ipsets"
        )))?
        .ok_or_else(|| MissingSet {
            option,
            name: name.to_string(),
        })?;
    if let Some(other) = set.family.filter(|f| *f != family) {
        return Err(WrongSetFamily {
            option,
            name: name.to_string(),
            set: other.name(),
            rule: family.name(),
        }
        .into());
    }
    Ok(set)
}

/// Gives the batch's `-j SET` rules the kernel's xt_SET with their sets'
/// indexes.
fn set_targets(changes: &mut TableChanges) -> Result<(), HostError> {
    let family = changes.family;
    for op in &mut changes.ops {
        let (Op::AddRule { rule, .. } | Op::ReplaceRule { rule, .. }) = op else {
            continue;
        };
        let Action::IpSetUpdate(update) = &rule.action else {
            continue;
        };
        let index = |set: &Option<(String, Vec<moat_model::SetSide>)>, option| {
            set.as_ref()
                .map(|(name, _)| ipset(name, family, option).map(|s| s.index))
                .transpose()
        };
        let add = index(&update.add, "-j SET --add-set")?;
        let del = index(&update.del, "-j SET --del-set")?;
        rule.action = Action::Xt(moat_iptables::ipset_update_target(update, add, del));
    }
    Ok(())
}

/// Makes the batch's `-m set --match-set NAME` rules look up ipset NAME in
/// the kernel's xt_set module; fails when there is no such ipset either,
/// or it holds the other family's addresses.
fn use_ipset(changes: &mut TableChanges, name: &str) -> Result<(), HostError> {
    let set = ipset(name, changes.family, "-m set --match-set")?;
    for op in &mut changes.ops {
        let (Op::AddRule { rule, .. } | Op::ReplaceRule { rule, .. }) = op else {
            continue;
        };
        for m in &mut rule.matches {
            if matches!(m, Match::InSet { name: n, .. } if n == name) {
                if let Some(ext) = moat_iptables::ipset_match(m, set.index) {
                    *m = Match::Xt(ext);
                }
            }
        }
    }
    Ok(())
}

/// The block lists each table's rules look up, noted before the rules
/// move into a change set.
pub struct ListsUsed(Vec<(Family, Stage, BTreeSet<String>)>);

impl ListsUsed {
    /// The names of the lists, each once.
    pub fn names(&self) -> BTreeSet<&str> {
        self.0
            .iter()
            .flat_map(|(.., names)| names.iter().map(String::as_str))
            .collect()
    }
}

/// The sets the `-m set` rules of `tables` look up that are neither one
/// of moat's block lists nor one of the kernel's ipsets (what
/// [`declare`] would refuse as a [`MissingSet`]).
pub fn missing_lists(tables: &[Table]) -> Result<Vec<String>, HostError> {
    let used = lists_of(tables);
    let names = used.names();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let lists = moat_blocklist::Blocklists::open().and_then(|mut b| b.names())?;
    let mut missing = Vec::new();
    for name in names.into_iter().filter(|n| !lists.iter().any(|l| l == n)) {
        let ipset = moat_backend::find_ipset(name).map_err(HostError::io(format!(
            "-m set --match-set {name}: cannot ask the kernel for ipsets"
        )))?;
        if ipset.is_none() {
            missing.push(name.to_string());
        }
    }
    Ok(missing)
}

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
pub fn declare(batch: &mut ChangeSet, tables: &[Table]) -> Result<(), HostError> {
    declare_lists(batch, &lists_of(tables))
}

/// [`declare`] from the lists noted by [`lists_of`].
pub fn declare_lists(batch: &mut ChangeSet, lists: &ListsUsed) -> Result<(), HostError> {
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
