//! `ether saddr MAC` (`-m mac --mac-source`), as nft writes it: a check that
//! the packet came in on an Ethernet interface (`meta iiftype ether`, which
//! nft adds), then the six bytes of the link-layer header's source address.
//! Like xt_mac, a packet from another kind of interface matches neither the
//! test nor its negation.

use nftables::expr::{Expression, NamedExpression, Payload};
use nftables::stmt::Match;

use super::super::expr::NlExpr;
use crate::netlink::consts::*;

/// ARPHRD_ETHER, the interface type of Ethernet devices.
const ARPHRD_ETHER: u16 = 1;

/// The bytes of `aa:bb:cc:dd:ee:ff`.
fn mac_bytes(text: &str) -> Option<Vec<u8>> {
    let bytes = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    (bytes.len() == 6).then_some(bytes)
}

/// The expressions of `m` when it is `ether saddr [!=] MAC`.
pub(super) fn ether_source(m: &Match<'_>) -> Option<Vec<NlExpr>> {
    let Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) = &m.left else {
        return None;
    };
    if p.protocol != "ether" || p.field != "saddr" {
        return None;
    }
    let op = if super::lookup_negated(m.op)? {
        NFT_CMP_NEQ
    } else {
        NFT_CMP_EQ
    };
    let Expression::String(mac) = &m.right else {
        return None;
    };
    Some(vec![
        NlExpr::Meta {
            key: NFT_META_IIFTYPE,
        },
        NlExpr::Cmp {
            op: NFT_CMP_EQ,
            data: ARPHRD_ETHER.to_ne_bytes().to_vec(),
        },
        NlExpr::Payload {
            reg: NFT_REG_1,
            base: NFT_PAYLOAD_LL_HEADER,
            offset: 6,
            len: 6,
        },
        NlExpr::Cmp {
            op,
            data: mac_bytes(mac)?,
        },
    ])
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use nftables::expr::PayloadField;
    use nftables::stmt::Operator;

    use super::*;

    fn source_is(mac: &str, op: Operator) -> Match<'static> {
        Match {
            left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                PayloadField {
                    protocol: Cow::Borrowed("ether"),
                    field: Cow::Borrowed("saddr"),
                },
            ))),
            right: Expression::String(Cow::Owned(mac.to_string())),
            op,
        }
    }

    #[test]
    fn ethernet_source_is_checked_after_the_interface_type() {
        let exprs = ether_source(&source_is("00:11:22:aa:bb:cc", Operator::NEQ)).unwrap();
        let text: Vec<String> = exprs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert_eq!(
            exprs[3],
            NlExpr::Cmp {
                op: NFT_CMP_NEQ,
                data: vec![0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc]
            }
        );
        assert_eq!(
            exprs[0],
            NlExpr::Meta {
                key: NFT_META_IIFTYPE
            }
        );
        assert!(ether_source(&source_is("00:11:22", Operator::EQ)).is_none());
        assert!(ether_source(&source_is("00:11:22:aa:bb:cc", Operator::LT)).is_none());
    }
}
