//! Reads one of moat's tables back by netlink dumps, into the same
//! [`KernelTable`] the `nft` driver reads from `nft -j list table`; a port
//! map's rule gets its members from a dump of its address map's elements
//! (see [`members`]).

use std::collections::{HashMap, HashSet};

use moat_model::ruleset::hook_chain_name;
use moat_model::{Counters, Family, Hook, NatSide, Policy, Stage};
use moat_nft::layout::{base_chain_name, hook_of_base_chain, table_name, AFTER_CONNTRACK_PRIORITY};
use moat_nft::{portmap, CtObject, KernelChain, KernelMember, KernelRule, KernelSet, KernelTable};

use super::encode::nfproto;
use super::error::DriverError;
use super::long_text;
use super::members;
use crate::netlink::consts::*;
use crate::netlink::udata::udata_string;
use crate::netlink::wire::{be_u32, be_u64, string, string_is, Attrs, Message, Writer};
use crate::netlink::{NetlinkError, NfProto, NfSocket};
use crate::{Seen, TablePart};

/// A chain as dumped: its name, for a base chain its policy and hook
/// priority, and how many uses the kernel counts of it.
struct ChainInfo {
    name: String,
    policy: Option<u32>,
    priority: Option<i32>,
    uses: Option<u32>,
}

/// A rule as dumped, reduced to what moat reads.
pub(super) struct RuleInfo {
    chain: String,
    pub(super) handle: u32,
    pub(super) comment: Option<String>,
    counters: Option<Counters>,
    jump: Option<String>,
    log_group: Option<u16>,
    nat_side: Option<NatSide>,
    /// The part of a long rule text its xt_comment matches carry.
    text_tail: String,
    /// The sets its dynset expressions fill.
    fills: Vec<String>,
    /// The ct objects its objref expressions name.
    ct_objects: Vec<CtObject>,
}

fn malformed(what: &str) -> DriverError {
    DriverError::Malformed(format!(
        "nf_tables netlink: a damaged {what} in the kernel's reply"
    ))
}

fn parse_chain(msg: Message<'_>, table: &str) -> Option<ChainInfo> {
    let attrs = msg.attrs();
    if !attrs
        .get(NFTA_CHAIN_TABLE)
        .is_some_and(|t| string_is(t, table))
    {
        return None;
    }
    // A chain bound to a rule (TPROXY's) belongs to that rule.
    if attrs
        .get(NFTA_CHAIN_FLAGS)
        .and_then(be_u32)
        .is_some_and(|flags| flags & NFT_CHAIN_BINDING != 0)
    {
        return None;
    }
    let priority = attrs
        .get(NFTA_CHAIN_HOOK)
        .and_then(|hook| Attrs(hook).get(NFTA_HOOK_PRIORITY))
        .and_then(be_u32)
        .map(|p| p as i32);
    Some(ChainInfo {
        name: string(attrs.get(NFTA_CHAIN_NAME)?),
        policy: attrs.get(NFTA_CHAIN_POLICY).and_then(be_u32),
        priority,
        uses: attrs.get(NFTA_CHAIN_USE).and_then(be_u32),
    })
}

