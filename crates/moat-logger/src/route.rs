//! Sending `-j LOG` rules to moat's packet log instead of the kernel log.
//!
//! With `[log] file` set, every LOG rule is compiled as an nflog rule of
//! moat's group, its prefix followed by moat's tag and the rule's id
//! (`New incomming: moat:1a2b3c4d`), so each line names the rule that
//! wrote it. The rule's text, which listings show, stays as written.

use moat_iptables::rule_id;
use moat_model::{Action, Rule, Table};

/// Where LOG rules go when moat's packet logger is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The nflog group moat's logger reads.
    pub group: u16,
}

/// The group LOG rules go to unless `[log] group` says otherwise.
pub const DEFAULT_GROUP: u16 = 64;

/// What moat puts between a LOG rule's prefix and the rule's id.
const TAG: &str = "moat:";
/// Bytes of each packet sent to the logger: IP and TCP headers with options.
const SNAPLEN: u32 = 128;
/// Packets the kernel gathers before sending them (it also sends after 20 ms).
const THRESHOLD: u16 = 32;

/// Turns the LOG rules of `table` into nflog rules of `route`'s group.
pub fn route_table(table: &mut Table, route: Route) {
    let (family, stage) = (table.family, table.stage);
    for chain in &mut table.chains {
        for rule in &mut chain.rules {
            if matches!(rule.action, Action::Log { .. }) {
                let id = rule_id(family, stage, &chain.name, rule_text(rule));
                route_rule(rule, route, &id);
            }
        }
    }
}

fn rule_text(rule: &Rule) -> &str {
    rule.source.as_deref().unwrap_or_default()
}

/// Turns `rule`, when it is a LOG rule, into an nflog rule of `route`'s
/// group whose prefix carries `id` (the rule's [`rule_id`]).
pub fn route_rule(rule: &mut Rule, route: Route, id: &str) {
    if let Action::Log { prefix, .. } = &rule.action {
        let tagged = format!("{}{TAG}{id}", prefix.as_deref().unwrap_or(""));
        rule.action = Action::NfLog {
            group: route.group,
            prefix: Some(tagged),
            snaplen: Some(SNAPLEN),
            threshold: Some(THRESHOLD),
        };
    }
}

/// A logged prefix split into the rule's own prefix and the id moat's tag
/// carries (`None` for prefixes moat did not tag).
pub fn split_tag(prefix: &str) -> (&str, Option<&str>) {
    if let Some(at) = prefix.rfind(TAG) {
        let id = &prefix[at + TAG.len()..];
        if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return (&prefix[..at], Some(id));
        }
    }
    (prefix, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::{Family, LogFlags, LogLevel, Stage};

    #[test]
    fn log_rules_become_tagged_nflog_rules_and_keep_their_text() {
        let mut table = Table::new(Family::Ipv4, Stage::Filter);
        let mut log = Rule::new(Action::Log {
            prefix: Some("New incomming: ".into()),
            level: LogLevel(4),
            flags: LogFlags::default(),
        });
        log.source = Some("-I INPUT -j LOG".into());
        let accept = Rule::new(Action::Accept);
        let input = table.chain_mut("INPUT").unwrap();
        input.rules = vec![log, accept.clone()];
        route_table(&mut table, Route { group: 70 });
        let input = table.chain("INPUT").unwrap();
        let id = rule_id(Family::Ipv4, Stage::Filter, "INPUT", "-I INPUT -j LOG");
        assert_eq!(
            input.rules[0].action,
            Action::NfLog {
                group: 70,
                prefix: Some(format!("New incomming: moat:{id}")),
                snaplen: Some(128),
                threshold: Some(32),
            }
        );
        assert_eq!(input.rules[0].source.as_deref(), Some("-I INPUT -j LOG"));
        assert_eq!(input.rules[1], accept);
    }

    #[test]
    fn tags_split_off_and_other_prefixes_stay() {
        assert_eq!(split_tag("New: moat:0badcafe"), ("New: ", Some("0badcafe")));
        assert_eq!(split_tag("moat:12345678"), ("", Some("12345678")));
        assert_eq!(split_tag("moat: drop "), ("moat: drop ", None));
        assert_eq!(split_tag("mine"), ("mine", None));
    }
}
