//! xtables matches and targets (`nft_compat`): a `match` or `target`
//! expression naming the kernel module, its revision and its argument
//! bytes, as iptables-nft writes it.
//!
//! nft's JSON has no input form for these (it only prints `xt match
//! "string"`), so the statement carries moat's own object, which the
//! netlink driver lowers; the `nft` driver cannot send such a rule.
//!
//! Only targets bound to no table go this way (AUDIT, IDLETIMER): the
//! kernel checks a table-bound one (CHECKSUM, TPROXY, CT, SECMARK) against
//! the nf_tables table's name, and moat's tables are not called `mangle`,
//! `raw` or `security`.

use moat_model::XtExtension;
use nftables::stmt::Statement;
use serde_json::json;

/// The statement of match `ext`.
pub(super) fn statement(ext: &XtExtension) -> Statement<'static> {
    typed_statement("match", ext)
}

/// The statement of target `ext`.
pub(super) fn target_statement(ext: &XtExtension) -> Statement<'static> {
    typed_statement("target", ext)
}

fn typed_statement(kind: &str, ext: &XtExtension) -> Statement<'static> {
    Statement::XT(Some(json!({
        "type": kind,
        "name": ext.name,
        "rev": ext.revision,
        "info": moat_model::addr_text::hex_text(&ext.info),
    })))
}

/// The extension a statement this module wrote holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XtStatement {
    /// A target (else a match).
    pub target: bool,
    /// The kernel module's name.
    pub name: String,
    /// The revision of its argument layout.
    pub rev: u32,
    /// Its argument bytes.
    pub info: Vec<u8>,
}

/// The match or target a statement holds, if this module wrote it.
pub fn parse_statement(stmt: &Statement<'_>) -> Option<XtStatement> {
    let Statement::XT(Some(value)) = stmt else {
        return None;
    };
    let target = match value.get("type")?.as_str()? {
        "match" => false,
        "target" => true,
        _ => return None,
    };
    let hex = value.get("info")?.as_str()?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let info = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(XtStatement {
        target,
        name: value.get("name")?.as_str()?.to_string(),
        rev: u32::try_from(value.get("rev")?.as_u64()?).ok()?,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_carry_the_match_through() {
        let ext = XtExtension::new("string", 1, vec![0, 1, 0xab, 0xff], "-m string");
        let back = parse_statement(&statement(&ext)).unwrap();
        assert!(!back.target);
        assert_eq!((back.name.as_str(), back.rev), ("string", 1));
        assert_eq!(back.info, ext.info);
        assert!(parse_statement(&target_statement(&ext)).unwrap().target);
        assert!(parse_statement(&Statement::Notrack).is_none());
    }
}
