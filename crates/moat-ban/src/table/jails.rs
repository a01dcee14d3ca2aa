//! Setting up jails in the kernel: reading the table's jails back,
//! creating and updating their sets and rules, removing jails.

use std::collections::{BTreeMap, BTreeSet};

use moat_backend::netlink::{NetlinkError, RuleInfo, SetInfo, SetSpec, Transaction};

use super::{BanTable, ATTEMPTS, INET};
use crate::encode::rule_exprs;
use crate::layout::{
    jail_of_set, parse_rule_comment, ports_comment, ports_set_name, prefix_of_comment, AddrSet,
    JailScope, Protocol, CHAINS, PRIORITY, TABLE, TABLE_COMMENT,
};
use crate::BanError;

/// What the kernel holds in [`TABLE`].
#[derive(Debug, Default)]
struct State {
    sets: BTreeMap<String, SetInfo>,
    rules: Vec<RuleInfo>,
}

impl State {
    /// The jail a rule of the table belongs to, and the rule's identity
    /// within it: (chain, looked-up set, comment).
    fn rule_key(rule: &RuleInfo) -> Option<(&str, (String, String, String))> {
        let comment = rule.comment.as_deref()?;
        let (jail, ..) = parse_rule_comment(comment)?;
        let set = rule.lookups().next()?.0;
        Some((
            jail,
            (rule.chain.clone(), set.to_string(), comment.to_string()),
        ))
    }

    /// The names of the jails that have sets in the table.
    fn jail_names(&self) -> BTreeSet<String> {
        self.sets
            .keys()
            .filter_map(|s| jail_of_set(s))
            .map(str::to_string)
            .collect()
    }

    /// The prefix length of a jail's `v6net` set, if it has one.
    fn prefix(&self, jail: &str) -> Option<u8> {
        let set = self.sets.get(&AddrSet::V6Net.name(jail))?;
        prefix_of_comment(set.comment.as_deref()?)
    }
}

impl BanTable {
    fn read_state(&mut self) -> Result<State, BanError> {
        let Some(sets) = self.nl.sets(INET, TABLE)? else {
            return Ok(State::default());
        };
        let rules = self.nl.rules(INET, TABLE)?.unwrap_or_default();
        Ok(State {
            sets: sets.into_iter().map(|s| (s.name.clone(), s)).collect(),
            rules,
        })
    }

    /// The jails as the kernel holds them: name, protocol, ports and
    /// verdict from the rules' comments and the ports sets, prefix length
    /// from the `v6net` sets' comments. A jail that closes everything reads
    /// back as `all` with [`Protocol::All`] and no ports.
    pub fn jails(&mut self) -> Result<Vec<JailScope>, BanError> {
        let state = self.read_state()?;
        let mut out = Vec::new();
        for name in state.jail_names() {
            let v4 = AddrSet::V4.name(&name);
            let mut protocols = BTreeSet::new();
            let (mut all, mut ports, mut reject) = (false, false, false);
            for rule in &state.rules {
                let comment = rule.comment.as_deref().unwrap_or_default();
                let Some((jail, protocol, p, r)) = parse_rule_comment(comment) else {
                    continue;
                };
                if jail != name
                    || rule.chain != CHAINS[0].0
                    || rule.lookups().next() != Some((&v4, false))
                {
                    continue;
                }
                match protocol {
                    Some(p) => {
                        protocols.insert(p);
                    }
                    None => all = true,
                }
                ports |= p;
                reject |= r;
            }
            let protocol = match protocols.into_iter().collect::<Vec<_>>().as_slice() {
                [one] if !all => *one,
                _ => Protocol::All,
            };
            let ports = if ports && !all {
                self.nl.ranges::<u16>(INET, TABLE, &ports_set_name(&name))?
            } else {
                Vec::new()
            };
            let scope = JailScope {
                v6_prefix: state.prefix(&name),
                all: all || (protocol == Protocol::All && ports.is_empty()),
                name,
                protocol,
                ports,
                reject,
            };
            self.jails.insert(scope.name.clone(), scope.clone());
            out.push(scope);
        }
        Ok(out)
    }

    /// The jail `name`: known already, or read from the kernel.
    pub(super) fn jail(&mut self, name: &str) -> Result<JailScope, BanError> {
        if let Some(scope) = self.jails.get(name) {
            return Ok(scope.clone());
        }
        self.jails()?;
        self.jails
            .get(name)
            .cloned()
            .ok_or_else(|| BanError::UnknownJail(name.to_string()))
    }

    /// Creates or updates the jails' sets and rules, in one transaction:
    /// the table and its base chains when missing, each jail's sets when
    /// missing (existing ones keep their elements: bans survive), its
    /// ports set refilled in place when the ports changed, and its rules
    /// replaced where its scope changed. A jail whose IPv6 prefix length
    /// changed gets a new `v6net` set (its bans by prefix are lost). Jails
    /// in the kernel that are not named are left alone (see
    /// [`BanTable::prune_jails`]).
    pub fn ensure_jails(&mut self, jails: &[JailScope]) -> Result<(), BanError> {
        let mut names = BTreeSet::new();
        for jail in jails {
            jail.check()?;
            if !names.insert(jail.name.as_str()) {
                return Err(BanError::DuplicateJail(jail.name.clone()));
            }
        }
        self.retrying(|t| t.try_ensure(jails))?;
        for jail in jails {
            self.jails.insert(jail.name.clone(), jail.clone());
        }
        Ok(())
    }