/// The counter values and the jump target of a rule's expressions.
fn scan_exprs(list: &[u8], rule: &mut RuleInfo) {
    for (_, elem) in Attrs(list) {
        let elem = Attrs(elem).by_kind::<{ NFTA_EXPR_DATA as usize + 1 }>();
        let (Some(name), Some(data)) = (
            elem[usize::from(NFTA_EXPR_NAME)],
            elem[usize::from(NFTA_EXPR_DATA)],
        ) else {
            continue;
        };
        let data = Attrs(data);
        // The name read once up to its NUL, then matched (a rule dump
        // names millions of expressions).
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        match name {
            b"counter" if rule.counters.is_none() => {
                rule.counters = Some(Counters {
                    packets: data.get(NFTA_COUNTER_PACKETS).and_then(be_u64).unwrap_or(0),
                    bytes: data.get(NFTA_COUNTER_BYTES).and_then(be_u64).unwrap_or(0),
                });
            }
            b"nat" => {
                rule.nat_side = match data.get(NFTA_NAT_TYPE).and_then(be_u32) {
                    Some(NFT_NAT_SNAT) => Some(NatSide::Source),
                    Some(NFT_NAT_DNAT) => Some(NatSide::Destination),
                    _ => None,
                };
            }
            b"dynset" => {
                if let Some(set) = data.get(NFTA_DYNSET_SET_NAME) {
                    rule.fills.push(string(set));
                }
            }
            b"objref" => {
                let ty = data.get(NFTA_OBJREF_IMM_TYPE).and_then(be_u32);
                let name = data.get(NFTA_OBJREF_IMM_NAME).map(string);
                if let (Some(ty @ (NFT_OBJECT_CT_HELPER | NFT_OBJECT_CT_TIMEOUT)), Some(name)) =
                    (ty, name)
                {
                    rule.ct_objects.push(CtObject {
                        timeout: ty == NFT_OBJECT_CT_TIMEOUT,
                        name,
                    });
                }
            }
            b"log" => {
                rule.log_group = data
                    .get(NFTA_LOG_GROUP)
                    .and_then(|g| Some(u16::from_be_bytes(g.get(..2)?.try_into().ok()?)));
            }
            b"match" => {
                let piece = data
                    .get(NFTA_MATCH_NAME)
                    .zip(data.get(NFTA_MATCH_INFO))
                    .and_then(|(name, info)| long_text::piece(name, info));
                rule.text_tail.push_str(&piece.unwrap_or_default());
            }
            b"immediate" if rule.jump.is_none() => {
                let verdict = data
                    .get(NFTA_IMMEDIATE_DATA)
                    .and_then(|d| Attrs(d).get(NFTA_DATA_VERDICT))
                    .map(Attrs);
                let Some(verdict) = verdict else { continue };
                if verdict.get(NFTA_VERDICT_CODE).and_then(be_u32) == Some(NFT_JUMP as u32) {
                    rule.jump = verdict.get(NFTA_VERDICT_CHAIN).map(string);
                }
            }
            _ => {}
        }
    }
}

pub(super) fn parse_rule(msg: Message<'_>, table: &str) -> Result<Option<RuleInfo>, DriverError> {
    let attrs = msg.attrs().by_kind::<{ NFTA_RULE_USERDATA as usize + 1 }>();
    let attr = |kind: u16| attrs[usize::from(kind)];
    if !attr(NFTA_RULE_TABLE).is_some_and(|t| string_is(t, table)) {
        return Ok(None);
    }
    let handle = attr(NFTA_RULE_HANDLE)
        .and_then(be_u64)
        .ok_or_else(|| malformed("rule handle"))?;
    let mut rule = RuleInfo {
        chain: string(attr(NFTA_RULE_CHAIN).ok_or_else(|| malformed("rule"))?),
        handle: u32::try_from(handle).map_err(|_| malformed("rule handle"))?,
        comment: attr(NFTA_RULE_USERDATA).and_then(|u| udata_string(u, UDATA_RULE_COMMENT)),
        counters: None,
        jump: None,
        log_group: None,
        nat_side: None,
        text_tail: String::new(),
        fills: Vec::new(),
        ct_objects: Vec::new(),
    };
    if let Some(list) = attr(NFTA_RULE_EXPRESSIONS) {
        scan_exprs(list, &mut rule);
    }
    if let Some(text) = &mut rule.comment {
        text.push_str(&rule.text_tail);
    }
    Ok(Some(rule))
}

/// Which rules a read dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth<'a> {
    /// Every rule of the table.
    Everything,
    /// Only the rules of moat's base chains (jump and policy counter).
    Layout,
    /// Only moat's base chains' rules and those of the user-visible chains
    /// `part` names, with each chain's uses (see
    /// [`crate::Backend::read_part`]).
    Part(TablePart<'a>),
    /// Every rule, unless the table holds more than this many: then the
    /// read stops with [`DriverError::TooManyRules`] (the kernel's rule
    /// dump grows with the square of a chain's length).
    AtMost(usize),
}

