//! Anonymous sets: a match's inline `{ a, b, ... }`, which nft 1.0.6 sends
//! right before the rule that looks it up:
//!
//! - NFT_MSG_NEWSET names the set `__set%d` (the kernel numbers it) with
//!   the flags ANONYMOUS and CONSTANT (and INTERVAL when an element is a
//!   range or a prefix), the key's type and length, the batch ID the rule's
//!   lookup names too, the size, and user data: the key's byte order, that
//!   intervals are merged, and the expression the keys come from;
//! - NFT_MSG_NEWSETELEM adds the elements: values in the order written, or
//!   for intervals, in ascending order, each range's first value and the
//!   value after its last flagged as an interval end, after an end at zero
//!   when the first range does not start there. A range that reaches the
//!   top has no end; its first value is flagged open in its user data.
//!
//! An inline map, `KEY map { k : v, ... }`, is sent the same way as
//! `__map%d` with the MAP flag, its values' type and length, and each
//! element's value beside its key.

use super::batch::Batch;
use super::error::DriverError;
use super::portmap::{element_messages, Target};
use crate::netlink::consts::*;
use crate::netlink::udata::Udata;
use crate::netlink::wire::Writer;

/// A field of a concatenation as its key holds it: padded with zeros to
/// 32 bits.
fn pad_to_word(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    bytes
}

/// The bits nft shifts a concatenation's type by for each further field.
pub(crate) const CONCAT_TYPE_BITS: u32 = 6;

/// The name nft gives every anonymous set; the kernel replaces `%d`.
pub(crate) const ANON_SET_NAME: &str = "__set%d";
/// The name nft gives every anonymous map.
pub(crate) const ANON_MAP_NAME: &str = "__map%d";

/// What nft declares about the keys of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// nft's datatype (`TYPE_*`).
    pub ty: u32,
    /// Bytes of a key.
    pub len: usize,
    /// Keys are in network order (else host order).
    pub big_endian: bool,
    /// nft's expression type of the keys' expression (`UDATA_EXPR_*`).
    pub expr: u32,
    /// That expression's two numbers (see `UDATA_EXPR_*`).
    pub data: [u32; 2],
}

impl Key {
    /// How nft describes where the keys come from (`typeof`): the
    /// expression's type and its two numbers.
    fn typeof_udata(&self) -> Udata {
        let mut data = Udata::default();
        data.u32(0, self.data[0]);
        data.u32(1, self.data[1]);
        let mut typeof_ = Udata::default();
        typeof_.u32(UDATA_TYPEOF_EXPR, self.expr);
        typeof_.nest(UDATA_TYPEOF_DATA, &data);
        typeof_
    }

    fn udata(&self, interval: bool) -> Vec<u8> {
        let order = if self.big_endian {
            BYTEORDER_BIG_ENDIAN
        } else {
            BYTEORDER_HOST_ENDIAN
        };
        set_udata(order, interval, &self.typeof_udata())
    }
}

/// A set's user data as nft 1.0.6 writes it: the keys' byte order, that
/// intervals are merged (if `interval`), and the keys' description.
fn set_udata(order: u32, interval: bool, typeof_: &Udata) -> Vec<u8> {
    let mut out = Udata::default();
    out.u32(UDATA_SET_KEYBYTEORDER, order);
    if interval {
        out.u32(UDATA_SET_MERGE_ELEMENTS, 1);
    }
    out.nest(UDATA_SET_KEY_TYPEOF, typeof_);
    out.0
}

/// What a map declares about its values (in network order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Values {
    /// nft's datatype (`TYPE_*`).
    pub ty: u32,
    /// Bytes of a value.
    pub len: usize,
}

/// One element as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    key: Vec<u8>,
    /// The last key of a concatenation's ranges (NFTA_SET_ELEM_KEY_END).
    key_end: Option<Vec<u8>>,
    /// A map element's value.
    value: Option<Vec<u8>>,
    /// The value after an interval (NFT_SET_ELEM_INTERVAL_END).
    end: bool,
    /// The first value of an interval that reaches the top.
    open: bool,
}

impl Element {
    fn value(key: Vec<u8>) -> Self {
        Element {
            key,
            key_end: None,
            value: None,
            end: false,
            open: false,
        }
    }

