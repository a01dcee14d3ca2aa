//! The named sets rules fill while packets pass (see
//! [`moat_nft::rule::CompiledRule::sets`]): which of them a table's change
//! declares, and their NFT_MSG_NEWSET as nft 1.0.6 sends it.
//!
//! Rules declare the sets they fill; the declarations of a table's rules
//! are merged ([`merge_sets`]), and a set the table already holds is not
//! declared again but must expire its elements as the rule needs, exactly
//! as the `nft` driver decides. A set is declared with NFT_SET_EVAL (nft
//! adds it for a set a rule fills), its address key, an ID in the batch,
//! and the key's byte order as user data; with the timeout flag and the
//! default timeout of a set whose elements expire (a hashlimit's), its size
//! when one is given, and a concatenated key (address . port) as nft
//! composes it.

use moat_model::Family;
use moat_nft::nft_json::EncodeError;
use moat_nft::rule::{check_existing, merge_sets};
use moat_nft::KernelSet;
use nftables::schema::{Set, SetFlag, SetType, SetTypeValue};

use super::anon_set::CONCAT_TYPE_BITS;
use super::batch::Batch;
use super::error::DriverError;
use super::portmap::{SetIds, Target};
use crate::netlink::consts::*;
use crate::netlink::udata::Udata;

