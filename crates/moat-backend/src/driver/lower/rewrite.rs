//! Statements of the targets beyond verdicts, logging, marks and address
//! translation: TCPMSS's `tcp option maxseg size set ...`, TRACE's
//! `meta nftrace set 1`, CLASSIFY's `meta priority set`, NFQUEUE's `queue`,
//! TTL's `ip ttl set N` and `ip ttl set ip ttl map { ... }`, HL's
//! `ip6 hoplimit set ...` alike, DSCP's `ip dscp set N` and TOS's
//! `ip dscp set N` / `ip ecn set N` or a rewrite of the whole byte, and
//! the chain bound to a TPROXY rule.

use std::net::IpAddr;

use moat_model::{Family, SecMarkCopy, TproxyTarget};
use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, RTKey, SetItem};

use super::super::anon_set::{AnonSet, Key, Values, ANON_MAP_NAME};
use super::super::encode::nfproto;
use super::super::expr::NlExpr;
use super::fields::ct_dir_number;
use crate::netlink::consts::*;

/// `tcp option maxseg size set N` and `tcp option maxseg size set rt mtu`,
/// as nft writes them: the value into register 1 in network order, then
/// an exthdr write of the option's two size bytes.
pub(super) fn tcp_option(key: &Expression<'_>, value: &Expression<'_>) -> Option<Vec<NlExpr>> {
    let Expression::Named(NamedExpression::TcpOption(opt)) = key else {
        return None;
    };
    if opt.name != "maxseg" || opt.field.as_deref() != Some("size") {
        return None;
    }
    let write = NlExpr::TcpOptWrite {
        kind: TCPOPT_MAXSEG,
        offset: 2,
        len: 2,
    };
    Some(match value {
        Expression::Number(n) => vec![
            NlExpr::Immediate {
                reg: NFT_REG_1,
                data: u16::try_from(*n).ok()?.to_be_bytes().to_vec(),
            },
            write,
        ],
        Expression::Named(NamedExpression::RT(rt))
            if rt.key == RTKey::MTU && rt.family.is_none() =>
        {
            vec![
                NlExpr::Rt { key: NFT_RT_TCPMSS },
                NlExpr::Byteorder {
                    reg: NFT_REG_1,
                    op: NFT_BYTEORDER_HTON,
                    len: 2,
                    size: 2,
                },
                write,
            ]
        }
        _ => return None,
    })
}

/// `meta nftrace set 1` and `meta priority set MAJOR:MINOR`, as nft writes them: the value into register 1,
/// as many bytes as the key holds, then a meta store.
pub(super) fn meta_set(key: &Expression<'_>, value: &Expression<'_>) -> Option<Vec<NlExpr>> {
    let Expression::Named(NamedExpression::Meta(meta)) = key else {
        return None;
    };
    let Expression::Number(n) = value else {
        return None;
    };
    let (key, data) = match meta.key {
        MetaKey::Nftrace => (NFT_META_NFTRACE, vec![u8::try_from(*n).ok()?]),
        MetaKey::Priority => (NFT_META_PRIORITY, n.to_ne_bytes().to_vec()),
        _ => return None,
    };
    Some(vec![
        NlExpr::Immediate {
            reg: NFT_REG_1,
            data,
        },
        NlExpr::MetaSet { key },
    ])
}

/// `ct event set new,destroy`: the event mask (host order) of the packet's
/// new connection.
pub(super) fn ct_event_set(value: &Expression<'_>) -> Option<Vec<NlExpr>> {
    let Expression::Number(mask) = value else {
        return None;
    };
    Some(vec![
        NlExpr::Immediate {
            reg: NFT_REG_1,
            data: mask.to_ne_bytes().to_vec(),
        },
        NlExpr::CtSet {
            key: NFT_CT_EVENTMASK,
            dir: None,
        },
    ])
}

/// CONNSECMARK as xt_CONNSECMARK does it, with register 1 only: `--save`
/// is `ct secmark 0 meta secmark != 0 ct secmark set meta secmark`,
/// `--restore` is `meta secmark 0 ct secmark != 0 meta secmark set ct
/// secmark`. A packet without a connection stops at the `ct` load, so it
/// is left alone, as the xtables target leaves it.
pub(super) fn secmark_copy(copy: SecMarkCopy) -> Vec<NlExpr> {
    let meta = NlExpr::Meta {
        key: NFT_META_SECMARK,
    };
    let ct = NlExpr::Ct {
        key: NFT_CT_SECMARK,
        dir: None,
    };
    let is = |op| NlExpr::Cmp {
        op,
        data: 0u32.to_ne_bytes().to_vec(),
    };
    match copy {
        SecMarkCopy::Save => vec![
            ct,
            is(NFT_CMP_EQ),
            meta,
            is(NFT_CMP_NEQ),
            NlExpr::CtSet {
                key: NFT_CT_SECMARK,
                dir: None,
            },
        ],
        SecMarkCopy::Restore => vec![
            meta,
            is(NFT_CMP_EQ),
            ct,
            is(NFT_CMP_NEQ),
            NlExpr::MetaSet {
                key: NFT_META_SECMARK,
            },
        ],
    }
}

