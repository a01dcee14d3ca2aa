//! hashlimit's tables as the kernel keeps them: one per name, made by the
//! first rule of that name, whose key, rate, burst, expiry and size every
//! later rule of the name then uses (xt_hashlimit's table configuration);
//! each rule keeps only its own `--hashlimit-above` or `-upto`.

use std::collections::HashMap;

use moat_model::{LimitKey, Match, Rate, Rule, Table};

use crate::rule::Transport;

/// What the first rule of a name sets for the table of that name.
#[derive(Clone, Copy)]
struct TableSettings {
    rate: Rate,
    burst: u32,
    key: LimitKey,
    expire_ms: u32,
    bytes: bool,
    max_keys: Option<u32>,
}

/// Gives every hashlimit match of `table` the settings of the first rule
/// of its name, in the table's order. A key on ports stays the rule's own
/// where the rule tests no protocol with ports (the kernel would key it
/// on port 0, which nf_tables cannot).
pub(crate) fn share_hashlimit_tables(table: &mut Table) {
    let mut first: HashMap<String, TableSettings> = HashMap::new();
    for chain in &mut table.chains {
        for rule in &mut chain.rules {
            let has_ports = tests_a_port_protocol(rule);
            for m in &mut rule.matches {
                let Match::HashLimit {
                    name,
                    rate,
                    burst,
                    key,
                    expire_ms,
                    bytes,
                    max_keys,
                    ..
                } = m
                else {
                    continue;
                };
                let Some(settings) = first.get(name.as_str()) else {
                    let settings = TableSettings {
                        rate: *rate,
                        burst: *burst,
                        key: *key,
                        expire_ms: *expire_ms,
                        bytes: *bytes,
                        max_keys: *max_keys,
                    };
                    first.insert(name.clone(), settings);
                    continue;
                };
                let keys_ports = settings.key.src_port || settings.key.dst_port;
                if keys_ports && !has_ports {
                    continue;
                }
                (*rate, *burst, *key) = (settings.rate, settings.burst, settings.key);
                (*expire_ms, *bytes, *max_keys) =
                    (settings.expire_ms, settings.bytes, settings.max_keys);
            }
        }
    }
}

/// Whether `rule` tests for a protocol whose header has ports.
fn tests_a_port_protocol(rule: &Rule) -> bool {
    rule.matches.iter().any(|m| {
        matches!(m, Match::Protocol { proto, negate: false } if Transport::from_number(*proto).is_some())
    })
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Chain, Family, Stage};

    use super::*;

    fn hashlimit(name: &str, burst: u32, src: bool, over: bool) -> Match {
        Match::HashLimit {
            name: name.into(),
            rate: Rate {
                count: 1,
                unit: moat_model::RateUnit::Minute,
            },
            burst,
            over,
            key: LimitKey {
                src_prefix: src.then_some(32),
                dst_prefix: (!src).then_some(32),
                src_port: false,
                dst_port: false,
            },
            expire_ms: 60_000,
            bytes: false,
            max_keys: None,
        }
    }

    #[test]
    fn later_rules_of_a_name_take_the_first_ones_table() {
        let mut table = Table::new(Family::Ipv4, Stage::Filter);
        let rule = |m: Match| Rule {
            matches: vec![m],
            ..Rule::new(Action::Accept)
        };
        table.chain_mut("INPUT").unwrap().rules = vec![rule(hashlimit("h", 2, true, false))];
        table.chain_mut("FORWARD").unwrap().rules = vec![
            rule(hashlimit("h", 5, false, true)),
            rule(hashlimit("other", 5, false, false)),
        ];
        share_hashlimit_tables(&mut table);
        let forward: &Chain = table.chain("FORWARD").unwrap();
        // The first rule's key and burst; the rule's own "above".
        assert_eq!(forward.rules[0].matches[0], hashlimit("h", 2, true, true));
        assert_eq!(
            forward.rules[1].matches[0],
            hashlimit("other", 5, false, false)
        );
    }
}
