//! Interface names as a finite dimension.
//!
//! Every interface name a ruleset mentions (exact, or as an `eth+` prefix)
//! splits the names into classes that no rule can tell apart: each exact
//! name, for each prefix the names under it that no exact name or longer
//! prefix claims, and the names nothing mentions. Sorting the classes by
//! name puts everything under a prefix next to each other, so a prefix is
//! one interval of class numbers.

use moat_model::{Iface, Match, Table};

use crate::space::Ranges;

/// The interface classes of a set of tables.
#[derive(Debug, Clone, Default)]
pub struct Ifaces {
    /// Class keys, sorted: the name (or prefix) and whether it is a prefix's rest.
    keys: Vec<(String, bool)>,
}

impl Ifaces {
    /// The classes of every interface `tables` mention.
    pub fn of(tables: &[&Table]) -> Self {
        let mut keys: Vec<(String, bool)> = tables
            .iter()
            .flat_map(|t| &t.chains)
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.matches)
            .filter_map(|m| match m {
                Match::InInterface { iface, .. } | Match::OutInterface { iface, .. } => {
                    Some((iface.name.clone(), iface.wildcard))
                }
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Ifaces { keys }
    }

    /// The largest class number (the last class is "no name mentioned").
    pub fn max(&self) -> u128 {
        self.keys.len() as u128
    }

    /// The classes `iface` matches.
    pub fn classes(&self, iface: &Iface) -> Ranges {
        if iface.wildcard {
            if iface.name.is_empty() {
                return Ranges::span(0, self.max());
            }
            let lo = self
                .keys
                .partition_point(|(k, _)| k.as_str() < iface.name.as_str());
            let len = self.keys[lo..].partition_point(|(k, _)| k.starts_with(&iface.name));
            match len {
                0 => Ranges::empty(),
                _ => Ranges::span(lo as u128, (lo + len - 1) as u128),
            }
        } else {
            match self
                .keys
                .binary_search(&(iface.name.clone(), iface.wildcard))
            {
                Ok(i) => Ranges::single(i as u128),
                Err(_) => Ranges::empty(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, wildcard: bool) -> Iface {
        Iface {
            name: name.into(),
            wildcard,
        }
    }

    fn with(names: &[(&str, bool)]) -> Ifaces {
        let mut keys: Vec<(String, bool)> =
            names.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        keys.sort_unstable();
        keys.dedup();
        Ifaces { keys }
    }

    #[test]
    fn prefixes_cover_their_names_and_nothing_else() {
        let f = with(&[
            ("eth0", false),
            ("eth+", false),
            ("eth", true),
            ("lo", false),
            ("wlan", true),
            ("eth1", true),
        ]);
        let eth = f.classes(&iface("eth", true));
        for name in ["eth0", "eth+"] {
            assert!(f.classes(&iface(name, false)).is_subset(&eth), "{name}");
        }
        assert!(f.classes(&iface("eth1", true)).is_subset(&eth));
        assert!(!f.classes(&iface("lo", false)).overlaps(&eth));
        assert!(!f.classes(&iface("wlan", true)).overlaps(&eth));
        let other = Ranges::single(f.max());
        assert!(!eth.overlaps(&other));
        assert!(f.classes(&iface("", true)).overlaps(&other));
        assert!(f.classes(&iface("ppp0", false)).is_empty());
    }
}