    /// Runs `f` again (up to [`ATTEMPTS`] times) while the ruleset changed
    /// under it.
    fn retrying<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, BanError>,
    ) -> Result<T, BanError> {
        let mut attempt = 1;
        loop {
            match f(self) {
                Err(BanError::Kernel(NetlinkError::Changed)) if attempt < ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    fn try_ensure(&mut self, jails: &[JailScope]) -> Result<(), BanError> {
        let generation = self.nl.generation()?;
        let state = self.read_state()?;
        let mut tx = Transaction::new(Some(generation));
        tx.add_table(INET, TABLE, Some(TABLE_COMMENT));
        for (chain, hook) in CHAINS {
            tx.add_base_chain(INET, TABLE, chain, hook, PRIORITY);
        }
        // Collected first, applied in an order the kernel accepts: rules
        // that go before the sets they use, sets before the rules that use them.
        let mut delete_rules = Vec::new();
        let mut delete_sets = Vec::new();
        let mut add = Vec::new();
        for jail in jails {
            let name = jail.name.as_str();
            let v6net = AddrSet::V6Net.name(name);
            let renew_v6net = match (jail.v6_prefix, state.sets.get(&v6net)) {
                (Some(p), Some(_)) if state.prefix(name) != Some(p) => {
                    delete_sets.push(v6net.clone());
                    true
                }
                (Some(_), None) => true,
                (None, Some(_)) => {
                    delete_sets.push(v6net.clone());
                    false
                }
                _ => false,
            };
            let ports = jail.port_ranges();
            let ports_set = ports_set_name(name);
            let ports_now = match state.sets.get(&ports_set) {
                Some(_) => Some(self.nl.ranges::<u16>(INET, TABLE, &ports_set)?),
                None => None,
            };
            // In order: chains, then the jail's rules.
            let wanted: Vec<((String, String, String), _)> = CHAINS
                .iter()
                .flat_map(|(chain, _)| {
                    jail.rules().into_iter().map(move |spec| {
                        let key = (chain.to_string(), spec.set.name(name), spec.comment(name));
                        (key, spec)
                    })
                })
                .collect();
            let mut have = BTreeSet::new();
            for rule in &state.rules {
                let Some((rule_jail, key)) = State::rule_key(rule) else {
                    continue;
                };
                if rule_jail != name {
                    continue;
                }
                if wanted.iter().any(|(k, _)| *k == key) && !(renew_v6net && key.1 == v6net) {
                    have.insert(key);
                } else {
                    delete_rules.push((rule.chain.clone(), rule.handle));
                }
            }
            if ports.is_empty() && ports_now.is_some() {
                delete_sets.push(ports_set.clone());
            }
            add.push((jail, renew_v6net, ports, ports_now, wanted, have));
        }
        for (chain, handle) in &delete_rules {
            tx.delete_rule(INET, TABLE, chain, *handle);
        }
        for set in &delete_sets {
            tx.delete_set(INET, TABLE, set);
        }
        for (jail, renew_v6net, ports, ports_now, wanted, have) in add {
            let name = jail.name.as_str();
            for set in [AddrSet::V4, AddrSet::V6] {
                let (set_name, comment) = (set.name(name), set.comment(name, None));
                let spec = if set.is_v6() {
                    SetSpec::values::<u128>(&set_name, Some(&comment))
                } else {
                    SetSpec::values::<u32>(&set_name, Some(&comment))
                };
                tx.add_timeout_set(INET, TABLE, &spec);
            }
            if renew_v6net {
                let (set_name, comment) = (
                    AddrSet::V6Net.name(name),
                    AddrSet::V6Net.comment(name, jail.v6_prefix),
                );
                tx.add_timeout_set(
                    INET,
                    TABLE,
                    &SetSpec::values::<u128>(&set_name, Some(&comment)),
                );
            }
            let ports_set = ports_set_name(name);
            if !ports.is_empty() && ports_now.as_ref() != Some(&ports) {
                if ports_now.is_some() {
                    tx.flush_set(INET, TABLE, &ports_set);
                } else {
                    let comment = ports_comment(name);
                    tx.add_set(
                        INET,
                        TABLE,
                        &SetSpec::intervals::<u16>(&ports_set, Some(&comment)),
                    );
                }
                tx.add_intervals_as_nft(INET, TABLE, &ports_set, &ports);
            }
            for (key, spec) in &wanted {
                if !have.contains(key) {
                    let exprs = rule_exprs(spec, &key.1, &ports_set);
                    tx.add_rule(INET, TABLE, &key.0, &exprs, Some(&key.2));
                }
            }
        }
        self.nl.commit(tx)?;
        Ok(())
    }

    /// Removes, in one transaction, the sets and rules (and so the bans)
    /// of every jail in the kernel not named in `keep`; returns the jails
    /// removed.
    pub fn prune_jails(&mut self, keep: &[&str]) -> Result<Vec<String>, BanError> {
        let removed = self.retrying(|t| {
            let generation = t.nl.generation()?;
            let state = t.read_state()?;
            let gone: BTreeSet<String> = state
                .jail_names()
                .into_iter()
                .filter(|j| !keep.contains(&j.as_str()))
                .collect();
            if gone.is_empty() {
                return Ok(gone);
            }
            let mut tx = Transaction::new(Some(generation));
            for rule in &state.rules {
                if State::rule_key(rule).is_some_and(|(j, _)| gone.contains(j)) {
                    tx.delete_rule(INET, TABLE, &rule.chain, rule.handle);
                }
            }
            for set in state.sets.keys() {
                if jail_of_set(set).is_some_and(|j| gone.contains(j)) {
                    tx.delete_set(INET, TABLE, set);
                }
            }
            t.nl.commit(tx)?;
            Ok(gone)
        })?;
        for jail in &removed {
            self.jails.remove(jail);
        }
        Ok(removed.into_iter().collect())
    }
}