fn dump_rules(
    sock: &mut NfSocket,
    proto: u8,
    table: &str,
    chain: Option<&str>,
    limit: Option<usize>,
    rules: &mut Vec<RuleInfo>,
    see: &mut dyn FnMut(Seen<'_>),
) -> Result<(), DriverError> {
    let start = rules.len();
    let build = |w: &mut Writer| {
        w.attr_str(NFTA_RULE_TABLE, table);
        if let Some(chain) = chain {
            w.attr_str(NFTA_RULE_CHAIN, chain);
        }
    };
    // The kernel resumes a dump at the same count of rules from the
    // chain's start, counting rules another process's batch is still
    // adding (before its commit, which would mark the dump interrupted):
    // such a rule put in front of the resume point makes the dump hand
    // on a rule again. A handle met twice says so; the rest of the answer
    // is still read, so that the socket is free for the next request.
    let mut handles = HashSet::new();
    let mut repeated = false;
    sock.dump(NFT_MSG_GETRULE, proto, &build, &mut |msg| {
        match msg {
            None => {
                rules.truncate(start);
                handles.clear();
                repeated = false;
                see(Seen::Restart);
            }
            Some(_) if repeated => {}
            Some(msg) => {
                if let Some(rule) = parse_rule(msg, table)? {
                    if !handles.insert(rule.handle) {
                        repeated = true;
                        return Ok(());
                    }
                    see_user_rule(&rule, see);
                    rules.push(rule);
                }
            }
        }
        match limit {
            Some(limit) if rules.len() - start > limit => Err(DriverError::TooManyRules(limit)),
            _ => Ok(()),
        }
    })?;
    if repeated {
        return Err(DriverError::Changed);
    }
    Ok(())
}

/// Hands `rule` to `see` when it is a rule of a user-visible chain with a
/// text (not a base chain's jump or policy counter, not a port map's
/// rule, whose members hold the texts).
fn see_user_rule(rule: &RuleInfo, see: &mut dyn FnMut(Seen<'_>)) {
    if let Some(text) = rule.comment.as_deref() {
        if hook_of_base_chain(&rule.chain).is_none() && portmap::map_of(text).is_none() {
            see(Seen::Rule {
                chain: &rule.chain,
                text,
                counters: rule.counters.unwrap_or_default(),
            });
        }
    }
}

/// Zeroes the counters of the rules of moat's user-visible `chain` (every
/// chain of the table when `None`) with the kernel's resetting rule dump,
/// whose answer is only drained; a built-in chain's policy counter, which
/// is a rule of its hook chain, goes with it.
pub(crate) fn reset_counters(
    sock: &mut NfSocket,
    family: Family,
    stage: Stage,
    chain: Option<&str>,
) -> Result<(), DriverError> {
    let table = table_name(stage);
    let proto = nfproto(family);
    let reset = |sock: &mut NfSocket, chain: Option<&str>| {
        let build = |w: &mut Writer| {
            w.attr_str(NFTA_RULE_TABLE, table);
            if let Some(chain) = chain {
                w.attr_str(NFTA_RULE_CHAIN, chain);
            }
        };
        sock.dump(NFT_MSG_GETRULE_RESET, proto, &build, &mut |_| {
            Ok::<_, DriverError>(())
        })
    };
    let Some(chain) = chain else {
        return reset(sock, None);
    };
    reset(sock, Some(chain))?;
    match stage.hooks().iter().find(|&&h| hook_chain_name(h) == chain) {
        Some(&hook) => reset(sock, Some(base_chain_name(hook))),
        None => Ok(()),
    }
}

/// Whether the kernel holds a table called `name` of `family`, moat's or
/// another program's.
pub(crate) fn table_exists(
    sock: &mut NfSocket,
    family: Family,
    name: &str,
) -> Result<bool, DriverError> {
    Ok(sock.exists(NFT_MSG_GETTABLE, nfproto(family), &|w| {
        w.attr_str(NFTA_TABLE_NAME, name)
    })?)
}

/// How many times a table is read again when the ruleset changed while it
/// was read, after pauses that double from 1 ms up to 64 ms (a second and
/// a half in all), so that another command's batch has time to end.
const READ_RETRIES: u32 = 30;

/// Reads moat's table for `family` and `stage`; `None` when it does not
/// exist. With [`Depth::Layout`] the user-visible chains come without rules
/// (with [`Depth::Part`] as its part says).
/// `see` is handed each rule of a user-visible chain as the kernel sends
/// it (see [`crate::Backend::read_seeing`]).
///
/// The table comes in several dumps (chains, rules, sets); should the
/// ruleset's generation change between the first and the last, another
/// command changed it meanwhile and the table is read again, so that what
/// is read is one state of the table, never chains of one and rules of
/// another (as iptables-nft checks its cache's generation).
pub(crate) fn read_table(
    sock: &mut NfSocket,
    family: Family,
    stage: Stage,
    depth: Depth,
    see: &mut dyn FnMut(Seen<'_>),
) -> Result<Option<KernelTable>, DriverError> {
    for attempt in 0..=READ_RETRIES {
        let before = sock.generation()?;
        match read_table_once(sock, family, stage, depth, see) {
            Ok(read) if sock.generation()? == before => return Ok(read),
            Ok(_) | Err(DriverError::Changed) => see(Seen::Restart),
            Err(e) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(1 << attempt.min(6)));
    }
    Err(DriverError::Changed)
}

/// [`read_table`]'s one attempt, whatever changes meanwhile.
fn read_table_once(
    sock: &mut NfSocket,
    family: Family,
    stage: Stage,
    depth: Depth,
    see: &mut dyn FnMut(Seen<'_>),
) -> Result<Option<KernelTable>, DriverError> {
    let table = table_name(stage);
    let proto = nfproto(family);
    if !table_exists(sock, family, table)? {
        return Ok(None);
    }
    let chains = match depth {
        Depth::Part(TablePart::Named { chains, .. }) => {
            named_chains(sock, proto, table, stage, chains)?
        }
        _ => all_chains(sock, proto, table)?,
    };
    let mut rules = Vec::new();
    match depth {
        Depth::Everything => dump_rules(sock, proto, table, None, None, &mut rules, see)?,
        Depth::AtMost(limit) => dump_rules(sock, proto, table, None, Some(limit), &mut rules, see)?,
        Depth::Layout | Depth::Part(_) => {
            let wanted: HashSet<&str> = match depth {
                Depth::Part(part) => part.chains_with_rules().iter().copied().collect(),
                _ => HashSet::new(),
            };
            for chain in chains.iter().filter(|c| {
                hook_of_base_chain(&c.name).is_some() || wanted.contains(c.name.as_str())
            }) {
                dump_rules(sock, proto, table, Some(&chain.name), None, &mut rules, see)?;
            }
        }
    }
    let mut port_maps = HashMap::new();
    for rule in rules
        .iter()
        .filter(|r| hook_of_base_chain(&r.chain).is_none())
    {
        if let Some(name) = rule.comment.as_deref().and_then(portmap::map_of) {
            port_maps.insert(name.to_string(), members::read(sock, proto, table, name)?);
        }
    }
    let with_sets = match depth {
        Depth::Everything | Depth::AtMost(_) => true,
        Depth::Layout => false,
        Depth::Part(part) => part.with_sets(),
    };
    let sets = match with_sets {
        true => sock
            .sets(nf_proto(family), table)?
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.flags & NFT_SET_ANONYMOUS == 0)
            .map(|s| KernelSet {
                name: s.name,
                timeout: s.timeout_ms.and_then(|ms| u32::try_from(ms / 1000).ok()),
            })
            .collect(),
        false => Vec::new(),
    };
    let counted = matches!(depth, Depth::Part(_));
    let mut read = assemble(family, stage, chains, rules, port_maps, counted)?;
    read.sets = sets;
    Ok(Some(read))
}

/// Every chain of `table`, from one dump.
fn all_chains(sock: &mut NfSocket, proto: u8, table: &str) -> Result<Vec<ChainInfo>, DriverError> {
    let mut chains = Vec::new();
    sock.dump::<DriverError>(
        NFT_MSG_GETCHAIN,
        proto,
        &|w| w.attr_str(NFTA_CHAIN_TABLE, table),
        &mut |msg| {
            match msg {
                None => chains.clear(),
                Some(msg) => chains.extend(parse_chain(msg, table)),
            }
            Ok(())
        },
    )?;
    Ok(chains)
}

/// moat's base chains of `stage`, the built-in chains they jump to and the
/// user-visible chains `names`, each asked for alone (a table of thousands
/// of chains is not dumped for a few); one not there is left out.
fn named_chains(
    sock: &mut NfSocket,
    proto: u8,
    table: &str,
    stage: Stage,
    names: &[&str],
) -> Result<Vec<ChainInfo>, DriverError> {
    let hooks = stage.hooks().iter();
    let bases = hooks.clone().map(|&hook| base_chain_name(hook));
    let builtin = hooks.map(|&hook| hook_chain_name(hook));
    let mut asked: Vec<&str> = bases.chain(builtin).collect();
    for name in names {
        if !asked.contains(name) {
            asked.push(name);
        }
    }
    let mut chains = Vec::new();
    for name in asked {
        let build = |w: &mut Writer| {
            w.attr_str(NFTA_CHAIN_TABLE, table);
            w.attr_str(NFTA_CHAIN_NAME, name);
        };
        let mut found = None;
        let answer = sock.request(NFT_MSG_GETCHAIN, NLM_F_ACK, proto, &build, &mut |msg| {
            found = found.take().or_else(|| parse_chain(msg, table));
            Ok::<_, NetlinkError>(())
        });
        match answer {
            Ok(()) => chains.extend(found),
            Err(e) if e.errno() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(chains)
}

/// The netlink family of `family`'s tables.
fn nf_proto(family: Family) -> NfProto {
    match family {
        Family::Ipv4 => NfProto::Ip,
        Family::Ipv6 => NfProto::Ip6,
    }
}

/// Builds the table as `nft`'s listing reader does: user-visible chains in
/// kernel order (hook chains first, in hook order), each hook chain with the
/// hook, policy and policy counter of moat's base chain that jumps to it,
/// each port map's rule with the members of its map in `port_maps`, and
/// each chain's uses when `counted`.
fn assemble(
    family: Family,
    stage: Stage,
    chains: Vec<ChainInfo>,
    rules: Vec<RuleInfo>,
    mut port_maps: HashMap<String, Vec<KernelMember>>,
    counted: bool,
) -> Result<KernelTable, DriverError> {
    let mut visible: Vec<KernelChain> = Vec::new();
    let mut bases: Vec<(String, Hook, Policy)> = Vec::new();
    let mut after_conntrack = false;
    for chain in chains {
        match hook_of_base_chain(&chain.name) {
            Some(hook) => {
                after_conntrack |= chain.priority == Some(AFTER_CONNTRACK_PRIORITY);
                let policy = if chain.policy == Some(NF_DROP as u32) {
                    Policy::Drop
                } else {
                    Policy::Accept
                };
                bases.push((chain.name, hook, policy));
            }
            None => visible.push(KernelChain {
                name: chain.name,
                base: None,
                policy_counter: None,
                rules: Vec::new(),
                uses: chain.uses.filter(|_| counted),
            }),
        }
    }
    let (base_rules, user_rules): (Vec<RuleInfo>, Vec<RuleInfo>) = rules
        .into_iter()
        .partition(|r| hook_of_base_chain(&r.chain).is_some());
    // By name, for tables of thousands of chains (Kubernetes' nat table).
    let places: HashMap<String, usize> = visible
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    for rule in user_rules {
        let members = match rule.comment.as_deref().and_then(portmap::map_of) {
            Some(name) => port_maps.remove(name).ok_or_else(|| members::lost(name))?,
            None => Vec::new(),
        };
        if let Some(chain) = places.get(&rule.chain).map(|&i| &mut visible[i]) {
            chain.rules.push(KernelRule {
                handle: rule.handle,
                source: rule.comment,
                counters: rule.counters.unwrap_or_default(),
                members,
                log_group: rule.log_group,
                nat_side: rule.nat_side,
                fills: rule.fills,
                ct_objects: rule.ct_objects,
            });
        }
    }
    for (base_name, hook, policy) in bases {
        let mut own = base_rules.iter().filter(|r| r.chain == base_name);
        let Some(target) = own.clone().find_map(|r| r.jump.as_deref()) else {
            return Err(DriverError::Malformed(format!(
                "moat's base chain {base_name} has lost its jump rule"
            )));
        };
        let counter = own.find(|r| r.jump.is_none());
        if let Some(chain) = visible.iter_mut().find(|c| c.name == target) {
            chain.base = Some((hook, policy));
            chain.policy_counter = counter.map(|r| (r.handle, r.counters.unwrap_or_default()));
        }
    }
    visible.sort_by_key(|c| match c.base {
        Some((hook, _)) => stage.hooks().iter().position(|&h| h == hook).unwrap_or(0),
        None => usize::MAX,
    });
    Ok(KernelTable {
        family,
        stage,
        chains: visible,
        sets: Vec::new(),
        after_conntrack,
    })
}
