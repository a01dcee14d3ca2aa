//! Port maps in a batch (see [`moat_nft::portmap`]): their two maps, the
//! maps' elements and their deletion, as nft 1.0.6 writes them for the JSON
//! the `nft` driver sends.
//!
//! - Each map is declared with NFT_MSG_NEWSET: `inet_service` keys mapped
//!   to addresses (the address map, which gives each element a counter) or
//!   to `inet_service` (the ports map), with nft's user data and an ID that
//!   element messages and lookups in the same batch name too ([`SetIds`]).
//! - Elements are added with NFT_MSG_NEWSETELEM, as many to a message as
//!   the element list attribute (at most 64 KiB) holds. An address map
//!   element carries its rule's comment (order and source) and, when they
//!   are not zero, its rule's counters, which nft's JSON cannot set.
//! - Elements are removed by key with NFT_MSG_DELSETELEM, maps with
//!   NFT_MSG_DELSET.

use std::collections::HashMap;
use std::net::IpAddr;

use moat_model::Family;
use moat_nft::portmap::{ports_map, Member};

use super::batch::{Batch, Origin};
use super::error::{DriverError, Unsupported};
use super::expr::NlExpr;
use super::udata;
use crate::netlink::consts::*;
use crate::netlink::wire::Writer;

/// The IDs a batch gives the sets it declares (named maps and anonymous
/// sets alike), from 1 in order of first use, as nft numbers the sets of a
/// batch.
#[derive(Debug, Default)]
pub(crate) struct SetIds {
    ids: HashMap<(Family, String), u32>,
    used: u32,
}

impl SetIds {
    /// The ID of map `name` in the table of `family`.
    pub(crate) fn get(&mut self, family: Family, name: &str) -> u32 {
        match self.ids.get(&(family, name.to_string())) {
            Some(id) => *id,
            None => {
                let id = self.fresh();
                self.ids.insert((family, name.to_string()), id);
                id
            }
        }
    }

    /// A new ID, for a set no other message names (an anonymous set).
    pub(crate) fn fresh(&mut self) -> u32 {
        self.used = self.used.saturating_add(1);
        self.used
    }
}

/// Where a port map's messages go: a table, and the operation they come from.
pub(crate) struct Target<'a> {
    /// The table's family.
    pub family: Family,
    /// The table's name.
    pub table: &'a str,
    /// The operation, for error messages.
    pub origin: Origin,
}

impl Target<'_> {
    fn nfproto(&self) -> u8 {
        super::encode::nfproto(self.family)
    }

    /// Starts the NFT_MSG_NEWSET message that declares set `name` in the
    /// table with `flags` and its keys' type and length; the caller writes
    /// the rest and ends it.
    pub(crate) fn begin_set(
        &self,
        b: &mut Batch,
        name: &str,
        flags: u32,
        key_type: u32,
        key_len: u32,
    ) -> usize {
        let m = b.begin(NFT_MSG_NEWSET, NLM_F_CREATE, self.nfproto(), self.origin);
        let w = b.w();
        w.attr_str(NFTA_SET_TABLE, self.table);
        w.attr_str(NFTA_SET_NAME, name);
        w.attr_u32(NFTA_SET_FLAGS, flags);
        w.attr_u32(NFTA_SET_KEY_TYPE, key_type);
        w.attr_u32(NFTA_SET_KEY_LEN, key_len);
        m
    }

    fn unsupported(&self, map: &str, what: String) -> DriverError {
        self.unsupported_in(&format!("port map {map}"), what)
    }

    /// This driver's refusal of `what` in `place` of the table (`set NAME`,
    /// `port map NAME`).
    pub(crate) fn unsupported_in(&self, place: &str, what: String) -> DriverError {
        let family = match self.family {
            Family::Ipv4 => "ip",
            Family::Ipv6 => "ip6",
        };
        DriverError::Unsupported(Unsupported {
            place: format!("table {family} {}, {place}", self.table),
            what,
        })
    }
}

