//! `-m recent`: lists of recently seen addresses, as sets `recent_NAME`
//! shared by every rule that names the list.
//!
//! iptables stores when an address was last seen and `--seconds S` compares
//! that time with now. nf_tables cannot compare stored times, so the set's
//! elements expire S seconds after they were last set or updated: an address
//! is in the set exactly while iptables would find it seen within S seconds.
//! That gives a list one window: rules checking one list with different
//! `--seconds` cannot share a set ([`super::merge_sets`] refuses them).

use moat_model::{RecentAction, SetSide};
use nftables::stmt::Statement;

use super::addr::{addr_type, field};
use super::build::{eq, never, set_ref};
use super::decl::{declare, dynamic_set, set_name, Expiry};
use super::dynset::{set_stmt, SetOp};
use super::{refuse, CompileError, CompiledRule, Cx};

/// The parameters of a `-m recent` match.
pub(super) struct RecentSpec<'a> {
    /// The list's name.
    pub name: &'a str,
    /// What the match does with the list.
    pub action: RecentAction,
    /// `--seconds`: only entries seen this recently count.
    pub seconds: Option<u32>,
    /// `--hitcount`: entries must have been seen this often.
    pub hitcount: Option<u32>,
    /// Which address is listed.
    pub side: SetSide,
    /// The match is inverted.
    pub negate: bool,
}

/// Compiles a recently-seen-list match.
pub(super) fn compile(
    spec: &RecentSpec,
    cx: &Cx,
    out: &mut CompiledRule,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if spec.hitcount.is_some() {
        return refuse(
            "recent --hitcount counts the times an address was seen within the window; \
             nf_tables sets keep no history of times per element, so it cannot be expressed",
        );
    }
    let name = set_name("recent", spec.name)?;
    let key = || field(spec.side.into(), cx.family);
    let lookup = |negate| eq(key(), set_ref(&name), negate);
    // `--seconds 0` means no time limit in iptables.
    let window = match spec.seconds {
        Some(s) if s > 0 => Expiry::After(s),
        _ => Expiry::Never,
    };
    let (expiry, stmts) =
        match (spec.action, spec.negate) {
            // Always matches (negated never), after adding or refreshing the address.
            (RecentAction::Set, negate) => {
                let mut stmts = vec![set_stmt(SetOp::Update, &name, key(), vec![])?];
                if negate {
                    stmts.push(never(cx.family));
                }
                (Expiry::Any, stmts)
            }
            (RecentAction::Check, negate) => (window, vec![lookup(negate)]),
            (RecentAction::Update, false) => (
                window,
                vec![
                    lookup(false),
                    set_stmt(SetOp::Update, &name, key(), vec![])?,
                ],
            ),
            // Negated, iptables refreshes only entries seen too long ago, which an
            // expired element cannot be; without a window nothing is refreshed.
            (RecentAction::Update, true) if window == Expiry::Never => (window, vec![lookup(true)]),
            (RecentAction::Update, true) => return refuse(
                "a negated recent --update with --seconds refreshes addresses seen too long ago; \
                 nf_tables has already expired them, so it cannot be expressed",
            ),
            (RecentAction::Remove, false) => (
                Expiry::Any,
                vec![
                    lookup(false),
                    set_stmt(SetOp::Delete, &name, key(), vec![])?,
                ],
            ),
            (RecentAction::Remove, true) => {
                return refuse(
                    "a negated recent --remove must both remove the address and not match; \
                 one nf_tables rule cannot test membership after removing it",
                )
            }
        };
    declare(
        out,
        dynamic_set(cx, name, vec![addr_type(cx.family)], expiry),
    )?;
    Ok(stmts)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{compile, compile_json, v4};
    use moat_model::{Action, Match, RecentAction, Rule, SetSide};

    fn recent(action: RecentAction, seconds: Option<u32>, negate: bool) -> Rule {
        Rule {
            matches: vec![Match::Recent {
                name: "ssh".into(),
                action,
                seconds,
                hitcount: None,
                side: SetSide::Source,
                negate,
            }],
            ..Rule::new(Action::Drop)
        }
    }

    #[test]
    fn set_then_update_within_seconds() {
        let set = compile(&recent(RecentAction::Set, None, false), v4()).unwrap();
        assert_eq!(
            set.expr_json().unwrap()[0],
            json!({"set": {"op": "update", "set": "@recent_ssh",
                "elem": {"payload": {"protocol": "ip", "field": "saddr"}}}})
        );
        assert_eq!(set.sets[0].timeout, None);

        let update = compile(&recent(RecentAction::Update, Some(60), false), v4()).unwrap();
        assert_eq!(update.sets[0].timeout, Some(60));
        let stmts = update.expr_json().unwrap();
        assert_eq!(
            stmts[0],
            json!({"match": {"op": "==",
                "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@recent_ssh"}})
        );
        assert_eq!(stmts[1]["set"]["op"], "update");

        let mut sets = set.sets.clone();
        super::super::merge_sets(&mut sets, update.sets[0].clone()).unwrap();
        assert_eq!(sets, update.sets);
    }

    #[test]
    fn remove_deletes_after_the_lookup() {
        let stmts = compile_json(&recent(RecentAction::Remove, None, false), v4()).unwrap();
        assert_eq!(stmts[1]["set"]["op"], "delete");
        assert!(compile_json(&recent(RecentAction::Remove, None, true), v4()).is_err());
    }

    #[test]
    fn hitcount_and_negated_timed_update_are_refused() {
        let mut r = recent(RecentAction::Check, Some(60), false);
        if let Match::Recent { hitcount, .. } = &mut r.matches[0] {
            *hitcount = Some(4);
        }
        assert!(compile_json(&r, v4()).unwrap_err().0.contains("hitcount"));
        assert!(compile_json(&recent(RecentAction::Update, Some(60), true), v4()).is_err());
        assert!(compile_json(&recent(RecentAction::Update, None, true), v4()).is_ok());
    }
}
