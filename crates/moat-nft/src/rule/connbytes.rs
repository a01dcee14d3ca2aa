//! `-m connbytes`: the connection's packet and byte counters (`ct bytes`,
//! `ct original packets`, `ct reply avgpkt`, ...).
//!
//! Like iptables' match, nf_tables turns on connection accounting when the
//! rule is loaded, and a packet without a tracked connection matches
//! neither form. Counts over 32 bits are written as decimal strings, which
//! `nft` reads with the 64-bit type of the counter.

use moat_model::{ConnCounter, CtDirection};
use nftables::expr::{CTDir, Expression};
use nftables::stmt::{Operator, Statement};

use super::build::{cmp, ct, ct_dir, num, range, text, GREATER_EQ, LESS};

fn count(n: u64) -> Expression<'static> {
    match u32::try_from(n) {
        Ok(n) => num(n),
        Err(_) => text(n.to_string()),
    }
}

/// `ct [original|reply] bytes|packets|avgpkt` compared with `min..=max`
/// (outside it when `negate`).
pub(super) fn compile(
    counter: ConnCounter,
    dir: Option<CtDirection>,
    min: u64,
    max: u64,
    negate: bool,
) -> Vec<Statement<'static>> {
    let key = match counter {
        ConnCounter::Packets => "packets",
        ConnCounter::Bytes => "bytes",
        ConnCounter::AvgPacket => "avgpkt",
    };
    let left = match dir {
        None => ct(key),
        Some(CtDirection::Original) => ct_dir(key, CTDir::Original),
        Some(CtDirection::Reply) => ct_dir(key, CTDir::Reply),
    };
    let (op, right) = match (min == max, max == u64::MAX, negate) {
        (true, _, false) => (Operator::EQ, count(min)),
        (true, _, true) => (Operator::NEQ, count(min)),
        (false, true, false) => (GREATER_EQ, count(min)),
        (false, true, true) => (LESS, count(min)),
        (false, false, false) => (Operator::EQ, range(count(min), count(max))),
        (false, false, true) => (Operator::NEQ, range(count(min), count(max))),
    };
    vec![cmp(left, op, right)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{matches_json, v4, v6};
    use moat_model::{ConnCounter, CtDirection, Match};

    #[test]
    fn counters_ranges_and_directions() {
        let m = Match::ConnBytes {
            counter: ConnCounter::Bytes,
            dir: None,
            min: 10_000_000_000,
            max: u64::MAX,
            negate: false,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": ">=", "left": {"ct": {"key": "bytes"}}, "right": "10000000000"}}])
        );
        let m = Match::ConnBytes {
            counter: ConnCounter::Packets,
            dir: Some(CtDirection::Original),
            min: 10,
            max: 100,
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v6()),
            json!([{"match": {"op": "!=", "left": {"ct": {"key": "packets", "dir": "original"}}, "right": {"range": [10, 100]}}}])
        );
        let m = Match::ConnBytes {
            counter: ConnCounter::AvgPacket,
            dir: Some(CtDirection::Reply),
            min: 500,
            max: u64::MAX,
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"match": {"op": "<", "left": {"ct": {"key": "avgpkt", "dir": "reply"}}, "right": 500}}])
        );
    }
}
