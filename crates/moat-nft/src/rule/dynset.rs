//! Set statements: `update @set { key }`, `add @set { key ct count over 3 }`.
//!
//! nftables 0.6.3's set statement has no list of per-element statements.
//! Such a statement is written with its key wrapped in
//! an element whose comment carries the missing parts (see [`MARKER`]);
//! [`super::finish_json`] moves them to their places in the JSON. `nft`
//! refuses comments on the keys of set statements, so a document that
//! skipped it fails to load instead of loading a rule without its limit.

use std::borrow::Cow;

use nftables::expr::{Elem, Expression, NamedExpression};
use nftables::stmt::{self, Statement};
use serde_json::json;

use super::CompileError;

/// What a set statement does with the packet's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetOp {
    /// Adds the key if missing.
    Add,
    /// Adds the key if missing, and restarts its timeout.
    Update,
}

impl SetOp {
    fn name(self) -> &'static str {
        match self {
            SetOp::Add => "add",
            SetOp::Update => "update",
        }
    }
}

/// Starts the comment that carries a set statement's missing parts.
pub(super) const MARKER: &str = "moat-set-stmt:";

/// The statement `op @set { key inner... }`.
pub(super) fn set_stmt(
    op: SetOp,
    set: &str,
    key: Expression<'static>,
    inner: Vec<Statement<'static>>,
) -> Result<Statement<'static>, CompileError> {
    let plain_op = match op {
        SetOp::Add => stmt::SetOp::Add,
        SetOp::Update => stmt::SetOp::Update,
    };
    let elem = match inner.is_empty() {
        true => key,
        false => {
            let inner = serde_json::to_value(&inner)
                .map_err(|e| CompileError(format!("cannot serialize a set statement: {e}")))?;
            let carried = json!({ "op": op.name(), "stmt": inner });
            Expression::Named(NamedExpression::Elem(Elem {
                val: Box::new(key),
                timeout: None,
                expires: None,
                comment: Some(Cow::Owned(format!("{MARKER}{carried}"))),
                counter: None,
            }))
        }
    };
    Ok(Statement::Set(stmt::Set {
        op: plain_op,
        elem,
        set: Cow::Owned(format!("@{set}")),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::build::payload;
    use super::super::finish_json;
    use super::*;

    #[test]
    fn plain_update_needs_no_finishing() {
        let stmt = set_stmt(SetOp::Update, "r", payload("ip", "saddr"), vec![]).unwrap();
        let mut value = serde_json::to_value(&stmt).unwrap();
        let expected = json!({"set": {"op": "update",
            "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": "@r"}});
        assert_eq!(value, expected);
        finish_json(&mut value).unwrap();
        assert_eq!(value, expected);
    }

    #[test]
    fn inner_statements_are_finished() {
        let inner = Statement::Notrack;
        let stmt = set_stmt(SetOp::Add, "c", payload("ip", "daddr"), vec![inner]).unwrap();
        let mut value = serde_json::to_value(vec![stmt]).unwrap();
        // Unfinished, the key carries a comment nft refuses.
        assert!(value[0]["set"]["elem"]["elem"]["comment"].is_string());
        finish_json(&mut value).unwrap();
        finish_json(&mut value).unwrap();
        assert_eq!(
            value,
            json!([{"set": {"op": "add",
                "elem": {"payload": {"protocol": "ip", "field": "daddr"}}, "set": "@c",
                "stmt": [{"notrack": null}]}}])
        );
    }
}
