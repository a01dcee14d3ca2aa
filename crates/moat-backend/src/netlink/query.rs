//! What [`NfSocket`] reads back for block lists: the ruleset's generation,
//! a table's sets and rules (with their counters), and an interval set's
//! elements.

use super::batch::begin_element;
use super::consts::*;
use super::socket::{none_if_missing, NfSocket};
use super::types::{
    elements_to_ranges, ElementInfo, ExprInfo, IntervalKey, NfProto, RuleInfo, SetInfo,
};
use super::udata::udata_string;
use super::wire::{be_u32, be_u64, nft_type, string, Attrs, Message, Writer};
use super::NetlinkError;

impl NfSocket {
    /// The ruleset's generation number, which every committed change bumps.
    pub fn generation(&mut self) -> Result<u32, NetlinkError> {
        let mut genid = None;
        self.request(NFT_MSG_GETGEN, NLM_F_ACK, 0, &|_| {}, &mut |msg| {
            if msg.ty == nft_type(NFT_MSG_NEWGEN) {
                genid = msg.attrs().checked()?.get(NFTA_GEN_ID).and_then(be_u32);
            }
            Ok::<(), NetlinkError>(())
        })?;
        genid
            .ok_or_else(|| NetlinkError::Malformed("no generation id in the kernel's reply".into()))
    }

    /// The sets of table `table`; `None` when the table does not exist.
    pub fn sets(
        &mut self,
        family: NfProto,
        table: &str,
    ) -> Result<Option<Vec<SetInfo>>, NetlinkError> {
        let mut out = Vec::new();
        let build = |w: &mut Writer| w.attr_str(NFTA_SET_TABLE, table);
        let dumped = self.dump(NFT_MSG_GETSET, family.number(), &build, &mut |msg| {
            let Some(msg) = msg else {
                out.clear();
                return Ok(());
            };
            let a = msg.attrs().checked()?;
            let name = a.get(NFTA_SET_NAME).map(string).unwrap_or_default();
            let set_table = a.get(NFTA_SET_TABLE).map(string).unwrap_or_default();
            if set_table == table {
                out.push(SetInfo {
                    table: set_table,
                    name,
                    flags: a.get(NFTA_SET_FLAGS).and_then(be_u32).unwrap_or(0),
                    key_type: a.get(NFTA_SET_KEY_TYPE).and_then(be_u32).unwrap_or(0),
                    key_len: a.get(NFTA_SET_KEY_LEN).and_then(be_u32).unwrap_or(0),
                    comment: a
                        .get(NFTA_SET_USERDATA)
                        .and_then(|u| udata_string(u, UDATA_SET_COMMENT)),
                    timeout_ms: a.get(NFTA_SET_TIMEOUT).and_then(be_u64),
                });
            }
            Ok::<(), NetlinkError>(())
        });
        Ok(none_if_missing(dumped)?.map(|()| out))
    }

    /// The rules of table `table` in kernel order; `None` when the table
    /// does not exist.
    pub fn rules(
        &mut self,
        family: NfProto,
        table: &str,
    ) -> Result<Option<Vec<RuleInfo>>, NetlinkError> {
        let mut out = Vec::new();
        let build = |w: &mut Writer| w.attr_str(NFTA_RULE_TABLE, table);
        let dumped = self.dump(NFT_MSG_GETRULE, family.number(), &build, &mut |msg| {
            let Some(msg) = msg else {
                out.clear();
                return Ok(());
            };
            let a = msg.attrs().checked()?;
            if a.get(NFTA_RULE_TABLE).map(string).as_deref() != Some(table) {
                return Ok(());
            }
            let exprs = match a.get(NFTA_RULE_EXPRESSIONS) {
                Some(list) => Attrs(list)
                    .checked()?
                    .map(|(_, e)| decode_expr(e))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            out.push(RuleInfo {
                chain: a.get(NFTA_RULE_CHAIN).map(string).unwrap_or_default(),
                handle: a.get(NFTA_RULE_HANDLE).and_then(be_u64).unwrap_or(0),
                comment: a
                    .get(NFTA_RULE_USERDATA)
                    .and_then(|u| udata_string(u, UDATA_RULE_COMMENT)),
                exprs,
            });
            Ok::<(), NetlinkError>(())
        });
        Ok(none_if_missing(dumped)?.map(|()| out))
    }

    /// The elements of interval set `set` as sorted, joined, inclusive ranges.
    pub fn ranges<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
    ) -> Result<Vec<(K, K)>, NetlinkError> {
        let mut elems: Vec<(K, bool)> = Vec::new();
        let build = |w: &mut Writer| {
            w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
        };
        self.dump(NFT_MSG_GETSETELEM, family.number(), &build, &mut |msg| {
            match msg {
                None => elems.clear(),
                Some(msg) => elems.extend(decode_elements::<K>(msg)?),
            }
            Ok::<(), NetlinkError>(())
        })?;
        Ok(elements_to_ranges(elems))
    }

