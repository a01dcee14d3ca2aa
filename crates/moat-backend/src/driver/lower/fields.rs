//! The left-hand sides of matches: which packet field a statement loads,
//! how its values are written, and which protocol it depends on.

use moat_model::Family;
use nftables::expr::{
    CTDir, Expression, MetaKey, NamedExpression, NgMode, Numgen, Payload, PayloadBase,
    PayloadField, PayloadRaw,
};

use super::super::expr::NlExpr;
use crate::netlink::consts::*;

/// How a field's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An integer of `len` bytes in network order.
    Big(usize),
    /// An integer of `len` bytes in host order (marks, conntrack bits).
    Host(usize),
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An interface name (16 bytes, or a prefix for `name*`).
    Ifname,
    /// A link-layer packet type name (`host`, `broadcast`, ...).
    PktType,
    /// A conntrack direction name (`original`, `reply`).
    CtDir,
}

impl Kind {
    /// Bytes of a value of this kind.
    pub(super) fn len(self) -> usize {
        match self {
            Kind::Big(n) | Kind::Host(n) => n,
            Kind::Ipv4 => 4,
            Kind::Ipv6 => 16,
            Kind::Ifname => 16,
            Kind::PktType | Kind::CtDir => 1,
        }
    }

    /// Whether values are in network order, so that the kernel's bytewise
    /// comparison orders them as numbers (nft compares host-order values in
    /// ranges only after a byte-order conversion, which this driver does not
    /// write).
    pub(super) fn is_network_order(self) -> bool {
        matches!(self, Kind::Big(_) | Kind::Ipv4 | Kind::Ipv6)
    }
}

/// Where a field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Load {
    /// Bytes of a header.
    Payload {
        /// NFT_PAYLOAD_*_HEADER.
        base: u32,
        /// Byte offset.
        offset: u32,
        /// Bytes.
        len: u32,
    },
    /// A meta key.
    Meta(u32),
    /// A conntrack key, with its direction for per-direction keys.
    Ct(u32, Option<u8>),
    /// The rule's incrementing counter: `modulus`, `offset`.
    Numgen(u32, u32),
    /// A route lookup: NFT_FIB_RESULT_*, NFTA_FIB_F_* flags.
    Fib(u32, u32),
}

impl Load {
    /// The expression that loads a header field into register `reg`
    /// (only header fields and route lookups go elsewhere than register 1).
    pub(super) fn expr_into(self, reg: u32) -> Option<NlExpr> {
        let mut load = self.expr();
        match &mut load {
            NlExpr::Payload { reg: into, .. } | NlExpr::Fib { reg: into, .. } => *into = reg,
            _ if reg == NFT_REG_1 => {}
            _ => return None,
        }
        Some(load)
    }

    /// The expression that loads the field into register 1.
    pub(super) fn expr(self) -> NlExpr {
        match self {
            Load::Payload { base, offset, len } => NlExpr::Payload {
                reg: NFT_REG_1,
                base,
                offset,
                len,
            },
            Load::Meta(key) => NlExpr::Meta { key },
            Load::Ct(key, dir) => NlExpr::Ct { key, dir },
            Load::Numgen(modulus, offset) => NlExpr::Numgen { modulus, offset },
            Load::Fib(result, flags) => NlExpr::Fib {
                reg: NFT_REG_1,
                result,
                flags,
            },
        }
    }
}

/// A packet field a match reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field {
    /// How it is loaded.
    pub load: Load,
    /// How its values are written.
    pub kind: Kind,
    /// The layer-4 protocol nft makes sure of before reading it (`meta l4proto`).
    pub l4: Option<u8>,
    /// A 4-bit field in the high half of its byte (`ip version`).
    pub high_nibble: bool,
}

fn payload(base: u32, offset: u32, kind: Kind, l4: Option<u8>) -> Field {
    let len = u32::try_from(kind.len()).unwrap_or(0);
    Field {
        load: Load::Payload { base, offset, len },
        kind,
        l4,
        high_nibble: false,
    }
}

/// The protocol number nft depends on for a transport protocol's fields.
fn transport(protocol: &str, family: Family) -> Option<u8> {
    match (protocol, family) {
        ("tcp", _) => Some(6),
        ("udp", _) => Some(17),
        ("dccp", _) => Some(33),
        ("sctp", _) => Some(132),
        ("udplite", _) => Some(136),
        ("icmp", Family::Ipv4) => Some(1),
        ("icmpv6", Family::Ipv6) => Some(58),
        _ => None,
    }
}

