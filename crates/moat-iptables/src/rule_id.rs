//! A rule's short id: the same while the rule's family, table, chain and
//! text stay, so metrics series and packet log lines name a rule across
//! reloads even when rules before it come and go.

use moat_model::{Family, Stage};

use crate::save::stage_name;

/// `ipv4` or `ipv6`.
pub fn family_word(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// The rule's short id: 8 hex digits of a hash of where it is and what it says.
pub fn rule_id(family: Family, stage: Stage, chain: &str, text: &str) -> String {
    let place = format!(
        "{}\0{}\0{chain}\0{text}",
        family_word(family),
        stage_name(stage)
    );
    format!("{:08x}", moat_model::stable_hash(&place, 0) >> 32)
}