/// `ct zone set N` (`ct original zone set N`, `ct reply zone set N`): the
/// 16-bit zone of the template the packet's connection is created from.
pub(super) fn ct_zone_set(key: &Expression<'_>, value: &Expression<'_>) -> Option<Vec<NlExpr>> {
    let Expression::Named(NamedExpression::CT(ct)) = key else {
        return None;
    };
    if ct.key != "zone" || ct.family.is_some() {
        return None;
    }
    let load = match value {
        Expression::Number(n) => NlExpr::Immediate {
            reg: NFT_REG_1,
            data: u16::try_from(*n).ok()?.to_ne_bytes().to_vec(),
        },
        // The zone is the register's first two bytes: the mark's low 16
        // bits on a little-endian host, as xt_CT --zone mark takes them.
        Expression::Named(NamedExpression::Meta(m)) if m.key == MetaKey::Mark => {
            NlExpr::Meta { key: NFT_META_MARK }
        }
        _ => return None,
    };
    let dir = ct.dir.as_ref().map(ct_dir_number);
    Some(vec![
        load,
        NlExpr::CtSet {
            key: NFT_CT_ZONE,
            dir,
        },
    ])
}

/// `ip ttl set N` and `ip6 hoplimit set N`, as nft writes them. The TTL
/// shares a checksummed 16-bit word with the protocol, so nft reads the
/// word, replaces the TTL byte and writes the word back with the header
/// checksum updated; the hop limit is written alone (IPv6 has no header
/// checksum).
pub(super) fn payload_set(
    key: &Expression<'_>,
    value: &Expression<'_>,
    family: Family,
) -> Option<Vec<NlExpr>> {
    let Expression::Named(NamedExpression::Payload(Payload::PayloadField(field))) = key else {
        return None;
    };
    let Expression::Number(n) = value else {
        return None;
    };
    let byte = u8::try_from(*n).ok()?;
    match (family, &*field.protocol, &*field.field) {
        (Family::Ipv4, "ip", "ttl") => Some(network_write(
            8,
            vec![0x00, 0xff],
            vec![byte, 0x00],
            IPV4_CSUM,
        )),
        // DSCP: the 6 bits after the 4-bit version and before the 2 ECN
        // bits in IPv6, the top 6 of the TOS byte in IPv4; nft rewrites the
        // 16-bit word from the header's start.
        (_, "ip" | "ip6", "dscp") if byte <= 63 => {
            let (mask, xor, csum) = if family == Family::Ipv4 {
                (vec![0xff, 0x03], vec![0x00, byte << 2], IPV4_CSUM)
            } else {
                (vec![0xf0, 0x3f], vec![byte >> 2, (byte & 3) << 6], NO_CSUM)
            };
            if (family == Family::Ipv4) != (field.protocol == "ip") {
                return None;
            }
            Some(network_write(0, mask, xor, csum))
        }
        // ECN: the low 2 bits of the TOS byte (IPv4, in the checksummed
        // word from the header's start); bits 4-5 of the second byte in IPv6.
        (Family::Ipv4, "ip", "ecn") if byte <= 3 => Some(network_write(
            0,
            vec![0xff, 0xfc],
            vec![0x00, byte],
            IPV4_CSUM,
        )),
        (Family::Ipv6, "ip6", "ecn") if byte <= 3 => {
            Some(network_write(1, vec![0xcf], vec![byte << 4], NO_CSUM))
        }
        (Family::Ipv6, "ip6", "hoplimit") => Some(vec![
            NlExpr::Immediate {
                reg: NFT_REG_1,
                data: vec![byte],
            },
            NlExpr::PayloadWrite {
                base: NFT_PAYLOAD_NETWORK_HEADER,
                offset: 7,
                len: 1,
                csum_type: NFT_PAYLOAD_CSUM_NONE,
                csum_offset: 0,
            },
        ]),
        _ => None,
    }
}

