//! TTL and HL: `ip ttl set N`, `ip6 hoplimit set N`, and lowering or
//! raising them as `ip ttl set ip ttl map { 0 : 0, 1 : 0, ... }`.

use moat_model::TtlOp;
use nftables::expr::{Expression, Map, NamedExpression, SetItem};
use nftables::stmt::{Mangle, Statement};

use super::build::{num, payload};

/// `ip ttl set N` (`ipv6`: `ip6 hoplimit set N`). nf_tables cannot add or
/// subtract, so `--ttl-dec N` / `--ttl-inc N` map every value to the one
/// xt_TTL gives it (stopping at 0 and 255): nft 1.0.6 cannot write that
/// map for the IPv4 TTL, so such rules go to the netlink driver.
pub(super) fn compile(op: TtlOp, ipv6: bool) -> Statement<'static> {
    let key = || {
        if ipv6 {
            payload("ip6", "hoplimit")
        } else {
            payload("ip", "ttl")
        }
    };
    let value = match op {
        TtlOp::Set(n) => num(n.into()),
        TtlOp::Dec(_) | TtlOp::Inc(_) => {
            let items = (0..=u8::MAX)
                .map(|old| SetItem::Mapping(num(old.into()), num(op.apply(old).into())))
                .collect();
            Expression::Named(NamedExpression::Map(Box::new(Map {
                key: key(),
                data: Expression::Named(NamedExpression::Set(items)),
            })))
        }
    };
    Statement::Mangle(Mangle { key: key(), value })
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Rule, TtlOp};
    use serde_json::json;

    use super::super::testutil::{compile_json, v4, v6};

    #[test]
    fn set_is_a_payload_write_and_steps_map_every_value() {
        let set = compile_json(&Rule::new(Action::Ttl(TtlOp::Set(64))), v4()).unwrap();
        assert_eq!(
            set[1],
            json!({"mangle": {"key": {"payload": {"protocol": "ip", "field": "ttl"}}, "value": 64}})
        );
        let dec = compile_json(&Rule::new(Action::HopLimit(TtlOp::Dec(5))), v6()).unwrap();
        let hoplimit = json!({"payload": {"protocol": "ip6", "field": "hoplimit"}});
        assert_eq!(dec[1]["mangle"]["key"], hoplimit);
        assert_eq!(dec[1]["mangle"]["value"]["map"]["key"], hoplimit);
        let pairs = dec[1]["mangle"]["value"]["map"]["data"]["set"]
            .as_array()
            .unwrap();
        assert_eq!(pairs.len(), 256);
        assert_eq!(pairs[3], json!([3, 0]), "stops at zero");
        assert_eq!(pairs[64], json!([64, 59]));
        let inc = compile_json(&Rule::new(Action::Ttl(TtlOp::Inc(10))), v4()).unwrap();
        let pairs = &inc[1]["mangle"]["value"]["map"]["data"]["set"];
        assert_eq!(pairs[64], json!([64, 74]));
        assert_eq!(pairs[250], json!([250, 255]), "stops at 255");
    }
}
