//! [`Blocklists`]: loading, refreshing, changing, listing and removing
//! block lists in the kernel, each change one nf_tables transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use moat_backend::netlink::{
    Expr, IntervalKey, NetlinkError, NfProto, NfSocket, SetSpec, Transaction, Verdict,
};
use moat_model::{Family, Stage};

use crate::entries::{minus, Entries};
use crate::layout::{
    address_offset, check_name, copy_of, copy_set_name, except_comment, except_set_name, field_at,
    guard_set_name, is_guard_set, parse_set_name, rule_comment, set_name, BaseChain, Direction,
    Slot, COMMENT_PREFIX, DEFAULT_DIRECTIONS, GUARD_COMMENT, GUARD_MIN_LISTS, PRIORITY, TABLE,
    TABLE_COMMENT,
};
use crate::saved::{SavedContents, SavedList};
use crate::BlocklistError;

/// How often a change is retried when the ruleset changed under it.
const ATTEMPTS: usize = 4;
/// Longest set comment moat writes (the kernel keeps 256 bytes of user data).
const MAX_COMMENT: usize = 200;

/// Where a list's addresses come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Source {
    /// A country's zone files.
    Country {
        /// Two-letter code, lower case.
        code: String,
        /// The zone directory.
        zone_dir: PathBuf,
    },
    /// Several countries' zone files merged into one list.
    Countries {
        /// Two-letter codes, lower case (as many as the kernel comment kept).
        codes: Vec<String>,
        /// The zone directory.
        zone_dir: PathBuf,
    },
    /// A list file.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Addresses added one by one (`moat block add`).
    Manual,
    /// An empty stand-in `moat boot` made for a list that kept rules look
    /// up and that was gone; any load may take its place.
    StandIn,
}

impl Source {
    /// What kind of list this is, for messages: `country cn`, `a list file`, `a hand-made list`.
    pub fn kind(&self) -> String {
        match self {
            Source::Country { code, .. } => format!("the country list for {code}"),
            Source::Countries { .. } => "a list of several countries".into(),
            Source::File { .. } => "a list loaded from a file".into(),
            Source::Manual => "a list of addresses added by hand".into(),
            Source::StandIn => "an empty stand-in made at boot".into(),
        }
    }

    fn same_kind(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Country { code: a, .. }, Source::Country { code: b, .. }) => a == b,
            (Source::Countries { .. }, Source::Countries { .. }) => true,
            (Source::File { .. }, Source::File { .. }) => true,
            (Source::Manual, Source::Manual) => true,
            (Source::StandIn, _) => true,
            // Adding addresses by hand to any list keeps its kind.
            _ => false,
        }
    }

    /// How listings describe the source.
    pub fn describe(&self) -> String {
        match self {
            Source::Country { code, zone_dir } => {
                format!("country {code} from {}", zone_dir.display())
            }
            Source::Countries { codes, zone_dir } => {
                let shown: Vec<&str> = codes.iter().take(12).map(String::as_str).collect();
                let more = if codes.len() > 12 {
                    format!(",+{}", codes.len() - 12)
                } else {
                    String::new()
                };
                format!(
                    "countries {}{more} from {}",
                    shown.join(","),
                    zone_dir.display()
                )
            }
            Source::File { path } => format!("file {}", path.display()),
            Source::Manual => "added by hand".into(),
            Source::StandIn => "an empty stand-in: the list was gone at boot".into(),
        }
    }

    fn comment(&self, name: &str) -> String {
        let text = format!("{COMMENT_PREFIX}{name}: {}", self.describe());
        moat_model::text::first_bytes(&text, MAX_COMMENT).to_string()
    }

    fn parse(comment: &str, name: &str) -> Option<Source> {
        let rest = comment.strip_prefix(&format!("{COMMENT_PREFIX}{name}: "))?;
        if let Some(rest) = rest.strip_prefix("country ") {
            let (code, dir) = rest.split_once(" from ")?;
            return Some(Source::Country {
                code: code.to_string(),
                zone_dir: PathBuf::from(dir),
            });
        }
        if let Some(rest) = rest.strip_prefix("countries ") {
            let (codes, dir) = rest.split_once(" from ")?;
            let codes = codes
                .split(',')
                .filter(|c| !c.starts_with('+'))
                .map(str::to_string)
                .collect();
            return Some(Source::Countries {
                codes,
                zone_dir: PathBuf::from(dir),
            });
        }
        if let Some(path) = rest.strip_prefix("file ") {
            return Some(Source::File {
                path: PathBuf::from(path),
            });
        }
        match rest {
            "added by hand" => Some(Source::Manual),
            "an empty stand-in: the list was gone at boot" => Some(Source::StandIn),
            _ => None,
        }
    }
}

/// What a list should be after [`Blocklists::load`].
#[derive(Debug, Clone)]
pub struct ListSpec {
    /// The list's name (see [`check_name`]).
    pub name: String,
    /// Where its addresses come from.
    pub source: Source,
    /// Its addresses, merged.
    pub entries: Entries,
    /// Addresses inside the list that stay allowed; `None` keeps those of
    /// an existing list (none for a new one).
    pub except: Option<Entries>,
    /// What it blocks; `None` keeps the directions of an existing list
    /// ([`DEFAULT_DIRECTIONS`] for a new one).
    pub directions: Option<Vec<Direction>>,
    /// Load even with no addresses (otherwise refused: an empty list lifts
    /// the block, which is what a failed download looks like).
    pub allow_empty: bool,
}

