//! A traced packet's path in iptables terms: each event of the kernel's
//! trace is named by the rule of moat's tables it stands for (table, chain,
//! rule number and the rule as `iptables -S` shows it) or by the chain
//! policy it met, with the rewrites NAT made to the packet.

use std::collections::HashMap;

use moat_iptables::save::stage_name;
use moat_model::Policy;
use moat_nft::layout::{family_word, table_name, AFTER_CONNTRACK_COPY};
use moat_nft::KernelTable;

use crate::event::{packet_fields, Event, Step};

/// The table moat trace adds to mark packets (skipped in paths).
pub const TRACE_TABLE: &str = "moat_trace";

/// How the kernel names a chain bound to a rule (`__chain%d`).
const BOUND_CHAIN_PREFIX: &str = "__chain";

/// What a handle in one of moat's tables stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    /// The `number`th rule of `chain`, with its iptables text.
    Rule {
        stage: &'static str,
        chain: String,
        number: usize,
        text: String,
    },
    /// The end of a built-in chain: its policy.
    Policy {
        stage: &'static str,
        chain: String,
        policy: Policy,
    },
}

/// Names the rules of moat's tables by (nft family, table, handle).
#[derive(Debug, Default)]
pub struct Resolver {
    names: HashMap<(String, String, u32), Named>,
}

impl Resolver {
    /// A resolver for moat's tables as read from the kernel.
    pub fn new(tables: &[KernelTable]) -> Self {
        let mut names = HashMap::new();
        for t in tables {
            let key = |handle| {
                (
                    family_word(t.family).to_string(),
                    table_name(t.stage).to_string(),
                    handle,
                )
            };
            let stage = stage_name(t.stage);
            for chain in &t.chains {
                if let (Some((handle, _)), Some((_, policy))) = (chain.policy_counter, chain.base) {
                    let named = Named::Policy {
                        stage,
                        chain: chain.name.clone(),
                        policy,
                    };
                    names.insert(key(handle), named);
                }
                for (i, rule) in chain.rules.iter().enumerate() {
                    let text = match rule.port_map() {
                        Some(map) => format!("port map {map} ({} forwards)", rule.members.len()),
                        None => rule.source.clone().unwrap_or_default(),
                    };
                    let named = Named::Rule {
                        stage,
                        chain: chain.name.clone(),
                        number: i + 1,
                        text,
                    };
                    names.insert(key(rule.handle), named);
                }
            }
        }
        Resolver { names }
    }

    fn name(&self, e: &Event, handle: u32) -> Option<&Named> {
        self.names.get(&(e.family.clone(), e.table.clone(), handle))
    }

    fn is_moat_table(&self, e: &Event) -> bool {
        e.table.starts_with("moat_")
            && !e.table.starts_with("moat_ban")
            && !e.table.starts_with("moat_block")
            && !e.table.starts_with("moat_lb")
            // The raw table's copy after conntrack walks the same rules.
            && e.table != AFTER_CONNTRACK_COPY
    }
}

fn verdict_word(verdict: &str) -> String {
    match verdict {
        "accept" => "ACCEPT".into(),
        "drop" => "DROP".into(),
        "return" => "RETURN".into(),
        "continue" => "goes on".into(),
        other => other.to_string(),
    }
}

/// The packet's addresses and ports in one line: `tcp 10.0.0.2:40000 -> 10.0.0.1:80 in eth0`.
fn packet_line(fields: &[(&'static str, String)]) -> String {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    };
    let end = |addr: Option<&str>, port: Option<&str>| match (addr, port) {
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        (None, _) => "?".into(),
    };
    let mut line = format!(
        "{} {} -> {}",
        get("proto").unwrap_or("ip"),
        end(get("src"), get("sport")),
        end(get("dst"), get("dport"))
    );
    for dir in ["in", "out"] {
        if let Some(i) = get(dir) {
            line.push_str(&format!(" {dir} {i}"));
        }
    }
    line
}

/// Describes the events of one packet (one trace id), in order.
pub fn describe(resolver: &Resolver, events: &[Event]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Option<Vec<(&'static str, String)>> = None;
    // The line of a rule that jumped to a chain bound to it (TPROXY's), the
    // line without its verdict, and that chain: the chain's verdict is the rule's.
    let mut bound: Option<(usize, String, String)> = None;
    for e in events.iter().filter(|e| e.table != TRACE_TABLE) {
        match &e.step {
            Step::Packet(p) => {
                let fields = packet_fields(p);
                match &seen {
                    None => out.push(packet_line(&fields)),
                    Some(before) => {
                        let changed: Vec<String> = ["src", "sport", "dst", "dport"]
                            .iter()
                            .filter_map(|k| {
                                let now = fields.iter().find(|(n, _)| n == k)?;
                                let was = before.iter().find(|(n, _)| n == k)?;
                                (now.1 != was.1).then(|| format!("{k} {}", now.1))
                            })
                            .collect();
                        if !changed.is_empty() {
                            out.push(format!("  rewritten by NAT: {}", changed.join(", ")));
                        }
                    }
                }
                seen = Some(fields);
            }
            Step::Rule {
                handle,
                verdict,
                text,
            } => match resolver.name(e, *handle) {
                _ if bound
                    .as_ref()
                    .is_some_and(|(_, _, chain)| *chain == e.chain) =>
                {
                    if let Some((at, line, _)) = &bound {
                        out[*at] = format!("{line} -> {}", verdict_word(verdict));
                    }
                }
                Some(Named::Rule {
                    stage,
                    chain,
                    number,
                    text,
                }) => {
                    let line = format!("  {stage} {chain} rule {number} ({text})");
                    bound = verdict
                        .strip_prefix("jump ")
                        .filter(|to| to.starts_with(BOUND_CHAIN_PREFIX))
                        .map(|to| (out.len(), line.clone(), to.to_string()));
                    out.push(format!("{line} -> {}", verdict_word(verdict)));
                }
                Some(Named::Policy {
                    stage,
                    chain,
                    policy,
                }) => {
                    let word = match policy {
                        Policy::Accept => "ACCEPT",
                        Policy::Drop => "DROP",
                    };
                    out.push(format!("  {stage} {chain} policy {word}"));
                }
                None if resolver.is_moat_table(e) => {}
                None => out.push(format!(
                    "  {} {} {}: {text} -> {}",
                    e.family,
                    e.table,
                    e.chain,
                    verdict_word(verdict)
                )),
            },
            Step::Policy(p) => {
                if !resolver.is_moat_table(e) {
                    out.push(format!(
                        "  {} {} {} policy {}",
                        e.family,
                        e.table,
                        e.chain,
                        verdict_word(p)
                    ));
                }
            }
        }
    }
    out
}
