//! TTL and HL: `ip ttl set N`, `ip6 hoplimit set N`.

use moat_model::TtlOp;
use nftables::stmt::{Mangle, Statement};

use super::build::{num, payload};
use super::{refuse, CompileError};

/// `ip ttl set N` (`ipv6`: `ip6 hoplimit set N`). Lowering or raising by an
/// amount cannot be native and exact: nf_tables has no arithmetic, and nft
/// 1.0.6 refuses `ip ttl set ip ttl map { ... }`, the lookup that would do
/// it, so those are refused.
pub(super) fn compile(op: TtlOp, ipv6: bool) -> Result<Statement<'static>, CompileError> {
    let (key, target, option) = if ipv6 {
        (payload("ip6", "hoplimit"), "HL", "hl")
    } else {
        (payload("ip", "ttl"), "TTL", "ttl")
    };
    match op {
        TtlOp::Set(n) => Ok(Statement::Mangle(Mangle {
            key,
            value: num(n.into()),
        })),
        TtlOp::Dec(_) | TtlOp::Inc(_) => refuse(format!(
            "{target} --{option}-dec and --{option}-inc have no exact native nf_tables form \
             (nf_tables cannot add or subtract, and nft 1.0.6 cannot map the field onto itself); \
             moat supports --{option}-set"
        )),
    }
}

#[cfg(test)]
mod tests {
    use moat_model::{Action, Rule, TtlOp};
    use serde_json::json;

    use super::super::testutil::{compile, compile_json, v4, v6};

    #[test]
    fn set_is_a_payload_write_and_steps_are_refused() {
        let set = compile_json(&Rule::new(Action::Ttl(TtlOp::Set(64))), v4()).unwrap();
        assert_eq!(
            set[1],
            json!({"mangle": {"key": {"payload": {"protocol": "ip", "field": "ttl"}}, "value": 64}})
        );
        let err = compile(&Rule::new(Action::HopLimit(TtlOp::Dec(1))), v6()).unwrap_err();
        assert!(err.0.contains("HL --hl-dec and --hl-inc"), "{err}");
        assert!(compile(&Rule::new(Action::Ttl(TtlOp::Inc(1))), v4()).is_err());
    }
}
