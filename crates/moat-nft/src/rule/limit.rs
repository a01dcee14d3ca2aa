//! Rate and connection-count limits: `-m limit`, `-m hashlimit`, `-m connlimit`.
//!
//! nf_tables' packet limit is a token bucket of `burst` packets refilled at
//! `rate`, like iptables' (`--limit-burst 5` lets 5 packets through at once;
//! checked on Linux 6.18, whose `limit ... burst 5 packets` does the same).

use moat_model::{LimitKey, Rate, RateUnit};
use nftables::expr::Expression;
use nftables::schema::SetType;
use nftables::stmt::{CTCount, Limit, Statement};

use super::addr::{addr_type, masked_addr, Side};
use super::build::{concat, num, payload};
use super::decl::{declare, dynamic_set, set_name, Expiry};
use super::dynset::{set_stmt, SetOp};
use super::ports::port_protocol;
use super::{refuse, CompileError, CompiledRule, Cx};

fn per(unit: RateUnit) -> &'static str {
    match unit {
        RateUnit::Second => "second",
        RateUnit::Minute => "minute",
        RateUnit::Hour => "hour",
        RateUnit::Day => "day",
    }
}

/// `-m limit`: one token bucket for the rule,
/// `limit rate [over] N/UNIT burst B packets`.
pub(super) fn limit(
    rate: Rate,
    burst: u32,
    over: bool,
) -> Result<Statement<'static>, CompileError> {
    if rate.count == 0 {
        return refuse("a rate limit of 0 packets is refused by iptables and nf_tables");
    }
    if burst == 0 {
        return refuse("a burst of 0 packets is refused by iptables");
    }
    Ok(bucket(rate, burst, over, None))
}

/// `limit rate [over] N [UNIT]/PER burst B [UNIT]`; no unit counts packets.
fn bucket(rate: Rate, burst: u32, over: bool, unit: Option<&'static str>) -> Statement<'static> {
    Statement::Limit(Limit {
        rate: rate.count,
        rate_unit: unit.map(Into::into),
        per: Some(per(rate.unit).into()),
        burst: Some(burst),
        burst_unit: unit.map(Into::into),
        inv: over.then_some(true),
    })
}

/// The parameters of a `-m hashlimit` match.
pub(super) struct HashLimitSpec<'a> {
    /// The table name rules share buckets by.
    pub name: &'a str,
    /// The rate of each bucket.
    pub rate: Rate,
    /// The size of each bucket.
    pub burst: u32,
    /// Match packets over the rate instead of under it.
    pub over: bool,
    /// What the buckets are keyed on.
    pub key: LimitKey,
    /// How long an idle bucket lives.
    pub expire_ms: u32,
    /// The rate and the burst count bytes.
    pub bytes: bool,
    /// The most keys tracked at once.
    pub max_keys: Option<u32>,
}

/// A bucket of bytes, `limit rate [over] N bytes/UNIT burst B bytes`.
///
/// xt_hashlimit's byte mode holds one second's bytes and lets `burst`
/// bytes more through once per key; nf_tables' bucket holds the rate plus
/// the burst and refills all of it, as iptables-translate writes it.
fn byte_limit(rate: Rate, burst: u32, over: bool) -> Result<Statement<'static>, CompileError> {
    if rate.count == 0 {
        return refuse("a byte rate of 0 is refused by nf_tables");
    }
    Ok(bucket(rate, burst, over, Some("bytes")))
}