/// `ip ttl set ip ttl map { ... }` and `ip6 hoplimit set ip6 hoplimit map
/// { ... }` (TTL/HL --ttl-dec/--ttl-inc), as nft writes the latter: the
/// byte loaded, looked up in an inline map whose value replaces it in the
/// register, and written back, the IPv4 header checksum updated (the TTL
/// starts a 16-bit word, so the byte is summed where it lies). The map to
/// declare comes with the expressions.
pub(super) fn mapped_hop_count(
    key: &Expression<'_>,
    value: &Expression<'_>,
    family: Family,
) -> Option<(Vec<NlExpr>, AnonSet)> {
    let Expression::Named(NamedExpression::Payload(Payload::PayloadField(field))) = key else {
        return None;
    };
    let Expression::Named(NamedExpression::Map(map)) = value else {
        return None;
    };
    let (offset, csum) = match (family, &*field.protocol, &*field.field) {
        (Family::Ipv4, "ip", "ttl") => (8, IPV4_CSUM),
        (Family::Ipv6, "ip6", "hoplimit") => (7, NO_CSUM),
        _ => return None,
    };
    let Expression::Named(NamedExpression::Set(items)) = &map.data else {
        return None;
    };
    if map.key != *key {
        return None;
    }
    let byte = |e: &Expression<'_>| match e {
        Expression::Number(n) => u8::try_from(*n).ok().map(|b| vec![b]),
        _ => None,
    };
    let pairs = items
        .iter()
        .map(|item| match item {
            SetItem::Mapping(k, v) => Some((byte(k)?, byte(v)?)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let map = byte_map(pairs)?;
    let exprs = vec![
        NlExpr::Payload {
            reg: NFT_REG_1,
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len: 1,
        },
        NlExpr::Lookup {
            reg: NFT_REG_1,
            set: ANON_MAP_NAME.to_string(),
            set_id: None,
        },
        NlExpr::PayloadWrite {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len: 1,
            csum_type: csum.0,
            csum_offset: csum.1,
        },
    ];
    Some((exprs, map))
}

/// The rules of the chain bound to a TPROXY rule, as nft writes `jump {
/// tproxy to ADDR:PORT meta mark set meta mark & ~MASK ^ VALUE accept;
/// drop }`: a socket takes the packet, its mark is set and it is accepted;
/// else nf_tables' tproxy skips the rest of the first rule and the second
/// drops the packet, as xt_TPROXY does. The address and port always go in
/// registers (zero meaning the interface's address and the packet's port,
/// as for xt_TPROXY).
pub(super) fn tproxy_chain(t: &TproxyTarget, family: Family) -> Vec<Vec<NlExpr>> {
    let addr = match t.addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let mut hand_over = vec![
        NlExpr::Immediate {
            reg: NFT_REG_1,
            data: addr,
        },
        NlExpr::Immediate {
            reg: NFT_REG_2,
            data: t.port.to_be_bytes().to_vec(),
        },
        NlExpr::Tproxy {
            family: nfproto(family),
        },
    ];
    if t.mark != 0 || t.mask != 0 {
        hand_over.extend([
            NlExpr::Meta { key: NFT_META_MARK },
            NlExpr::Bitwise {
                reg: NFT_REG_1,
                mask: (!t.mask).to_ne_bytes().to_vec(),
                xor: t.mark.to_ne_bytes().to_vec(),
            },
            NlExpr::MetaSet { key: NFT_META_MARK },
        ]);
    }
    let verdict = |code| NlExpr::Verdict { code, chain: None };
    hand_over.push(verdict(NF_ACCEPT));
    vec![hand_over, vec![verdict(NF_DROP)]]
}

/// An inline map of one-byte integers to one-byte integers, as nft
/// declares the map of `ip6 hoplimit set ip6 hoplimit map { ... }`.
pub(super) fn byte_map(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Option<AnonSet> {
    let key = Key {
        ty: TYPE_INTEGER,
        len: 1,
        big_endian: true,
        expr: UDATA_EXPR_PAYLOAD,
        data: [0, 0],
    };
    let values = Values {
        ty: TYPE_INTEGER,
        len: 1,
    };
    AnonSet::map(key, values, pairs)
}

/// The TOS byte (IPv6 traffic class) rewritten as `(byte & !mask) ^ value`,
/// in the 16-bit word from the header's start, as `ip dscp set` is: in
/// IPv4 the word's second byte, with the header checksum updated; in IPv6
/// the bits after the 4-bit version.
pub(super) fn tos(value: u8, mask: u8, family: Family) -> Vec<NlExpr> {
    let keep = !mask;
    match family {
        Family::Ipv4 => network_write(0, vec![0xff, keep], vec![0x00, value], IPV4_CSUM),
        Family::Ipv6 => network_write(
            0,
            vec![0xf0 | keep >> 4, keep << 4 | 0x0f],
            vec![value >> 4, value << 4],
            NO_CSUM,
        ),
    }
}

/// The TCP flags byte rewritten as `(byte & mask) ^ value`, in the 16-bit
/// word with the data offset, the TCP checksum updated (unless the kernel
/// leaves it to the network card, which it does itself).
pub(super) fn tcp_flags(mask: u8, value: u8) -> Vec<NlExpr> {
    masked_write(
        NFT_PAYLOAD_TRANSPORT_HEADER,
        12,
        vec![0xff, mask],
        vec![0x00, value],
        TCP_CSUM,
    )
}

/// IPv4's header checksum: what a rewrite of its header updates.
const IPV4_CSUM: (u32, u32) = (NFT_PAYLOAD_CSUM_INET, 10);
/// TCP's checksum, at its header's offset 16.
const TCP_CSUM: (u32, u32) = (NFT_PAYLOAD_CSUM_INET, 16);
/// No checksum to update (IPv6 has none in its header).
const NO_CSUM: (u32, u32) = (NFT_PAYLOAD_CSUM_NONE, 0);

/// `len` bytes at `offset` of the network header, rewritten as
/// `(bytes & mask) ^ xor`, with the checksum `(type, offset)` updated.
fn network_write(offset: u32, mask: Vec<u8>, xor: Vec<u8>, csum: (u32, u32)) -> Vec<NlExpr> {
    masked_write(NFT_PAYLOAD_NETWORK_HEADER, offset, mask, xor, csum)
}

/// `len` bytes at `offset` of header `base`, rewritten as
/// `(bytes & mask) ^ xor`, with the checksum `(type, offset)` updated.
fn masked_write(
    base: u32,
    offset: u32,
    mask: Vec<u8>,
    xor: Vec<u8>,
    csum: (u32, u32),
) -> Vec<NlExpr> {
    let len = u32::try_from(mask.len()).unwrap_or(0);
    vec![
        NlExpr::Payload {
            reg: NFT_REG_1,
            base,
            offset,
            len,
        },
        NlExpr::Bitwise {
            reg: NFT_REG_1,
            mask,
            xor,
        },
        NlExpr::PayloadWrite {
            base,
            offset,
            len,
            csum_type: csum.0,
            csum_offset: csum.1,
        },
    ]
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, EcnChange, Family, MssValue};

    use super::super::tests::{lowered, tcp, v4, COUNTER, L4};

    // `--set-tos Minimize-Delay` (0x10/0x3f) keeps the top two DSCP bits:
    // IPv4 rewrites the TOS byte in the checksummed first word, IPv6 the
    // traffic class across the first two bytes, with no checksum.
    #[test]
    fn a_partial_tos_change_is_the_header_word_masked_and_written_back() {
        let minimize_delay = Action::Tos {
            value: 0x10,
            mask: 0x3f,
        };
        assert_eq!(
            v4(vec![], minimize_delay.clone()),
            [
                COUNTER,
                "payload 2b @ network + 0",
                "bitwise & ffc0 ^ 0010",
                "payload write 2b @ network + 0 csum_type 1 csum_off 10"
            ]
        );
        assert_eq!(
            lowered(Family::Ipv6, vec![], minimize_delay).unwrap(),
            [
                COUNTER,
                "payload 2b @ network + 0",
                "bitwise & fc0f ^ 0100",
                "payload write 2b @ network + 0 csum_type 0 csum_off 0"
            ]
        );
    }

    // ECN --ecn-tcp-remove: the ECE (0x40) and CWR (0x80) flags cleared in
    // the word of the data offset and flags, the TCP checksum updated.
    #[test]
    fn ecn_flags_are_the_tcp_flags_word_masked_and_written_back() {
        let remove = Action::Ecn(EcnChange {
            ip_ect: None,
            ece: Some(false),
            cwr: Some(false),
        });
        assert_eq!(
            v4(vec![tcp()], remove),
            [
                L4,
                "cmp 0 06",
                COUNTER,
                "payload 2b @ transport + 12",
                "bitwise & ff3f ^ 0000",
                "payload write 2b @ transport + 12 csum_type 1 csum_off 16"
            ]
        );
    }

    #[test]
    fn mss_and_trace_as_nft_writes_them() {
        assert_eq!(
            v4(vec![tcp()], Action::TcpMss(MssValue::Fixed(1400))),
            [
                L4,
                "cmp 0 06",
                COUNTER,
                "immediate reg 1 0578",
                "exthdr write tcpopt 2b @ 2 + 2"
            ]
        );
        assert_eq!(
            v4(vec![tcp()], Action::TcpMss(MssValue::PathMtu)),
            [
                L4,
                "cmp 0 06",
                COUNTER,
                "rt load 3",
                "byteorder reg 1 = hton(reg 1, 2, 2)",
                "exthdr write tcpopt 2b @ 2 + 2"
            ]
        );
        assert_eq!(
            v4(vec![], Action::Trace),
            [COUNTER, "immediate reg 1 01", "meta set 12"]
        );
        // `meta priority set 1:2`: `immediate reg 1 0x00010002` in host order.
        assert_eq!(
            v4(vec![], Action::Classify(0x0001_0002)),
            [
                COUNTER,
                format!(
                    "immediate reg 1 {}",
                    super::super::tests::host_word(0x0001_0002)
                )
                .as_str(),
                "meta set 2"
            ]
        );
    }
}
