//! Reads a port map's members back (see [`moat_nft::portmap`]): each
//! element of its address map is one of the user's rules, its port the
//! element's key, its order and source the element's comment, its counters
//! the element's counter.

use moat_model::Counters;
use moat_nft::{portmap, KernelMember};

use super::error::DriverError;
use crate::netlink::consts::*;
use crate::netlink::udata::udata_string;
use crate::netlink::wire::{be_u64, string_is, Attrs, Message, Writer};
use crate::netlink::NfSocket;

/// The error for a port map's rule whose map is gone.
pub(crate) fn lost(map: &str) -> DriverError {
    DriverError::Malformed(format!("the rule of port map {map} has lost its map"))
}

fn damaged(map: &str, what: &str) -> DriverError {
    DriverError::Malformed(format!("port map {map}: {what}"))
}

/// The counters of a counter expression's data.
fn counters(data: Attrs<'_>) -> Counters {
    Counters {
        packets: data.get(NFTA_COUNTER_PACKETS).and_then(be_u64).unwrap_or(0),
        bytes: data.get(NFTA_COUNTER_BYTES).and_then(be_u64).unwrap_or(0),
    }
}

/// The counters of an element's expression (`NFTA_SET_ELEM_EXPR`) or
/// expressions (`NFTA_SET_ELEM_EXPRESSIONS`), if one is a counter.
fn element_counters(elem: Attrs<'_>) -> Option<Counters> {
    let single = elem.get(NFTA_SET_ELEM_EXPR).into_iter();
    let listed = elem
        .get(NFTA_SET_ELEM_EXPRESSIONS)
        .into_iter()
        .flat_map(|list| Attrs(list).map(|(_, e)| e));
    single.chain(listed).find_map(|expr| {
        let expr = Attrs(expr);
        let name = expr.get(NFTA_EXPR_NAME)?;
        string_is(name, "counter")
            .then(|| counters(Attrs(expr.get(NFTA_EXPR_DATA).unwrap_or_default())))
    })
}

/// One element of address map `map` as the member it holds.
fn member(map: &str, elem: Attrs<'_>) -> Result<KernelMember, DriverError> {
    let key = elem
        .get(NFTA_SET_ELEM_KEY)
        .and_then(|k| Attrs(k).get(NFTA_DATA_VALUE))
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .map(u16::from_be_bytes)
        .ok_or_else(|| damaged(map, "an element without a port"))?;
    let comment = elem
        .get(NFTA_SET_ELEM_USERDATA)
        .and_then(|u| udata_string(u, UDATA_SET_ELEM_COMMENT))
        .unwrap_or_default();
    let (order, source) = portmap::parse_comment(&comment).ok_or_else(|| {
        damaged(
            map,
            &format!("element {key} has an unreadable comment {comment:?}"),
        )
    })?;
    Ok(KernelMember {
        port: key,
        order,
        source: source.to_string(),
        counters: element_counters(elem).unwrap_or_default(),
    })
}

/// The members of one element dump message.
fn parse(map: &str, msg: Message<'_>, out: &mut Vec<KernelMember>) -> Result<(), DriverError> {
    let Some(list) = msg.attrs().get(NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Ok(());
    };
    for (_, elem) in Attrs(list) {
        out.push(member(map, Attrs(elem))?);
    }
    Ok(())
}

/// The members of port map `map` in `table` of NFPROTO `proto`, in order.
pub(crate) fn read(
    sock: &mut NfSocket,
    proto: u8,
    table: &str,
    map: &str,
) -> Result<Vec<KernelMember>, DriverError> {
    let mut members = Vec::new();
    let build = |w: &mut Writer| {
        w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
        w.attr_str(NFTA_SET_ELEM_LIST_SET, map);
    };
    let dumped = sock.dump(NFT_MSG_GETSETELEM, proto, &build, &mut |msg| match msg {
        None => {
            members.clear();
            Ok(())
        }
        Some(msg) => parse(map, msg, &mut members),
    });
    match dumped {
        Err(DriverError::Refused { errno, .. }) if errno == libc::ENOENT => return Err(lost(map)),
        other => other?,
    }
    members.sort_by_key(|m| m.order);
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An element as the kernel dumps it.
    fn element(w: &mut Writer, port: u16, comment: Option<&str>, counter: Option<(u64, u64)>) {
        let e = w.begin_nest(NFTA_LIST_ELEM);
        let k = w.begin_nest(NFTA_SET_ELEM_KEY);
        w.attr(NFTA_DATA_VALUE, &port.to_be_bytes());
        w.end_nest(k);
        let d = w.begin_nest(NFTA_SET_ELEM_DATA);
        w.attr(NFTA_DATA_VALUE, &[10, 0, 0, 2]);
        w.end_nest(d);
        if let Some(text) = comment {
            let udata = super::super::udata::comment(UDATA_SET_ELEM_COMMENT, text).unwrap();
            w.attr(NFTA_SET_ELEM_USERDATA, &udata);
        }
        if let Some((packets, bytes)) = counter {
            let x = w.begin_nest(NFTA_SET_ELEM_EXPR);
            w.attr_str(NFTA_EXPR_NAME, "counter");
            let data = w.begin_nest(NFTA_EXPR_DATA);
            w.attr_u64(NFTA_COUNTER_BYTES, bytes);
            w.attr_u64(NFTA_COUNTER_PACKETS, packets);
            w.end_nest(data);
            w.end_nest(x);
        }
        w.end_nest(e);
    }

    fn members(build: impl Fn(&mut Writer)) -> Result<Vec<KernelMember>, DriverError> {
        let mut w = Writer::default();
        let m = w.begin_msg(0x0a0c, 0, 1, 2, 0);
        w.attr_str(NFTA_SET_ELEM_LIST_TABLE, "moat_nat");
        let list = w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
        build(&mut w);
        w.end_nest(list);
        w.end_msg(m);
        let bytes = w.into_bytes();
        let msg = crate::netlink::wire::messages(&bytes).unwrap()[0];
        let mut out = Vec::new();
        parse("portmap.a", msg, &mut out).map(|()| out)
    }

    #[test]
    fn elements_give_port_order_source_and_counters() {
        let read = members(|w| {
            element(w, 443, Some("131072 -p tcp --dport 443"), Some((4, 240)));
            element(w, 80, Some("65536 -p tcp --dport 80"), None);
        })
        .unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(
            read[0],
            KernelMember {
                port: 443,
                order: 131_072,
                source: "-p tcp --dport 443".into(),
                counters: Counters {
                    packets: 4,
                    bytes: 240
                },
            }
        );
        assert_eq!((read[1].port, read[1].order), (80, 65_536));
        assert_eq!(read[1].counters, Counters::default());
    }

    #[test]
    fn an_element_without_its_comment_is_an_error() {
        let err = members(|w| element(w, 80, None, None)).unwrap_err();
        assert!(err.to_string().contains("element 80"), "{err}");
    }
}
