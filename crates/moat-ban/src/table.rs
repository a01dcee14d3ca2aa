//! [`BanTable`]: the kernel side of bans — jails' sets and rules in table
//! `inet moat_ban`, bans as set elements with timeouts — over moat's own
//! nf_tables netlink layer, in the calling thread's network namespace.

mod jails;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use moat_backend::netlink::{NfProto, NfSocket, SetSpec, Transaction};

use crate::layout::{AddrSet, JailScope, MAX_TIMEOUT, TABLE, TABLE_COMMENT};
use crate::BanError;

/// How often a change is tried when the ruleset changed under it, or a
/// ban expired between reading and deleting it.
const ATTEMPTS: usize = 4;

const INET: NfProto = NfProto::Inet;

/// The scratch set [`BanTable::probe_updates`] tries the kernel on.
const PROBE_SET: &str = "_probe";

/// A ban as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBan {
    /// The jail.
    pub jail: String,
    /// The banned address, or IPv6 network for a jail that bans by prefix.
    pub addr: IpNet,
    /// The time left; `None` for a permanent ban.
    pub expires_in: Option<Duration>,
    /// The timeout the ban was given; `None` for a permanent ban.
    pub timeout: Option<Duration>,
}

/// A set element's key: an IPv4 or IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    V4(u32),
    V6(u128),
}

impl From<IpAddr> for Key {
    fn from(addr: IpAddr) -> Key {
        match addr {
            IpAddr::V4(a) => Key::V4(a.into()),
            IpAddr::V6(a) => Key::V6(a.into()),
        }
    }
}

/// The elements to add to or delete from one set.
#[derive(Debug, Default)]
struct SetChange {
    v4: Vec<(u32, Option<Duration>)>,
    v6: Vec<(u128, Option<Duration>)>,
}

