//! Chains no packet reaches, and jumps into chains that do nothing.

use moat_model::{Action, Chain, Match, RecentAction};

use crate::finding::{Finding, FindingKind};
use crate::view::TableView;

/// Unreachable user chains and jumps to empty or RETURN-only chains; `dead`
/// marks rules that never match.
pub fn check(view: &TableView<'_>, dead: &[Vec<bool>], out: &mut Vec<Finding>) {
    unreachable(view, dead, out);
    empty_jumps(view, dead, out);
}

/// For each chain, whether a base chain reaches it through rules that can match.
fn live(view: &TableView<'_>, dead: &[Vec<bool>]) -> Vec<bool> {
    let chains = &view.table.chains;
    let mut seen = vec![false; chains.len()];
    let mut stack: Vec<usize> = (0..chains.len())
        .filter(|&c| chains[c].base.is_some())
        .collect();
    while let Some(c) = stack.pop() {
        if std::mem::replace(&mut seen[c], true) {
            continue;
        }
        for (r, rule) in chains[c].rules.iter().enumerate() {
            if dead[c][r] {
                continue;
            }
            if let Some(t) = rule.chain_target().and_then(|n| view.graph.chain(n)) {
                stack.push(t);
            }
        }
    }
    seen
}

fn unreachable(view: &TableView<'_>, dead: &[Vec<bool>], out: &mut Vec<Finding>) {
    let chains = &view.table.chains;
    let live = live(view, dead);
    for (c, chain) in chains.iter().enumerate() {
        if chain.base.is_some() || live[c] {
            continue;
        }
        let callers = &view.graph.callers[c];
        let name = &chain.name;
        let (related, message) = if callers.is_empty() {
            (
                None,
                format!("never used: no rule jumps or goes to chain {name}; delete it or add a -j {name} where its rules belong"),
            )
        } else if let Some(&(cc, cr)) = callers.iter().find(|&&(cc, _)| live[cc]) {
            (
                Some(view.related(cc, cr)),
                format!("never used: every rule that jumps or goes to chain {name} can never match; fix those rules or delete the chain"),
            )
        } else {
            let mut from: Vec<&str> = callers
                .iter()
                .map(|&(cc, _)| chains[cc].name.as_str())
                .collect();
            from.dedup();
            (
                callers.first().map(|&(cc, cr)| view.related(cc, cr)),
                format!(
                    "never used: only chains that are never used themselves ({}) jump or go to chain {name}; delete them or add a jump from a used chain",
                    from.join(", ")
                ),
            )
        };
        out.push(view.finding(FindingKind::UnreachableChain, c, None, related, message));
    }
}

/// Why a chain does nothing for the packets sent to it, if it does nothing.
fn does_nothing(chain: &Chain) -> Option<&'static str> {
    if chain.rules.is_empty() {
        return Some("is empty");
    }
    let only_returns = chain.rules.iter().all(|r| {
        r.action == Action::Return
            && r.matches.iter().all(|m| match m {
                Match::Recent { action, .. } => *action == RecentAction::Check,
                Match::HashLimit { .. } | Match::Statistic { .. } | Match::Quota { .. } => false,
                _ => true,
            })
    });
    only_returns.then_some("only returns")
}

fn empty_jumps(view: &TableView<'_>, dead: &[Vec<bool>], out: &mut Vec<Finding>) {
    let chains = &view.table.chains;
    for (c, chain) in chains.iter().enumerate() {
        for (r, rule) in chain.rules.iter().enumerate() {
            let Action::Jump(name) = &rule.action else {
                continue;
            };
            let Some(t) = view.graph.chain(name) else {
                continue;
            };
            let Some(why) = does_nothing(&chains[t]) else {
                continue;
            };
            if dead[c][r] {
                continue;
            }
            let message = format!(
                "does nothing: chain {name} {why}, so every packet comes straight back; delete the jump or put rules in {name}"
            );
            let related = Some((name.clone(), 0, format!("-N {name}")));
            out.push(view.finding(FindingKind::EmptyJump, c, Some(r), related, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{at, found, lint_text};
    use crate::FindingKind::{EmptyJump, UnreachableChain};

    #[test]
    fn chains_nothing_reaches_are_reported() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n:USED - [0:0]\n:ORPHAN - [0:0]\n:CHILD - [0:0]\n:BEHIND - [0:0]\n\
             -A INPUT -p tcp -j USED\n\
             -A INPUT -j DROP\n\
             -A INPUT -p udp -j BEHIND\n\
             -A USED -p tcp --dport 22 -j ACCEPT\n\
             -A ORPHAN -j CHILD\n\
             -A CHILD -j ACCEPT\n\
             -A BEHIND -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(
            found(&f, UnreachableChain),
            at(&[("ORPHAN", 0), ("CHILD", 0), ("BEHIND", 0)])
        );
        let msg = |c: &str| {
            f.iter()
                .find(|f| f.chain == c)
                .map(|f| f.to_string())
                .unwrap_or_default()
        };
        assert!(
            msg("ORPHAN").contains("(-N ORPHAN): never used: no rule jumps"),
            "{}",
            msg("ORPHAN")
        );
        assert!(msg("CHILD").contains("(ORPHAN)"), "{}", msg("CHILD"));
        assert!(
            msg("BEHIND").contains("can never match"),
            "{}",
            msg("BEHIND")
        );
    }

    #[test]
    fn jumps_to_empty_or_returning_chains_do_nothing() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n:EMPTY - [0:0]\n:RET - [0:0]\n:REAL - [0:0]\n:SEEN - [0:0]\n\
             -A INPUT -j EMPTY\n\
             -A INPUT -p tcp -j RET\n\
             -A INPUT -j REAL\n\
             -A INPUT -j SEEN\n\
             -A RET -s 10.0.0.0/8 -j RETURN\n\
             -A RET -j RETURN\n\
             -A REAL -s 10.0.0.0/8 -j RETURN\n\
             -A REAL -j DROP\n\
             -A SEEN -m recent --name x --set -j RETURN\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, EmptyJump), at(&[("INPUT", 1), ("INPUT", 2)]));
        assert!(found(&f, UnreachableChain).is_empty());
        assert!(f[0].message.contains("chain EMPTY is empty"), "{}", f[0]);
    }
}