/// What [`Blocklists::load`] did to one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// The list.
    pub name: String,
    /// Whether the list is new.
    pub created: bool,
    /// IPv4 ranges now in the list.
    pub ranges_v4: usize,
    /// IPv6 ranges now in the list.
    pub ranges_v6: usize,
    /// Its directions.
    pub directions: Vec<Direction>,
}

/// What [`Blocklists::add`] or [`Blocklists::remove`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Whether the list changed at all.
    pub changed: bool,
    /// Whether the list was created (by [`Blocklists::add`]).
    pub created: bool,
    /// Whether the change needed the whole list read and rewritten (an
    /// overlap with existing ranges); otherwise only the touched ranges
    /// were sent.
    pub rewrote: bool,
}

/// A list as the kernel holds it, for `moat block list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// The list's name.
    pub name: String,
    /// Where its addresses came from, if its comment says.
    pub source: Option<Source>,
    /// What it blocks.
    pub directions: Vec<Direction>,
    /// IPv4 ranges in its set.
    pub ranges_v4: usize,
    /// IPv6 ranges in its set.
    pub ranges_v6: usize,
    /// IPv4 addresses its ranges cover.
    pub addresses_v4: u64,
    /// Its exceptions.
    pub exceptions: Entries,
    /// Packets its rules dropped.
    pub packets: u64,
    /// Bytes its rules dropped.
    pub bytes: u64,
    /// moat iptables tables whose rules use it (`ip moat_filter`).
    pub copies: Vec<String>,
}

/// One of a list's rules in the kernel.
#[derive(Debug, Clone)]
struct KRule {
    chain: String,
    handle: u64,
    slot: Slot,
    v6: bool,
    counter: (u64, u64),
}

/// A list in the kernel.
#[derive(Debug, Clone, Default)]
struct KList {
    comment: Option<String>,
    sets: BTreeSet<String>,
    rules: Vec<KRule>,
}

impl KList {
    fn source(&self, name: &str) -> Option<Source> {
        self.comment.as_deref().and_then(|c| Source::parse(c, name))
    }

    fn directions(&self) -> Vec<Direction> {
        let set: BTreeSet<Direction> = self.rules.iter().map(|r| r.slot.direction()).collect();
        set.into_iter().collect()
    }
}

/// A guard rule in the kernel.
#[derive(Debug, Clone)]
struct GuardRule {
    chain: BaseChain,
    handle: u64,
    v6: bool,
}

/// moat_block as the kernel holds it (sets and rules, not elements).
#[derive(Debug, Default)]
struct State {
    lists: BTreeMap<String, KList>,
    guard_sets: BTreeSet<String>,
    guard_rules: Vec<GuardRule>,
}

/// A copy of a list in one of moat's iptables tables.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Copy {
    family: NfProto,
    table: String,
}

impl Copy {
    fn describe(&self) -> String {
        format!("{} {}", self.family.word(), self.table)
    }
}

fn family_prefix(v6: bool) -> [Expr<'static>; 2] {
    Expr::nfproto_is(v6)
}

/// The rule of list `name` for `slot` and family.
fn rule_exprs<'a>(
    main: &'a str,
    except: &'a str,
    slot: Slot,
    v6: bool,
    counter: (u64, u64),
) -> Vec<Expr<'a>> {
    let offset = address_offset(v6, slot.field);
    let len = if v6 { 16 } else { 4 };
    let [meta, cmp] = family_prefix(v6);
    vec![
        meta,
        cmp,
        Expr::LoadNetworkHeader { offset, len },
        Expr::Lookup {
            set: main,
            inverted: false,
        },
        Expr::LoadNetworkHeader { offset, len },
        Expr::Lookup {
            set: except,
            inverted: true,
        },
        Expr::Counter {
            packets: counter.0,
            bytes: counter.1,
        },
        Expr::Verdict(Verdict::Drop),
    ]
}

/// The guard rule of a chain for one family: return at once when neither
/// address is in any list.
fn guard_exprs(v6: bool) -> Vec<Expr<'static>> {
    let set = guard_set_name(v6);
    let len = if v6 { 16 } else { 4 };
    let [meta, cmp] = family_prefix(v6);
    let mut exprs = vec![meta, cmp];
    for field in [
        crate::layout::Field::Source,
        crate::layout::Field::Destination,
    ] {
        exprs.push(Expr::LoadNetworkHeader {
            offset: address_offset(v6, field),
            len,
        });
        exprs.push(Expr::Lookup {
            set,
            inverted: true,
        });
    }
    exprs.push(Expr::Verdict(Verdict::Return));
    exprs
}

fn desired_slots(directions: &[Direction]) -> BTreeSet<Slot> {
    directions
        .iter()
        .flat_map(|d| d.slots().iter().copied())
        .collect()
}

