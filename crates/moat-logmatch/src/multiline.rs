//! What a failure carries between lines: the captured values, and the
//! multi-line failure-id cache (`<F-MLFID>`): lines of one connection
//! (same `mlfid`) share their values, so a later line without an address
//! still names the host an earlier line gave, `<F-NOFAIL>` lines are not
//! failures by themselves, `<F-MLFGAINED>` (a success) clears what was
//! pending, and `<F-MLFFORGET>` ends the connection.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// The values captured for one failure, by group name (only groups that
/// took part in the match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailData {
    /// Group name to captured text (names shared with the regexes).
    pub groups: BTreeMap<Arc<str>, String>,
    /// Every user named on the connection so far.
    pub users: BTreeSet<String>,
    /// A failure was seen whose host was not known yet.
    pub pending: bool,
}

impl FailData {
    /// Whether group `k` captured a non-empty text.
    pub fn truthy(&self, k: &str) -> bool {
        self.groups.get(k).is_some_and(|v| !v.is_empty())
    }

    /// Removes group `k`, saying whether it held a non-empty text.
    fn take_truthy(&mut self, k: &str) -> bool {
        self.groups.remove(k).is_some_and(|v| !v.is_empty())
    }
}

/// How many connections the cache keeps, and for how long (seconds).
const CAPACITY: usize = 100;
const LIFETIME: f64 = 300.0;

/// The multi-line failure-id cache: failure values by connection id, each
/// with the time it expires, dropped oldest first when full.
#[derive(Debug, Default)]
pub struct MlfidCache {
    entries: HashMap<String, (u64, f64, FailData)>,
    /// Insertion order: (sequence number, key); stale pairs are skipped.
    order: VecDeque<(u64, String)>,
    next: u64,
}

impl MlfidCache {
    fn live(&mut self, key: &str, now: f64) -> bool {
        match self.entries.get(key) {
            Some((_, expires, _)) if *expires > now => true,
            Some(_) => {
                self.entries.remove(key);
                false
            }
            None => false,
        }
    }

    fn pop_oldest(&mut self) -> Option<f64> {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.0 == seq) {
                return self.entries.remove(&key).map(|e| e.1);
            }
        }
        None
    }

    fn set(&mut self, key: &str, data: FailData, now: f64) {
        if self.entries.len() >= CAPACITY {
            while let Some(expires) = self.pop_oldest() {
                if expires > now && self.entries.len() < CAPACITY {
                    break;
                }
            }
        }
        self.next += 1;
        self.order.push_back((self.next, key.to_string()));
        self.entries
            .insert(key.to_string(), (self.next, now + LIFETIME, data));
    }

    /// Writes back the values of a connection still in the cache.
    pub fn store(&mut self, key: &str, data: FailData) {
        if let Some(e) = self.entries.get_mut(key) {
            e.2 = data;
        }
    }

    /// Merges a failregex match `fail` into the connection `mlfid`. Returns
    /// the merged values and whether they are the connection's cached values
    /// (to be written back with [`MlfidCache::store`] after further changes).
    pub fn merge(&mut self, mlfid: &str, mut fail: FailData, now: f64) -> (FailData, bool) {
        const NOFAIL: u8 = 1;
        const FORGET: u8 = 2;
        const CACHED_NOFAIL: u8 = 4;
        const GAINED: u8 = 8;
        let mut flags = 0u8;
        if fail.truthy("mlfgained") {
            flags |= GAINED | NOFAIL;
            if !fail.truthy("nofail") {
                let gained = fail.groups.get("mlfgained").cloned().unwrap_or_default();
                fail.groups.insert(Arc::from("nofail"), gained);
            }
        } else if fail.truthy("nofail") {
            flags |= NOFAIL;
        }
        if fail.take_truthy("mlfforget") {
            flags |= FORGET;
        }
        let user = fail.groups.get("user").filter(|u| !u.is_empty()).cloned();
        // Taken out of the entry: a stored merge is written back with
        // `store` (the entry keeps its place and expiry meanwhile).
        let cached = if self.live(mlfid, now) {
            self.entries
                .get_mut(mlfid)
                .map(|e| std::mem::take(&mut e.2))
        } else {
            None
        };
        let (mut merged, stored) = match cached {
            Some(mut cached) => {
                if let Some(u) = user {
                    cached.users.insert(u);
                }
                if cached.take_truthy("nofail") {
                    flags |= CACHED_NOFAIL;
                }
                if cached.take_truthy("mlfgained") {
                    flags |= CACHED_NOFAIL;
                }
                if flags & GAINED != 0 {
                    cached.pending = false;
                }
                cached.groups.extend(fail.groups);
                if flags & FORGET != 0 {
                    self.entries.remove(mlfid);
                    (cached, false)
                } else {
                    (cached, true)
                }
            }
            None if flags & FORGET == 0 => {
                if let Some(u) = user {
                    fail.users.insert(u);
                }
                self.set(mlfid, FailData::default(), now);
                (fail, true)
            }
            None => (fail, false),
        };
        if std::mem::take(&mut merged.pending) || merged.users.len() > 1 {
            merged.groups.remove("nofail");
            merged.groups.remove("mlfgained");
        }
        (merged, stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> FailData {
        FailData {
            groups: pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), v.to_string()))
                .collect(),
            ..FailData::default()
        }
    }

    #[test]
    fn host_from_an_earlier_line() {
        let mut c = MlfidCache::default();
        let (m, stored) = c.merge(
            "conn1",
            data(&[("nofail", "Connection from"), ("ip4", "192.0.2.1")]),
            0.0,
        );
        assert!(stored && m.truthy("nofail"));
        c.store("conn1", m);
        let (m, _) = c.merge("conn1", data(&[("user", "root")]), 1.0);
        assert_eq!(m.groups.get("ip4").map(String::as_str), Some("192.0.2.1"));
        assert!(!m.truthy("nofail"));
    }

    #[test]
    fn forget_and_expiry() {
        let mut c = MlfidCache::default();
        let (m, _) = c.merge("a", data(&[("ip4", "192.0.2.1")]), 0.0);
        c.store("a", m);
        let (_, stored) = c.merge("a", data(&[("mlfforget", "closed")]), 1.0);
        assert!(!stored);
        let (m, _) = c.merge("a", data(&[]), 2.0);
        assert!(!m.groups.contains_key("ip4"));
        let (m, _) = c.merge("b", data(&[("ip4", "192.0.2.2")]), 0.0);
        c.store("b", m);
        let (m, _) = c.merge("b", data(&[]), LIFETIME + 1.0);
        assert!(!m.groups.contains_key("ip4"));
    }

    #[test]
    fn capacity() {
        let mut c = MlfidCache::default();
        for i in 0..=CAPACITY {
            c.merge(&format!("k{i}"), data(&[("ip4", "192.0.2.1")]), 0.0);
        }
        assert_eq!(c.entries.len(), CAPACITY);
        assert!(!c.live("k0", 0.0));
    }
}