/// The changes of `Op::PortMapElements`: with `create` both maps are
/// declared, then the elements of `delete` go and those of `add` come.
pub(crate) fn elements(
    b: &mut Batch,
    ids: &mut SetIds,
    t: &Target<'_>,
    name: &str,
    create: bool,
    delete: &[u16],
    add: &[Member],
) -> Result<(), DriverError> {
    let ports = ports_map(name);
    let comments = add
        .iter()
        .map(|m| address_element(t, name, m))
        .collect::<Result<Vec<_>, _>>()?;
    if create {
        declare(b, t, name, ids.get(t.family, name), true);
        declare(b, t, &ports, ids.get(t.family, &ports), false);
    }
    if !delete.is_empty() {
        for map in [name, ports.as_str()] {
            element_messages(b, t, NFT_MSG_DELSETELEM, map, None, delete.len(), |w, i| {
                key(w, delete[i]);
            })?;
        }
    }
    if !add.is_empty() {
        let id = ids.get(t.family, name);
        element_messages(
            b,
            t,
            NFT_MSG_NEWSETELEM,
            name,
            Some(id),
            add.len(),
            |w, i| {
                comments[i].write(w);
            },
        )?;
        let id = ids.get(t.family, &ports);
        element_messages(
            b,
            t,
            NFT_MSG_NEWSETELEM,
            &ports,
            Some(id),
            add.len(),
            |w, i| {
                key(w, add[i].port);
                data(w, &add[i].to_port.to_be_bytes());
            },
        )?;
    }
    Ok(())
}

/// `Op::DeletePortMap`: both maps go (their rule must be gone first).
pub(crate) fn delete(b: &mut Batch, t: &Target<'_>, name: &str) {
    for map in [name.to_string(), ports_map(name)] {
        let m = b.begin(NFT_MSG_DELSET, 0, t.nfproto(), t.origin);
        b.w().attr_str(NFTA_SET_TABLE, t.table);
        b.w().attr_str(NFTA_SET_NAME, &map);
        b.end(m);
    }
}

/// Declares map `name` (if absent): ports to addresses of the table's
/// family, each element with a counter (`addresses`), or ports to ports.
fn declare(b: &mut Batch, t: &Target<'_>, name: &str, id: u32, addresses: bool) {
    let (data_type, data_len) = match (addresses, t.family) {
        (false, _) => (TYPE_INET_SERVICE, 2),
        (true, Family::Ipv4) => (TYPE_IPADDR, 4),
        (true, Family::Ipv6) => (TYPE_IP6ADDR, 16),
    };
    let m = t.begin_set(b, name, NFT_SET_MAP, TYPE_INET_SERVICE, 2);
    let w = b.w();
    w.attr_u32(NFTA_SET_DATA_TYPE, data_type);
    w.attr_u32(NFTA_SET_DATA_LEN, data_len);
    w.attr_u32(NFTA_SET_ID, id);
    w.attr(NFTA_SET_USERDATA, &udata::big_endian_map());
    if addresses {
        NlExpr::Counter {
            packets: 0,
            bytes: 0,
        }
        .write_as(w, NFTA_SET_EXPR);
    }
    b.end(m);
}

/// An address map element, ready to write.
struct AddressElement {
    port: u16,
    addr: Vec<u8>,
    comment: Vec<u8>,
    counter: Option<NlExpr>,
}

impl AddressElement {
    fn write(&self, w: &mut Writer) {
        key(w, self.port);
        data(w, &self.addr);
        w.attr(NFTA_SET_ELEM_USERDATA, &self.comment);
        if let Some(counter) = &self.counter {
            counter.write_as(w, NFTA_SET_ELEM_EXPR);
        }
    }
}

