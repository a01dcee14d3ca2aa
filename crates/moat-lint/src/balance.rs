//! Load balancing with `-m statistic`: the share of packets each backend of
//! a run of DNAT rules really gets.
//!
//! A run is consecutive DNAT rules of one chain with the same other matches,
//! each with one statistic match, optionally ended by one without (it takes
//! the rest). Every rule only sees the packets the rules before it left, so
//! rule i gets `p_i * (1 - p_1) * ... * (1 - p_{i-1})`. Nth mode works the
//! same way: each rule counts only the packets that reach it.

use moat_model::{Action, Match, Rule, StatisticMode};

use crate::finding::{Finding, FindingKind};
use crate::view::TableView;

/// How far (relative to the equal share) a share may be off before it is reported.
const TOLERANCE: f64 = 0.1;
/// The share of packets that may fall through a run without a catch-all unreported.
const LEFTOVER: f64 = 0.01;

/// One rule of a run: its chance to take a packet that reaches it.
struct Backend<'r> {
    key: Vec<&'r Match>,
    chance: Option<f64>,
    nth: bool,
}

fn backend(rule: &Rule) -> Option<Backend<'_>> {
    if !matches!(rule.action, Action::Dnat(_)) {
        return None;
    }
    let mut chance = None;
    let mut nth = false;
    let mut key = Vec::new();
    for m in &rule.matches {
        match m {
            Match::Statistic { mode, negate } => {
                if chance.is_some() {
                    return None;
                }
                let p = match *mode {
                    StatisticMode::Random { probability } => probability.clamp(0.0, 1.0),
                    StatisticMode::Nth { every, packet } => {
                        nth = true;
                        if packet < every {
                            1.0 / f64::from(every)
                        } else {
                            0.0
                        }
                    }
                };
                chance = Some(if *negate { 1.0 - p } else { p });
            }
            Match::Comment { .. } => {}
            other => key.push(other),
        }
    }
    Some(Backend { key, chance, nth })
}

/// Uneven statistic load balancing in every chain of `view`.
pub fn check(view: &TableView<'_>, out: &mut Vec<Finding>) {
    for (c, chain) in view.table.chains.iter().enumerate() {
        let backends: Vec<Option<Backend<'_>>> = chain.rules.iter().map(backend).collect();
        let mut i = 0;
        while i < backends.len() {
            let Some(first) = backends[i].as_ref().filter(|b| b.chance.is_some()) else {
                i += 1;
                continue;
            };
            let mut end = i + 1;
            while let Some(Some(next)) = backends.get(end) {
                if next.key != first.key
                    || backends[end - 1]
                        .as_ref()
                        .is_some_and(|b| b.chance.is_none())
                {
                    break;
                }
                end += 1;
            }
            if end - i >= 2 {
                let run: Vec<&Backend<'_>> = backends[i..end].iter().flatten().collect();
                if let Some(f) = report(view, c, i, end - 1, &run) {
                    out.push(f);
                }
            }
            i = end;
        }
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn decimal(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

fn report(
    view: &TableView<'_>,
    chain: usize,
    first: usize,
    last: usize,
    run: &[&Backend<'_>],
) -> Option<Finding> {
    let n = run.len();
    let mut left = 1.0;
    let shares: Vec<f64> = run
        .iter()
        .map(|b| {
            let s = left * b.chance.unwrap_or(1.0);
            left -= s;
            s
        })
        .collect();
    let fair = 1.0 / n as f64;
    let uneven = shares.iter().any(|s| (s - fair).abs() > TOLERANCE * fair);
    let leaks = left > LEFTOVER;
    if !uneven && !leaks {
        return None;
    }
    let shown: Vec<String> = shares.iter().map(|&s| percent(s)).collect();
    let mut what = format!(
        "rules {}-{} split their packets {}",
        first + 1,
        last + 1,
        list(&shown)
    );
    if leaks {
        what.push_str(&format!(
            ", and {} match none of them and fall through",
            percent(left)
        ));
    }
    let fix = if run[0].nth {
        let every: Vec<String> = (2..=n).rev().map(|k| k.to_string()).collect();
        format!(
            "--every {} (each with --packet 0) and no statistic match on the last rule",
            every.join(", ")
        )
    } else {
        let p: Vec<String> = (2..=n).rev().map(|k| decimal(1.0 / k as f64)).collect();
        format!(
            "--probability {} and no statistic match on the last rule",
            p.join(", ")
        )
    };
    let message = format!(
        "uneven load balancing: {what}; for equal shares of {} use {fix}",
        percent(fair)
    );
    Some(view.finding(
        FindingKind::UnevenBalance,
        chain,
        Some(first),
        Some(view.related(chain, last)),
        message,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testkit::{found, lint_text};
    use crate::FindingKind::UnevenBalance;

    fn nat(rules: &[&str]) -> Vec<crate::Finding> {
        let mut text = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n");
        for (i, r) in rules.iter().enumerate() {
            text.push_str(&format!(
                "-A PREROUTING -p tcp -d 192.168.0.4 --dport 80 {r} -j DNAT --to-destination 10.10.7.{}:8080\n",
                14 + i
            ));
        }
        text.push_str("COMMIT\n");
        lint_text(&text)
    }

    #[test]
    fn seed_002_random_split_is_even() {
        let f = nat(&[
            "-m statistic --mode random --probability 0.33",
            "-m statistic --mode random --probability 0.5",
            "",
        ]);
        assert!(found(&f, UnevenBalance).is_empty(), "{f:#?}");
        let f = nat(&[
            "-m statistic --mode nth --every 3 --packet 0",
            "-m statistic --mode nth --every 2 --packet 0",
            "",
        ]);
        assert!(found(&f, UnevenBalance).is_empty(), "{f:#?}");
    }

    #[test]
    fn equal_probabilities_give_unequal_shares() {
        let f = nat(&[
            "-m statistic --mode random --probability 0.33",
            "-m statistic --mode random --probability 0.33",
            "",
        ]);
        let u: Vec<&crate::Finding> = f.iter().filter(|f| f.kind == UnevenBalance).collect();
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].rule, 1);
        assert!(
            u[0].message.contains("rules 1-3 split their packets 33.0%, 22.1% and 44.9%; for equal shares of 33.3% use --probability 0.3333, 0.5 and no statistic"),
            "{}",
            u[0].message
        );
    }

    #[test]
    fn nth_with_one_counter_in_mind_leaves_packets_out() {
        let f = nat(&[
            "-m statistic --mode nth --every 3 --packet 0",
            "-m statistic --mode nth --every 3 --packet 1",
            "-m statistic --mode nth --every 3 --packet 2",
        ]);
        let u: Vec<&crate::Finding> = f.iter().filter(|f| f.kind == UnevenBalance).collect();
        assert_eq!(u.len(), 1);
        assert!(
            u[0].message.contains("33.3%, 22.2% and 14.8%, and 29.6% match none of them and fall through; for equal shares of 33.3% use --every 3, 2 (each with --packet 0)"),
            "{}",
            u[0].message
        );
    }

    #[test]
    fn different_services_are_separate_runs() {
        let text = "*nat\n:PREROUTING ACCEPT [0:0]\n\
            -A PREROUTING -p tcp --dport 80 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.0.0.1\n\
            -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2\n\
            -A PREROUTING -p tcp --dport 81 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.0.0.3\n\
            -A PREROUTING -p tcp --dport 81 -j DNAT --to-destination 10.0.0.4\n\
            COMMIT\n";
        assert!(found(&lint_text(text), UnevenBalance).is_empty());
    }
}