/// Adds ranges of one family to a transaction.
fn add_family<K: IntervalKey>(
    tx: &mut Transaction,
    family: NfProto,
    table: &str,
    set: &str,
    ranges: &[(K, K)],
) {
    if !ranges.is_empty() {
        tx.add_intervals(family, table, set, ranges);
    }
}

/// A handle on the block lists of the calling thread's network namespace.
#[derive(Debug)]
pub struct Blocklists {
    nl: NfSocket,
}

impl Blocklists {
    /// Opens a netlink socket to nf_tables (needs root or CAP_NET_ADMIN to change anything).
    pub fn open() -> Result<Self, BlocklistError> {
        Ok(Blocklists {
            nl: NfSocket::open()?,
        })
    }

    fn read_state(&mut self) -> Result<State, BlocklistError> {
        let mut state = State::default();
        let Some(sets) = self.nl.sets(NfProto::Inet, TABLE)? else {
            return Ok(state);
        };
        for set in sets {
            if is_guard_set(&set.name) {
                state.guard_sets.insert(set.name.clone());
                continue;
            }
            let main = set.name.strip_suffix(".except").unwrap_or(&set.name);
            let Some((name, _)) = parse_set_name(main) else {
                continue;
            };
            let list = state.lists.entry(name.to_string()).or_default();
            if main == set.name && (list.comment.is_none() || !set.name.ends_with(".v6")) {
                list.comment = set.comment.clone();
            }
            list.sets.insert(set.name.clone());
        }
        for rule in self.nl.rules(NfProto::Inet, TABLE)?.unwrap_or_default() {
            let Some(chain) = BaseChain::from_name(&rule.chain) else {
                continue;
            };
            if let Some((set, _)) = rule.lookups().find(|(set, _)| is_guard_set(set)) {
                state.guard_rules.push(GuardRule {
                    chain,
                    handle: rule.handle,
                    v6: set.ends_with(".v6"),
                });
                continue;
            }
            let Some((set, _)) = rule.lookups().find(|(_, inverted)| !inverted) else {
                continue;
            };
            let Some((name, v6)) = parse_set_name(set) else {
                continue;
            };
            let offset = rule.exprs.iter().find_map(|e| match e {
                moat_backend::netlink::ExprInfo::Payload { offset, .. } => Some(*offset),
                _ => None,
            });
            let Some(field) = offset.and_then(|o| field_at(v6, o)) else {
                continue;
            };
            let Some(list) = state.lists.get_mut(name) else {
                continue;
            };
            list.rules.push(KRule {
                chain: rule.chain.clone(),
                handle: rule.handle,
                slot: Slot { chain, field },
                v6,
                counter: rule.counter().unwrap_or_default(),
            });
        }
        Ok(state)
    }