    fn write(&self, w: &mut Writer) {
        if self.end {
            w.attr_u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        }
        let n = w.begin_nest(NFTA_SET_ELEM_KEY);
        w.attr(NFTA_DATA_VALUE, &self.key);
        w.end_nest(n);
        if let Some(key_end) = &self.key_end {
            let n = w.begin_nest(NFTA_SET_ELEM_KEY_END);
            w.attr(NFTA_DATA_VALUE, key_end);
            w.end_nest(n);
        }
        if let Some(value) = &self.value {
            let n = w.begin_nest(NFTA_SET_ELEM_DATA);
            w.attr(NFTA_DATA_VALUE, value);
            w.end_nest(n);
        }
        if self.open {
            let mut flags = Udata::default();
            flags.u32(UDATA_SET_ELEM_FLAGS, UDATA_SET_ELEM_F_INTERVAL_OPEN);
            w.attr(NFTA_SET_ELEM_USERDATA, &flags.0);
        }
    }
}

/// An anonymous set, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnonSet {
    key: Key,
    /// A map's values.
    values: Option<Values>,
    interval: bool,
    /// The fields of a concatenated key (each padded to 32 bits in it).
    concat: Option<Vec<Key>>,
    /// The size nft declares: the elements before a top range's end is
    /// dropped.
    size: u32,
    elements: Vec<Element>,
}

/// `bytes` plus one as a big-endian number; None when it wraps.
fn successor(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut next = bytes.to_vec();
    for b in next.iter_mut().rev() {
        let (sum, carry) = b.overflowing_add(1);
        *b = sum;
        if !carry {
            return Some(next);
        }
    }
    None
}

