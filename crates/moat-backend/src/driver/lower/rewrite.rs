//! Statements that rewrite packet fields for the targets that change a
//! packet and go on: TCPMSS's `tcp option maxseg size set ...`, TRACE's
//! `meta nftrace set 1`.

use nftables::expr::{Expression, MetaKey, NamedExpression, RTKey};

use super::super::expr::NlExpr;
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

/// `meta nftrace set 1`, as nft writes it: the value into register 1,
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
