//! Block lists in moat's iptables rules: `-m set --match-set NAME src`.
//!
//! nf_tables sets belong to one table, so a rule in `ip moat_filter` cannot
//! look up `@NAME.v4` in `inet moat_block`. Instead the table that holds
//! the rule gets its own copy of the list: an interval set named
//! `blocklist.NAME` ([`copy_set_name`](crate::layout::copy_set_name))
//! holding the list's addresses minus its exceptions. Every refresh,
//! add or remove by [`Blocklists`](crate::Blocklists) rewrites the copies in
//! the same transaction as the list itself, and `moat unblock NAME` is
//! refused while a rule still uses a copy.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use moat_model::Family;
use nftables::expr::{Expression, NamedExpression, Prefix, Range};
use nftables::schema::{Set, SetFlag, SetType, SetTypeValue};
use nftables::types::NfFamily;

use crate::layout::{check_name, copy_comment, copy_set_name};
use crate::{BlocklistError, Blocklists, Entries};

/// The declaration, with elements, of list `name`'s copy in moat table
/// `table` of `family` (e.g. `ip moat_filter`), for the rule compiler to
/// emit next to a rule using `-m set --match-set name` (whose lookup names
/// the set `blocklist.name`, the declaration's name). `entries` are the
/// addresses to match: what [`iptables_set`] reads from the kernel.
pub fn set_declaration(name: &str, family: Family, table: &str, entries: &Entries) -> Set<'static> {
    let (nf_family, set_type, elem): (NfFamily, SetType, Vec<Expression<'static>>) = match family {
        Family::Ipv4 => (
            NfFamily::IP,
            SetType::Ipv4Addr,
            entries
                .v4
                .iter()
                .map(|&(a, b)| {
                    element(
                        Ipv4Addr::from(a).to_string(),
                        Ipv4Addr::from(b).to_string(),
                        prefix_len(u128::from(a), u128::from(b), 32),
                    )
                })
                .collect(),
        ),
        Family::Ipv6 => (
            NfFamily::IP6,
            SetType::Ipv6Addr,
            entries
                .v6
                .iter()
                .map(|&(a, b)| {
                    element(
                        Ipv6Addr::from(a).to_string(),
                        Ipv6Addr::from(b).to_string(),
                        prefix_len(a, b, 128),
                    )
                })
                .collect(),
        ),
    };
    Set {
        family: nf_family,
        table: Cow::Owned(table.to_string()),
        name: Cow::Owned(copy_set_name(name)),
        handle: None,
        set_type: SetTypeValue::Single(set_type),
        policy: None,
        flags: Some(HashSet::from([SetFlag::Interval])),
        elem: if elem.is_empty() {
            None
        } else {
            Some(Cow::Owned(elem))
        },
        timeout: None,
        gc_interval: None,
        size: None,
        comment: Some(Cow::Owned(copy_comment(name))),
    }
}

/// Reads list `name` from the kernel and returns the declaration of its
/// copy for `family`'s moat table `table` (see [`set_declaration`]).
pub fn iptables_set(
    name: &str,
    family: Family,
    table: &str,
) -> Result<Set<'static>, BlocklistError> {
    check_name(name)?;
    let entries = Blocklists::open()?.effective_entries(name)?;
    Ok(set_declaration(name, family, table, &entries))
}

/// The declarations (with elements) of the list copies that the rules of
/// `family`'s moat table `table` need for the lists `names` they look up:
/// one for each list whose copy the kernel table does not hold yet, or for
/// every list when `fresh` (the transaction recreates the table). Fails on
/// a name that is not a block list.
pub fn copies_to_declare<'a>(
    names: impl IntoIterator<Item = &'a str>,
    family: Family,
    table: &str,
    fresh: bool,
) -> Result<Vec<Set<'static>>, BlocklistError> {
    let mut lists: Option<(Blocklists, Vec<String>)> = None;
    let mut out = Vec::new();
    for name in names {
        check_name(name)?;
        let (lists, held) = match &mut lists {
            Some(open) => open,
            None => {
                let mut open = Blocklists::open()?;
                let held = if fresh {
                    Vec::new()
                } else {
                    open.copies_in(family, table)?
                };
                lists.insert((open, held))
            }
        };
        if !held.iter().any(|h| h == name) {
            let entries = lists.effective_entries(name)?;
            out.push(set_declaration(name, family, table, &entries));
        }
    }
    Ok(out)
}

/// The prefix length when `[a, b]` is exactly one network of a `bits`-bit space.
fn prefix_len(a: u128, b: u128, bits: u32) -> Option<u32> {
    let size = b.wrapping_sub(a).wrapping_add(1);
    if size == 0 {
        // The whole IPv6 space.
        return (a == 0 && bits == 128).then_some(0);
    }
    if !size.is_power_of_two() || !a.is_multiple_of(size) {
        return None;
    }
    Some(bits - size.trailing_zeros())
}

fn element(first: String, last: String, prefix: Option<u32>) -> Expression<'static> {
    match prefix {
        Some(len) if len == 32 && !first.contains(':') || len == 128 => {
            Expression::String(Cow::Owned(first))
        }
        Some(len) => Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(Cow::Owned(first))),
            len,
        })),
        None => Expression::Range(Box::new(Range {
            range: [
                Expression::String(Cow::Owned(first)),
                Expression::String(Cow::Owned(last)),
            ],
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_uses_prefixes_ranges_and_addresses() {
        let (entries, _) = Entries::parse(
            "10.0.0.0/24\n10.0.2.0-10.0.2.9\n192.0.2.1\n2001:db8::/32\n",
            "t",
        )
        .unwrap();
        let set = set_declaration("bad", Family::Ipv4, "moat_filter", &entries);
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.contains(r#""name":"blocklist.bad""#), "{json}");
        assert!(
            json.contains(r#""prefix":{"addr":"10.0.0.0","len":24}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""range":["10.0.2.0","10.0.2.9"]"#),
            "{json}"
        );
        assert!(json.contains(r#""192.0.2.1""#), "{json}");
        assert!(json.contains("interval"), "{json}");
        assert!(!json.contains("2001"), "{json}");
        let v6 = serde_json::to_string(&set_declaration(
            "bad",
            Family::Ipv6,
            "moat_filter",
            &entries,
        ))
        .unwrap();
        assert!(
            v6.contains(r#""prefix":{"addr":"2001:db8::","len":32}"#),
            "{v6}"
        );
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len(0, u32::MAX as u128, 32), Some(0));
        assert_eq!(prefix_len(0, u128::MAX, 128), Some(0));
        assert_eq!(prefix_len(256, 511, 32), Some(24));
        assert_eq!(prefix_len(256, 510, 32), None);
        assert_eq!(prefix_len(128, 383, 32), None);
        assert_eq!(prefix_len(5, 5, 32), Some(32));
    }
}