fn payload_field(p: &PayloadField<'_>, family: Family) -> Option<Field> {
    const NH: u32 = NFT_PAYLOAD_NETWORK_HEADER;
    const TH: u32 = NFT_PAYLOAD_TRANSPORT_HEADER;
    let version = Field {
        load: Load::Payload {
            base: NH,
            offset: 0,
            len: 1,
        },
        kind: Kind::Big(1),
        l4: None,
        high_nibble: true,
    };
    let (protocol, field) = (p.protocol.as_ref(), p.field.as_ref());
    Some(match (family, protocol, field) {
        (Family::Ipv4, "ip", "saddr") => payload(NH, 12, Kind::Ipv4, None),
        (Family::Ipv4, "ip", "daddr") => payload(NH, 16, Kind::Ipv4, None),
        (Family::Ipv4, "ip", "length") => payload(NH, 2, Kind::Big(2), None),
        (Family::Ipv4, "ip", "frag-off") => payload(NH, 6, Kind::Big(2), None),
        (Family::Ipv4, "ip", "ttl") => payload(NH, 8, Kind::Big(1), None),
        (Family::Ipv6, "ip6", "hoplimit") => payload(NH, 7, Kind::Big(1), None),
        (Family::Ipv4, "ip", "version") | (Family::Ipv6, "ip6", "version") => version,
        (Family::Ipv6, "ip6", "saddr") => payload(NH, 8, Kind::Ipv6, None),
        (Family::Ipv6, "ip6", "daddr") => payload(NH, 24, Kind::Ipv6, None),
        (Family::Ipv6, "ip6", "length") => payload(NH, 4, Kind::Big(2), None),
        (_, "tcp", "flags") => payload(TH, 13, Kind::Big(1), Some(6)),
        (_, "icmp" | "icmpv6", "type") => {
            payload(TH, 0, Kind::Big(1), Some(transport(protocol, family)?))
        }
        (_, "icmp" | "icmpv6", "code") => {
            payload(TH, 1, Kind::Big(1), Some(transport(protocol, family)?))
        }
        (_, "tcp" | "udp" | "dccp" | "sctp" | "udplite", "sport") => {
            payload(TH, 0, Kind::Big(2), Some(transport(protocol, family)?))
        }
        (_, "tcp" | "udp" | "dccp" | "sctp" | "udplite", "dport") => {
            payload(TH, 2, Kind::Big(2), Some(transport(protocol, family)?))
        }
        // Any transport's ports, with no protocol check.
        (_, "th", "sport") => payload(TH, 0, Kind::Big(2), None),
        (_, "th", "dport") => payload(TH, 2, Kind::Big(2), None),
        _ => return None,
    })
}

/// `@nh,OFFSET,LEN` on whole bytes: nft loads those bytes, as a
/// network-order number, with no protocol dependency.
fn raw_field(p: &PayloadRaw) -> Option<Field> {
    if p.base != PayloadBase::NH
        || !p.offset.is_multiple_of(8)
        || !p.len.is_multiple_of(8)
        || !(8..=32).contains(&p.len)
    {
        return None;
    }
    let bytes = usize::try_from(p.len / 8).ok()?;
    Some(payload(
        NFT_PAYLOAD_NETWORK_HEADER,
        p.offset / 8,
        Kind::Big(bytes),
        None,
    ))
}

fn meta_field(key: MetaKey) -> Option<Field> {
    let (key, kind) = match key {
        MetaKey::L4proto => (NFT_META_L4PROTO, Kind::Host(1)),
        MetaKey::Mark => (NFT_META_MARK, Kind::Host(4)),
        MetaKey::Iifname => (NFT_META_IIFNAME, Kind::Ifname),
        MetaKey::Oifname => (NFT_META_OIFNAME, Kind::Ifname),
        MetaKey::Pkttype => (NFT_META_PKTTYPE, Kind::PktType),
        MetaKey::Skuid => (NFT_META_SKUID, Kind::Host(4)),
        MetaKey::Skgid => (NFT_META_SKGID, Kind::Host(4)),
        MetaKey::Cpu => (NFT_META_CPU, Kind::Host(4)),
        MetaKey::Rtclassid => (NFT_META_RTCLASSID, Kind::Host(4)),
        MetaKey::Iifgroup => (NFT_META_IIFGROUP, Kind::Host(4)),
        MetaKey::Oifgroup => (NFT_META_OIFGROUP, Kind::Host(4)),
        // nft keeps the random number in network order.
        MetaKey::Random => (NFT_META_PRANDOM, Kind::Big(4)),
        _ => return None,
    };
    Some(Field {
        load: Load::Meta(key),
        kind,
        l4: None,
        high_nibble: false,
    })
}