/// Member `m` as an element of address map `name`, or why it cannot be one.
fn address_element(t: &Target<'_>, name: &str, m: &Member) -> Result<AddressElement, DriverError> {
    let addr = match (m.addr, t.family) {
        (IpAddr::V4(a), Family::Ipv4) => a.octets().to_vec(),
        (IpAddr::V6(a), Family::Ipv6) => a.octets().to_vec(),
        (addr, _) => {
            return Err(t.unsupported(name, format!("an address {addr} of the other family")))
        }
    };
    let text = m.comment();
    let comment = udata::comment(UDATA_SET_ELEM_COMMENT, &text).ok_or_else(|| {
        t.unsupported(name, format!("an element comment of {} bytes", text.len()))
    })?;
    let counters = m.rule.counters;
    let counter = (counters.packets != 0 || counters.bytes != 0).then_some(NlExpr::Counter {
        packets: counters.packets,
        bytes: counters.bytes,
    });
    Ok(AddressElement {
        port: m.port,
        addr,
        comment,
        counter,
    })
}

fn key(w: &mut Writer, port: u16) {
    let n = w.begin_nest(NFTA_SET_ELEM_KEY);
    w.attr(NFTA_DATA_VALUE, &port.to_be_bytes());
    w.end_nest(n);
}

fn data(w: &mut Writer, value: &[u8]) {
    let n = w.begin_nest(NFTA_SET_ELEM_DATA);
    w.attr(NFTA_DATA_VALUE, value);
    w.end_nest(n);
}

