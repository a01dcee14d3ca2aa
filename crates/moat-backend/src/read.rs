//! Turns `nft -j list table` output into a [`KernelTable`].

use std::collections::HashMap;

use moat_model::{Counters, Family, NatSide, Policy, Stage};
use moat_nft::layout::{hook_of_base_chain, AFTER_CONNTRACK_PRIORITY};
use moat_nft::{portmap, CtObject, KernelChain, KernelMember, KernelRule, KernelSet, KernelTable};
use serde::Deserialize;

use crate::BackendError;

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<Item>,
}

/// One listed object; only chains, rules and maps matter, other keys are ignored.
#[derive(Deserialize)]
struct Item {
    chain: Option<ChainItem>,
    rule: Option<RuleItem>,
    map: Option<MapItem>,
    set: Option<SetItem>,
}

/// A named set: its name and default timeout (seconds).
#[derive(Deserialize)]
struct SetItem {
    name: String,
    timeout: Option<u32>,
}

/// A map; only port maps' address maps are read (their elements are rules).
#[derive(Deserialize)]
struct MapItem {
    name: String,
    #[serde(default)]
    elem: Vec<serde_json::Value>,
}

/// An address map element's key side: `{"elem": {"val": 80, "comment": ..., "counter": ...}}`.
#[derive(Deserialize)]
struct ElemKey {
    elem: ElemInfo,
}

#[derive(Deserialize)]
struct ElemInfo {
    val: u16,
    comment: Option<String>,
    counter: Option<serde_json::Value>,
}

/// The rules a port map's address map holds, in order.
fn members_of(map: MapItem) -> Result<Vec<KernelMember>, BackendError> {
    let mut members = Vec::with_capacity(map.elem.len());
    for pair in map.elem {
        let key = pair.get(0).cloned().unwrap_or_default();
        let info = serde_json::from_value::<ElemKey>(key)
            .map_err(|e| BackendError::Listing(format!("port map {}: {e}", map.name)))?
            .elem;
        let comment = info.comment.unwrap_or_default();
        let (order, source) = portmap::parse_comment(&comment).ok_or_else(|| {
            BackendError::Listing(format!(
                "port map {}: element {} has an unreadable comment {comment:?}",
                map.name, info.val
            ))
        })?;
        members.push(KernelMember {
            port: info.val,
            order,
            source: source.to_string(),
            counters: info
                .counter
                .as_ref()
                .map(counter_values)
                .unwrap_or_default(),
        });
    }
    members.sort_by_key(|m| m.order);
    Ok(members)
}

#[derive(Deserialize)]
struct ChainItem {
    name: String,
    policy: Option<String>,
    prio: Option<i32>,
}

#[derive(Deserialize)]
struct RuleItem {
    chain: String,
    handle: u32,
    comment: Option<String>,
    expr: Vec<Stmt>,
}

#[derive(Deserialize)]
struct Stmt {
    counter: Option<serde_json::Value>,
    jump: Option<Jump>,
    log: Option<LogStmt>,
    snat: Option<serde_json::Value>,
    dnat: Option<serde_json::Value>,
    set: Option<SetStmt>,
    #[serde(rename = "ct helper")]
    ct_helper: Option<String>,
    #[serde(rename = "ct timeout")]
    ct_timeout: Option<String>,
}

impl Stmt {
    /// The set a statement adds to or updates (`@connlimit_…`).
    fn filled_set(&self) -> Option<String> {
        Some(self.set.as_ref()?.set.trim_start_matches('@').to_string())
    }

    /// The ct object a `ct helper set` or `ct timeout set` statement names.
    fn ct_object(&self) -> Option<CtObject> {
        let (timeout, name) = match (&self.ct_helper, &self.ct_timeout) {
            (Some(name), _) => (false, name),
            (None, Some(name)) => (true, name),
            (None, None) => return None,
        };
        Some(CtObject {
            timeout,
            name: name.clone(),
        })
    }
}

/// A statement that adds to or updates a set; only the set's name
/// (`@connlimit_…`) matters.
#[derive(Deserialize)]
struct SetStmt {
    set: String,
}

/// A log statement; only its nflog group matters.
#[derive(Deserialize)]
struct LogStmt {
    group: Option<u16>,
}

#[derive(Deserialize)]
struct Jump {
    target: String,
}

fn counter_values(c: &serde_json::Value) -> Counters {
    Counters {
        packets: c.get("packets").and_then(|v| v.as_u64()).unwrap_or(0),
        bytes: c.get("bytes").and_then(|v| v.as_u64()).unwrap_or(0),
    }
}

fn counters_of(stmts: &[Stmt]) -> Counters {
    stmts
        .iter()
        .find_map(|s| s.counter.as_ref())
        .map(counter_values)
        .unwrap_or_default()
}