    /// Copies of list `name` in moat's iptables tables.
    fn read_copies(
        &mut self,
        names: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Vec<Copy>>, BlocklistError> {
        let mut out: BTreeMap<String, Vec<Copy>> = BTreeMap::new();
        if names.is_empty() {
            return Ok(out);
        }
        for family in [NfProto::Ip, NfProto::Ip6] {
            for stage in Stage::ALL {
                let table = moat_nft::layout::table_name(stage);
                for set in self.nl.sets(family, table)?.unwrap_or_default() {
                    match copy_of(&set.name) {
                        Some(name) if names.contains(name) && set.is_interval() => {
                            out.entry(name.to_string()).or_default().push(Copy {
                                family,
                                table: table.to_string(),
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// The copies in [`Self::read_copies`] that a rule of their table
    /// still looks up: a copy outlives the rule that used it.
    fn used_copies(
        &mut self,
        names: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Vec<Copy>>, BlocklistError> {
        let mut used: BTreeMap<String, Vec<Copy>> = BTreeMap::new();
        let mut looked_up: BTreeMap<(u8, String), BTreeSet<String>> = BTreeMap::new();
        for (name, copies) in self.read_copies(names)? {
            for copy in copies {
                let key = (copy.family.number(), copy.table.clone());
                if !looked_up.contains_key(&key) {
                    let sets = self.sets_looked_up(copy.family, &copy.table)?;
                    looked_up.insert(key.clone(), sets);
                }
                if looked_up[&key].contains(&copy_set_name(&name)) {
                    used.entry(name.clone()).or_default().push(copy);
                }
            }
        }
        Ok(used)
    }

    /// The sets the rules of `table` look up.
    fn sets_looked_up(
        &mut self,
        family: NfProto,
        table: &str,
    ) -> Result<BTreeSet<String>, BlocklistError> {
        let rules = self.nl.rules(family, table)?.unwrap_or_default();
        Ok(rules
            .iter()
            .flat_map(|r| r.lookups().map(|(set, _)| set.to_string()))
            .collect())
    }

    fn list_ranges(
        &mut self,
        state: &State,
        name: &str,
        except: bool,
    ) -> Result<Entries, BlocklistError> {
        let list = state.lists.get(name);
        let has = |set: &str| list.is_some_and(|l| l.sets.contains(set));
        let (s4, s6) = if except {
            (except_set_name(name, false), except_set_name(name, true))
        } else {
            (set_name(name, false), set_name(name, true))
        };
        let v4 = if has(&s4) {
            self.nl.ranges::<u32>(NfProto::Inet, TABLE, &s4)?
        } else {
            Vec::new()
        };
        let v6 = if has(&s6) {
            self.nl.ranges::<u128>(NfProto::Inet, TABLE, &s6)?
        } else {
            Vec::new()
        };
        Ok(Entries { v4, v6 })
    }

    /// Retries `f` while the ruleset changes under it.
    fn retrying<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, BlocklistError>,
    ) -> Result<T, BlocklistError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match f(self) {
                Err(BlocklistError::Kernel(NetlinkError::Changed)) if attempt < ATTEMPTS => {
                    continue
                }
                other => return other,
            }
        }
    }

    /// Creates or refreshes lists, all in one transaction: each list's sets
    /// are created or flushed and refilled, its rules made to match its
    /// directions (rules that stay keep their counters), and copies used
    /// by iptables rules refreshed too. On any error nothing changes.
    pub fn load(&mut self, specs: &[ListSpec]) -> Result<Vec<LoadSummary>, BlocklistError> {
        let mut seen = BTreeSet::new();
        for spec in specs {
            check_name(&spec.name)?;
            if !seen.insert(spec.name.as_str()) {
                return Err(BlocklistError::Duplicate(spec.name.clone()));
            }
            if spec.entries.is_empty() && !spec.allow_empty {
                return Err(BlocklistError::Empty {
                    name: spec.name.clone(),
                    source_desc: spec.source.describe(),
                });
            }
        }
        self.retrying(|this| this.try_load(specs))
    }

    fn try_load(&mut self, specs: &[ListSpec]) -> Result<Vec<LoadSummary>, BlocklistError> {
        let genid = self.nl.generation()?;
        let state = self.read_state()?;
        let names: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
        let copies = self.read_copies(&names)?;
        let mut tx = Transaction::new(Some(genid));
        tx.add_table(NfProto::Inet, TABLE, Some(TABLE_COMMENT));

        // Resolve every list first: kind checks, kept settings.
        struct Plan<'s> {
            spec: &'s ListSpec,
            existing: Option<KList>,
            directions: Vec<Direction>,
            except: Entries,
            recreate: bool,
            comment: String,
        }
        let mut plans = Vec::new();
        for spec in specs {
            let existing = state.lists.get(&spec.name).cloned();
            if let Some(list) = &existing {
                if let Some(old) = list.source(&spec.name) {
                    if !old.same_kind(&spec.source) && spec.source != Source::Manual {
                        return Err(BlocklistError::KindChange {
                            name: spec.name.clone(),
                            existing: old.kind(),
                        });
                    }
                }
            }
            let directions = match (&spec.directions, &existing) {
                (Some(d), _) => d.clone(),
                (None, Some(list)) => list.directions(),
                _ => DEFAULT_DIRECTIONS.to_vec(),
            };
            let except = match (&spec.except, &existing) {
                (Some(e), _) => e.clone(),
                (None, Some(_)) => self.list_ranges(&state, &spec.name, true)?,
                (None, None) => Entries::default(),
            };
            let comment = spec.source.comment(&spec.name);
            let recreate = existing
                .as_ref()
                .is_some_and(|l| l.comment.as_deref() != Some(comment.as_str()));
            plans.push(Plan {
                spec,
                existing,
                directions,
                except,
                recreate,
                comment,
            });
        }

        // Base chains for every direction any list will use.
        let mut chains: BTreeSet<BaseChain> = BTreeSet::new();
        for list in state.lists.values() {
            chains.extend(list.rules.iter().map(|r| r.slot.chain));
        }
        for plan in &plans {
            chains.extend(desired_slots(&plan.directions).iter().map(|s| s.chain));
        }
        for chain in &chains {
            tx.add_base_chain(NfProto::Inet, TABLE, chain.name(), chain.hook(), PRIORITY);
        }

        let mut summaries = Vec::new();
        for plan in &plans {
            let name = plan.spec.name.as_str();
            let slots = desired_slots(&plan.directions);
            let empty = KList::default();
            let existing = plan.existing.as_ref().unwrap_or(&empty);
            // Rules to keep, by (slot, family); counters of the others carry over.
            let mut kept: BTreeSet<(Slot, bool)> = BTreeSet::new();
            let mut carried: BTreeMap<(Slot, bool), (u64, u64)> = BTreeMap::new();
            for rule in &existing.rules {
                let key = (rule.slot, rule.v6);
                if !plan.recreate && slots.contains(&rule.slot) && kept.insert(key) {
                    continue;
                }
                if slots.contains(&rule.slot) {
                    let c = carried.entry(key).or_default();
                    c.0 += rule.counter.0;
                    c.1 += rule.counter.1;
                }
                tx.delete_rule(NfProto::Inet, TABLE, &rule.chain, rule.handle);
            }
            if plan.recreate {
                for set in &existing.sets {
                    tx.delete_set(NfProto::Inet, TABLE, set);
                }
            }
            let flush = |tx: &mut Transaction, set: &str| {
                if !plan.recreate && existing.sets.contains(set) {
                    tx.flush_set(NfProto::Inet, TABLE, set);
                }
            };
            let except_note = except_comment(name);
            for v6 in [false, true] {
                let main = set_name(name, v6);
                let except = except_set_name(name, v6);
                if v6 {
                    tx.add_set(
                        NfProto::Inet,
                        TABLE,
                        &SetSpec::intervals::<u128>(&main, Some(&plan.comment)),
                    );
                    tx.add_set(
                        NfProto::Inet,
                        TABLE,
                        &SetSpec::intervals::<u128>(&except, Some(&except_note)),
                    );
                } else {
                    tx.add_set(
                        NfProto::Inet,
                        TABLE,
                        &SetSpec::intervals::<u32>(&main, Some(&plan.comment)),
                    );
                    tx.add_set(
                        NfProto::Inet,
                        TABLE,
                        &SetSpec::intervals::<u32>(&except, Some(&except_note)),
                    );
                }
                flush(&mut tx, &main);
                flush(&mut tx, &except);
                if v6 {
                    add_family(&mut tx, NfProto::Inet, TABLE, &main, &plan.spec.entries.v6);
                    add_family(&mut tx, NfProto::Inet, TABLE, &except, &plan.except.v6);
                } else {
                    add_family(&mut tx, NfProto::Inet, TABLE, &main, &plan.spec.entries.v4);
                    add_family(&mut tx, NfProto::Inet, TABLE, &except, &plan.except.v4);
                }
            }
            for slot in &slots {
                for v6 in [false, true] {
                    if kept.contains(&(*slot, v6)) {
                        continue;
                    }
                    let main = set_name(name, v6);
                    let except = except_set_name(name, v6);
                    let counter = carried.get(&(*slot, v6)).copied().unwrap_or_default();
                    let exprs = rule_exprs(&main, &except, *slot, v6, counter);
                    let comment = rule_comment(name, slot.direction());
                    tx.add_rule(
                        NfProto::Inet,
                        TABLE,
                        slot.chain.name(),
                        &exprs,
                        Some(&comment),
                    );
                }
            }
            let effective = plan.spec.entries.minus(&plan.except);
            for copy in copies.get(name).into_iter().flatten() {
                refill_copy(&mut tx, copy, name, &effective);
            }
            summaries.push(LoadSummary {
                name: name.to_string(),
                created: plan.existing.is_none(),
                ranges_v4: plan.spec.entries.v4.len(),
                ranges_v6: plan.spec.entries.v6.len(),
                directions: plan.directions.clone(),
            });
        }
        let after: BTreeSet<&str> = state
            .lists
            .keys()
            .map(String::as_str)
            .chain(specs.iter().map(|s| s.name.as_str()))
            .collect();
        let known: Vec<(&str, &Entries)> = specs
            .iter()
            .map(|s| (s.name.as_str(), &s.entries))
            .collect();
        self.plan_guard(&mut tx, &state, &after, &known, &chains)?;
        self.nl.commit(tx)?;
        Ok(summaries)
    }

    /// Keeps the guard in step with the lists that will exist after `tx`:
    /// with [`GUARD_MIN_LISTS`] or more, the guard sets hold the union of
    /// every list (`known` gives the new contents of lists in `tx`, the
    /// others are read) and each chain in `chains` starts with a guard rule
    /// per family; with fewer, the guard goes.
    fn plan_guard(
        &mut self,
        tx: &mut Transaction,
        state: &State,
        after: &BTreeSet<&str>,
        known: &[(&str, &Entries)],
        chains: &BTreeSet<BaseChain>,
    ) -> Result<(), BlocklistError> {
        if after.len() < GUARD_MIN_LISTS {
            for rule in &state.guard_rules {
                tx.delete_rule(NfProto::Inet, TABLE, rule.chain.name(), rule.handle);
            }
            for set in &state.guard_sets {
                tx.delete_set(NfProto::Inet, TABLE, set);
            }
            return Ok(());
        }
        let mut read = Vec::new();
        for name in after {
            if !known.iter().any(|(n, _)| n == name) {
                read.push(self.list_ranges(state, name, false)?);
            }
        }
        let union = Entries::union_all(known.iter().map(|(_, e)| *e).chain(read.iter()));
        for v6 in [false, true] {
            let set = guard_set_name(v6);
            if v6 {
                tx.add_set(
                    NfProto::Inet,
                    TABLE,
                    &SetSpec::intervals::<u128>(set, Some(GUARD_COMMENT)),
                );
            } else {
                tx.add_set(
                    NfProto::Inet,
                    TABLE,
                    &SetSpec::intervals::<u32>(set, Some(GUARD_COMMENT)),
                );
            }
            if state.guard_sets.contains(set) {
                tx.flush_set(NfProto::Inet, TABLE, set);
            }
            if v6 {
                add_family(tx, NfProto::Inet, TABLE, set, &union.v6);
            } else {
                add_family(tx, NfProto::Inet, TABLE, set, &union.v4);
            }
            for chain in chains {
                if !state
                    .guard_rules
                    .iter()
                    .any(|r| r.chain == *chain && r.v6 == v6)
                {
                    tx.insert_rule(
                        NfProto::Inet,
                        TABLE,
                        chain.name(),
                        &guard_exprs(v6),
                        Some("moat: in no list"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Removes lists, with their rules and any copies. Refused, with nothing
    /// changed, if a list does not exist or iptables rules use it.
    pub fn unblock(&mut self, names: &[String]) -> Result<(), BlocklistError> {
        self.retrying(|this| this.try_unblock(names, false))
    }

    /// Removes the country lists of `codes` (see [`Blocklists::unblock`]);
    /// refused for lists that are not country lists.
    pub fn unblock_countries(&mut self, codes: &[String]) -> Result<(), BlocklistError> {
        let names = codes
            .iter()
            .map(|c| crate::zones::country_code(c))
            .collect::<Result<Vec<_>, _>>()?;
        self.retrying(|this| this.try_unblock(&names, true))
    }

    fn try_unblock(&mut self, names: &[String], countries: bool) -> Result<(), BlocklistError> {
        let genid = self.nl.generation()?;
        let state = self.read_state()?;
        let wanted: BTreeSet<String> = names.iter().cloned().collect();
        for name in &wanted {
            let Some(list) = state.lists.get(name) else {
                return Err(BlocklistError::NotFound(name.clone()));
            };
            if countries {
                match list.source(name) {
                    Some(Source::Country { .. }) => {}
                    other => {
                        return Err(BlocklistError::NotCountry {
                            name: name.clone(),
                            what: other
                                .map(|s| s.kind())
                                .unwrap_or_else(|| "not from a country's zone".into()),
                        })
                    }
                }
            }
        }
        let copies = self.read_copies(&wanted)?;
        let mut tx = Transaction::new(Some(genid));
        let mut copy_ops: Vec<(String, String)> = Vec::new();
        for name in &wanted {
            for copy in copies.get(name).into_iter().flatten() {
                tx.delete_set(copy.family, &copy.table, &copy_set_name(name));
                copy_ops.push((name.clone(), copy.describe()));
            }
        }
        if state.lists.keys().all(|n| wanted.contains(n)) {
            tx.delete_table(NfProto::Inet, TABLE);
        } else {
            for name in &wanted {
                let list = &state.lists[name];
                for rule in &list.rules {
                    tx.delete_rule(NfProto::Inet, TABLE, &rule.chain, rule.handle);
                }
                for set in &list.sets {
                    tx.delete_set(NfProto::Inet, TABLE, set);
                }
            }
            let after: BTreeSet<&str> = state
                .lists
                .keys()
                .map(String::as_str)
                .filter(|n| !wanted.contains(*n))
                .collect();
            let chains: BTreeSet<BaseChain> = state
                .lists
                .iter()
                .filter(|(n, _)| !wanted.contains(*n))
                .flat_map(|(_, l)| l.rules.iter().map(|r| r.slot.chain))
                .collect();
            self.plan_guard(&mut tx, &state, &after, &[], &chains)?;
        }
        match self.nl.commit(tx) {
            Err(NetlinkError::Refused { errno, what, .. })
                if errno == libc::EBUSY && what.starts_with("delete set ip") =>
            {
                let (name, table) = copy_ops
                    .into_iter()
                    .find(|(name, table)| {
                        what == format!("delete set {table} {}", copy_set_name(name))
                    })
                    .unwrap_or_else(|| (names.join(", "), what.clone()));
                Err(BlocklistError::InUse { name, table })
            }
            other => Ok(other?),
        }
    }

    /// Adds addresses to list `name`; with `create`, a list that does not
    /// exist is created (as a hand-made list with the default directions),
    /// without it that is an error naming the lists there are.
    ///
    /// New ranges that touch nothing in the list are sent alone (a few
    /// milliseconds whatever the list's size); when one overlaps ranges
    /// already there, the list is read, merged and replaced in one
    /// transaction.
    pub fn add(
        &mut self,
        name: &str,
        entries: &Entries,
        create: bool,
    ) -> Result<UpdateSummary, BlocklistError> {
        check_name(name)?;
        if !create {
            let existing = self.names()?;
            if !existing.iter().any(|n| n == name) {
                return Err(BlocklistError::NoSuchList {
                    name: name.to_string(),
                    existing,
                });
            }
        }
        self.retrying(|this| this.try_update(name, entries, true))
    }

    /// The number of IPv4 and IPv6 ranges in list `name`.
    pub fn size(&mut self, name: &str) -> Result<(usize, usize), BlocklistError> {
        self.retrying(|this| {
            let state = this.read_state()?;
            if !state.lists.contains_key(name) {
                return Err(BlocklistError::NotFound(name.to_string()));
            }
            let ranges = this.list_ranges(&state, name, false)?;
            Ok((ranges.v4.len(), ranges.v6.len()))
        })
    }

    /// Removes addresses from list `name` (cutting them out of its ranges).
    pub fn remove(
        &mut self,
        name: &str,
        entries: &Entries,
    ) -> Result<UpdateSummary, BlocklistError> {
        check_name(name)?;
        self.retrying(|this| this.try_update(name, entries, false))
    }

    fn try_update(
        &mut self,
        name: &str,
        entries: &Entries,
        add: bool,
    ) -> Result<UpdateSummary, BlocklistError> {
        let genid = self.nl.generation()?;
        let state = self.read_state()?;
        if !state.lists.contains_key(name) {
            if !add {
                return Err(BlocklistError::NotFound(name.to_string()));
            }
            let spec = ListSpec {
                name: name.to_string(),
                source: Source::Manual,
                entries: entries.clone(),
                except: None,
                directions: None,
                allow_empty: true,
            };
            self.try_load(std::slice::from_ref(&spec))?;
            return Ok(UpdateSummary {
                changed: true,
                created: true,
                rewrote: false,
            });
        }
        let copies = self.read_copies(&BTreeSet::from([name.to_string()]))?;
        if copies.is_empty() {
            let mut tx = Transaction::new(Some(genid));
            let fast = if add {
                let guarded = !state.guard_sets.is_empty();
                self.fast_add::<u32>(&mut tx, &set_name(name, false), &entries.v4)?
                    && self.fast_add::<u128>(&mut tx, &set_name(name, true), &entries.v6)?
                    && (tx.is_empty()
                        || !guarded
                        || self.fast_add::<u32>(&mut tx, guard_set_name(false), &entries.v4)?
                            && self.fast_add::<u128>(&mut tx, guard_set_name(true), &entries.v6)?)
            } else {
                self.fast_remove::<u32>(&mut tx, name, false, &entries.v4)?
                    && self.fast_remove::<u128>(&mut tx, name, true, &entries.v6)?
            };
            if fast {
                if tx.is_empty() {
                    return Ok(UpdateSummary {
                        changed: false,
                        created: false,
                        rewrote: false,
                    });
                }
                match self.nl.commit(tx) {
                    Ok(()) => {
                        return Ok(UpdateSummary {
                            changed: true,
                            created: false,
                            rewrote: false,
                        })
                    }
                    // An overlap the quick checks could not see: rewrite.
                    Err(NetlinkError::Refused { errno, .. }) if is_overlap(errno) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // Read, merge, replace: one transaction.
        let genid = self.nl.generation()?;
        let current = self.list_ranges(&state, name, false)?;
        let next = if add {
            current.union(entries)
        } else {
            current.minus(entries)
        };
        if next == current {
            return Ok(UpdateSummary {
                changed: false,
                created: false,
                rewrote: true,
            });
        }
        let except = self.list_ranges(&state, name, true)?;
        let list = &state.lists[name];
        let mut tx = Transaction::new(Some(genid));
        if add && !state.guard_sets.is_empty() {
            let v4 = self
                .nl
                .ranges::<u32>(NfProto::Inet, TABLE, guard_set_name(false))?;
            let v6 = self
                .nl
                .ranges::<u128>(NfProto::Inet, TABLE, guard_set_name(true))?;
            let guard = Entries { v4, v6 }.union(entries);
            for v6 in [false, true] {
                let set = guard_set_name(v6);
                tx.flush_set(NfProto::Inet, TABLE, set);
                if v6 {
                    add_family(&mut tx, NfProto::Inet, TABLE, set, &guard.v6);
                } else {
                    add_family(&mut tx, NfProto::Inet, TABLE, set, &guard.v4);
                }
            }
        }
        for v6 in [false, true] {
            let set = set_name(name, v6);
            if list.sets.contains(&set) {
                tx.flush_set(NfProto::Inet, TABLE, &set);
            } else if v6 {
                tx.add_set(
                    NfProto::Inet,
                    TABLE,
                    &SetSpec::intervals::<u128>(&set, list.comment.as_deref()),
                );
            } else {
                tx.add_set(
                    NfProto::Inet,
                    TABLE,
                    &SetSpec::intervals::<u32>(&set, list.comment.as_deref()),
                );
            }
            if v6 {
                add_family(&mut tx, NfProto::Inet, TABLE, &set, &next.v6);
            } else {
                add_family(&mut tx, NfProto::Inet, TABLE, &set, &next.v4);
            }
        }
        let effective = next.minus(&except);
        for copy in copies.get(name).into_iter().flatten() {
            refill_copy(&mut tx, copy, name, &effective);
        }
        self.nl.commit(tx)?;
        Ok(UpdateSummary {
            changed: true,
            created: false,
            rewrote: true,
        })
    }

    /// Queues the ranges that are not already fully in interval set `set`;
    /// whether they overlap what is there, the kernel checks at commit.
    fn fast_add<K: IntervalKey>(
        &mut self,
        tx: &mut Transaction,
        set: &str,
        ranges: &[(K, K)],
    ) -> Result<bool, BlocklistError> {
        let mut new = Vec::new();
        for &(first, last) in ranges {
            match self.nl.range_containing(NfProto::Inet, TABLE, set, first)? {
                Some((_, end)) if end >= last => {}
                _ => new.push((first, last)),
            }
        }
        add_family(tx, NfProto::Inet, TABLE, set, &new);
        Ok(true)
    }

    /// Queues the cuts for ranges that lie within one range of the list, or
    /// single addresses outside it; `false` for anything else.
    fn fast_remove<K: IntervalKey>(
        &mut self,
        tx: &mut Transaction,
        name: &str,
        v6: bool,
        ranges: &[(K, K)],
    ) -> Result<bool, BlocklistError> {
        let set = set_name(name, v6);
        let mut touched: Vec<(K, K)> = Vec::new();
        for &(first, last) in ranges {
            let at_first = self
                .nl
                .range_containing(NfProto::Inet, TABLE, &set, first)?;
            let at_last = if last == first {
                at_first
            } else {
                self.nl.range_containing(NfProto::Inet, TABLE, &set, last)?
            };
            match (at_first, at_last) {
                (None, None) if first == last => {}
                (Some(a), Some(b)) if a == b && !touched.contains(&a) => {
                    touched.push(a);
                    tx.delete_intervals(NfProto::Inet, TABLE, &set, &[a]);
                    let mut pieces = Vec::new();
                    if a.0 < first {
                        pieces.extend(first.pred().map(|p| (a.0, p)));
                    }
                    if last < a.1 {
                        pieces.extend(last.succ().map(|s| (s, a.1)));
                    }
                    add_family(tx, NfProto::Inet, TABLE, &set, &pieces);
                }
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Every list with its source, directions, sizes, exceptions and
    /// counters. Counting reads every list's elements.
    pub fn lists(&mut self) -> Result<Vec<ListInfo>, BlocklistError> {
        self.retrying(|this| {
            let state = this.read_state()?;
            let names: BTreeSet<String> = state.lists.keys().cloned().collect();
            let copies = this.used_copies(&names)?;
            let mut out = Vec::new();
            for (name, list) in &state.lists {
                let ranges = this.list_ranges(&state, name, false)?;
                let exceptions = this.list_ranges(&state, name, true)?;
                let (packets, bytes) = list
                    .rules
                    .iter()
                    .fold((0, 0), |acc, r| (acc.0 + r.counter.0, acc.1 + r.counter.1));
                out.push(ListInfo {
                    name: name.clone(),
                    source: list.source(name),
                    directions: list.directions(),
                    ranges_v4: ranges.v4.len(),
                    ranges_v6: ranges.v6.len(),
                    addresses_v4: ranges.v4.iter().map(|(a, b)| u64::from(b - a) + 1).sum(),
                    exceptions,
                    packets,
                    bytes,
                    copies: copies
                        .get(name)
                        .into_iter()
                        .flatten()
                        .map(Copy::describe)
                        .collect(),
                });
            }
            Ok(out)
        })
    }

    /// Lists `names` as they are now (or that they do not exist), to be
    /// put back later ([`Blocklists::restore_saved`]).
    pub fn save(&mut self, names: &[String]) -> Result<Vec<SavedList>, BlocklistError> {
        self.retrying(|this| {
            let state = this.read_state()?;
            let mut out = Vec::new();
            for name in names {
                let held = match state.lists.get(name) {
                    Some(list) => Some(SavedContents {
                        source: list.source(name).unwrap_or(Source::Manual),
                        entries: this.list_ranges(&state, name, false)?,
                        except: this.list_ranges(&state, name, true)?,
                        directions: list.directions(),
                    }),
                    None => None,
                };
                out.push(SavedList {
                    name: name.clone(),
                    held,
                });
            }
            Ok(out)
        })
    }

    /// The names of the lists in the kernel (cheap: no elements are read).
    pub fn names(&mut self) -> Result<Vec<String>, BlocklistError> {
        Ok(self.read_state()?.lists.into_keys().collect())
    }

    /// The lists whose copies moat table `table` of `family` holds.
    pub fn copies_in(
        &mut self,
        family: Family,
        table: &str,
    ) -> Result<Vec<String>, BlocklistError> {
        let proto = match family {
            Family::Ipv4 => NfProto::Ip,
            Family::Ipv6 => NfProto::Ip6,
        };
        Ok(self
            .nl
            .sets(proto, table)?
            .unwrap_or_default()
            .iter()
            .filter(|set| set.is_interval())
            .filter_map(|set| copy_of(&set.name).map(str::to_string))
            .collect())
    }

    /// The addresses list `name` blocks: its ranges minus its exceptions.
    pub fn effective_entries(&mut self, name: &str) -> Result<Entries, BlocklistError> {
        self.retrying(|this| {
            let state = this.read_state()?;
            if !state.lists.contains_key(name) {
                return Err(BlocklistError::NotFound(name.to_string()));
            }
            let ranges = this.list_ranges(&state, name, false)?;
            let except = this.list_ranges(&state, name, true)?;
            Ok(Entries {
                v4: minus(&ranges.v4, &except.v4),
                v6: minus(&ranges.v6, &except.v6),
            })
        })
    }
}

/// Replaces the elements of a list's copy in an iptables table.
fn refill_copy(tx: &mut Transaction, copy: &Copy, name: &str, effective: &Entries) {
    let set = copy_set_name(name);
    tx.flush_set(copy.family, &copy.table, &set);
    match copy.family {
        NfProto::Ip6 => add_family(tx, copy.family, &copy.table, &set, &effective.v6),
        _ => add_family(tx, copy.family, &copy.table, &set, &effective.v4),
    }
}

fn is_overlap(errno: i32) -> bool {
    errno == libc::EEXIST || errno == libc::ENOTEMPTY
}
