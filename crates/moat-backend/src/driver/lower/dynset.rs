//! Set statements that fill a named set while packets pass: `add @set {
//! ip saddr [& mask] ct count [over] N }` (`-m connlimit`) and `update @set
//! { KEY limit rate [over] N/UNIT ... }` (`-m hashlimit`), whose key is one
//! field or a concatenation (`ip saddr & mask . th dport`). nft loads the
//! key into consecutive 32-bit registers from register 1 on (each field
//! masked in place), then writes a `dynset` expression that adds or
//! updates the key's element with a nested `connlimit` or `limit`.
//!
//! The compiled statement is read through [`finish_json`], as `nft` reads
//! it, so the parts the nftables crate cannot hold are where nft has them.

use moat_model::Family;
use moat_nft::rule::finish_json;
use nftables::expr::{Expression, NamedExpression};
use nftables::stmt::Statement;
use serde_json::Value;

use super::super::expr::NlExpr;
use super::fields::{Kind, Load};
use crate::netlink::consts::*;

/// The most 32-bit registers a key fills (the kernel has 16).
const KEY_WORDS: u32 = 16;

/// The expressions of a set statement, or None when it is not one this
/// driver writes.
pub(super) fn lower(stmt: &Statement<'_>, family: Family) -> Option<Vec<NlExpr>> {
    let mut value = serde_json::to_value(stmt).ok()?;
    finish_json(&mut value).ok()?;
    let set = value.get("set")?;
    let op = match set.get("op")?.as_str()? {
        "add" => NFT_DYNSET_OP_ADD,
        "update" => NFT_DYNSET_OP_UPDATE,
        _ => return None,
    };
    let name = set.get("set")?.as_str()?.strip_prefix('@')?;
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let key: Expression<'static> = serde_json::from_value(set.get("elem")?.clone()).ok()?;
    let inner = element(set.get("stmt")?)?;
    let mut out = load_key(&key, family)?;
    out.push(NlExpr::Dynset {
        op,
        set: name.to_string(),
        set_id: None,
        expr: Box::new(inner),
    });
    Some(out)
}

/// Loads the key, field by field, into registers from register 1 on: an
/// address (masked or not) or a transport port.
fn load_key(key: &Expression<'_>, family: Family) -> Option<Vec<NlExpr>> {
    let parts: Vec<&Expression<'_>> = match key {
        Expression::Named(NamedExpression::Concat(parts)) => parts.iter().collect(),
        one => vec![one],
    };
    let mut out = Vec::new();
    let mut words = 0;
    for part in parts {
        let (field, mask) = super::left_side(part, family)?;
        let port = field.kind == Kind::Big(2)
            && matches!(field.load, Load::Payload { base, .. } if base == NFT_PAYLOAD_TRANSPORT_HEADER);
        if field.l4.is_some() || !(matches!(field.kind, Kind::Ipv4 | Kind::Ipv6) || port) {
            return None;
        }
        let reg = if words == 0 {
            NFT_REG_1
        } else {
            NFT_REG32_00 + words
        };
        out.push(field.load.expr_into(reg)?);
        if let Some(mask) = mask {
            let xor = vec![0; mask.len()];
            out.push(NlExpr::Bitwise { reg, mask, xor });
        }
        words += u32::try_from(field.kind.len().div_ceil(4)).ok()?;
    }
    (words <= KEY_WORDS).then_some(out)
}

/// The one statement of the element: `ct count [over] N` as a
/// `connlimit`, or a `limit`.
fn element(stmts: &Value) -> Option<NlExpr> {
    let stmts: Vec<Statement<'static>> = serde_json::from_value(stmts.clone()).ok()?;
    match &stmts[..] {
        [Statement::CTCount(count)] => {
            let Expression::Number(n) = count.val else {
                return None;
            };
            Some(NlExpr::Connlimit {
                count: n,
                inv: count.inv == Some(true),
            })
        }
        [Statement::Limit(limit)] => super::actions::limit(limit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Family, Match};

    use super::super::tests::{lowered, tcp, v4, ACCEPT, COUNTER, L4};

    fn connlimit(count: u32, above: bool, prefix: u8, by_source: bool) -> Match {
        Match::ConnLimit {
            count,
            above,
            prefix,
            by_source,
        }
    }

    /// The name of the set a lowered rule fills, from its `dynset` line.
    fn set_of(exprs: &[String]) -> &str {
        let line = exprs.iter().find(|e| e.starts_with("dynset")).unwrap();
        line.split(' ').nth(5).unwrap()
    }

    #[test]
    fn a_connection_count_adds_the_address_and_counts_its_connections() {
        let exprs = v4(vec![tcp(), connlimit(2, true, 32, true)], Action::Drop);
        let set = set_of(&exprs).to_string();
        assert!(set.starts_with("connlimit_"), "{set}");
        assert_eq!(
            exprs,
            [
                L4.to_string(),
                "cmp 0 06".to_string(),
                "payload 4b @ network + 12".to_string(),
                format!("dynset 0 reg_key 1 set {set} expr [ connlimit count 2 flags 1 ]"),
                COUNTER.to_string(),
                "verdict 0 ".to_string(),
            ]
        );
    }

    #[test]
    fn a_masked_address_is_loaded_whole_then_masked() {
        let exprs = v4(vec![connlimit(10, false, 24, false)], Action::Accept);
        let set = set_of(&exprs).to_string();
        assert_eq!(
            exprs,
            [
                "payload 4b @ network + 16".to_string(),
                "bitwise & ffffff00 ^ 00000000".to_string(),
                format!("dynset 0 reg_key 1 set {set} expr [ connlimit count 10 flags 0 ]"),
                COUNTER.to_string(),
                ACCEPT.to_string(),
            ]
        );
        let v6 = lowered(
            Family::Ipv6,
            vec![connlimit(3, true, 64, true)],
            Action::Drop,
        )
        .unwrap();
        assert_eq!(v6[0], "payload 16b @ network + 8");
        assert_eq!(
            v6[1],
            format!(
                "bitwise & {}{} ^ {}",
                "ff".repeat(8),
                "00".repeat(8),
                "00".repeat(16)
            )
        );
        assert!(v6[2].ends_with("expr [ connlimit count 3 flags 1 ]"));
    }
}