    /// The range of interval set `set` that holds `key`, if any — asked of
    /// the kernel directly, without listing the set.
    pub fn range_containing<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        key: K,
    ) -> Result<Option<(K, K)>, NetlinkError> {
        // The start element at or below `key`, and the end element above it.
        let Some(start) = self.get_element(family, table, set, key, false)? else {
            return Ok(None);
        };
        let last = match self.get_element(family, table, set, key, true)? {
            Some(end) => match end.pred() {
                Some(last) => last,
                None => return Ok(None),
            },
            None => K::MAX,
        };
        if start <= key && key <= last {
            Ok(Some((start, last)))
        } else {
            Ok(None)
        }
    }

    /// The elements of set `set` (one without intervals), with their
    /// timeouts and the time they have left; expired elements the kernel
    /// has not yet collected are not listed.
    pub fn elements<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
    ) -> Result<Vec<ElementInfo<K>>, NetlinkError> {
        let mut out = Vec::new();
        let build = |w: &mut Writer| {
            w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
        };
        self.dump(NFT_MSG_GETSETELEM, family.number(), &build, &mut |msg| {
            match msg {
                None => out.clear(),
                Some(msg) => out.extend(decode_timed_elements::<K>(msg)?),
            }
            Ok::<(), NetlinkError>(())
        })?;
        Ok(out)
    }

    /// Element `key` of set `set` (one without intervals), asked of the
    /// kernel directly; `None` when it is not in the set (or has expired).
    pub fn element<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        key: K,
    ) -> Result<Option<ElementInfo<K>>, NetlinkError> {
        let mut found = None;
        let asked = self.ask_element(family, table, set, key, false, &mut |msg| {
            found = decode_timed_elements::<K>(msg)?
                .into_iter()
                .find(|e| e.key == key);
            Ok(())
        });
        Ok(none_if_missing(asked)?.and(found))
    }

    /// Asks the kernel for element `key` of `set` (with `end`, the
    /// interval end at `key`); `each` sees every element message of the
    /// answer. Fails with ENOENT when the element or the set is missing.
    fn ask_element<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        key: K,
        end: bool,
        each: &mut dyn FnMut(Message<'_>) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        let build = |w: &mut Writer| {
            w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
            let list = w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            let e = begin_element(w, key, end);
            w.end_nest(e);
            w.end_nest(list);
        };
        self.request(
            NFT_MSG_GETSETELEM,
            NLM_F_ACK,
            family.number(),
            &build,
            &mut |msg| {
                if msg.ty == nft_type(NFT_MSG_NEWSETELEM) {
                    each(msg)?;
                }
                Ok::<(), NetlinkError>(())
            },
        )
    }

    fn get_element<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        key: K,
        end: bool,
    ) -> Result<Option<K>, NetlinkError> {
        let mut found = None;
        let asked = self.ask_element(family, table, set, key, end, &mut |msg| {
            for (k, is_end) in decode_elements::<K>(msg)? {
                if is_end == end {
                    found = Some(k);
                }
            }
            Ok(())
        });
        Ok(none_if_missing(asked)?.and(found))
    }
}