impl AnonSet {
    /// A set of single `values` of `key`, in this order; None if empty.
    pub(crate) fn values(key: Key, values: Vec<Vec<u8>>) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| v.len() != key.len) {
            return None;
        }
        Some(AnonSet {
            size: u32::try_from(values.len()).ok()?,
            elements: values.into_iter().map(Element::value).collect(),
            values: None,
            interval: false,
            concat: None,
            key,
        })
    }

    /// A map of single keys to values of `values`, in this order; None if
    /// empty or a key or value has the wrong length.
    pub(crate) fn map(key: Key, values: Values, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Self> {
        if pairs.is_empty()
            || pairs
                .iter()
                .any(|(k, v)| k.len() != key.len || v.len() != values.len)
        {
            return None;
        }
        Some(AnonSet {
            size: u32::try_from(pairs.len()).ok()?,
            elements: pairs
                .into_iter()
                .map(|(key, value)| Element {
                    value: Some(value),
                    ..Element::value(key)
                })
                .collect(),
            values: Some(values),
            interval: false,
            concat: None,
            key,
        })
    }

    /// The name it is declared with (the kernel numbers it).
    pub(crate) fn name(&self) -> &'static str {
        if self.values.is_some() {
            ANON_MAP_NAME
        } else {
            ANON_SET_NAME
        }
    }

    /// Its user data: for a set, the keys' byte order and expression; for
    /// an inline map, as nft writes one, the byte orders of keys and values
    /// and that values are not intervals.
    fn udata(&self) -> Vec<u8> {
        if self.values.is_none() {
            return self.key.udata(self.interval);
        }
        let order = |big_endian| {
            if big_endian {
                BYTEORDER_BIG_ENDIAN
            } else {
                BYTEORDER_HOST_ENDIAN
            }
        };
        let mut out = Udata::default();
        out.u32(UDATA_SET_KEYBYTEORDER, order(self.key.big_endian));
        out.u32(UDATA_SET_DATABYTEORDER, BYTEORDER_BIG_ENDIAN);
        out.u32(UDATA_SET_DATA_INTERVAL, 0);
        out.0
    }

    /// A set of inclusive big-endian `ranges` of `key`; None if empty, or
    /// when two ranges overlap or touch (nft would merge them).
    pub(crate) fn intervals(key: Key, mut ranges: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Self> {
        if ranges.is_empty()
            || !key.big_endian
            || ranges
                .iter()
                .any(|(lo, hi)| lo.len() != key.len || hi.len() != key.len || lo > hi)
        {
            return None;
        }
        ranges.sort();
        let mut elements = Vec::with_capacity(2 * ranges.len() + 1);
        let mut size = 2 * ranges.len();
        if ranges[0].0.iter().any(|&b| b != 0) {
            elements.push(Element {
                key: vec![0; key.len],
                key_end: None,
                value: None,
                end: true,
                open: false,
            });
            size += 1;
        }
        let last = ranges.len() - 1;
        for (i, (lo, hi)) in ranges.iter().enumerate() {
            let after = successor(hi);
            if let Some((next, _)) = ranges.get(i + 1) {
                if after.as_ref().is_none_or(|a| a >= next) {
                    return None;
                }
            }
            elements.push(Element {
                key: lo.clone(),
                key_end: None,
                value: None,
                end: false,
                open: i == last && after.is_none(),
            });
            if let Some(after) = after {
                elements.push(Element {
                    key: after,
                    key_end: None,
                    value: None,
                    end: true,
                    open: false,
                });
            }
        }
        Some(AnonSet {
            key,
            values: None,
            interval: true,
            concat: None,
            size: u32::try_from(size).ok()?,
            elements,
        })
    }

    /// A set of concatenations of `parts` (big-endian fields), each element
    /// one value per field, as nft writes `icmp type . icmp code != { 8 . 0
    /// }`: a hash set whose key holds each field padded to 32 bits. None if
    /// empty or malformed.
    pub(crate) fn concat_values(parts: Vec<Key>, values: Vec<Vec<Vec<u8>>>) -> Option<Self> {
        let mut elements = Vec::with_capacity(values.len());
        for element in &values {
            if element.len() != parts.len() {
                return None;
            }
            let mut key = Vec::new();
            for (value, part) in element.iter().zip(&parts) {
                if value.len() != part.len || !part.big_endian {
                    return None;
                }
                key.extend(pad_to_word(value.clone()));
            }
            elements.push(Element::value(key));
        }
        Some(AnonSet {
            key: Self::concat_key(&parts)?,
            values: None,
            interval: false,
            size: u32::try_from(elements.len()).ok().filter(|&n| n > 0)?,
            concat: Some(parts),
            elements,
        })
    }

    /// The key of a set of concatenations of `parts`: their types shifted
    /// together, and their lengths padded to 32 bits.
    fn concat_key(parts: &[Key]) -> Option<Key> {
        let first = parts.first()?;
        let ty = parts
            .iter()
            .skip(1)
            .fold(first.ty, |ty, p| (ty << CONCAT_TYPE_BITS) | p.ty);
        let len = parts.iter().map(|p| p.len.next_multiple_of(4)).sum();
        Some(Key {
            ty,
            len,
            big_endian: false,
            expr: UDATA_EXPR_CONCAT,
            data: [0, 0],
        })
    }

    /// A set of concatenations of `parts` (big-endian fields), each element
    /// an inclusive range per field, as nft writes `tcp sport . tcp dport {
    /// 22 . 0-65535 }`: the key holds each field padded to 32 bits, and an
    /// element its first and its last key. None if empty or malformed.
    pub(crate) fn concat_intervals(
        parts: Vec<Key>,
        ranges: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    ) -> Option<Self> {
        let mut elements = Vec::with_capacity(ranges.len());
        for element in &ranges {
            if element.len() != parts.len() {
                return None;
            }
            let (mut key, mut key_end) = (Vec::new(), Vec::new());
            for ((lo, hi), part) in element.iter().zip(&parts) {
                if lo.len() != part.len || hi.len() != part.len || lo > hi || !part.big_endian {
                    return None;
                }
                key.extend(pad_to_word(lo.clone()));
                key_end.extend(pad_to_word(hi.clone()));
            }
            elements.push(Element {
                key_end: Some(key_end),
                ..Element::value(key)
            });
        }
        Some(AnonSet {
            key: Self::concat_key(&parts)?,
            values: None,
            interval: true,
            size: u32::try_from(elements.len()).ok().filter(|&n| n > 0)?,
            concat: Some(parts),
            elements,
        })
    }

    /// The user data of a concatenation's set, as nft 1.0.6 writes it: no
    /// one byte order, merged elements if `interval`, and each field's
    /// expression (none when a field is a route lookup: nft then leaves the
    /// list empty).
    fn concat_udata(parts: &[Key], interval: bool) -> Vec<u8> {
        let mut fields = Udata::default();
        let described = parts.iter().all(|p| p.expr != UDATA_EXPR_FIB);
        for (i, part) in parts.iter().enumerate().filter(|_| described) {
            fields.nest(u8::try_from(i).unwrap_or(u8::MAX), &part.typeof_udata());
        }
        let mut typeof_ = Udata::default();
        typeof_.u32(UDATA_TYPEOF_EXPR, UDATA_EXPR_CONCAT);
        typeof_.nest(UDATA_TYPEOF_DATA, &fields);
        set_udata(BYTEORDER_INVALID, interval, &typeof_)
    }

    /// Declares the set with batch ID `id` in `t`'s table and adds its
    /// elements.
    pub(crate) fn write(&self, b: &mut Batch, t: &Target<'_>, id: u32) -> Result<(), DriverError> {
        let mut flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
        if self.interval {
            flags |= NFT_SET_INTERVAL;
        }
        if self.values.is_some() {
            flags |= NFT_SET_MAP;
        }
        if self.concat.is_some() && self.interval {
            flags |= NFT_SET_CONCAT;
        }
        let key_len = u32::try_from(self.key.len).unwrap_or(0);
        let m = t.begin_set(b, self.name(), flags, self.key.ty, key_len);
        let w = b.w();
        if let Some(values) = self.values {
            w.attr_u32(NFTA_SET_DATA_TYPE, values.ty);
            w.attr_u32(NFTA_SET_DATA_LEN, u32::try_from(values.len).unwrap_or(0));
        }
        w.attr_u32(NFTA_SET_ID, id);
        let desc = w.begin_nest(NFTA_SET_DESC);
        w.attr_u32(NFTA_SET_DESC_SIZE, self.size);
        if let Some(parts) = self.concat.as_ref().filter(|_| self.interval) {
            let list = w.begin_nest(NFTA_SET_DESC_CONCAT);
            for part in parts {
                let field = w.begin_nest(NFTA_LIST_ELEM);
                w.attr_u32(NFTA_SET_FIELD_LEN, u32::try_from(part.len).unwrap_or(0));
                w.end_nest(field);
            }
            w.end_nest(list);
        }
        w.end_nest(desc);
        let udata = match &self.concat {
            Some(parts) => Self::concat_udata(parts, self.interval),
            None => self.udata(),
        };
        w.attr(NFTA_SET_USERDATA, &udata);
        b.end(m);
        self.write_elements(b, t, self.name(), id)
    }

    /// Adds its elements to set `name` (batch ID `id`), declared before.
    pub(crate) fn write_elements(
        &self,
        b: &mut Batch,
        t: &Target<'_>,
        name: &str,
        id: u32,
    ) -> Result<(), DriverError> {
        let elements = &self.elements;
        element_messages(
            b,
            t,
            NFT_MSG_NEWSETELEM,
            name,
            Some(id),
            elements.len(),
            |w, i| elements[i].write(w),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_key() -> Key {
        Key {
            ty: TYPE_INET_SERVICE,
            len: 2,
            big_endian: true,
            expr: UDATA_EXPR_PAYLOAD,
            data: [PROTO_DESC_TCP, 2],
        }
    }

    fn port(p: u16) -> Vec<u8> {
        p.to_be_bytes().to_vec()
    }

    fn keys(set: &AnonSet) -> Vec<(u16, bool, bool)> {
        set.elements
            .iter()
            .map(|e| (u16::from_be_bytes([e.key[0], e.key[1]]), e.end, e.open))
            .collect()
    }

    #[test]
    fn intervals_are_sent_as_starts_and_ends_from_zero() {
        let set = AnonSet::intervals(
            port_key(),
            vec![(port(1000), port(2000)), (port(22), port(22))],
        )
        .unwrap();
        assert_eq!(
            keys(&set),
            [
                (0, true, false),
                (22, false, false),
                (23, true, false),
                (1000, false, false),
                (2001, true, false)
            ]
        );
        assert_eq!(set.size, 5);
    }

    #[test]
    fn a_range_to_the_top_is_open_and_one_from_zero_needs_no_first_end() {
        let set = AnonSet::intervals(
            port_key(),
            vec![(port(0), port(10)), (port(65000), port(65535))],
        )
        .unwrap();
        assert_eq!(
            keys(&set),
            [(0, false, false), (11, true, false), (65000, false, true)]
        );
        assert_eq!(set.size, 4);
    }

    #[test]
    fn touching_or_overlapping_ranges_are_refused() {
        let touching = vec![(port(1), port(2)), (port(3), port(4))];
        assert!(AnonSet::intervals(port_key(), touching).is_none());
        let overlapping = vec![(port(1), port(5)), (port(3), port(4))];
        assert!(AnonSet::intervals(port_key(), overlapping).is_none());
        assert!(AnonSet::intervals(port_key(), Vec::new()).is_none());
    }

    #[test]
    fn user_data_is_what_nft_sends() {
        // From `nft --debug=mnl` for `tcp dport { 22, 1000-2000 }`.
        let expected: Vec<u8> = [
            &[0u8, 4][..],
            &2u32.to_ne_bytes(),
            &[2, 4],
            &1u32.to_ne_bytes(),
            &[3, 20, 0, 4],
            &7u32.to_ne_bytes(),
            &[1, 12, 0, 4],
            &8u32.to_ne_bytes(),
            &[1, 4],
            &2u32.to_ne_bytes(),
        ]
        .concat();
        assert_eq!(port_key().udata(true), expected);
        let values = AnonSet::values(port_key(), vec![port(80), port(443)]).unwrap();
        assert_eq!(values.size, 2);
        assert!(!values.interval);
    }
}
