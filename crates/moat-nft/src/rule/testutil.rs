//! Helpers for the unit tests: contexts, and compiled rules as JSON.

use moat_model::{Action, Family, Match, Rule, Stage};
use serde_json::Value;

use super::{compile_rule, CompileError, CompiledRule, RuleContext};

fn context(family: Family) -> RuleContext {
    RuleContext {
        family,
        stage: Stage::Filter,
        table: "t".into(),
    }
}

/// A filter-stage context of an IPv4 table `t`.
pub(super) fn v4() -> RuleContext {
    context(Family::Ipv4)
}

/// A filter-stage context of an IPv6 table `t`.
pub(super) fn v6() -> RuleContext {
    context(Family::Ipv6)
}

/// Compiles `rule` in `ctx`.
pub(super) fn compile(rule: &Rule, ctx: RuleContext) -> Result<CompiledRule, CompileError> {
    compile_rule(rule, "INPUT", &ctx)
}

/// The finished statements of `rule`, as JSON.
pub(super) fn compile_json(rule: &Rule, ctx: RuleContext) -> Result<Value, CompileError> {
    compile(rule, ctx)?.expr_json()
}

/// The statements `ms` compile to (without the counter), as JSON.
pub(super) fn matches_json(ms: &[Match], ctx: RuleContext) -> Value {
    let rule = Rule {
        matches: ms.to_vec(),
        ..Rule::new(Action::Continue)
    };
    let mut stmts = compile_json(&rule, ctx).expect("the matches compile");
    let list = stmts.as_array_mut().expect("a statement list");
    assert!(list.pop().is_some_and(|c| c.get("counter").is_some()));
    stmts
}

/// The statements `action` compiles to (after the counter), as JSON.
pub(super) fn action_json(action: Action, ctx: RuleContext) -> Value {
    let stmts = compile_json(&Rule::new(action), ctx).expect("the action compiles");
    let list = stmts.as_array().expect("a statement list");
    Value::Array(list[1..].to_vec())
}

/// `value` with every `flags` array sorted (the crate keeps flags in hash sets).
pub(super) fn canonical(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if let (true, Value::Array(flags)) = (key == "flags", &mut *v) {
                        flags.sort_by_key(|f| f.to_string());
                    }
                    walk(v);
                }
            }
            _ => {}
        }
    }
    walk(&mut value);
    value
}