/// Parses the JSON listing of one of moat's tables.
pub(crate) fn parse_listing(
    json: &str,
    family: Family,
    stage: Stage,
) -> Result<KernelTable, BackendError> {
    let listing: Listing =
        serde_json::from_str(json).map_err(|e| BackendError::Listing(e.to_string()))?;
    let mut chains: Vec<KernelChain> = Vec::new();
    let mut base_policies = Vec::new();
    let mut after_conntrack = false;
    let mut base_rules: Vec<RuleItem> = Vec::new();
    let mut user_rules: Vec<RuleItem> = Vec::new();
    let mut port_maps: HashMap<String, Vec<KernelMember>> = HashMap::new();
    let mut sets: Vec<KernelSet> = Vec::new();
    for item in listing.nftables {
        if let Some(set) = item.set {
            sets.push(KernelSet {
                name: set.name,
                timeout: set.timeout,
            });
        }
        if let Some(map) = item.map {
            sets.push(KernelSet {
                name: map.name.clone(),
                timeout: None,
            });
            if map.name.starts_with(portmap::PORTMAP_PREFIX) && !map.name.ends_with(".ports") {
                port_maps.insert(map.name.clone(), members_of(map)?);
            }
        }
        if let Some(chain) = item.chain {
            match hook_of_base_chain(&chain.name) {
                Some(hook) => {
                    let policy = if chain.policy.as_deref() == Some("drop") {
                        Policy::Drop
                    } else {
                        Policy::Accept
                    };
                    after_conntrack |= chain.prio == Some(AFTER_CONNTRACK_PRIORITY);
                    base_policies.push((chain.name, hook, policy));
                }
                None => chains.push(KernelChain {
                    name: chain.name,
                    base: None,
                    policy_counter: None,
                    uses: None,
                    rules: Vec::new(),
                }),
            }
        }
        if let Some(rule) = item.rule {
            if hook_of_base_chain(&rule.chain).is_some() {
                base_rules.push(rule);
            } else {
                user_rules.push(rule);
            }
        }
    }
    for rule in user_rules {
        if let Some(chain) = chains.iter_mut().find(|c| c.name == rule.chain) {
            let members = match rule.comment.as_deref().and_then(portmap::map_of) {
                Some(name) => port_maps.remove(name).ok_or_else(|| {
                    BackendError::Listing(format!("the rule of port map {name} has lost its map"))
                })?,
                None => Vec::new(),
            };
            chain.rules.push(KernelRule {
                handle: rule.handle,
                source: rule.comment,
                counters: counters_of(&rule.expr),
                members,
                log_group: rule.expr.iter().find_map(|s| s.log.as_ref()?.group),
                nat_side: rule.expr.iter().find_map(|s| {
                    if s.snat.is_some() {
                        Some(NatSide::Source)
                    } else {
                        s.dnat.as_ref().map(|_| NatSide::Destination)
                    }
                }),
                fills: rule.expr.iter().filter_map(Stmt::filled_set).collect(),
                ct_objects: rule.expr.iter().filter_map(Stmt::ct_object).collect(),
            });
        }
    }
    for (base_name, hook, policy) in base_policies {
        let rules: Vec<&RuleItem> = base_rules.iter().filter(|r| r.chain == base_name).collect();
        let target = rules
            .iter()
            .find_map(|r| r.expr.iter().find_map(|s| s.jump.as_ref()));
        let counter = rules
            .iter()
            .find(|r| r.expr.iter().all(|s| s.jump.is_none()));
        let Some(target) = target else {
            return Err(BackendError::Listing(format!(
                "moat's base chain {base_name} has lost its jump rule"
            )));
        };
        if let Some(chain) = chains.iter_mut().find(|c| c.name == target.target) {
            chain.base = Some((hook, policy));
            chain.policy_counter = counter.map(|r| (r.handle, counters_of(&r.expr)));
        }
    }
    let order = |c: &KernelChain| match c.base {
        Some((hook, _)) => stage.hooks().iter().position(|&h| h == hook).unwrap_or(0),
        None => usize::MAX,
    };
    chains.sort_by_key(order);
    Ok(KernelTable {
        family,
        stage,
        chains,
        sets,
        after_conntrack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::Hook;

    const LISTING: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
      {"table": {"family": "ip", "name": "moat_filter", "handle": 1}},
      {"chain": {"family": "ip", "table": "moat_filter", "name": "INPUT", "handle": 1}},
      {"chain": {"family": "ip", "table": "moat_filter", "name": "LOGDROP", "handle": 3}},
      {"chain": {"family": "ip", "table": "moat_filter", "name": "moat-input", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
      {"rule": {"family": "ip", "table": "moat_filter", "chain": "INPUT", "handle": 5, "comment": "-p tcp -m tcp --dport 22 -j ACCEPT",
        "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 6}}, {"counter": {"packets": 7, "bytes": 420}}, {"accept": null}]}},
      {"rule": {"family": "ip", "table": "moat_filter", "chain": "moat-input", "handle": 6, "expr": [{"jump": {"target": "INPUT"}}]}},
      {"rule": {"family": "ip", "table": "moat_filter", "chain": "moat-input", "handle": 7, "expr": [{"counter": {"packets": 3, "bytes": 180}}]}}]}"#;

    #[test]
    fn reads_rules_counters_and_policy() {
        let table = parse_listing(LISTING, Family::Ipv4, Stage::Filter).unwrap();
        assert_eq!(table.chains.len(), 2);
        let input = &table.chains[0];
        assert_eq!(input.name, "INPUT");
        assert_eq!(input.base, Some((Hook::Input, Policy::Drop)));
        assert_eq!(
            input.policy_counter,
            Some((
                7,
                Counters {
                    packets: 3,
                    bytes: 180
                }
            ))
        );
        assert_eq!(input.rules[0].handle, 5);
        assert_eq!(
            input.rules[0].counters,
            Counters {
                packets: 7,
                bytes: 420
            }
        );
        assert_eq!(
            input.rules[0].source.as_deref(),
            Some("-p tcp -m tcp --dport 22 -j ACCEPT")
        );
        assert_eq!(table.chains[1].name, "LOGDROP");
        assert!(table.chains[1].base.is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_listing("{", Family::Ipv4, Stage::Filter).is_err());
        assert!(parse_listing(
            r#"{"nftables": [{"rule": {"chain": 1}}]}"#,
            Family::Ipv4,
            Stage::Filter
        )
        .is_err());
    }
}
