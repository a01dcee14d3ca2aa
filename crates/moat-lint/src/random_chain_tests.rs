//! Random rulesets with user chains (jumps, gotos, returns, chains that
//! end every packet, mark changes): a packet walk through the chains must
//! never reach a rule reported as never matching, nor change when a rule
//! reported redundant is removed.

use moat_model::{
    Action, Chain, Counters, Family, Hook, MarkSet, Match, Policy, Rule, Stage, Table,
};

use crate::random_tests::{holds, random_packet, random_rule, Packet, Rng};
use crate::{lint, FindingKind};

const USER: usize = 4;

fn user(i: usize) -> String {
    format!("U{i}")
}

/// A rule of chain `at` (0 is INPUT, `i + 1` is `Ui`); jumps only go to
/// later chains so the walk ends.
fn chain_rule(rng: &mut Rng, at: usize) -> Rule {
    let mut rule = random_rule(rng);
    rule.matches.retain(|m| !matches!(m, Match::Limit { .. }));
    if rng.chance(15) {
        rule.matches.push(Match::Mark {
            value: rng.pick(&[0u32, 1, 2]),
            mask: u32::MAX,
            negate: rng.chance(20),
        });
    }
    if at < USER && rng.chance(25) {
        let target = user(at + rng.below(USER - at));
        rule.action = if rng.chance(70) {
            Action::Jump(target)
        } else {
            Action::Goto(target)
        };
    } else if rng.chance(8) {
        rule.action = Action::SetMark(MarkSet {
            value: rng.pick(&[1u32, 2]),
            mask: u32::MAX,
        });
    }
    rule
}

fn random_table(rng: &mut Rng) -> Table {
    let policy = if rng.chance(50) {
        Policy::Accept
    } else {
        Policy::Drop
    };
    let mut chains = vec![Chain {
        name: "INPUT".into(),
        base: Some((Hook::Input, policy)),
        policy_counters: Counters::default(),
        rules: (0..3 + rng.below(15)).map(|_| chain_rule(rng, 0)).collect(),
    }];
    for i in 0..USER {
        let mut rules: Vec<Rule> = (0..rng.below(8)).map(|_| chain_rule(rng, i + 1)).collect();
        if rng.chance(30) {
            rules.push(Rule::new(Action::Drop));
            rules.extend((0..rng.below(3)).map(|_| chain_rule(rng, i + 1)));
        }
        chains.push(Chain {
            name: user(i),
            base: None,
            policy_counters: Counters::default(),
            rules,
        });
    }
    Table {
        family: Family::Ipv4,
        stage: Stage::Filter,
        chains,
    }
}

/// What a walk did: the rules it matched (chain, rule) and the verdict
/// (`None`: fell off or returned).
struct Walk {
    matched: Vec<(usize, usize)>,
    verdict: Option<Action>,
}

fn walk(
    t: &Table,
    chain: usize,
    p: &mut Packet,
    skip: Option<(usize, usize)>,
    w: &mut Walk,
) -> bool {
    for (i, r) in t.chains[chain].rules.iter().enumerate() {
        if Some((chain, i)) == skip || !r.matches.iter().all(|m| holds(m, p, false)) {
            continue;
        }
        w.matched.push((chain, i));
        let target = |name: &str| t.chains.iter().position(|c| c.name == name);
        match &r.action {
            Action::Accept | Action::Drop | Action::Reject(_) => {
                w.verdict = Some(r.action.clone());
                return true;
            }
            Action::Return => return false,
            Action::Jump(n) => {
                if let Some(c) = target(n) {
                    if walk(t, c, p, skip, w) {
                        return true;
                    }
                }
            }
            Action::Goto(n) => return target(n).is_some_and(|c| walk(t, c, p, skip, w)),
            Action::SetMark(m) => p.mark = (p.mark & !m.mask) ^ m.value,
            _ => {}
        }
    }
    false
}

fn run(t: &Table, p: &Packet, skip: Option<(usize, usize)>) -> Walk {
    let mut w = Walk {
        matched: Vec::new(),
        verdict: None,
    };
    walk(t, 0, &mut p.clone(), skip, &mut w);
    w
}

/// The verdict and the non-terminal rules (logs, marks, jumps, counts) a packet meets.
fn behaviour(t: &Table, w: &Walk) -> (Option<Action>, Vec<(usize, usize)>) {
    let side = w
        .matched
        .iter()
        .copied()
        .filter(|&(c, r)| {
            !matches!(
                t.chains[c].rules[r].action,
                Action::Accept | Action::Drop | Action::Reject(_) | Action::Return
            )
        })
        .collect();
    let policy = match t.chains[0].base {
        Some((_, Policy::Drop)) => Action::Drop,
        _ => Action::Accept,
    };
    (Some(w.verdict.clone().unwrap_or(policy)), side)
}

#[test]
fn no_false_report_across_user_chains() {
    let mut rng = Rng(0xc4a1);
    let mut reported = 0;
    for round in 0..300 {
        let t = random_table(&mut rng);
        let findings = lint(std::slice::from_ref(&t));
        let at = |f: &crate::Finding| {
            let c = t.chains.iter().position(|c| c.name == f.chain).unwrap_or(0);
            (c, f.rule - 1)
        };
        let dead: Vec<(usize, usize)> = findings
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    FindingKind::Shadowed | FindingKind::Conflicting | FindingKind::Impossible
                )
            })
            .map(at)
            .collect();
        let redundant: Vec<(usize, usize)> = findings
            .iter()
            .filter(|f| f.kind == FindingKind::Redundant)
            .map(at)
            .collect();
        reported += dead.len() + redundant.len();
        for _ in 0..1000 {
            let p = random_packet(&mut rng);
            let w = run(&t, &p, None);
            if let Some(hit) = w.matched.iter().find(|m| dead.contains(m)) {
                panic!("round {round}: {hit:?} reported as never matching, but {p:?} reaches it\n{t:#?}\n{findings:#?}");
            }
            for &r in &redundant {
                assert_eq!(
                    behaviour(&t, &w),
                    behaviour(&t, &run(&t, &p, Some(r))),
                    "round {round}: {r:?} reported redundant, but {p:?} differs without it\n{t:#?}"
                );
            }
        }
    }
    eprintln!("reported {reported}");
    assert!(reported > 100, "{reported}");
}
