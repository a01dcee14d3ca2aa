//! Redundant rules: every packet the rule takes would get the same verdict
//! from later rules (or the chain's end) anyway.
//!
//! Conservative: the walk from the rule onward stops, without a report, at
//! the first later rule that may see some of its packets and does anything
//! but give the same verdict (another verdict, log, mark, jump, count, ...).

use moat_model::{Action, Match, Policy, RecentAction, Rule};

use crate::describe::{policy_name, policy_text, verdict};
use crate::finding::{Finding, FindingKind};
use crate::shadow::CAP;
use crate::sig::Sig;
use crate::view::TableView;

/// Redundant rules of every chain; `dead` marks rules already found unreachable.
pub fn check(view: &TableView<'_>, dead: &[Vec<bool>], out: &mut Vec<Finding>) {
    for (chain, dead) in dead.iter().enumerate() {
        check_chain(view, chain, dead, out);
    }
}

/// Whether the rule changes shared state when it matches (so removing it matters).
fn has_side_effects(rule: &Rule) -> bool {
    rule.matches.iter().any(|m| match m {
        Match::Recent { action, .. } => *action != RecentAction::Check,
        // xtables modules may keep state (recent lists, ...).
        Match::HashLimit { .. } | Match::Statistic { .. } | Match::Quota { .. } | Match::Xt(_) => {
            true
        }
        _ => false,
    })
}

/// Where the packets of a rule end up with the same verdict.
enum Same {
    Rule(usize),
    End,
}

fn check_chain(view: &TableView<'_>, chain: usize, dead: &[bool], out: &mut Vec<Finding>) {
    let c = &view.table.chains[chain];
    let spaces = &view.spaces[chain];
    let sigs: Vec<Sig> = spaces
        .iter()
        .map(|s| Sig::of(&s.cubes, &view.domain))
        .collect();
    for (i, rule) in c.rules.iter().enumerate() {
        let simple = matches!(
            rule.action,
            Action::Accept | Action::Drop | Action::Reject(_) | Action::Return
        );
        if dead[i] || !simple || has_side_effects(rule) {
            continue;
        }
        let Some(same) = same_verdict_later(view, chain, i, &sigs) else {
            continue;
        };
        let what = verdict(&rule.action);
        let (related, message) = match same {
            Same::Rule(k) => (
                view.related(chain, k),
                format!(
                    "redundant: every packet it takes would get the same {what} from rule {} ({}) anyway; delete it",
                    k + 1,
                    view.text(chain, k)
                ),
            ),
            Same::End => match c.base {
                Some((_, policy)) => (
                    (c.name.clone(), 0, policy_text(&c.name, policy)),
                    format!(
                        "redundant: every packet it takes reaches the chain's policy {} anyway with nothing in between to treat it otherwise; delete it",
                        policy_name(policy)
                    ),
                ),
                None => (
                    (c.name.clone(), 0, format!("end of chain {}", c.name)),
                    "redundant: every packet it takes reaches the end of the chain and returns anyway; delete it".into(),
                ),
            },
        };
        out.push(view.finding(
            FindingKind::Redundant,
            chain,
            Some(i),
            Some(related),
            message,
        ));
    }
}

/// Where every packet of rule `i` gets the same verdict later. Later rules
/// found unreachable still count: they may be unreachable only because of
/// rule `i`, and would take packets once it is gone.
fn same_verdict_later(view: &TableView<'_>, chain: usize, i: usize, sigs: &[Sig]) -> Option<Same> {
    let c = &view.table.chains[chain];
    let spaces = &view.spaces[chain];
    let action = &c.rules[i].action;
    let mut rest = spaces[i].cubes.clone();
    for k in i + 1..c.rules.len() {
        if !sigs[k].may_overlap(&sigs[i]) || !rest.intersects(&spaces[k].cubes) {
            continue;
        }
        let later = &c.rules[k];
        if later.action != *action || has_side_effects(later) {
            return None;
        }
        if spaces[k].exact {
            rest = rest.subtract(&spaces[k].cubes, &view.domain, CAP)?;
            if rest.is_empty() {
                return Some(Same::Rule(k));
            }
        }
    }
    let ends_same = matches!(
        (c.base, action),
        (_, Action::Return)
            | (Some((_, Policy::Accept)), Action::Accept)
            | (Some((_, Policy::Drop)), Action::Drop)
    );
    ends_same.then_some(Same::End)
}

#[cfg(test)]
mod tests {
    use crate::testkit::{at, found, lint_text};
    use crate::FindingKind::Redundant;

    #[test]
    fn drop_before_a_catch_all_drop_is_redundant() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -p tcp --dport 80 -j DROP\n\
             -A INPUT -p udp --dport 53 -j ACCEPT\n\
             -A INPUT -j DROP\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Redundant), at(&[("INPUT", 1)]));
        assert!(
            f[0].message
                .contains("same DROP from rule 3 (-A INPUT -j DROP)"),
            "{}",
            f[0]
        );
    }

    #[test]
    fn drop_before_the_policy_drop_is_redundant() {
        let f = lint_text(
            "*filter\n:INPUT DROP [0:0]\n\
             -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n\
             -A INPUT -p tcp --dport 23 -j DROP\n\
             -A INPUT -p tcp --dport 22 -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Redundant), at(&[("INPUT", 2)]));
        assert_eq!(
            f[0].related,
            Some(("INPUT".into(), 0, "-P INPUT DROP".into()))
        );
    }

    #[test]
    fn a_different_verdict_or_action_in_between_keeps_the_rule() {
        let f = lint_text(
            "*filter\n:INPUT DROP [0:0]\n:LOGDROP - [0:0]\n\
             -A INPUT -p tcp --dport 80 -j DROP\n\
             -A INPUT -p tcp -j ACCEPT\n\
             -A INPUT -p udp --dport 53 -j DROP\n\
             -A INPUT -p udp -j LOG\n\
             -A INPUT -p icmp -j DROP\n\
             -A INPUT -p icmp -m limit --limit 1/s -j ACCEPT\n\
             -A INPUT -s 10.0.0.1/32 -j REJECT\n\
             -A INPUT -s 10.0.0.1/32 -j LOGDROP\n\
             -A INPUT -m recent --name bad --set -j DROP\n\
             -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n\
             -A LOGDROP -j LOG\n\
             -A LOGDROP -j DROP\n\
             COMMIT\n",
        );
        assert!(found(&f, Redundant).is_empty(), "{f:#?}");
    }

    #[test]
    fn return_at_the_end_of_a_user_chain_is_redundant() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n:C - [0:0]\n\
             -A INPUT -j C\n\
             -A C -p tcp --dport 22 -j ACCEPT\n\
             -A C -s 10.0.0.0/8 -j RETURN\n\
             -A C -p udp -j ACCEPT\n\
             COMMIT\n",
        );
        assert!(found(&f, Redundant).is_empty(), "{f:#?}");
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n:C - [0:0]\n\
             -A INPUT -j C\n\
             -A C -p tcp --dport 22 -j ACCEPT\n\
             -A C -p udp -j RETURN\n\
             -A C -p tcp -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Redundant), at(&[("C", 1), ("C", 2)]));
    }
}
