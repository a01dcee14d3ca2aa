//! `-m statistic`: random sampling and every-nth-packet matching.

use moat_model::{Family, StatisticMode};
use nftables::expr::{Expression, MetaKey, NamedExpression, NgMode, Numgen};
use nftables::stmt::Statement;

use super::build::{cmp, eq, meta, never, num, GREATER_EQ, LESS};
use super::{refuse, CompileError};

/// iptables' probability scale: `--probability p` is stored as
/// `round(p * 2^31)` and a packet matches when 31 random bits are below it.
const SCALE: f64 = 2_147_483_648.0;

/// Compiles a statistic match.
pub(super) fn compile(
    mode: StatisticMode,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    match mode {
        StatisticMode::Random { probability } => random(probability, negate, family),
        StatisticMode::Nth { every, packet } => nth(every, packet, negate),
    }
}

/// `--mode random --probability p`: iptables matches when
/// `random & 0x7fffffff < P` with `P = round(p * 2^31)`, that is with
/// probability `P / 2^31`. `meta random < 2P` over all 32 random bits has
/// exactly that probability.
fn random(
    probability: f64,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if !(0.0..=1.0).contains(&probability) {
        return refuse(format!("probability {probability} is not between 0 and 1"));
    }
    let threshold = (probability * SCALE).round();
    let (always, none) = (vec![], vec![never(family)]);
    if threshold >= SCALE {
        return Ok(if negate { none } else { always });
    }
    if threshold <= 0.0 {
        return Ok(if negate { always } else { none });
    }
    // A whole number with 0 < threshold < 2^31: the cast is exact and twice
    // the value fits in 32 bits.
    let bound = (threshold as u32) * 2;
    let op = if negate { GREATER_EQ } else { LESS };
    Ok(vec![cmp(meta(MetaKey::Random), op, num(bound))])
}

/// `--mode nth --every n --packet p`: iptables' counter starts so that the
/// (p+1)-th packet that reaches the match is the first to match, then every
/// n-th. `numgen inc mod n` starts at 0, giving the k-th packet `(k-1) mod n`,
/// so the match is `numgen inc mod n == p` (checked against iptables by
/// counting packets). Both counters belong to the rule.
fn nth(every: u32, packet: u32, negate: bool) -> Result<Vec<Statement<'static>>, CompileError> {
    if every == 0 {
        return refuse("statistic --every must be at least 1");
    }
    if packet >= every {
        return refuse(format!(
            "statistic --packet {packet} must be below --every {every}"
        ));
    }
    let counter = Expression::Named(NamedExpression::Numgen(Numgen {
        mode: NgMode::Inc,
        ng_mod: every,
        offset: None,
    }));
    Ok(vec![eq(counter, num(packet), negate)])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{matches_json, v4};
    use moat_model::{Match, StatisticMode};

    fn stat(mode: StatisticMode, negate: bool) -> Match {
        Match::Statistic { mode, negate }
    }

    #[test]
    fn random_uses_twice_the_iptables_threshold() {
        let m = stat(StatisticMode::Random { probability: 0.25 }, false);
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "<", "left": {"meta": {"key": "random"}}, "right": 1073741824}}])
        );
        let m = stat(StatisticMode::Random { probability: 0.5 }, true);
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": ">=", "left": {"meta": {"key": "random"}}, "right": 2147483648u32}}])
        );
        let always = stat(StatisticMode::Random { probability: 1.0 }, false);
        assert_eq!(matches_json(&[always], v4()), json!([]));
    }

    #[test]
    fn nth_compares_the_counter_with_the_packet() {
        let m = stat(
            StatisticMode::Nth {
                every: 3,
                packet: 0,
            },
            false,
        );
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "==", "left": {"numgen": {"mode": "inc", "mod": 3}}, "right": 0}}])
        );
        let m = stat(
            StatisticMode::Nth {
                every: 3,
                packet: 2,
            },
            true,
        );
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "!=", "left": {"numgen": {"mode": "inc", "mod": 3}}, "right": 2}}])
        );
    }
}
