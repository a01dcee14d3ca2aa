//! nft's payload merging: equality tests of adjacent header bytes become
//! one load and one compare (`tcp sport 22 tcp dport 80` is one 4-byte
//! compare), as nft 1.0.6 does it before writing a rule.
//!
//! nft collects every payload match of a rule whose right side is a plain
//! value and whose operator is `==` or `!=`, orders them by header and
//! offset, and joins neighbours that test with the same operator when the
//! joined load still fits its fast path:
//! at most 4 bytes, or a link-layer header, or a part already wider than
//! 4 bytes (never more than 16). The joined test takes the place of the
//! part with the lower offset; the other goes away.

use super::fields::Load;
use super::{Rel, Right, Step};
use crate::netlink::consts::{NFT_CMP_EQ, NFT_CMP_NEQ};

fn payload(rel: &Rel) -> Option<(u32, u32, u32)> {
    if rel.op != NFT_CMP_EQ && rel.op != NFT_CMP_NEQ {
        return None;
    }
    match (&rel.load, &rel.mask, &rel.right) {
        (Load::Payload { base, offset, len }, None, Right::Value(_)) => {
            Some((*base, *offset, *len))
        }
        _ => None,
    }
}

fn can_merge(a: (u32, u32, u32), b: (u32, u32, u32)) -> bool {
    let ((base_a, offset_a, len_a), (base_b, offset_b, len_b)) = (a, b);
    let total = len_a + len_b;
    base_a == base_b
        && offset_a + len_a == offset_b
        && total <= 16
        && (total <= 4
            || base_a == crate::netlink::consts::NFT_PAYLOAD_LL_HEADER
            || len_a > 4
            || len_b > 4)
}

/// Joins the rule's mergeable payload tests in place.
pub(super) fn reduce(steps: &mut Vec<Step>) {
    let mut candidates: Vec<(usize, (u32, u32, u32))> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Step::Rel(rel) => payload(rel).map(|p| (i, p)),
            Step::Other(_) => None,
        })
        .collect();
    if candidates.len() < 2 {
        return;
    }
    candidates.sort_by_key(|&(_, (base, offset, _))| (base, offset));
    let mut removed = vec![false; steps.len()];
    let (mut last, mut last_payload) = candidates[0];
    for &(this, this_payload) in &candidates[1..] {
        let same_op =
            matches!((&steps[last], &steps[this]), (Step::Rel(a), Step::Rel(b)) if a.op == b.op);
        if !same_op || !can_merge(last_payload, this_payload) {
            (last, last_payload) = (this, this_payload);
            continue;
        }
        let Step::Rel(taken) = std::mem::replace(&mut steps[this], Step::Other(Vec::new())) else {
            continue;
        };
        removed[this] = true;
        if let (Step::Rel(into), Right::Value(more)) = (&mut steps[last], taken.right) {
            if let (Load::Payload { len, .. }, Right::Value(value)) =
                (&mut into.load, &mut into.right)
            {
                *len += this_payload.2;
                value.extend(more);
                last_payload.2 = *len;
            }
        }
    }
    let mut index = 0;
    steps.retain(|_| {
        index += 1;
        !removed[index - 1]
    });
}
