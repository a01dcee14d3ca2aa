//! Declarations of the named sets that rules fill while packets pass, and
//! how the declarations several rules make of one set combine.

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::schema::{Set, SetFlag, SetType, SetTypeValue};

use crate::kernel::KernelSet;

use super::{refuse, CompileError, CompiledRule, Cx};
use crate::layout::nf_family;

/// How long the elements of a set live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// This rule does not care: another rule's declaration decides.
    Any,
    /// Elements stay until removed.
    Never,
    /// Elements expire this many seconds after they were last updated.
    After(u32),
}

/// The longest set name the kernel keeps.
pub(super) const SET_NAME_MAX: usize = 255;

/// The name of the set for `kind` (`hashlimit`, ...) called `name`.
pub(super) fn set_name(kind: &str, name: &str) -> Result<String, CompileError> {
    if name.is_empty() {
        return refuse(format!("{kind} name is empty"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return refuse(format!(
            "{kind} name {name:?} contains {bad:?}: nf_tables set names here use letters, digits, '_', '-' and '.'"
        ));
    }
    let full = format!("{kind}_{name}");
    if full.len() > SET_NAME_MAX {
        return refuse(format!("{kind} name {name:?} is too long"));
    }
    Ok(full)
}

/// A set of the rule's table keyed by `key`, whose elements live as `expiry` says.
pub(super) fn dynamic_set(
    cx: &Cx,
    name: String,
    key: Vec<SetType>,
    expiry: Expiry,
) -> Set<'static> {
    let set_type = match key[..] {
        [one] => SetTypeValue::Single(one),
        _ => SetTypeValue::Concatenated(Cow::Owned(key)),
    };
    let (flags, timeout) = match expiry {
        Expiry::Any => (Some(HashSet::from([SetFlag::Timeout])), None),
        Expiry::Never => (None, None),
        Expiry::After(seconds) => (Some(HashSet::from([SetFlag::Timeout])), Some(seconds)),
    };
    Set {
        family: nf_family(cx.family),
        table: Cow::Owned(cx.table.to_string()),
        name: Cow::Owned(name),
        handle: None,
        set_type,
        policy: None,
        flags,
        elem: None,
        timeout,
        gc_interval: None,
        size: None,
        comment: None,
    }
}

/// Declares `set` for the rule being compiled.
pub(super) fn declare(out: &mut CompiledRule, set: Set<'static>) -> Result<(), CompileError> {
    merge_sets(&mut out.sets, set)
}

fn expiry_of(set: &Set) -> Expiry {
    let timeout_flag = set
        .flags
        .as_ref()
        .is_some_and(|f| f.contains(&SetFlag::Timeout));
    match (timeout_flag, set.timeout) {
        (_, Some(seconds)) => Expiry::After(seconds),
        (true, None) => Expiry::Any,
        (false, None) => Expiry::Never,
    }
}

/// Adds a rule's set declaration to the declarations of a table.
///
/// Rules that share a set (a named per-key limit) each declare it. Equal declarations are kept once. A declaration whose elements
/// may expire at any time (`flags timeout` without a timeout: the rule only
/// adds or removes elements) gives way to one that says when they expire.
/// Declarations that disagree otherwise are an error: nf_tables gives a set
/// one key type and one timeout, so no single set could serve both rules.
pub fn merge_sets(sets: &mut Vec<Set<'static>>, set: Set<'static>) -> Result<(), CompileError> {
    let same = |s: &&mut Set<'static>| {
        s.family == set.family && s.table == set.table && s.name == set.name
    };
    let Some(existing) = sets.iter_mut().find(same) else {
        sets.push(set);
        return Ok(());
    };
    // The first rule sizes a shared set, as the first of iptables' rules
    // sizes the kernel's table of that name.
    let resized = Set {
        size: existing.size,
        ..set.clone()
    };
    if *existing == resized {
        return Ok(());
    }
    if existing.set_type != set.set_type {
        return refuse(format!(
            "set {} is used with two different keys (an iptables name shared by matches of different kinds or modes)",
            set.name
        ));
    }
    match (expiry_of(existing), expiry_of(&set)) {
        (Expiry::Any, _) => *existing = set,
        (_, Expiry::Any) => {}
        (a, b) => {
            let describe = |e| match e {
                Expiry::After(s) => format!("after {s} seconds"),
                _ => "never".to_string(),
            };
            return refuse(format!(
                "set {} would need entries to expire {} for one rule and {} for another; \
                 nf_tables gives a set one timeout (use the same --seconds everywhere a list is checked)",
                set.name,
                describe(a),
                describe(b)
            ));
        }
    }
    Ok(())
}

/// A rule (`index` in `chain`) fills a set the table already holds: fine
/// unless it needs the set's elements to expire after another time than
/// they do. Both drivers ask this before leaving a set undeclared.
pub fn check_existing(
    existing: &KernelSet,
    wanted: &Set<'_>,
    chain: &str,
    index: usize,
) -> Result<(), CompileError> {
    match wanted.timeout {
        Some(seconds) if existing.timeout != Some(seconds) => {
            let now = match existing.timeout {
                Some(s) => format!("after {s} s"),
                None => "never by default".to_string(),
            };
            Err(CompileError(format!(
                "chain {chain}, rule {index} needs the entries of set {} to expire after {seconds} s, \
                 but the set exists and they expire {now}: load the rules that use it together \
                 (one iptables-restore), or delete them first",
                existing.name
            )))
        }
        _ => Ok(()),
    }
}

/// A stable digest of `text` (FNV-1a, 64 bits, as hex).
pub(crate) fn digest(text: &str) -> String {
    format!("{:016x}", moat_model::stable_hash(text, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::{Action, Family, Rule};

    fn decl(name: &str, expiry: Expiry) -> Set<'static> {
        let rule = Rule::new(Action::Accept);
        let cx = Cx {
            family: Family::Ipv4,
            table: "t",
            chain: "INPUT",
            rule: &rule,
            position: 0,
        };
        dynamic_set(&cx, name.to_string(), vec![SetType::Ipv4Addr], expiry)
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            set_name("hashlimit", "ssh-brute").unwrap(),
            "hashlimit_ssh-brute"
        );
        assert!(set_name("hashlimit", "").is_err());
        assert!(set_name("hashlimit", "a b").is_err());
    }

    #[test]
    fn expiry_any_gives_way_and_conflicts_are_refused() {
        let mut sets = vec![decl("r", Expiry::Any)];
        merge_sets(&mut sets, decl("r", Expiry::After(60))).unwrap();
        merge_sets(&mut sets, decl("r", Expiry::Any)).unwrap();
        merge_sets(&mut sets, decl("r", Expiry::After(60))).unwrap();
        assert_eq!(sets, vec![decl("r", Expiry::After(60))]);
        assert!(merge_sets(&mut sets, decl("r", Expiry::After(30))).is_err());
        assert!(merge_sets(&mut sets, decl("r", Expiry::Never)).is_err());
        merge_sets(&mut sets, decl("other", Expiry::Never)).unwrap();
        assert_eq!(sets.len(), 2);
    }
}