/// `-m hashlimit`: a token bucket per key, kept in the set `hashlimit_NAME`
/// (shared by the rules that use the name, like iptables' table); an idle
/// bucket is dropped after the expiry, rounded up to whole seconds.
///
/// `update @hashlimit_NAME { ip saddr & 255.255.255.0 . th dport limit rate 10/second }`
///
/// A set holds one kind of key, so a rule of the same name keyed on other
/// fields has a set of its own, `hashlimit_NAME/dst-dport` (names never
/// hold a `/`), where iptables would key it as the first rule of the name;
/// without a mode, the one bucket of the name is keyed on no bit of the
/// source address, so every rule of that name shares it, as in iptables.
pub(super) fn hash_limit(
    spec: &HashLimitSpec,
    cx: &Cx,
    out: &mut CompiledRule,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let family = cx.family;
    let bucket = if spec.bytes {
        byte_limit(spec.rate, spec.burst, spec.over)?
    } else {
        limit(spec.rate, spec.burst, spec.over)?
    };
    let key = spec.key;
    if (key.src_port || key.dst_port) && cx.protocol().and_then(port_protocol).is_none() {
        return refuse(
            "a hashlimit keyed on ports needs an earlier -p of a protocol with ports \
             (tcp, udp, dccp, sctp, udplite): iptables keys other protocols on port 0, \
             which nf_tables cannot",
        );
    }
    let mut parts = Vec::new();
    let mut types = Vec::new();
    for (side, prefix) in [(Side::Source, key.src_prefix), (Side::Dest, key.dst_prefix)] {
        if let Some(prefix) = prefix {
            parts.push(masked_addr(side, prefix, family)?);
            types.push(addr_type(family));
        }
    }
    for (field, wanted) in [("sport", key.src_port), ("dport", key.dst_port)] {
        if wanted {
            parts.push(payload("th", field));
            types.push(SetType::InetService);
        }
    }
    if parts.is_empty() {
        parts.push(masked_addr(Side::Source, 0, family)?);
        types.push(addr_type(family));
    }
    let key_expr: Expression<'static> = match parts.len() {
        1 => parts.remove(0),
        _ => concat(parts),
    };
    let name = set_name("hashlimit", spec.name)? + &key_tag(key);
    if name.len() > super::decl::SET_NAME_MAX {
        return refuse(format!("hashlimit name {:?} is too long", spec.name));
    }
    let seconds = spec.expire_ms.div_ceil(1000).max(1);
    let mut set = dynamic_set(cx, name.clone(), types, Expiry::After(seconds));
    set.size = spec.max_keys.filter(|&n| n > 0);
    declare(out, set)?;
    Ok(vec![set_stmt(
        SetOp::Update,
        &name,
        key_expr,
        vec![bucket],
    )?])
}

/// What a hashlimit set's name adds for a key other than the source
/// address alone (the usual `--hashlimit-mode srcip`): the fields, after a
/// `/`, or `/none` without a mode.
fn key_tag(key: LimitKey) -> String {
    let fields = [
        (key.src_prefix.is_some(), "src"),
        (key.dst_prefix.is_some(), "dst"),
        (key.src_port, "sport"),
        (key.dst_port, "dport"),
    ];
    let named: Vec<&str> = fields
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    match named.as_slice() {
        ["src"] => String::new(),
        [] => "/none".to_string(),
        _ => format!("/{}", named.join("-")),
    }
}

/// `-m connlimit`: the number of tracked connections whose address (masked
/// to `prefix`) equals this packet's, over `count` (`above`) or not.
///
/// `add @connlimit_… { ip saddr & 255.255.255.0 ct count over 3 }`
///
/// iptables keeps a private table per rule; the set's name is derived from
/// the rule and its chain, so only identical rules of one chain share one.
pub(super) fn conn_limit(
    count: u32,
    above: bool,
    prefix: u8,
    by_source: bool,
    cx: &Cx,
    out: &mut CompiledRule,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let side = if by_source { Side::Source } else { Side::Dest };
    let key = masked_addr(side, prefix, cx.family)?;
    let name = format!("connlimit_{}", rule_digest(cx)?);
    declare(
        out,
        dynamic_set(cx, name.clone(), vec![addr_type(cx.family)], Expiry::Never),
    )?;
    let counting = Statement::CTCount(CTCount {
        val: num(count),
        inv: above.then_some(true),
    });
    Ok(vec![set_stmt(SetOp::Add, &name, key, vec![counting])?])
}