fn ct_field(key: &str, dir: Option<&CTDir>) -> Option<Field> {
    let (key, kind, dir) = match (key, dir) {
        ("state", None) => (NFT_CT_STATE, Kind::Host(4), None),
        ("status", None) => (NFT_CT_STATUS, Kind::Host(4), None),
        ("mark", None) => (NFT_CT_MARK, Kind::Host(4), None),
        // Milliseconds left, compared as times (`10000ms`).
        ("expiration", None) => (NFT_CT_EXPIRATION, Kind::Host(4), None),
        ("direction", None) => (NFT_CT_DIRECTION, Kind::CtDir, None),
        ("protocol", Some(CTDir::Original)) => (NFT_CT_PROTOCOL, Kind::Host(1), Some(0)),
        ("bytes" | "packets" | "avgpkt", dir) => {
            let key = match key {
                "bytes" => NFT_CT_BYTES,
                "packets" => NFT_CT_PKTS,
                _ => NFT_CT_AVGPKT,
            };
            (key, Kind::Host(8), dir.map(ct_dir_number))
        }
        ("protocol", Some(CTDir::Reply)) => (NFT_CT_PROTOCOL, Kind::Host(1), Some(1)),
        // A direction's addresses and ports (`--ctorigdst`, `--ctreplsrcport`, ...).
        (
            "ip saddr" | "ip daddr" | "ip6 saddr" | "ip6 daddr" | "proto-src" | "proto-dst",
            Some(d),
        ) => {
            let (key, kind) = match key {
                "ip saddr" => (NFT_CT_SRC_IP, Kind::Ipv4),
                "ip daddr" => (NFT_CT_DST_IP, Kind::Ipv4),
                "ip6 saddr" => (NFT_CT_SRC_IP6, Kind::Ipv6),
                "ip6 daddr" => (NFT_CT_DST_IP6, Kind::Ipv6),
                "proto-src" => (NFT_CT_PROTO_SRC, Kind::Big(2)),
                _ => (NFT_CT_PROTO_DST, Kind::Big(2)),
            };
            (key, kind, Some(ct_dir_number(d)))
        }
        _ => return None,
    };
    Some(Field {
        load: Load::Ct(key, dir),
        kind,
        l4: None,
        high_nibble: false,
    })
}

/// `numgen inc mod N [offset O]`: a host-order number (a modulus of 0 is
/// nft's to refuse).
fn numgen_field(numgen: &Numgen) -> Option<Field> {
    if numgen.mode != NgMode::Inc || numgen.ng_mod == 0 {
        return None;
    }
    Some(Field {
        load: Load::Numgen(numgen.ng_mod, numgen.offset.unwrap_or(0)),
        kind: Kind::Host(4),
        l4: None,
        high_nibble: false,
    })
}

/// The field `expr` reads, if it is one this driver knows.
pub(super) fn field(expr: &Expression<'_>, family: Family) -> Option<Field> {
    match expr {
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) => {
            payload_field(p, family)
        }
        Expression::Named(NamedExpression::Payload(Payload::PayloadRaw(p))) => raw_field(p),
        Expression::Named(NamedExpression::Meta(m)) => meta_field(m.key),
        Expression::Named(NamedExpression::CT(ct)) if ct.family.is_none() => {
            ct_field(&ct.key, ct.dir.as_ref())
        }
        Expression::Named(NamedExpression::Numgen(numgen)) => numgen_field(numgen),
        Expression::Named(NamedExpression::Fib(fib)) => super::fib::field(fib),
        _ => None,
    }
}

/// The kernel's number of a conntrack direction (IP_CT_DIR_*).
pub(super) fn ct_dir_number(dir: &CTDir) -> u8 {
    match dir {
        CTDir::Original => 0,
        CTDir::Reply => 1,
    }
}
