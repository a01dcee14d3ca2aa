//! xtables matches (`nft_compat`): a `match` expression naming the kernel
//! module, its revision and its argument bytes, as iptables-nft writes it.
//!
//! nft's JSON has no input form for these (it only prints `xt match
//! "string"`), so the statement carries moat's own object, which the
//! netlink driver lowers; the `nft` driver cannot send such a rule.
//!
//! Only matches go this way: the kernel checks a table-bound xtables
//! target (CHECKSUM, TPROXY, CT, SECMARK) against the nf_tables table's
//! name, and moat's tables are not called `mangle`, `raw` or `security`.

use moat_model::XtExtension;
use nftables::stmt::Statement;
use serde_json::json;

/// The statement of `ext`.
pub(super) fn statement(ext: &XtExtension) -> Statement<'static> {
    let hex: String = ext.info.iter().map(|b| format!("{b:02x}")).collect();
    Statement::XT(Some(json!({
        "type": "match",
        "name": ext.name,
        "rev": ext.revision,
        "info": hex,
    })))
}

/// The match a statement holds, if it is one this module wrote: its name,
/// revision and argument bytes.
pub fn parse_statement(stmt: &Statement<'_>) -> Option<(String, u32, Vec<u8>)> {
    let Statement::XT(Some(value)) = stmt else {
        return None;
    };
    if value.get("type")?.as_str()? != "match" {
        return None;
    }
    let hex = value.get("info")?.as_str()?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let info = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((
        value.get("name")?.as_str()?.to_string(),
        u32::try_from(value.get("rev")?.as_u64()?).ok()?,
        info,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_carry_the_match_through() {
        let ext = XtExtension {
            name: "string".into(),
            revision: 1,
            info: vec![0, 1, 0xab, 0xff],
            text: "-m string".into(),
            hooks: Vec::new(),
            stage: None,
        };
        let back = parse_statement(&statement(&ext)).unwrap();
        assert_eq!(back, ("string".to_string(), 1, ext.info));
        assert!(parse_statement(&Statement::Notrack).is_none());
    }
}
