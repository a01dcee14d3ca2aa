//! Where `-j LOG` rules send packets: the kernel log, or moat's packet log
//! when the moat.toml applied (or being applied) has `[log] file`. Every
//! path that writes rules routes them the same way, so a later
//! `moat iptables -A ... -j LOG` follows the kept configuration.

use moat_config::Config;
use moat_logger::route::{route_rule, route_table};
use moat_logger::Route;
use moat_model::{Family, Rule, Stage, Table};

use crate::persist;

/// The route a configuration asks for.
pub fn of_config(config: &Config) -> Option<Route> {
    config.log.file.as_ref().map(|f| Route { group: f.group })
}

/// The route of the kept moat.toml (none when the last file applied was
/// an iptables-save file, or there is none).
pub fn kept() -> Option<Route> {
    let text = persist::load_config_text()?;
    if !text.contains("[log]") {
        return None;
    }
    let config = moat_config::parse_config("kept moat.toml", &text).ok()?;
    of_config(&config)
}

/// `table` with its LOG rules routed by `route`.
pub fn routed(mut table: Table, route: Option<Route>) -> Table {
    if let Some(route) = route {
        route_table(&mut table, route);
    }
    table
}

/// Routes one rule added to `chain` of the table of `family` and `stage`.
pub fn route_added(
    family: Family,
    stage: Stage,
    chain: &str,
    rule: &mut Rule,
    route: Option<Route>,
) {
    if let Some(route) = route {
        let text = rule.source.clone().unwrap_or_default();
        let id = moat_iptables::rule_id(family, stage, chain, &text);
        route_rule(rule, route, &id);
    }
}