/// The elements of a set-element message with their timeouts.
fn decode_timed_elements<K: IntervalKey>(
    msg: Message<'_>,
) -> Result<Vec<ElementInfo<K>>, NetlinkError> {
    let Some(list) = msg.attrs().checked()?.get(NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (_, elem) in Attrs(list).checked()? {
        let a = Attrs(elem).checked()?;
        let Some((key, false)) = decode_element::<K>(elem)? else {
            continue;
        };
        let ms = |kind| {
            a.get(kind)
                .and_then(be_u64)
                .map(std::time::Duration::from_millis)
        };
        out.push(ElementInfo {
            key,
            timeout: ms(NFTA_SET_ELEM_TIMEOUT),
            expires_in: ms(NFTA_SET_ELEM_EXPIRATION),
        });
    }
    Ok(out)
}

/// The keys of the elements of a set-element message, each with whether it
/// ends an interval.
fn decode_elements<K: IntervalKey>(msg: Message<'_>) -> Result<Vec<(K, bool)>, NetlinkError> {
    let Some(list) = msg.attrs().checked()?.get(NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (_, elem) in Attrs(list).checked()? {
        if let Some(e) = decode_element::<K>(elem)? {
            out.push(e);
        }
    }
    Ok(out)
}

fn decode_element<K: IntervalKey>(elem: &[u8]) -> Result<Option<(K, bool)>, NetlinkError> {
    let a = Attrs(elem).checked()?;
    let flags = a.get(NFTA_SET_ELEM_FLAGS).and_then(be_u32).unwrap_or(0);
    let Some(key) = a.get(NFTA_SET_ELEM_KEY) else {
        return Ok(None);
    };
    let Some(bytes) = Attrs(key).checked()?.get(NFTA_DATA_VALUE) else {
        return Ok(None);
    };
    Ok(K::read_be(bytes).map(|k| (k, flags & NFT_SET_ELEM_INTERVAL_END != 0)))
}

fn decode_expr(elem: &[u8]) -> Result<ExprInfo, NetlinkError> {
    let a = Attrs(elem).checked()?;
    let name = a.get(NFTA_EXPR_NAME).map(string).unwrap_or_default();
    let data = Attrs(a.get(NFTA_EXPR_DATA).unwrap_or_default()).checked()?;
    let u32_of = |kind| data.get(kind).and_then(be_u32).unwrap_or(0);
    Ok(match name.as_str() {
        "meta" => ExprInfo::Meta {
            key: u32_of(NFTA_META_KEY),
        },
        "cmp" => {
            let value = match data.get(NFTA_CMP_DATA) {
                Some(d) => Attrs(d)
                    .checked()?
                    .get(NFTA_DATA_VALUE)
                    .unwrap_or_default()
                    .to_vec(),
                None => Vec::new(),
            };
            ExprInfo::Cmp {
                op: u32_of(NFTA_CMP_OP),
                value,
            }
        }
        "payload" => ExprInfo::Payload {
            base: u32_of(NFTA_PAYLOAD_BASE),
            offset: u32_of(NFTA_PAYLOAD_OFFSET),
            len: u32_of(NFTA_PAYLOAD_LEN),
        },
        "lookup" => ExprInfo::Lookup {
            set: data.get(NFTA_LOOKUP_SET).map(string).unwrap_or_default(),
            inverted: u32_of(NFTA_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV != 0,
        },
        "counter" => ExprInfo::Counter {
            packets: data.get(NFTA_COUNTER_PACKETS).and_then(be_u64).unwrap_or(0),
            bytes: data.get(NFTA_COUNTER_BYTES).and_then(be_u64).unwrap_or(0),
        },
        "immediate" => {
            let code = data
                .get(NFTA_IMMEDIATE_DATA)
                .map(|d| Attrs(d).checked())
                .transpose()?
                .and_then(|d| d.get(NFTA_DATA_VERDICT).map(|v| Attrs(v).checked()))
                .transpose()?
                .and_then(|v| v.get(NFTA_VERDICT_CODE).and_then(be_u32))
                .map(|c| c as i32);
            match code {
                Some(c) => ExprInfo::Verdict(c),
                None => ExprInfo::Other(name),
            }
        }
        _ => ExprInfo::Other(name),
    })
}