impl SetChange {
    fn push(&mut self, key: Key, timeout: Option<Duration>) {
        match key {
            Key::V4(k) => self.v4.push((k, timeout)),
            Key::V6(k) => self.v6.push((k, timeout)),
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Keeps the last of several elements with one key.
    fn dedup(&mut self) {
        fn last_wins<K: Ord + Copy>(v: &mut Vec<(K, Option<Duration>)>) {
            let mut seen = BTreeSet::new();
            v.reverse();
            v.retain(|e| seen.insert(e.0));
            v.reverse();
        }
        last_wins(&mut self.v4);
        last_wins(&mut self.v6);
    }

    fn add(&self, tx: &mut Transaction, set: &str) {
        if !self.v4.is_empty() {
            tx.add_elements(INET, TABLE, set, &self.v4, false);
        }
        if !self.v6.is_empty() {
            tx.add_elements(INET, TABLE, set, &self.v6, false);
        }
    }

    fn delete(&self, tx: &mut Transaction, set: &str) {
        if !self.v4.is_empty() {
            let keys: Vec<u32> = self.v4.iter().map(|e| e.0).collect();
            tx.delete_elements(INET, TABLE, set, &keys);
        }
        if !self.v6.is_empty() {
            let keys: Vec<u128> = self.v6.iter().map(|e| e.0).collect();
            tx.delete_elements(INET, TABLE, set, &keys);
        }
    }
}

/// The jails' sets and rules in table `inet moat_ban`, and their bans.
///
/// Every method works on the kernel of the calling thread's network
/// namespace, and reads what it needs from the kernel: the kernel is the
/// truth (the daemon and `moat ban` share it).
#[derive(Debug)]
pub struct BanTable {
    nl: NfSocket,
    /// Jails known from the kernel or [`BanTable::ensure_jails`], by name.
    jails: BTreeMap<String, JailScope>,
    /// Whether adding an element that exists gives it the new timeout
    /// (see [`BanTable::probe_updates`]); asked once.
    updates_timeouts: Option<bool>,
}

impl BanTable {
    /// Opens a netlink socket to the kernel's nf_tables; changes nothing.
    pub fn open() -> Result<Self, BanError> {
        Ok(BanTable {
            nl: NfSocket::open()?,
            jails: BTreeMap::new(),
            updates_timeouts: None,
        })
    }

    /// Whether this kernel gives an element that is added again the new
    /// timeout — also from timed to permanent and back — as Linux 6.18
    /// does (older kernels keep the old one). Found out once, by trying on
    /// a scratch set of the table (`_probe`, never a jail's: jail names
    /// start with a letter or digit), which is removed again.
    fn probe_updates(&mut self) -> Result<bool, BanError> {
        if let Some(known) = self.updates_timeouts {
            return Ok(known);
        }
        let hour = Some(Duration::from_secs(3600));
        let mut tx = Transaction::new(None);
        tx.add_table(INET, TABLE, Some(TABLE_COMMENT));
        tx.add_timeout_set(INET, TABLE, &SetSpec::values::<u32>(PROBE_SET, None));
        tx.flush_set(INET, TABLE, PROBE_SET);
        tx.add_elements(INET, TABLE, PROBE_SET, &[(1u32, hour), (2, None)], false);
        self.nl.commit(tx)?;
        let mut tx = Transaction::new(None);
        tx.add_elements(INET, TABLE, PROBE_SET, &[(1u32, None), (2, hour)], false);
        let tried = self.nl.commit(tx).map_err(BanError::from).and_then(|()| {
            let one = self.nl.element(INET, TABLE, PROBE_SET, 1u32)?;
            let two = self.nl.element(INET, TABLE, PROBE_SET, 2u32)?;
            Ok(one.is_some_and(|e| e.timeout.is_none()) && two.is_some_and(|e| e.timeout == hour))
        });
        let mut tx = Transaction::new(None);
        tx.delete_set(INET, TABLE, PROBE_SET);
        self.nl.commit(tx)?;
        let updates = tried?;
        self.updates_timeouts = Some(updates);
        Ok(updates)
    }

    /// For tests: behaves as on a kernel that keeps the old timeout of an
    /// element added again.
    #[cfg(test)]
    pub(crate) fn assume_no_timeout_updates(&mut self) {
        self.updates_timeouts = Some(false);
    }

    /// Adds `elements` to a set so that each ends up with the timeout
    /// given, whether or not it was there: as they are on a kernel that
    /// updates timeouts, else each added (if missing, so that the delete
    /// cannot fail), deleted and added afresh — all in `tx`.
    fn put(
        &mut self,
        tx: &mut Transaction,
        set: &str,
        elements: &SetChange,
    ) -> Result<(), BanError> {
        elements.add(tx, set);
        if !self.probe_updates()? {
            elements.delete(tx, set);
            elements.add(tx, set);
        }
        Ok(())
    }

    /// Bans `addr` in jail `jail` for `timeout` (`None`: for good; capped
    /// at [`MAX_TIMEOUT`]); an address the jail bans already gets the new
    /// timeout. On a kernel that updates timeouts (Linux 6.18 does) this is
    /// one `NFT_MSG_NEWSETELEM` message in one transaction; on older ones,
    /// an add, a delete and an add in one transaction. A jail that bans
    /// IPv6 by prefix bans the address's network (see [`JailScope::target`]).
    /// Returns what the kernel now holds: the address, or that network.
    pub fn ban(
        &mut self,
        jail: &str,
        addr: IpNet,
        timeout: Option<Duration>,
    ) -> Result<IpNet, BanError> {
        let scope = self.jail(jail)?;
        let target = scope.target(addr)?;
        let (set, key) = scope.slot(target)?;
        let mut change = SetChange::default();
        change.push(Key::from(key), timeout.map(|t| t.min(MAX_TIMEOUT)));
        let mut tx = Transaction::new(None);
        self.put(&mut tx, &set.name(jail), &change)?;
        match self.nl.commit(tx) {
            Ok(()) => Ok(target),
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                self.jails.remove(jail);
                Err(BanError::UnknownJail(jail.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Bans many addresses in one transaction, each with its own timeout
    /// (as [`BanTable::ban`]): what a start does with the bans still due.
    /// The last of several bans of one address in one jail wins. Nothing
    /// is sent when one of the bans is refused (an unknown jail, an
    /// address the jail cannot ban), and the kernel applies all or nothing.
    pub fn ban_many(&mut self, bans: &[(String, IpNet, Option<Duration>)]) -> Result<(), BanError> {
        let mut sets: BTreeMap<String, SetChange> = BTreeMap::new();
        let mut scope: Option<JailScope> = None;
        for (jail, addr, timeout) in bans {
            if scope.as_ref().is_none_or(|s| s.name != *jail) {
                scope = Some(self.jail(jail)?);
            }
            let Some(scope) = &scope else { continue };
            let (set, addr) = scope.slot(*addr)?;
            sets.entry(set.name(jail))
                .or_default()
                .push(Key::from(addr), timeout.map(|t| t.min(MAX_TIMEOUT)));
        }
        let mut tx = Transaction::new(None);
        for (set, change) in &mut sets {
            change.dedup();
            self.put(&mut tx, set, change)?;
        }
        self.nl.commit(tx)?;
        Ok(())
    }

    /// The time left of jail `jail`'s ban of `addr` (its network, for a
    /// jail that bans IPv6 by prefix), asked of the kernel: `None` when
    /// not banned, `Some(None)` when banned for good.
    pub fn time_left(
        &mut self,
        jail: &str,
        addr: IpNet,
    ) -> Result<Option<Option<Duration>>, BanError> {
        let scope = self.jail(jail)?;
        let (set, key) = scope.slot(addr)?;
        let name = set.name(jail);
        Ok(match Key::from(key) {
            Key::V4(k) => self
                .nl
                .element(INET, TABLE, &name, k)?
                .map(|e| e.expires_in),
            Key::V6(k) => self
                .nl
                .element(INET, TABLE, &name, k)?
                .map(|e| e.expires_in),
        })
    }

    /// Lifts every ban that covers `addr` or a part of it — in jail `jail`,
    /// or in every jail: a ban of the address itself, of a network it is
    /// in, and for a network, of every address and network in it. Returns
    /// how many bans were lifted (all in one transaction).
    pub fn unban(&mut self, jail: Option<&str>, addr: IpNet) -> Result<usize, BanError> {
        let addr = addr.trunc();
        let mut attempt = 1;
        loop {
            let scopes = self.jails()?;
            if let Some(j) = jail.filter(|j| !scopes.iter().any(|s| s.name == *j)) {
                return Err(BanError::UnknownJail(j.to_string()));
            }
            let mut tx = Transaction::new(None);
            let mut count = 0;
            for scope in scopes.iter().filter(|s| jail.is_none_or(|j| s.name == j)) {
                for set in scope.addr_sets() {
                    if set.is_v6() != matches!(addr, IpNet::V6(_)) {
                        continue;
                    }
                    let found = self.covered(scope, set, addr)?;
                    let mut change = SetChange::default();
                    for key in found {
                        change.push(key, None);
                    }
                    count += change.len();
                    change.delete(&mut tx, &set.name(&scope.name));
                }
            }
            match self.nl.commit(tx) {
                Ok(()) => return Ok(count),
                // A ban expired between reading and deleting: look again.
                Err(e) if e.errno() == Some(libc::ENOENT) && attempt < ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The keys of `set` of jail `scope` whose bans overlap `addr`: asked
    /// one by one for an address, listed for a network.
    fn covered(
        &mut self,
        scope: &JailScope,
        set: AddrSet,
        addr: IpNet,
    ) -> Result<Vec<Key>, BanError> {
        let name = set.name(&scope.name);
        let host = addr.prefix_len() == addr.max_prefix_len();
        if host {
            let key = match set {
                AddrSet::V6Net => scope.slot(addr)?.1,
                _ => addr.addr(),
            };
            let found = match Key::from(key) {
                Key::V4(k) => self
                    .nl
                    .element(INET, TABLE, &name, k)?
                    .map(|e| Key::V4(e.key)),
                Key::V6(k) => self
                    .nl
                    .element(INET, TABLE, &name, k)?
                    .map(|e| Key::V6(e.key)),
            };
            return Ok(found.into_iter().collect());
        }
        let overlaps = |net: IpNet| net.contains(&addr.network()) || addr.contains(&net.network());
        Ok(self
            .set_bans(scope, set)?
            .into_iter()
            .filter(|b| overlaps(b.addr))
            .map(|b| Key::from(b.addr.addr()))
            .collect())
    }

    /// The bans in one of a jail's sets.
    fn set_bans(&mut self, scope: &JailScope, set: AddrSet) -> Result<Vec<KernelBan>, BanError> {
        let name = set.name(&scope.name);
        let ban = |addr: IpNet, timeout, expires_in| KernelBan {
            jail: scope.name.clone(),
            addr,
            expires_in,
            timeout,
        };
        if set == AddrSet::V4 {
            let elements = self.nl.elements::<u32>(INET, TABLE, &name)?;
            return Ok(elements
                .into_iter()
                .map(|e| {
                    let net = Ipv4Net::from(std::net::Ipv4Addr::from(e.key));
                    ban(IpNet::V4(net), e.timeout, e.expires_in)
                })
                .collect());
        }
        let prefix = match set {
            AddrSet::V6Net => scope.v6_prefix.unwrap_or(128),
            _ => 128,
        };
        let elements = self.nl.elements::<u128>(INET, TABLE, &name)?;
        Ok(elements
            .into_iter()
            .filter_map(|e| {
                let net = Ipv6Net::new(std::net::Ipv6Addr::from(e.key), prefix).ok()?;
                Some(ban(IpNet::V6(net), e.timeout, e.expires_in))
            })
            .collect())
    }

    /// Every ban in the kernel: jail, address or network, time left.
    pub fn list(&mut self) -> Result<Vec<KernelBan>, BanError> {
        let mut out = Vec::new();
        for scope in self.jails()? {
            for set in scope.addr_sets() {
                out.extend(self.set_bans(&scope, set)?);
            }
        }
        Ok(out)
    }

    /// Lifts every ban of jail `jail`, in one transaction.
    pub fn flush_jail(&mut self, jail: &str) -> Result<(), BanError> {
        let scope = self.jail(jail)?;
        let mut tx = Transaction::new(None);
        for set in scope.addr_sets() {
            tx.flush_set(INET, TABLE, &set.name(jail));
        }
        self.nl.commit(tx)?;
        Ok(())
    }
}
