//! Matches nft writes with a named set the rule fills while packets pass:
//! connection counts per address (`-m connlimit`) and token buckets per
//! key (`-m hashlimit`), whose sets' elements expire.

use moat_model::{Action, Family, LimitKey, Match, Rate, RateUnit, Rule};

use super::{proto, rule};

fn connlimit(count: u32, above: bool, prefix: u8, by_source: bool) -> Match {
    Match::ConnLimit {
        count,
        above,
        prefix,
        by_source,
    }
}

/// A per-key bucket of `name`: `bytes` per second, or 10 packets.
fn hashlimit(name: &str, key: LimitKey, bytes: bool, max_keys: Option<u32>) -> Match {
    Match::HashLimit {
        name: name.into(),
        rate: Rate {
            count: if bytes { 4096 } else { 10 },
            unit: RateUnit::Second,
        },
        burst: if bytes { 8192 } else { 20 },
        over: !bytes,
        key,
        expire_ms: 30_000,
        bytes,
        max_keys,
    }
}

fn key(src_prefix: Option<u8>, dst_prefix: Option<u8>, src_port: bool, dst_port: bool) -> LimitKey {
    LimitKey {
        src_prefix,
        dst_prefix,
        src_port,
        dst_port,
    }
}

/// Filter-table rules that count connections per address, and limit
/// packets and bytes per address and port.
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
        rule(
            vec![hashlimit("src", key(Some(full), None, false, false), false, None)],
            Action::Drop,
            "-m hashlimit --hashlimit-above 10/sec --hashlimit-mode srcip ... -j DROP",
        ),
        rule(
            vec![
                proto(6),
                hashlimit("net-port", key(Some(part), None, false, true), false, Some(2048)),
            ],
            Action::Drop,
            "-p tcp -m hashlimit --hashlimit-mode srcip,dstport --hashlimit-srcmask N ... -j DROP",
        ),
        rule(
            vec![
                proto(17),
                hashlimit("all", key(Some(full), Some(part), true, true), false, None),
            ],
            Action::Drop,
            "-p udp -m hashlimit --hashlimit-mode srcip,dstip,srcport,dstport ... -j DROP",
        ),
        rule(
            vec![hashlimit("bytes", key(None, Some(full), false, false), true, Some(64))],
            Action::Accept,
            "-m hashlimit --hashlimit-upto 4kb/s --hashlimit-burst 12kb --hashlimit-mode dstip ... -j ACCEPT",
        ),
    ]
}