/// Adds the sets a rule (`index` of `chain`) declares to `sets`, the sets
/// of a table's change, leaving out those the table holds (`existing`).
pub(crate) fn collect(
    sets: &mut Vec<Set<'static>>,
    declared: &[Set<'static>],
    existing: &[KernelSet],
    chain: &str,
    index: usize,
) -> Result<(), DriverError> {
    for set in declared {
        let result = match existing.iter().find(|k| k.name == set.name) {
            None => merge_sets(sets, set.clone()).map_err(EncodeError::Sets),
            Some(k) => check_existing(k, set, chain, index).map_err(EncodeError::Sets),
        };
        result.map_err(|e| DriverError::Compile(e.to_string()))?;
    }
    Ok(())
}

/// The kernel's type and length of one field of a set's key.
fn field(t: SetType, family: Family) -> Option<(u32, u32)> {
    match (t, family) {
        (SetType::Ipv4Addr, Family::Ipv4) => Some((TYPE_IPADDR, 4)),
        (SetType::Ipv6Addr, Family::Ipv6) => Some((TYPE_IP6ADDR, 16)),
        (SetType::InetService, _) => Some((TYPE_INET_SERVICE, 2)),
        _ => None,
    }
}

/// The kernel's type and length of a set's key, when this driver writes
/// it: one field, or a concatenation, whose type nft composes from its
/// fields' and whose fields each take whole 32-bit registers.
fn key(set: &Set<'_>, family: Family) -> Option<(u32, u32)> {
    match &set.set_type {
        SetTypeValue::Single(t) => field(*t, family),
        SetTypeValue::Concatenated(types) => types.iter().try_fold((0, 0), |(ty, len), t| {
            let (t, l) = field(*t, family)?;
            Some(((ty << CONCAT_TYPE_BITS) | t, len + l.next_multiple_of(4)))
        }),
    }
}

/// Declares `set` in the batch with NFT_MSG_NEWSET, under its ID in `ids`,
/// with the attributes nft 1.0.6 sends for it.
pub(crate) fn declare(
    b: &mut Batch,
    ids: &mut SetIds,
    t: &Target<'_>,
    set: &Set<'_>,
) -> Result<(), DriverError> {
    let timeout_flag = set.flags.iter().flatten().all(|f| *f == SetFlag::Timeout);
    let plain = timeout_flag
        && set.policy.is_none()
        && set.gc_interval.is_none()
        && set.comment.is_none()
        && set.elem.is_none();
    let Some((key_type, key_len)) = key(set, t.family).filter(|_| plain) else {
        let what = "a set keyed on other than addresses and ports".to_string();
        return Err(t.unsupported_in(&format!("set {}", set.name), what));
    };
    let expires = set.flags.iter().flatten().next().is_some();
    let id = ids.get(t.family, &set.name);
    let mut udata = Udata::default();
    match set.set_type {
        SetTypeValue::Single(_) => udata.u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG_ENDIAN),
        SetTypeValue::Concatenated(_) => {
            // As nft 1.0.6: no one byte order, and a key described as a
            // concatenation (expression type 13) with no further data.
            udata.u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_INVALID);
            let mut typeof_key = Udata::default();
            typeof_key.u32(UDATA_TYPEOF_EXPR, UDATA_EXPR_CONCAT);
            typeof_key.empty(UDATA_TYPEOF_DATA);
            udata.nest(UDATA_SET_KEY_TYPEOF, &typeof_key);
        }
    }
    let flags = if expires {
        NFT_SET_EVAL | NFT_SET_TIMEOUT
    } else {
        NFT_SET_EVAL
    };
    let m = t.begin_set(b, &set.name, flags, key_type, key_len);
    let w = b.w();
    w.attr_u32(NFTA_SET_ID, id);
    if let Some(size) = set.size {
        let desc = w.begin_nest(NFTA_SET_DESC);
        w.attr_u32(NFTA_SET_DESC_SIZE, size);
        w.end_nest(desc);
    }
    if let Some(seconds) = set.timeout {
        w.attr_u64(NFTA_SET_TIMEOUT, u64::from(seconds) * 1000);
    }
    w.attr(NFTA_SET_USERDATA, &udata.0);
    b.end(m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, LimitKey, Match, Rate, RateUnit, Rule, Stage, Table};
    use moat_nft::{plan_replace, ChangeSet};

    use super::super::encode::encode;
    use super::*;
    use crate::netlink::wire::{be_u32, be_u64, messages, nft_type, string, Attrs};

    fn connlimit(count: u32) -> Match {
        Match::ConnLimit {
            count,
            above: true,
            prefix: 32,
            by_source: true,
        }
    }

    /// An IPv4 filter table whose INPUT holds a rule of each of `matches`.
    fn changes(matches: Vec<Match>) -> ChangeSet {
        let mut table = Table::new(Family::Ipv4, Stage::Filter);
        table.chain_mut("INPUT").unwrap().rules = matches
            .into_iter()
            .map(|m| Rule {
                matches: vec![m],
                ..Rule::new(Action::Drop)
            })
            .collect();
        plan_replace(&table).unwrap()
    }

    /// The (set name, set ID) of each `dynset` of the batch's rules.
    fn dynsets(bytes: &[u8]) -> Vec<(String, Option<u32>)> {
        let msgs = messages(bytes).unwrap();
        msgs.iter()
            .filter(|m| m.ty == nft_type(NFT_MSG_NEWRULE))
            .filter_map(|m| m.attrs().get(NFTA_RULE_EXPRESSIONS))
            .flat_map(|list| Attrs(list).map(|(_, e)| Attrs(e)))
            .filter(|e| e.get(NFTA_EXPR_NAME).map(string).as_deref() == Some("dynset"))
            .map(|e| {
                let data = Attrs(e.get(NFTA_EXPR_DATA).unwrap());
                (
                    string(data.get(NFTA_DYNSET_SET_NAME).unwrap()),
                    data.get(NFTA_DYNSET_SET_ID).and_then(be_u32),
                )
            })
            .collect()
    }

    #[test]
    fn sets_come_after_the_table_commands_with_the_ids_their_rules_name() {
        let sealed = encode(
            &changes(vec![connlimit(2), connlimit(3)]),
            1,
            true,
            &Default::default(),
        )
        .unwrap()
        .unwrap();
        let msgs = messages(&sealed.bytes).unwrap();
        let kinds: Vec<u16> = msgs.iter().map(|m| m.ty).collect();
        let t = |m| nft_type(m);
        assert_eq!(
            kinds[1..7],
            [
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_DELTABLE),
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_NEWSET),
                t(NFT_MSG_NEWSET),
                t(NFT_MSG_NEWCHAIN),
            ]
        );
        let mut declared = Vec::new();
        for m in &msgs[4..6] {
            let a = m.attrs();
            assert_eq!(a.get(NFTA_SET_FLAGS).and_then(be_u32), Some(NFT_SET_EVAL));
            assert_eq!(a.get(NFTA_SET_KEY_TYPE).and_then(be_u32), Some(TYPE_IPADDR));
            assert_eq!(a.get(NFTA_SET_KEY_LEN).and_then(be_u32), Some(4));
            let mut udata = vec![UDATA_SET_KEYBYTEORDER, 4];
            udata.extend_from_slice(&BYTEORDER_BIG_ENDIAN.to_ne_bytes());
            assert_eq!(a.get(NFTA_SET_USERDATA), Some(&udata[..]));
            declared.push((
                string(a.get(NFTA_SET_NAME).unwrap()),
                a.get(NFTA_SET_ID).and_then(be_u32),
            ));
        }
        assert_eq!(declared[0].1, Some(1));
        assert_eq!(dynsets(&sealed.bytes), declared);
    }

    #[test]
    fn a_set_the_table_holds_is_not_declared_again() {
        let mut changes = changes(vec![connlimit(2)]);
        let before = encode(&changes, 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let (name, _) = dynsets(&before.bytes).remove(0);
        changes.tables[0].existing_sets = vec![KernelSet {
            name: name.clone(),
            timeout: None,
        }];
        let sealed = encode(&changes, 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let msgs = messages(&sealed.bytes).unwrap();
        assert!(!msgs.iter().any(|m| m.ty == nft_type(NFT_MSG_NEWSET)));
        assert_eq!(dynsets(&sealed.bytes)[0].0, name);
    }

    #[test]
    fn expiring_sets_are_declared_and_checked_against_the_table_like_nft() {
        let hashlimit = Match::HashLimit {
            name: "web".into(),
            rate: Rate {
                count: 10,
                unit: RateUnit::Second,
            },
            burst: 5,
            over: true,
            key: LimitKey {
                src_prefix: Some(32),
                dst_prefix: None,
                src_port: false,
                dst_port: false,
            },
            expire_ms: 10_000,
            bytes: false,
            max_keys: None,
        };
        let mut changes = changes(vec![hashlimit]);
        let sealed = encode(&changes, 1, true, &Default::default())
            .unwrap()
            .unwrap();
        let msgs = messages(&sealed.bytes).unwrap();
        let set = msgs
            .iter()
            .find(|m| m.ty == nft_type(NFT_MSG_NEWSET))
            .unwrap()
            .attrs();
        assert_eq!(
            set.get(NFTA_SET_FLAGS).and_then(be_u32),
            Some(NFT_SET_EVAL | NFT_SET_TIMEOUT)
        );
        assert_eq!(
            set.get(NFTA_SET_TIMEOUT).and_then(be_u64),
            Some(10_000),
            "whole seconds, in ms"
        );
        assert_eq!(dynsets(&sealed.bytes)[0].0, "hashlimit_web");
        changes.tables[0].existing_sets = vec![KernelSet {
            name: "hashlimit_web".into(),
            timeout: Some(60),
        }];
        let err = encode(&changes, 1, true, &Default::default()).unwrap_err();
        assert!(matches!(err, DriverError::Compile(_)), "{err}");
        assert!(err.to_string().contains("expire after 10 s"), "{err}");
    }
}