/// A stable digest of the rule's chain, the rule and the position of the
/// match in it (FNV-1a). The rule is its source text where it has one,
/// which a `-m set` lookup keeps as it is when the host resolves it to the
/// kernel's ipset after planning; else its model.
fn rule_digest(cx: &Cx) -> Result<String, CompileError> {
    let text = match &cx.rule.source {
        Some(source) => serde_json::to_string(&(cx.chain, source, cx.position)),
        None => serde_json::to_string(&(cx.chain, &cx.rule.matches, &cx.rule.action, cx.position)),
    }
    .map_err(|e| CompileError(format!("cannot serialize the rule: {e}")))?;
    Ok(super::decl::digest(&text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::declares_sets;
    use super::super::testutil::{compile, compile_json, v4, v6};
    use moat_model::{Action, LimitKey, Match, Rate, RateUnit, Rule};

    fn rule(matches: Vec<Match>) -> Rule {
        Rule {
            matches,
            ..Rule::new(Action::Drop)
        }
    }

    #[test]
    fn limit_keeps_the_burst() {
        let r = rule(vec![Match::Limit {
            rate: Rate {
                count: 3,
                unit: RateUnit::Minute,
            },
            burst: 5,
            over: false,
        }]);
        assert_eq!(
            compile_json(&r, v4()).unwrap()[0],
            json!({"limit": {"rate": 3, "per": "minute", "burst": 5}})
        );
        assert!(!declares_sets(&r));
        assert!(compile(&r, v4()).unwrap().sets.is_empty());
    }

    #[test]
    fn hashlimit_updates_a_shared_dynamic_set() {
        let r = rule(vec![
            Match::Protocol {
                proto: 6,
                negate: false,
            },
            Match::HashLimit {
                name: "ssh".into(),
                rate: Rate {
                    count: 10,
                    unit: RateUnit::Second,
                },
                burst: 2,
                over: true,
                key: LimitKey {
                    src_prefix: Some(24),
                    dst_prefix: None,
                    src_port: false,
                    dst_port: true,
                },
                expire_ms: 1500,
                bytes: false,
                max_keys: None,
            },
        ]);
        let compiled = compile(&r, v4()).unwrap();
        assert!(declares_sets(&r));
        assert_eq!(
            compiled.expr_json().unwrap()[1],
            json!({"set": {"op": "update", "set": "@hashlimit_ssh/src-dport",
                "elem": {"concat": [
                    {"&": [{"payload": {"protocol": "ip", "field": "saddr"}}, "255.255.255.0"]},
                    {"payload": {"protocol": "th", "field": "dport"}}]},
                "stmt": [{"limit": {"rate": 10, "per": "second", "burst": 2, "inv": true}}]}})
        );
        assert_eq!(
            serde_json::to_value(&compiled.sets).unwrap(),
            json!([{"family": "ip", "table": "t", "name": "hashlimit_ssh/src-dport",
                "type": ["ipv4_addr", "inet_service"], "flags": ["timeout"], "timeout": 2}])
        );
    }

    #[test]
    fn byte_hashlimits_count_bytes_in_a_sized_set() {
        let byte_rule = |name: &str, max_keys| {
            rule(vec![Match::HashLimit {
                name: name.into(),
                rate: Rate {
                    count: 400,
                    unit: RateUnit::Second,
                },
                burst: 800,
                over: false,
                key: LimitKey {
                    src_prefix: Some(32),
                    dst_prefix: None,
                    src_port: false,
                    dst_port: false,
                },
                expire_ms: 1000,
                bytes: true,
                max_keys,
            }])
        };
        let compiled = compile(&byte_rule("b", Some(64)), v4()).unwrap();
        assert_eq!(
            compiled.expr_json().unwrap()[0]["set"]["stmt"][0],
            json!({"limit": {"rate": 400, "rate_unit": "bytes", "per": "second",
                "burst": 800, "burst_unit": "bytes"}})
        );
        assert_eq!(compiled.sets[0].size, Some(64));
        // Rules sharing the name share the first one's size, as iptables' table.
        let mut sets = compiled.sets.clone();
        let other = compile(&byte_rule("b", Some(9)), v4()).unwrap();
        super::super::decl::merge_sets(&mut sets, other.sets[0].clone()).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].size, Some(64));
    }

    #[test]
    fn hashlimit_on_ports_needs_a_port_protocol() {
        let r = rule(vec![Match::HashLimit {
            name: "x".into(),
            rate: Rate {
                count: 1,
                unit: RateUnit::Second,
            },
            burst: 1,
            over: false,
            key: LimitKey {
                src_prefix: None,
                dst_prefix: None,
                src_port: true,
                dst_port: false,
            },
            expire_ms: 10_000,
            bytes: false,
            max_keys: None,
        }]);
        assert!(compile_json(&r, v4()).is_err());
    }

    #[test]
    fn connlimit_counts_per_masked_address() {
        let r = rule(vec![Match::ConnLimit {
            count: 3,
            above: true,
            prefix: 64,
            by_source: true,
        }]);
        let compiled = compile(&r, v6()).unwrap();
        assert!(declares_sets(&r));
        let name = compiled.sets[0].name.to_string();
        assert!(name.starts_with("connlimit_"), "{name}");
        assert_eq!(compiled.sets[0].timeout, None);
        assert_eq!(
            compiled.expr_json().unwrap()[0],
            json!({"set": {"op": "add", "set": format!("@{name}"),
                "elem": {"&": [{"payload": {"protocol": "ip6", "field": "saddr"}}, "ffff:ffff:ffff:ffff::"]},
                "stmt": [{"ct count": {"val": 3, "inv": true}}]}})
        );
        // The same rule gets the same set; another rule another one.
        assert_eq!(compile(&r, v6()).unwrap().sets[0].name, name);
        let other = rule(vec![Match::ConnLimit {
            count: 4,
            above: true,
            prefix: 64,
            by_source: true,
        }]);
        assert_ne!(compile(&other, v6()).unwrap().sets[0].name, name);
    }
}
