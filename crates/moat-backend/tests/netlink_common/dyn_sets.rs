//! Matches nft writes with a named set the rule fills while packets pass:
//! connection counts per address (`-m connlimit`).

use moat_model::{Action, Family, Match, Rule};

use super::{proto, rule};

fn connlimit(count: u32, above: bool, prefix: u8, by_source: bool) -> Match {
    Match::ConnLimit {
        count,
        above,
        prefix,
        by_source,
    }
}

/// Filter-table rules that count connections per address.
pub fn filter_rules(family: Family) -> Vec<Rule> {
    let (full, part) = match family {
        Family::Ipv4 => (32, 24),
        Family::Ipv6 => (128, 64),
    };
    vec![
        rule(
            vec![proto(6), connlimit(2, true, full, true)],
            Action::Drop,
            "-p tcp -m connlimit --connlimit-above 2 -j DROP",
        ),
        rule(
            vec![proto(6), connlimit(10, false, part, true)],
            Action::Accept,
            "-p tcp -m connlimit --connlimit-upto 10 --connlimit-mask N -j ACCEPT",
        ),
        rule(
            vec![connlimit(100, true, full, false)],
            Action::Drop,
            "-m connlimit --connlimit-above 100 --connlimit-daddr -j DROP",
        ),
    ]
}
