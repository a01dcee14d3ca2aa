//! Block lists' copies: the named interval sets of addresses
//! (`blocklist.NAME`) that `-m set --match-set NAME` rules look up in their
//! own table, declared with their elements as nft 1.0.6 sends `add set ...
//! { type ipv4_addr; flags interval; comment "..."; elements = { ... } }`.

use moat_model::Family;
use nftables::schema::{Set, SetFlag, SetType, SetTypeValue};

use super::anon_set::{AnonSet, Key};
use super::batch::Batch;
use super::error::DriverError;
use super::lower::address_range;
use super::portmap::{SetIds, Target};
use crate::netlink::consts::*;
use crate::netlink::udata::Udata;

/// The key of `family`'s addresses, if `set` holds them.
fn address_key(set: &Set<'_>, family: Family) -> Option<Key> {
    let (ty, len) = match (&set.set_type, family) {
        (SetTypeValue::Single(SetType::Ipv4Addr), Family::Ipv4) => (TYPE_IPADDR, 4),
        (SetTypeValue::Single(SetType::Ipv6Addr), Family::Ipv6) => (TYPE_IP6ADDR, 16),
        _ => return None,
    };
    Some(Key {
        ty,
        len,
        big_endian: true,
        expr: 0,
        data: [0, 0],
    })
}

/// Declares `set`, a block list's copy, in the batch under its ID in
/// `ids`, and adds its elements. Any other set is refused: moat declares
/// no other.
pub(crate) fn declare(
    b: &mut Batch,
    ids: &mut SetIds,
    t: &Target<'_>,
    set: &Set<'_>,
) -> Result<(), DriverError> {
    let unsupported = |what: &str| t.unsupported_in(&format!("set {}", set.name), what.into());
    let interval_only = set
        .flags
        .as_ref()
        .is_some_and(|f| f.len() == 1 && f.contains(&SetFlag::Interval));
    let plain = interval_only
        && set.policy.is_none()
        && set.gc_interval.is_none()
        && set.timeout.is_none()
        && set.size.is_none();
    let key = address_key(set, t.family)
        .filter(|_| plain)
        .ok_or_else(|| unsupported("a set other than a block list's copy"))?;
    let ranges = set
        .elem
        .iter()
        .flat_map(|elems| elems.iter())
        .map(|e| address_range(e, t.family))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| unsupported("an element that is not an address, network or range"))?;
    let elements = if ranges.is_empty() {
        None
    } else {
        let set = AnonSet::intervals(key.clone(), ranges)
            .ok_or_else(|| unsupported("elements that overlap or touch"))?;
        Some(set)
    };
    let id = ids.get(t.family, &set.name);
    let mut udata = Udata::default();
    udata.u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG_ENDIAN);
    if let Some(comment) = &set.comment {
        udata.string(UDATA_SET_COMMENT, comment);
    }
    let key_len = u32::try_from(key.len).unwrap_or(0);
    let m = t.begin_set(b, &set.name, NFT_SET_INTERVAL, key.ty, key_len);
    let w = b.w();
    w.attr_u32(NFTA_SET_ID, id);
    w.attr(NFTA_SET_USERDATA, &udata.0);
    b.end(m);
    match elements {
        Some(elements) => elements.write_elements(b, t, &set.name, id),
        None => Ok(()),
    }
}
