//! Completes the JSON of compiled rules where the nftables crate cannot
//! write what `nft` reads:
//!
//! - set statements that carry per-element statements (see
//!   [`super::dynset`]);
//! - the `notrack` statement, which nftables 0.6.3 writes as the bare string
//!   `"notrack"` where `nft` wants `{"notrack": null}`;
//! - NETMAP's `snat`/`dnat prefix to NET/LEN`, whose `"type_flags": "prefix"`
//!   and `"netmap"` flag nftables 0.6.3 has no field for.
//! - quotas of more than 32 bits of bytes (see [`super::quota`]).

use serde_json::{json, Map, Value};

use super::dynset::MARKER;
use super::{refuse, CompileError};

/// Completes a JSON document (a whole batch, a rule object, or anything
/// holding them) built from compiled rules, before it goes to `nft -j -f`.
/// Anything else is left as it is, so running it twice, or on a document
/// without compiled rules, is harmless.
pub fn finish_json(value: &mut Value) -> Result<(), CompileError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(finish_json),
        Value::Object(map) => {
            if let Some(Value::Object(set)) = map.get_mut("set") {
                complete_set(set)?;
            }
            for key in ["snat", "dnat"] {
                if let Some(Value::Object(nat)) = map.get_mut(key) {
                    complete_netmap(nat);
                }
            }
            if let Some(Value::Object(quota)) = map.get_mut("quota") {
                super::quota::finish(quota);
            }
            for (key, v) in map.iter_mut() {
                // The statement lists of rules and of set statements.
                if key == "expr" || key == "stmt" {
                    fix_notrack(v);
                }
                finish_json(v)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Completes a rule's statement list (the array of a rule's `expr`).
pub(super) fn finish_stmt_list(list: &mut Value) -> Result<(), CompileError> {
    fix_notrack(list);
    finish_json(list)
}

/// A bare `"notrack"` in a statement list (where `nft` accepts no string).
fn fix_notrack(list: &mut Value) {
    if let Value::Array(items) = list {
        for item in items.iter_mut().filter(|i| i.as_str() == Some("notrack")) {
            *item = json!({ "notrack": null });
        }
    }
}

/// Marks a translation to a prefix (NETMAP's only form) as a prefix mapping.
fn complete_netmap(nat: &mut Map<String, Value>) {
    if nat.get("addr").and_then(|a| a.get("prefix")).is_none() {
        return;
    }
    nat.insert("type_flags".into(), json!("prefix"));
    nat.insert("flags".into(), json!(["netmap"]));
}

/// Completes one set statement (`{"op", "elem", "set"}`) if it carries parts.
fn complete_set(set: &mut Map<String, Value>) -> Result<(), CompileError> {
    let Some(Value::Object(elem)) = set.get_mut("elem").and_then(|e| e.get_mut("elem")) else {
        return Ok(());
    };
    let Some(carried) = elem
        .get("comment")
        .and_then(Value::as_str)
        .and_then(|c| c.strip_prefix(MARKER))
    else {
        return Ok(());
    };
    let carried: Value = match serde_json::from_str(carried) {
        Ok(v) => v,
        Err(e) => return refuse(format!("damaged set statement: {e}")),
    };
    let (Some(op), Some(inner)) = (carried.get("op"), carried.get("stmt")) else {
        return refuse("damaged set statement: missing parts");
    };
    let Some(key) = elem.remove("val") else {
        return refuse("damaged set statement: no key");
    };
    set.insert("op".into(), op.clone());
    if inner.as_array().is_some_and(|a| !a.is_empty()) {
        set.insert("stmt".into(), inner.clone());
    }
    set.insert("elem".into(), key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn notrack_becomes_an_object_in_statement_lists_only() {
        let mut doc = json!({"rule": {"expr": ["notrack"], "comment": "notrack"},
            "set": ["notrack"]});
        finish_json(&mut doc).unwrap();
        assert_eq!(
            doc,
            json!({"rule": {"expr": [{"notrack": null}], "comment": "notrack"},
                "set": ["notrack"]})
        );
        let mut list = json!(["notrack"]);
        finish_stmt_list(&mut list).unwrap();
        assert_eq!(list, json!([{"notrack": null}]));
    }

    #[test]
    fn translations_to_a_prefix_become_netmaps() {
        let mut doc = json!({"rule": {"expr": [
            {"dnat": {"addr": {"prefix": {"addr": "10.2.0.0", "len": 24}}}},
            {"snat": {"addr": "10.0.0.1"}}]}});
        finish_json(&mut doc).unwrap();
        assert_eq!(
            doc,
            json!({"rule": {"expr": [
                {"dnat": {"addr": {"prefix": {"addr": "10.2.0.0", "len": 24}},
                    "type_flags": "prefix", "flags": ["netmap"]}},
                {"snat": {"addr": "10.0.0.1"}}]}})
        );
    }

    #[test]
    fn damaged_carried_parts_are_reported() {
        let mut doc = json!({"set": {"op": "update", "set": "@s",
            "elem": {"elem": {"val": 1, "comment": format!("{MARKER}not json")}}}});
        assert!(finish_json(&mut doc).is_err());
    }
}
