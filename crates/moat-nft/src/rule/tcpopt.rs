//! TCPOPTSTRIP as nf_tables' `reset tcp option KIND`, which overwrites an
//! option of that kind with no-op options and fixes the checksum.
//!
//! The `nftables` crate has no such statement, so, as for xtables
//! extensions, the statement carries moat's own object, which the netlink
//! driver lowers; the `nft` driver cannot send such a rule.

use nftables::stmt::Statement;
use serde_json::json;

/// What the carried object's type says.
const RESET: &str = "tcp option reset";

/// The statements of `-j TCPOPTSTRIP --strip-options KINDS`: one reset per kind.
pub(super) fn strip_statements(kinds: &[u8]) -> Vec<Statement<'static>> {
    kinds
        .iter()
        .map(|kind| Statement::XT(Some(json!({ "type": RESET, "kind": kind }))))
        .collect()
}

/// The option kind a statement of [`strip_statements`] resets.
pub fn reset_kind(stmt: &Statement<'_>) -> Option<u8> {
    let Statement::XT(Some(value)) = stmt else {
        return None;
    };
    if value.get("type")?.as_str()? != RESET {
        return None;
    }
    u8::try_from(value.get("kind")?.as_u64()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_one_reset_read_back_as_itself() {
        let stmts = strip_statements(&[4, 8]);
        let kinds: Vec<Option<u8>> = stmts.iter().map(reset_kind).collect();
        assert_eq!(kinds, vec![Some(4), Some(8)]);
        assert_eq!(reset_kind(&Statement::Accept(None)), None);
        let xt = Statement::XT(Some(json!({ "type": "target", "name": "AUDIT" })));
        assert_eq!(reset_kind(&xt), None);
    }
}