/// Writes `count` elements of map `set` (element `i` by `element`) in as
/// many `msg` messages as it takes. Like nft, it numbers the elements'
/// attributes from 1 across messages, an element that did not fit a
/// message using up its number.
pub(crate) fn element_messages(
    b: &mut Batch,
    t: &Target<'_>,
    msg: u8,
    set: &str,
    set_id: Option<u32>,
    count: usize,
    element: impl Fn(&mut Writer, usize),
) -> Result<(), DriverError> {
    let flags = if msg == NFT_MSG_NEWSETELEM {
        NLM_F_CREATE
    } else {
        0
    };
    let mut next = 0;
    let mut number: u16 = 0;
    while next < count {
        let m = b.begin(msg, flags, t.nfproto(), t.origin);
        let w = b.w();
        w.attr_str(NFTA_SET_ELEM_LIST_TABLE, t.table);
        w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
        if let Some(id) = set_id {
            w.attr_u32(NFTA_SET_ELEM_LIST_SET_ID, id);
        }
        let list = w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
        let first = next;
        while next < count {
            number = number.wrapping_add(1);
            let mark = w.len();
            let e = w.begin_nest(number);
            element(w, next);
            w.end_nest(e);
            if w.len() - list > usize::from(u16::MAX) {
                w.truncate(mark);
                break;
            }
            next += 1;
        }
        w.end_nest(list);
        b.end(m);
        if next == first {
            return Err(t.unsupported(set, "an element too large for a message".to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Counters, Rule};

    use super::*;
    use crate::netlink::wire::{be_u32, be_u64, messages, nft_type, Attrs};

    const ORIGIN: Origin = Origin { table: 0, op: 0 };

    fn member(port: u16, counters: Counters) -> Member {
        Member {
            port,
            addr: "10.0.0.2".parse().unwrap(),
            to_port: 8000,
            order: u32::from(port) << 16,
            rule: Rule {
                counters,
                source: Some(format!("-i wan0 -p tcp -m tcp --dport {port} -j DNAT")),
                ..Rule::new(Action::Accept)
            },
        }
    }

    fn target() -> Target<'static> {
        Target {
            family: Family::Ipv4,
            table: "moat_nat",
            origin: ORIGIN,
        }
    }

    /// The element lists of the batch's messages of type `msg`.
    fn lists(bytes: &[u8], msg: u8) -> Vec<Vec<u8>> {
        messages(bytes)
            .unwrap()
            .into_iter()
            .filter(|m| m.ty == nft_type(msg))
            .map(|m| m.attrs().get(NFTA_SET_ELEM_LIST_ELEMENTS).unwrap().to_vec())
            .collect()
    }

    #[test]
    fn a_new_map_is_declared_then_filled_in_messages_under_64_kib() {
        let mut b = Batch::new(1);
        let mut ids = SetIds::default();
        let members: Vec<Member> = (1..=3000).map(|p| member(p, Counters::default())).collect();
        elements(
            &mut b,
            &mut ids,
            &target(),
            "portmap.a",
            true,
            &[],
            &members,
        )
        .unwrap();
        let sealed = b.seal(true);
        let all: Vec<_> = messages(&sealed.bytes).unwrap();
        assert_eq!(all[1].ty, nft_type(NFT_MSG_NEWSET));
        assert_eq!(all[2].ty, nft_type(NFT_MSG_NEWSET));
        let set = all[1].attrs();
        assert_eq!(set.get(NFTA_SET_FLAGS).and_then(be_u32), Some(NFT_SET_MAP));
        assert_eq!(set.get(NFTA_SET_DATA_LEN).and_then(be_u32), Some(4));
        assert_eq!(set.get(NFTA_SET_ID).and_then(be_u32), Some(1));
        assert!(set.get(NFTA_SET_EXPR).is_some());
        assert!(all[2].attrs().get(NFTA_SET_EXPR).is_none());
        assert_eq!(all[2].attrs().get(NFTA_SET_ID).and_then(be_u32), Some(2));
        let addresses = lists(&sealed.bytes, NFT_MSG_NEWSETELEM);
        assert!(addresses.len() > 2);
        let mut seen = 0;
        let mut last_number = 0;
        for list in &addresses {
            assert!(list.len() <= usize::from(u16::MAX));
            for (number, _) in Attrs(list) {
                assert!(number > last_number, "numbers rise across messages");
                last_number = number;
                seen += 1;
            }
            if seen == 3000 {
                last_number = 0;
            }
        }
        assert_eq!(seen, 6000, "both maps get every element");
    }

    #[test]
    fn counters_go_with_the_element_only_when_not_zero() {
        let mut b = Batch::new(1);
        let mut ids = SetIds::default();
        let counted = Counters {
            packets: 4,
            bytes: 240,
        };
        let members = [member(80, Counters::default()), member(81, counted)];
        elements(
            &mut b,
            &mut ids,
            &target(),
            "portmap.a",
            false,
            &[22],
            &members,
        )
        .unwrap();
        let sealed = b.seal(true);
        assert_eq!(lists(&sealed.bytes, NFT_MSG_DELSETELEM).len(), 2);
        let list = &lists(&sealed.bytes, NFT_MSG_NEWSETELEM)[0];
        let elems: Vec<Attrs> = Attrs(list).map(|(_, e)| Attrs(e)).collect();
        assert!(elems[0].get(NFTA_SET_ELEM_EXPR).is_none());
        let comment = elems[0].get(NFTA_SET_ELEM_USERDATA).unwrap();
        assert_eq!(
            crate::netlink::udata::udata_string(comment, UDATA_SET_ELEM_COMMENT).unwrap(),
            "5242880 -i wan0 -p tcp -m tcp --dport 80 -j DNAT"
        );
        let expr = Attrs(elems[1].get(NFTA_SET_ELEM_EXPR).unwrap());
        let counter = Attrs(expr.get(NFTA_EXPR_DATA).unwrap());
        assert_eq!(counter.get(NFTA_COUNTER_PACKETS).and_then(be_u64), Some(4));
        assert_eq!(counter.get(NFTA_COUNTER_BYTES).and_then(be_u64), Some(240));
        assert_eq!(ids.get(Family::Ipv4, "portmap.a"), 1);
        assert_eq!(ids.get(Family::Ipv6, "portmap.a"), 3);
    }

    #[test]
    fn an_address_of_the_other_family_is_refused() {
        let mut b = Batch::new(1);
        let mut m = member(80, Counters::default());
        m.addr = "2001:db8::1".parse().unwrap();
        let err = elements(
            &mut b,
            &mut SetIds::default(),
            &target(),
            "p",
            true,
            &[],
            &[m],
        );
        assert!(matches!(err, Err(DriverError::Unsupported(_))));
        assert!(b.is_empty(), "nothing is written for a refused change");
    }
}
